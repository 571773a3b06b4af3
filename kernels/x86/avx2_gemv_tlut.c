/* AVX2 ternary-lut (layout: kernels/generic/gemv_tlut.c).  Per 4 columns: the four 16-byte table
 * planes (7-bit low parts and high parts of the two pair tables) are broadcast to both 128-bit
 * lanes; per tile one 32-byte load gives 32 rows' nibbles, and four pshufb look the parts up.  The
 * two pairs' low parts add in a byte (<= 2 x 127) and so do their high parts, so nothing is
 * interleaved per step: the low sums accumulate as words (row 2i in the low byte, with carries
 * into row 2i+1's) beside the odd rows' own sums (>> 8), which recover the even rows' at the end
 * of a chunk; the high sums accumulate in int8 (at most 32 x 4).  Per 32 bytes: 3 nibble ops,
 * 4 lookups, 5 adds, 1 shift, where interleaving int16 entries (unpack) took 4 lookups, 4 unpacks
 * and 4 adds.  Two tiles per pass share the table registers.  Measured on Zen 4 (tools/kbench.py,
 * 1b.in_proj in cache, 1 thread): 25.8-26.7 GB/s against 23.6-23.8 with the unpacks; the shifts
 * done by vpmulhuw / vpmaddubsw, the tables stored pre-broadcast, or three tiles per pass: no
 * better (on Zen 4 multiplies and shifts share the three pipes the lookups use). */
#include <immintrin.h>
#include <string.h>

#include "../flavours.h"
#include "../formats.h"
#include "tlut_tables.h"

#define LUT_CHUNK 32 /* steps per chunk: high parts sum to >= 32 x -4 = -128 in int8 */
#define LUT_TILES 2

static inline __m256i bcast(const uint8_t *p) { return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p)); }

/* a tile's 32 int16 row sums widened into its int32 dot products: lo = rows 0-7 | 16-23,
 * hi = rows 8-15 | 24-31 (unpacklo / unpackhi within each 128-bit lane) */
static inline void widen_add(int32_t *dot, __m256i lo, __m256i hi)
{
    const __m128i part[4] = {_mm256_castsi256_si128(lo), _mm256_castsi256_si128(hi),
                             _mm256_extracti128_si256(lo, 1), _mm256_extracti128_si256(hi, 1)};
    for (int p = 0; p < 4; p++) {
        __m256i *d = (__m256i *)(dot + 8 * p);
        _mm256_storeu_si256(d, _mm256_add_epi32(_mm256_loadu_si256(d), _mm256_cvtepi16_epi32(part[p])));
    }
}

/* a chunk's sums into a tile's dot products: words = sum of low parts as words (mod 2^16), odd =
 * the odd rows' low sums, high = the high sums in int8 per row */
static inline void chunk_add(int32_t *dot, __m256i words, __m256i odd, __m256i high)
{
    const __m256i even = _mm256_sub_epi16(words, _mm256_slli_epi16(odd, 8));
    const __m256i he = _mm256_srai_epi16(_mm256_slli_epi16(high, 8), 8), ho = _mm256_srai_epi16(high, 8);
    const __m256i e = _mm256_add_epi16(even, _mm256_slli_epi16(he, 7)), o = _mm256_add_epi16(odd, _mm256_slli_epi16(ho, 7));
    widen_add(dot, _mm256_unpacklo_epi16(e, o), _mm256_unpackhi_epi16(e, o));
}

/* one tile's step: its 32 bytes' lookups into its three sums */
#define TILE_STEP(v, words, odd, high)                                                              \
    do {                                                                                            \
        const __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m); \
        const __m256i l = _mm256_add_epi8(_mm256_shuffle_epi8(tal, lo), _mm256_shuffle_epi8(tbl, hi)); \
        const __m256i h = _mm256_add_epi8(_mm256_shuffle_epi8(tah, lo), _mm256_shuffle_epi8(tbh, hi)); \
        words = _mm256_add_epi16(words, l);                                                         \
        odd = _mm256_add_epi16(odd, _mm256_srli_epi16(l, 8));                                       \
        high = _mm256_add_epi8(high, h);                                                            \
    } while (0)

/* two tiles at tw and tw + tile_bytes (the same tile twice for a lone last one: tw2 == tw) */
static void tiles_dot(const uint8_t *tw, const uint8_t *tw2, const uint8_t *next, const uint8_t *tab,
                      int64_t steps, int32_t *dot)
{
    const __m256i m = _mm256_set1_epi8(0x0f);
    for (int i = 0; i < LUT_TILES * BMK_TLUT_ROWS; i++) dot[i] = 0;
    for (int64_t k0 = 0; k0 < steps; k0 += LUT_CHUNK) {
        const int64_t k1 = k0 + LUT_CHUNK < steps ? k0 + LUT_CHUNK : steps;
        __m256i w0 = _mm256_setzero_si256(), o0 = w0, h0 = w0, w1 = w0, o1 = w0, h1 = w0;
        int64_t k = k0;
        do { /* k0 < steps: at least one step */
            const uint8_t *t = tab + 64 * k;
            const __m256i tal = bcast(t), tah = bcast(t + 16), tbl = bcast(t + 32), tbh = bcast(t + 48);
            /* the two tiles of a pass are contiguous: prefetch the next pass's span linearly
             * (see avx2_gemv_tmad.c), into L2 only: a pass is 16 KiB per tile at 2048 columns,
             * and pulled into L1 it evicted the tables (T0: 38 -> T1: 52-69 Gweights/s from DRAM) */
            _mm_prefetch((const char *)(next + 64 * k), _MM_HINT_T1);
            const __m256i v0 = _mm256_loadu_si256((const __m256i *)(tw + 32 * k));
            const __m256i v1 = _mm256_loadu_si256((const __m256i *)(tw2 + 32 * k));
            TILE_STEP(v0, w0, o0, h0);
            TILE_STEP(v1, w1, o1, h1);
        } while (++k < k1);
        chunk_add(dot, w0, o0, h0);
        chunk_add(dot + BMK_TLUT_ROWS, w1, o1, h1);
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
        tiles_dot(tw, r1 - t0 > BMK_TLUT_ROWS ? tw + tile_bytes : tw, tw + 2 * tile_bytes, tab, steps, dot);
        const int64_t n = r1 - t0 < LUT_TILES * BMK_TLUT_ROWS ? r1 - t0 : LUT_TILES * BMK_TLUT_ROWS;
        for (int64_t i = 0; i < n; i++) y[t0 - r0 + i] = bmk_int_out(dot[i], w->scale, h);
    }
}

BMK_TLUT_PREP_X86(avx2)

/* ---- batched (prefill): a table lookup serves one vector, so a batch multiplies instead.  Each
 * 32-byte load of a tile's indices is decoded once into the 2-bit codes c = w + 1 of its 4
 * columns, paired per row (unpack), and every vector of the pass multiplies them by its broadcast
 * activation pairs (maddubs: c_a x_a + c_b x_b per row); sum(c q) - sum(q) = sum(w q) is the GEMV's
 * exact integer dot (codes are 0..2, padding codes 1 meet zero activations), so the outputs are
 * its bit for bit.  The AVX-512 flavours run this kernel too. */
#define GEMM_VECS 4
#define GEMM_CHUNK 32 /* steps summed in int16: 32 x 2 maddubs x 2 products x 2 x 127 = 32512 */

static inline __m256i bcast_pair(const int8_t *q)
{
    int16_t v;
    memcpy(&v, q, 2);
    return _mm256_set1_epi16(v);
}

static void tile_vecs_dot(const uint8_t *tw, const int8_t *const *q, int64_t steps, int32_t dot[][BMK_TLUT_ROWS])
{
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int j = 0; j < GEMM_VECS; j++)
        for (int i = 0; i < BMK_TLUT_ROWS; i++) dot[j][i] = 0;
    for (int64_t k0 = 0; k0 < steps; k0 += GEMM_CHUNK) {
        const int64_t k1 = k0 + GEMM_CHUNK < steps ? k0 + GEMM_CHUNK : steps;
        __m256i s[GEMM_VECS][2];
        for (int j = 0; j < GEMM_VECS; j++) s[j][0] = s[j][1] = _mm256_setzero_si256();
        for (int64_t k = k0; k < k1; k++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(tw + 32 * k));
            const __m256i ca = _mm256_and_si256(v, m3), cb = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3);
            const __m256i cc = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3), cd = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3);
            /* per row the pairs (c_a, c_b) and (c_c, c_d): lo = rows 0-7 | 16-23, hi = rows 8-15 | 24-31 */
            const __m256i ab_lo = _mm256_unpacklo_epi8(ca, cb), ab_hi = _mm256_unpackhi_epi8(ca, cb);
            const __m256i cd_lo = _mm256_unpacklo_epi8(cc, cd), cd_hi = _mm256_unpackhi_epi8(cc, cd);
            for (int j = 0; j < GEMM_VECS; j++) {
                const __m256i xab = bcast_pair(q[j] + 4 * k), xcd = bcast_pair(q[j] + 4 * k + 2);
                s[j][0] = _mm256_add_epi16(s[j][0], _mm256_add_epi16(_mm256_maddubs_epi16(ab_lo, xab),
                                                                     _mm256_maddubs_epi16(cd_lo, xcd)));
                s[j][1] = _mm256_add_epi16(s[j][1], _mm256_add_epi16(_mm256_maddubs_epi16(ab_hi, xab),
                                                                     _mm256_maddubs_epi16(cd_hi, xcd)));
            }
        }
        for (int j = 0; j < GEMM_VECS; j++) widen_add(dot[j], s[j][0], s[j][1]);
    }
}

void bmk_gemm_tlut_avx2(const bmk_tensor *w, const void *acts, size_t act_stride, int64_t n, float *y,
                        int64_t y_stride, int64_t r0, int64_t r1)
{
    const int64_t kp = bmk_round_up(w->cols, BMK_TLUT_COLS), steps = kp / 4;
    int64_t j0 = 0;
    for (; j0 + GEMM_VECS <= n; j0 += GEMM_VECS) {
        const bmk_act_header *h[GEMM_VECS];
        const int8_t *q[GEMM_VECS];
        bmk_batch_vectors(acts, act_stride, j0, GEMM_VECS, kp * 16, h, q); /* int8 after the tables (gemv_tlut.c) */
        int32_t dot[GEMM_VECS][BMK_TLUT_ROWS];
        for (int64_t t0 = r0; t0 < r1; t0 += BMK_TLUT_ROWS) {
            tile_vecs_dot(w->data + t0 * steps, q, steps, dot);
            const int64_t rows = r1 - t0 < BMK_TLUT_ROWS ? r1 - t0 : BMK_TLUT_ROWS;
            for (int j = 0; j < GEMM_VECS; j++)
                for (int64_t i = 0; i < rows; i++)
                    y[(j0 + j) * y_stride + t0 - r0 + i] = bmk_int_out(dot[j][i] - h[j]->sum, w->scale, h[j]);
        }
    }
    bmk_gemm_rest(bmk_gemv_tlut_avx2, w, acts, act_stride, j0, n, y, y_stride, r0, r1);
}
