/* AVX2 ternary-lut (layout: kernels/generic/gemv_tlut.c).  Per 4 columns: the four 16-byte table
 * planes (low/high bytes of the two pair tables) are broadcast to both 128-bit lanes; per tile one
 * 32-byte load gives 32 rows' nibbles, four pshufb look the int16 entries' bytes up, unpack
 * interleaves them back into exact int16 (lane 0: rows 0-15, lane 1: rows 16-31).  Two tiles per
 * pass share the table registers. */
#include <immintrin.h>

#include "../flavours.h"
#include "../formats.h"
#include "tlut_tables.h"

#define LUT_CHUNK 64 /* steps of 4 columns summed in int16: 64 x 2 x 254 = 32512 */
#define LUT_TILES 2

static inline __m256i bcast(const uint8_t *p) { return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p)); }

static inline __attribute__((always_inline)) void tiles_dot(const uint8_t *tw, int64_t tile_bytes,
                                                            const uint8_t *tab, int64_t steps, int nt,
                                                            int32_t *dot)
{
    const __m256i m = _mm256_set1_epi8(0x0f);
    for (int i = 0; i < nt * BMK_TLUT_ROWS; i++) dot[i] = 0;
    for (int64_t k0 = 0; k0 < steps; k0 += LUT_CHUNK) {
        const int64_t k1 = k0 + LUT_CHUNK < steps ? k0 + LUT_CHUNK : steps;
        __m256i s[LUT_TILES][2];
        for (int j = 0; j < nt; j++) s[j][0] = s[j][1] = _mm256_setzero_si256();
        for (int64_t k = k0; k < k1; k++) {
            const uint8_t *t = tab + 64 * k;
            const __m256i tal = bcast(t), tah = bcast(t + 16), tbl = bcast(t + 32), tbh = bcast(t + 48);
            /* the nt tiles of a pass are contiguous: prefetch the next pass's span linearly
             * (see avx2_gemv_tmad.c), into L2 only: a pass is 16 KiB per tile at 2048 columns,
             * and pulled into L1 it evicted the tables (T0: 38 -> T1: 52-69 Gweights/s from DRAM) */
            _mm_prefetch((const char *)(tw + nt * tile_bytes + 32 * nt * k), _MM_HINT_T1);
            for (int j = 0; j < nt; j++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(tw + j * tile_bytes + 32 * k));
                const __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
                const __m256i al = _mm256_shuffle_epi8(tal, lo), ah = _mm256_shuffle_epi8(tah, lo);
                const __m256i bl = _mm256_shuffle_epi8(tbl, hi), bh = _mm256_shuffle_epi8(tbh, hi);
                s[j][0] = _mm256_add_epi16(s[j][0], _mm256_add_epi16(_mm256_unpacklo_epi8(al, ah),
                                                                     _mm256_unpacklo_epi8(bl, bh)));
                s[j][1] = _mm256_add_epi16(s[j][1], _mm256_add_epi16(_mm256_unpackhi_epi8(al, ah),
                                                                     _mm256_unpackhi_epi8(bl, bh)));
            }
        }
        for (int j = 0; j < nt; j++) {
            /* s[j][0] = rows 0-7 | 16-23, s[j][1] = rows 8-15 | 24-31 */
            const __m128i part[4] = {_mm256_castsi256_si128(s[j][0]), _mm256_castsi256_si128(s[j][1]),
                                     _mm256_extracti128_si256(s[j][0], 1), _mm256_extracti128_si256(s[j][1], 1)};
            for (int p = 0; p < 4; p++) {
                __m256i *d = (__m256i *)(dot + j * BMK_TLUT_ROWS + 8 * p);
                _mm256_storeu_si256(d, _mm256_add_epi32(_mm256_loadu_si256(d), _mm256_cvtepi16_epi32(part[p])));
            }
        }
    }
}

void bmk_gemv_tlut_avx2(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const bmk_act_header *h = (const bmk_act_header *)act;
    const uint8_t *tab = (const uint8_t *)BMK_ACT_CDATA(act);
    const int64_t steps = bmk_round_up(w->cols, BMK_TLUT_COLS) / 4, tile_bytes = 32 * steps;
    int32_t dot[LUT_TILES * BMK_TLUT_ROWS];
    for (int64_t t0 = r0; t0 < r1; t0 += LUT_TILES * BMK_TLUT_ROWS) {
        const uint8_t *tw = w->data + t0 * steps;
        if (r1 - t0 > BMK_TLUT_ROWS)
            tiles_dot(tw, tile_bytes, tab, steps, 2, dot);
        else
            tiles_dot(tw, tile_bytes, tab, steps, 1, dot);
        const int64_t n = r1 - t0 < LUT_TILES * BMK_TLUT_ROWS ? r1 - t0 : LUT_TILES * BMK_TLUT_ROWS;
        for (int64_t i = 0; i < n; i++) y[t0 - r0 + i] = bmk_int_out(dot[i], w->scale, h);
    }
}

BMK_TLUT_PREP_X86(avx2)
