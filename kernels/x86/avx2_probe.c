/* AVX2 flavour of the bandwidth probe kernels. */
#include <immintrin.h>

#include "../flavours.h"

double bmk_probe_read_avx2(const double *a, size_t n)
{
    /* four accumulators cover the add latency; loads are unaligned-safe */
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 4 * 4 <= n; i += 4 * 4) {
        s0 = _mm256_add_pd(s0, _mm256_loadu_pd(a + i));
        s1 = _mm256_add_pd(s1, _mm256_loadu_pd(a + i + 4));
        s2 = _mm256_add_pd(s2, _mm256_loadu_pd(a + i + 2 * 4));
        s3 = _mm256_add_pd(s3, _mm256_loadu_pd(a + i + 3 * 4));
    }
    double lanes[4], s = 0;
    _mm256_storeu_pd(lanes, _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
    for (int k = 0; k < 4; k++) s += lanes[k];
    for (; i < n; i++) s += a[i];
    return s;
}

void bmk_probe_copy_avx2(double *dst, const double *src, size_t n)
{
    size_t i = 0;
    for (; i + 2 * 4 <= n; i += 2 * 4) {
        _mm256_storeu_pd(dst + i, _mm256_loadu_pd(src + i));
        _mm256_storeu_pd(dst + i + 4, _mm256_loadu_pd(src + i + 4));
    }
    for (; i < n; i++) dst[i] = src[i];
}

void bmk_probe_triad_avx2(double *a, const double *b, const double *c, double s, size_t n)
{
    const __m256d vs = _mm256_set1_pd(s);
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_pd(a + i, _mm256_fmadd_pd(vs, _mm256_loadu_pd(c + i), _mm256_loadu_pd(b + i)));
    for (; i < n; i++) a[i] = b[i] + s * c[i];
}
