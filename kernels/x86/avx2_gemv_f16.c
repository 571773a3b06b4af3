/* AVX2 + F16C GEMV for f16 weights: vcvtph2ps 8 halves at a time, four FMA chains per row. */
#include <immintrin.h>

#include "../flavours.h"
#include "../formats.h"

static inline float hsum(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

static inline __m256 ld(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

void bmk_gemv_f16_avx2(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const float *x = (const float *)BMK_ACT_CDATA(act);
    const int64_t n = w->cols;
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *row = (const uint16_t *)w->data + r * n;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t k = 0;
        for (; k + 32 <= n; k += 32) {
            a0 = _mm256_fmadd_ps(ld(row + k), _mm256_loadu_ps(x + k), a0);
            a1 = _mm256_fmadd_ps(ld(row + k + 8), _mm256_loadu_ps(x + k + 8), a1);
            a2 = _mm256_fmadd_ps(ld(row + k + 16), _mm256_loadu_ps(x + k + 16), a2);
            a3 = _mm256_fmadd_ps(ld(row + k + 24), _mm256_loadu_ps(x + k + 24), a3);
        }
        for (; k + 8 <= n; k += 8) a0 = _mm256_fmadd_ps(ld(row + k), _mm256_loadu_ps(x + k), a0);
        float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; k < n; k++) s += _cvtsh_ss(row[k]) * x[k];
        y[r - r0] = s;
    }
}
