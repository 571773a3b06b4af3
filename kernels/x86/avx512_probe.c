/* AVX512 flavour of the bandwidth probe kernels. */
#include <immintrin.h>

#include "../flavours.h"

double bmk_probe_read_avx512(const double *a, size_t n)
{
    /* four accumulators cover the add latency; loads are unaligned-safe */
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 4 * 8 <= n; i += 4 * 8) {
        s0 = _mm512_add_pd(s0, _mm512_loadu_pd(a + i));
        s1 = _mm512_add_pd(s1, _mm512_loadu_pd(a + i + 8));
        s2 = _mm512_add_pd(s2, _mm512_loadu_pd(a + i + 2 * 8));
        s3 = _mm512_add_pd(s3, _mm512_loadu_pd(a + i + 3 * 8));
    }
    double lanes[8], s = 0;
    _mm512_storeu_pd(lanes, _mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
    for (int k = 0; k < 8; k++) s += lanes[k];
    for (; i < n; i++) s += a[i];
    return s;
}

void bmk_probe_copy_avx512(double *dst, const double *src, size_t n)
{
    size_t i = 0;
    for (; i + 2 * 8 <= n; i += 2 * 8) {
        _mm512_storeu_pd(dst + i, _mm512_loadu_pd(src + i));
        _mm512_storeu_pd(dst + i + 8, _mm512_loadu_pd(src + i + 8));
    }
    for (; i < n; i++) dst[i] = src[i];
}

void bmk_probe_triad_avx512(double *a, const double *b, const double *c, double s, size_t n)
{
    const __m512d vs = _mm512_set1_pd(s);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm512_storeu_pd(a + i, _mm512_fmadd_pd(vs, _mm512_loadu_pd(c + i), _mm512_loadu_pd(b + i)));
    for (; i < n; i++) a[i] = b[i] + s * c[i];
}
