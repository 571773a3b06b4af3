/* AVX-512 ternary-lut (layout: kernels/generic/gemv_tlut.c).  Two tiles per pass: tile A's 32
 * bytes of a step in the low 256 bits, tile B's in the high 256 bits (a lone last tile is loaded
 * twice and its copy discarded); the 16-byte table planes are broadcast to all four 128-bit lanes,
 * so each vpshufb serves 64 rows.  Lanes: A rows 0-15 | A 16-31 | B 0-15 | B 16-31. */
#include <immintrin.h>

#include "../flavours.h"
#include "../formats.h"
#include "tlut_tables.h"

#define LUT_CHUNK 64 /* steps of 4 columns summed in int16: 64 x 2 x 254 = 32512 */

static inline __m512i bcast(const uint8_t *p) { return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p)); }

static void tiles_dot(const uint8_t *ta, const uint8_t *tb, const uint8_t *tab, int64_t steps, int32_t *dot)
{
    const __m512i m = _mm512_set1_epi8(0x0f);
    int32_t acc[4][16] = {{0}};
    for (int64_t k0 = 0; k0 < steps; k0 += LUT_CHUNK) {
        const int64_t k1 = k0 + LUT_CHUNK < steps ? k0 + LUT_CHUNK : steps;
        __m512i s0 = _mm512_setzero_si512(), s1 = s0;
        for (int64_t k = k0; k < k1; k++) {
            const uint8_t *t = tab + 64 * k;
            /* the next pass (two tiles on from ta) prefetched linearly into L2 (see
             * avx2_gemv_tlut.c) */
            _mm_prefetch((const char *)(ta + 2 * 32 * steps + 64 * k), _MM_HINT_T1);
            const __m512i v = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(ta + 32 * k))),
                _mm256_loadu_si256((const __m256i *)(tb + 32 * k)), 1);
            const __m512i lo = _mm512_and_si512(v, m), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
            const __m512i al = _mm512_shuffle_epi8(bcast(t), lo), ah = _mm512_shuffle_epi8(bcast(t + 16), lo);
            const __m512i bl = _mm512_shuffle_epi8(bcast(t + 32), hi), bh = _mm512_shuffle_epi8(bcast(t + 48), hi);
            s0 = _mm512_add_epi16(s0, _mm512_add_epi16(_mm512_unpacklo_epi8(al, ah), _mm512_unpacklo_epi8(bl, bh)));
            s1 = _mm512_add_epi16(s1, _mm512_add_epi16(_mm512_unpackhi_epi8(al, ah), _mm512_unpackhi_epi8(bl, bh)));
        }
        /* s0 = A 0-7 | A 16-23 | B 0-7 | B 16-23, s1 = A 8-15 | A 24-31 | B 8-15 | B 24-31 */
        const __m256i part[4] = {_mm512_castsi512_si256(s0), _mm512_castsi512_si256(s1),
                                 _mm512_extracti64x4_epi64(s0, 1), _mm512_extracti64x4_epi64(s1, 1)};
        for (int p = 0; p < 4; p++)
            _mm512_storeu_si512(acc[p], _mm512_add_epi32(_mm512_loadu_si512(acc[p]), _mm512_cvtepi16_epi32(part[p])));
    }
    /* acc[0] = A 0-7, A 16-23; acc[1] = A 8-15, A 24-31; acc[2], acc[3] the same for B */
    for (int tile = 0; tile < 2; tile++)
        for (int half = 0; half < 2; half++)
            for (int i = 0; i < 8; i++) {
                dot[32 * tile + 16 * half + i] = acc[2 * tile][8 * half + i];
                dot[32 * tile + 16 * half + 8 + i] = acc[2 * tile + 1][8 * half + i];
            }
}

void bmk_gemv_tlut_avx512(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const bmk_act_header *h = (const bmk_act_header *)act;
    const uint8_t *tab = (const uint8_t *)BMK_ACT_CDATA(act);
    const int64_t steps = bmk_round_up(w->cols, BMK_TLUT_COLS) / 4, tile_bytes = 32 * steps;
    int32_t dot[2 * BMK_TLUT_ROWS];
    for (int64_t t0 = r0; t0 < r1; t0 += 2 * BMK_TLUT_ROWS) {
        const uint8_t *ta = w->data + t0 * steps;
        tiles_dot(ta, r1 - t0 > BMK_TLUT_ROWS ? ta + tile_bytes : ta, tab, steps, dot);
        const int64_t n = r1 - t0 < 2 * BMK_TLUT_ROWS ? r1 - t0 : 2 * BMK_TLUT_ROWS;
        for (int64_t i = 0; i < n; i++) y[t0 - r0 + i] = bmk_int_out(dot[i], w->scale, h);
    }
}

BMK_TLUT_PREP_X86(avx512)
