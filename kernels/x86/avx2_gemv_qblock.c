/* AVX2 q8_0 / q4_0 (layouts: kernels/generic/gemv_qblock.c).  Block dots are exact int32,
 * scaled by d_w d_x and accumulated in fp32 with FMA; four rows per pass share the activation
 * loads.  Both stream the next pass's four rows (one contiguous span) linearly with software
 * prefetch, as the ternary kernels do (DRAM streaming at 1 thread 50-60% -> 85-90% of the probe).
 * Zen 3 runs the multiply / convert / FMA / sign / shift ops on two pipes, so the loops are sized
 * by how many of those a block costs. */
#include <immintrin.h>

#include "../flavours.h"
#include "../formats.h"

#define Q_ROWS 4
#define Q_CHUNK 8 /* q4_0: blocks whose scales are converted together */

static inline float hsum_ps(__m128 h)
{
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}
static inline float hsum256_ps(__m256 v) { return hsum_ps(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1))); }

/* always_inline: a helper of nothing but prefetches is side-effect free to GCC, which deleted the
 * calls it did not inline (q8_0 streamed from DRAM at 40% of the AVX-512 kernel's rate);
 * tests/test_prefetch.py checks the instructions are in the library */
static inline __attribute__((always_inline)) void prefetch_span(const uint8_t *p, int bytes)
{
    for (int o = 0; o < bytes; o += 64) _mm_prefetch((const char *)(p + o), _MM_HINT_T0);
}

/* ---- q8_0: maddubs(|w|, sign(x, w)), madd to int32, one FMA per block and row ---- */
static inline __attribute__((always_inline)) void rows_q8_0(const uint8_t *w0, int64_t nb,
                                                            const int8_t *xq, const float *xd,
                                                            int nr, float *out)
{
    enum { B = BMK_Q8_0_BYTES };
    const int64_t row_bytes = nb * B;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[Q_ROWS];
    for (int i = 0; i < nr; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        /* the nr rows of a pass are one span: prefetch the next pass's span, as far into it as
         * this pass has come (see avx2_gemv_tmad.c) */
        prefetch_span(w0 + nr * row_bytes + nr * B * b, nr * B);
        const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        for (int i = 0; i < nr; i++) {
            const uint8_t *blk = w0 + i * row_bytes + b * B;
            const __m256i w = _mm256_loadu_si256((const __m256i *)(blk + 2));
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), ones);
            /* per-block scalar scales: independent loads (a chunked vector conversion made the
             * FMAs wait on 8 dependent inserts and streamed ~15% slower) */
            const float d = _cvtsh_ss(bmk_load_u16(blk)) * xd[b];
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), acc[i]);
        }
    }
    for (int i = 0; i < nr; i++) out[i] = hsum256_ps(acc[i]);
}

/* ---- q4_0 ---- */
/* the fp16 scales of Q_CHUNK consecutive blocks of a row -> fp32 */
static inline __m256 scales8_q4_0(const uint8_t *blk)
{
    enum { B = BMK_Q4_0_BYTES };
    __m128i h = _mm_cvtsi32_si128(bmk_load_u16(blk));
    h = _mm_insert_epi16(h, bmk_load_u16(blk + B), 1);
    h = _mm_insert_epi16(h, bmk_load_u16(blk + 2 * B), 2);
    h = _mm_insert_epi16(h, bmk_load_u16(blk + 3 * B), 3);
    h = _mm_insert_epi16(h, bmk_load_u16(blk + 4 * B), 4);
    h = _mm_insert_epi16(h, bmk_load_u16(blk + 5 * B), 5);
    h = _mm_insert_epi16(h, bmk_load_u16(blk + 6 * B), 6);
    h = _mm_insert_epi16(h, bmk_load_u16(blk + 7 * B), 7);
    return _mm256_cvtph_ps(h);
}

static inline void scales_q4_0(const uint8_t *w0, int64_t row_bytes, int64_t b, const float *xd,
                               int nr, float (*s)[Q_CHUNK])
{
    const __m256 dx = _mm256_loadu_ps(xd + b);
    for (int i = 0; i < nr; i++)
        _mm256_store_ps(s[i], _mm256_mul_ps(scales8_q4_0(w0 + i * row_bytes + b * BMK_Q4_0_BYTES), dx));
}

/* Four rows, two per vector (lane 0 row i, lane 1 row i+1, same block): one 16-byte broadcast
 * load per row, one shift for both rows' high nibbles, maddubs(lo, x[0:16]) + maddubs(hi, x[16:32])
 * - maddubs(8, x) (shared) = pair sums of w x, |.| <= 4064, exact in int16; then one madd, one
 * convert and one FMA (scales [s_i x4 | s_i+1 x4] by a blend) serve two row-blocks.  Scales are
 * converted 8 blocks at a time, one chunk ahead so the FMAs never wait on them. */
static inline void rows4_q4_0(const uint8_t *w0, int64_t nb, const int8_t *xq, const float *xd, float *out)
{
    enum { B = BMK_Q4_0_BYTES, NR = Q_ROWS };
    const int64_t row_bytes = nb * B;
    const __m256i m4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1), e8 = _mm256_set1_epi8(8);
    __m256 acc[NR / 2];
    float ss[2][NR][Q_CHUNK] __attribute__((aligned(32)));
    for (int i = 0; i < NR / 2; i++) acc[i] = _mm256_setzero_ps();
    int64_t b = 0;
    if (nb >= Q_CHUNK) scales_q4_0(w0, row_bytes, 0, xd, NR, ss[0]);
    for (int p = 0; b + Q_CHUNK <= nb; b += Q_CHUNK, p ^= 1) {
        float(*s)[Q_CHUNK] = ss[p];
        prefetch_span(w0 + NR * row_bytes + NR * B * b, NR * B * Q_CHUNK);
        if (b + 2 * Q_CHUNK <= nb) scales_q4_0(w0, row_bytes, b + Q_CHUNK, xd, NR, ss[p ^ 1]);
        for (int k = 0; k < Q_CHUNK; k++) {
            const int8_t *xb = xq + 32 * (b + k);
            const __m256i xl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)xb));
            const __m256i xh = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(xb + 16)));
            const __m256i c = _mm256_add_epi16(_mm256_maddubs_epi16(e8, xl), _mm256_maddubs_epi16(e8, xh));
            for (int i = 0; i < NR; i += 2) {
                const uint8_t *q = w0 + i * row_bytes + (b + k) * B + 2;
                const __m256i v = _mm256_blend_epi32(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q)),
                                                     _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(q + row_bytes))),
                                                     0xf0);
                const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                const __m256i d = _mm256_sub_epi16(
                    _mm256_add_epi16(_mm256_maddubs_epi16(lo, xl), _mm256_maddubs_epi16(hi, xh)), c);
                const __m256 sc = _mm256_blend_ps(_mm256_broadcast_ss(&s[i][k]), _mm256_broadcast_ss(&s[i + 1][k]), 0xf0);
                acc[i / 2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(d, ones)), sc, acc[i / 2]);
            }
        }
    }
    for (; b < nb; b++) { /* blocks after the last chunk: the same arithmetic, scalar scales */
        const int8_t *xb = xq + 32 * b;
        const __m256i xl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)xb));
        const __m256i xh = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(xb + 16)));
        const __m256i c = _mm256_add_epi16(_mm256_maddubs_epi16(e8, xl), _mm256_maddubs_epi16(e8, xh));
        for (int i = 0; i < NR; i += 2) {
            const uint8_t *blk = w0 + i * row_bytes + b * B;
            const __m256i v = _mm256_blend_epi32(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + 2))),
                                                 _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + 2 + row_bytes))),
                                                 0xf0);
            const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            const __m256i d = _mm256_sub_epi16(
                _mm256_add_epi16(_mm256_maddubs_epi16(lo, xl), _mm256_maddubs_epi16(hi, xh)), c);
            const __m256 sc = _mm256_blend_ps(_mm256_set1_ps(_cvtsh_ss(bmk_load_u16(blk)) * xd[b]),
                                              _mm256_set1_ps(_cvtsh_ss(bmk_load_u16(blk + row_bytes)) * xd[b]), 0xf0);
            acc[i / 2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(d, ones)), sc, acc[i / 2]);
        }
    }
    for (int i = 0; i < NR; i += 2) {
        out[i] = hsum_ps(_mm256_castps256_ps128(acc[i / 2]));
        out[i + 1] = hsum_ps(_mm256_extractf128_ps(acc[i / 2], 1));
    }
}

/* one row: lane 0 of rows4_q4_0 on 128 bits, the same operations in the same order, so a row's
 * result does not depend on how rows are split across threads */
static inline void row1_q4_0(const uint8_t *w0, int64_t nb, const int8_t *xq, const float *xd, float *out)
{
    const __m128i m4 = _mm_set1_epi8(15), ones = _mm_set1_epi16(1), e8 = _mm_set1_epi8(8);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = w0 + b * BMK_Q4_0_BYTES;
        const __m128i xl = _mm_loadu_si128((const __m128i *)(xq + 32 * b));
        const __m128i xh = _mm_loadu_si128((const __m128i *)(xq + 32 * b + 16));
        const __m128i c = _mm_add_epi16(_mm_maddubs_epi16(e8, xl), _mm_maddubs_epi16(e8, xh));
        const __m128i v = _mm_loadu_si128((const __m128i *)(blk + 2));
        const __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
        const __m128i d = _mm_sub_epi16(_mm_add_epi16(_mm_maddubs_epi16(lo, xl), _mm_maddubs_epi16(hi, xh)), c);
        const float s = _cvtsh_ss(bmk_load_u16(blk)) * xd[b];
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(_mm_madd_epi16(d, ones)), _mm_set1_ps(s), acc);
    }
    *out = hsum_ps(acc);
}

static inline void rows4_q8_0(const uint8_t *w0, int64_t nb, const int8_t *xq, const float *xd, float *out)
{
    rows_q8_0(w0, nb, xq, xd, Q_ROWS, out);
}
static inline void row1_q8_0(const uint8_t *w0, int64_t nb, const int8_t *xq, const float *xd, float *out)
{
    rows_q8_0(w0, nb, xq, xd, 1, out);
}

#define QBLOCK_AVX2(name, BYTES)                                                                    \
    void bmk_gemv_##name##_avx2(const bmk_tensor *w, const void *act, float *y, int64_t r0,          \
                                int64_t r1)                                                         \
    {                                                                                               \
        const int64_t nb = (w->cols + BMK_Q8_BLOCK - 1) / BMK_Q8_BLOCK;                             \
        const int8_t *xq = bmk_q8_act_q(act);                                                       \
        const float *xd = bmk_q8_act_d(act, nb);                                                    \
        int64_t r = r0;                                                                             \
        for (; r + Q_ROWS <= r1; r += Q_ROWS) rows4_##name(w->data + r * nb * BYTES, nb, xq, xd, y + (r - r0)); \
        for (; r < r1; r++) row1_##name(w->data + r * nb * BYTES, nb, xq, xd, y + (r - r0));      \
    }
QBLOCK_AVX2(q8_0, BMK_Q8_0_BYTES)
QBLOCK_AVX2(q4_0, BMK_Q4_0_BYTES)
