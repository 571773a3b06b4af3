/* AVX2 GEMV for f32 weights: four FMA chains per row hide the FMA latency. */
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

void bmk_gemv_f32_avx2(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const float *x = (const float *)BMK_ACT_CDATA(act);
    const int64_t n = w->cols;
    for (int64_t r = r0; r < r1; r++) {
        const float *row = (const float *)w->data + r * n;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t k = 0;
        for (; k + 4 * 8 <= n; k += 4 * 8) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k), _mm256_loadu_ps(x + k), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k + 8), _mm256_loadu_ps(x + k + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k + 2 * 8), _mm256_loadu_ps(x + k + 2 * 8), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k + 3 * 8), _mm256_loadu_ps(x + k + 3 * 8), a3);
        }
        for (; k + 8 <= n; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k), _mm256_loadu_ps(x + k), a0);
        float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; k < n; k++) s += row[k] * x[k];
        y[r - r0] = s;
    }
}
