/* AVX-512 GEMV for f16 weights: vcvtph2ps 16 halves at a time, four FMA chains per row, one
 * masked step for the tail. */
#include <immintrin.h>

#include "../flavours.h"
#include "../formats.h"

static inline __m512 ld(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

void bmk_gemv_f16_avx512(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const float *x = (const float *)BMK_ACT_CDATA(act);
    const int64_t n = w->cols;
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *row = (const uint16_t *)w->data + r * n;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t k = 0;
        for (; k + 64 <= n; k += 64) {
            a0 = _mm512_fmadd_ps(ld(row + k), _mm512_loadu_ps(x + k), a0);
            a1 = _mm512_fmadd_ps(ld(row + k + 16), _mm512_loadu_ps(x + k + 16), a1);
            a2 = _mm512_fmadd_ps(ld(row + k + 32), _mm512_loadu_ps(x + k + 32), a2);
            a3 = _mm512_fmadd_ps(ld(row + k + 48), _mm512_loadu_ps(x + k + 48), a3);
        }
        for (; k + 16 <= n; k += 16) a0 = _mm512_fmadd_ps(ld(row + k), _mm512_loadu_ps(x + k), a0);
        if (k < n) {
            const __mmask16 m = (__mmask16)((1u << (n - k)) - 1);
            const __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + k));
            a1 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + k), a1);
        }
        y[r - r0] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    }
}
