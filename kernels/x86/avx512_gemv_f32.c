/* AVX512 GEMV for f32 weights: four FMA chains per row hide the FMA latency. */
#include <immintrin.h>

#include "../flavours.h"
#include "../formats.h"

static inline float hsum(__m512 v)
{
    return _mm512_reduce_add_ps(v);
}

void bmk_gemv_f32_avx512(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const float *x = (const float *)BMK_ACT_CDATA(act);
    const int64_t n = w->cols;
    for (int64_t r = r0; r < r1; r++) {
        const float *row = (const float *)w->data + r * n;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t k = 0;
        for (; k + 4 * 16 <= n; k += 4 * 16) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(row + k), _mm512_loadu_ps(x + k), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(row + k + 16), _mm512_loadu_ps(x + k + 16), a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(row + k + 2 * 16), _mm512_loadu_ps(x + k + 2 * 16), a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(row + k + 3 * 16), _mm512_loadu_ps(x + k + 3 * 16), a3);
        }
        for (; k + 16 <= n; k += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(row + k), _mm512_loadu_ps(x + k), a0);
        float s = hsum(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        for (; k < n; k++) s += row[k] * x[k];
        y[r - r0] = s;
    }
}
