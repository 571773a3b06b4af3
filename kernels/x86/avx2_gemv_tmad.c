/* AVX2 ternary-mad: per 128-weight block one 32-byte load, shift + mask to 4 x 32 codes w + 1,
 * maddubs (unsigned codes x signed int8 activations) into int16; four rows per pass share the
 * activation loads.  int16 partial sums are widened once per MAD_CHUNK blocks. */
#include <immintrin.h>

#include "../flavours.h"
#include "../formats.h"
#include "quant_x86.h"

/* per block and int16 lane: 4 maddubs of 2 products each, |c q| <= 2 x 127: at most 2032;
 * 16 blocks stay below 32767 */
#define MAD_CHUNK 16
#define MAD_ROWS 4

static inline __m256i block_dot(const uint8_t *wb, const __m256i *x, __m256i m3)
{
    const __m256i v = _mm256_loadu_si256((const __m256i *)wb);
    const __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(v, m3), x[0]);
    const __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 2), m3), x[1]);
    const __m256i p2 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m3), x[2]);
    const __m256i p3 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 6), m3), x[3]);
    return _mm256_add_epi16(_mm256_add_epi16(p0, p1), _mm256_add_epi16(p2, p3));
}

static inline int32_t hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* sum(c q) of nr consecutive rows (nr a constant after inlining) */
static inline __attribute__((always_inline)) void rows_dot(const uint8_t *w0, int64_t row_bytes,
                                                           const int8_t *q, int64_t nb, int nr,
                                                           int32_t *dot)
{
    const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    __m256i acc[MAD_ROWS];
    for (int i = 0; i < nr; i++) acc[i] = _mm256_setzero_si256();
    for (int64_t b0 = 0; b0 < nb; b0 += MAD_CHUNK) {
        const int64_t b1 = b0 + MAD_CHUNK < nb ? b0 + MAD_CHUNK : nb;
        __m256i s[MAD_ROWS];
        for (int i = 0; i < nr; i++) s[i] = _mm256_setzero_si256();
        for (int64_t b = b0; b < b1; b++) {
            const int8_t *xb = q + b * BMK_TMAD_BLOCK;
            const __m256i x[4] = {_mm256_loadu_si256((const __m256i *)xb),
                                  _mm256_loadu_si256((const __m256i *)(xb + 32)),
                                  _mm256_loadu_si256((const __m256i *)(xb + 64)),
                                  _mm256_loadu_si256((const __m256i *)(xb + 96))};
            /* the nr rows of a pass are one contiguous span; prefetch the next pass's span
             * linearly, as far into it as this pass has come (nr x 32 bytes per block).  One
             * sequential stream a full pass ahead hides DRAM latency; per-row prefetches a fixed
             * distance ahead landed in rows this pass was already reading (7 -> 14 GB/s, 1T) */
            for (int o = 0; o < nr * 32; o += 64)
                _mm_prefetch((const char *)(w0 + nr * row_bytes + nr * 32 * b + o), _MM_HINT_T0);
            for (int i = 0; i < nr; i++) {
                s[i] = _mm256_add_epi16(s[i], block_dot(w0 + i * row_bytes + b * 32, x, m3));
            }
        }
        for (int i = 0; i < nr; i++) acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(s[i], ones));
    }
    for (int i = 0; i < nr; i++) dot[i] = hsum_epi32(acc[i]);
}

void bmk_tmad_prep_avx2(const float *x, int64_t cols, int act_quant, void *act)
{
    bmk_tmad_quant(x, cols, act_quant, act, bmk_quant_i8_tensor_x86);
}

void bmk_gemv_tmad_avx2(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const bmk_act_header *h = (const bmk_act_header *)act;
    const int8_t *q = (const int8_t *)BMK_ACT_CDATA(act);
    const int64_t kp = bmk_round_up(w->cols, BMK_TMAD_BLOCK), row_bytes = kp / 4, nb = kp / BMK_TMAD_BLOCK;
    int32_t dot[MAD_ROWS];
    int64_t r = r0;
    for (; r + MAD_ROWS <= r1; r += MAD_ROWS) {
        rows_dot(w->data + r * row_bytes, row_bytes, q, nb, MAD_ROWS, dot);
        for (int i = 0; i < MAD_ROWS; i++) y[r - r0 + i] = bmk_int_out(dot[i] - h->sum, w->scale, h);
    }
    for (; r < r1; r++) {
        rows_dot(w->data + r * row_bytes, row_bytes, q, nb, 1, dot);
        y[r - r0] = bmk_int_out(dot[0] - h->sum, w->scale, h);
    }
}

/* ---- batched (prefill): one row x GEMM_VECS activation vectors per pass, each block's codes
 * decoded once (4 registers) for all the vectors, whose activations are memory operands of
 * maddubs; 16 ymm registers hold codes, int16 sums and int32 accumulators.  Same exact integers
 * as the GEMV, so the outputs are its bit for bit. */
#define GEMM_VECS 4

static inline void row_vecs_dot(const uint8_t *row, const int8_t *const *q, int64_t nb, int32_t *dot)
{
    const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    __m256i acc[GEMM_VECS];
    for (int j = 0; j < GEMM_VECS; j++) acc[j] = _mm256_setzero_si256();
    for (int64_t b0 = 0; b0 < nb; b0 += MAD_CHUNK) {
        const int64_t b1 = b0 + MAD_CHUNK < nb ? b0 + MAD_CHUNK : nb;
        __m256i s[GEMM_VECS];
        for (int j = 0; j < GEMM_VECS; j++) s[j] = _mm256_setzero_si256();
        for (int64_t b = b0; b < b1; b++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(row + b * 32));
            const __m256i c0 = _mm256_and_si256(v, m3), c1 = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3),
                          c2 = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3),
                          c3 = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3);
            for (int j = 0; j < GEMM_VECS; j++) {
                const __m256i *x = (const __m256i *)(q[j] + b * BMK_TMAD_BLOCK);
                const __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(c0, _mm256_loadu_si256(x)),
                                                     _mm256_maddubs_epi16(c1, _mm256_loadu_si256(x + 1)));
                const __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(c2, _mm256_loadu_si256(x + 2)),
                                                     _mm256_maddubs_epi16(c3, _mm256_loadu_si256(x + 3)));
                s[j] = _mm256_add_epi16(s[j], _mm256_add_epi16(p01, p23));
            }
        }
        for (int j = 0; j < GEMM_VECS; j++) acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(s[j], ones));
    }
    for (int j = 0; j < GEMM_VECS; j++) dot[j] = hsum_epi32(acc[j]);
}

void bmk_gemm_tmad_avx2(const bmk_tensor *w, const void *acts, size_t act_stride, int64_t n, float *y,
                        int64_t y_stride, int64_t r0, int64_t r1)
{
    const int64_t kp = bmk_round_up(w->cols, BMK_TMAD_BLOCK), row_bytes = kp / 4, nb = kp / BMK_TMAD_BLOCK;
    int64_t j0 = 0;
    for (; j0 + GEMM_VECS <= n; j0 += GEMM_VECS) {
        const bmk_act_header *h[GEMM_VECS];
        const int8_t *q[GEMM_VECS];
        bmk_batch_vectors(acts, act_stride, j0, GEMM_VECS, 0, h, q);
        int32_t dot[GEMM_VECS];
        for (int64_t r = r0; r < r1; r++) {
            _mm_prefetch((const char *)(w->data + (r + 1) * row_bytes), _MM_HINT_T0);
            row_vecs_dot(w->data + r * row_bytes, q, nb, dot);
            for (int j = 0; j < GEMM_VECS; j++)
                y[(j0 + j) * y_stride + r - r0] = bmk_int_out(dot[j] - h[j]->sum, w->scale, h[j]);
        }
    }
    bmk_gemm_rest(bmk_gemv_tmad_avx2, w, acts, act_stride, j0, n, y, y_stride, r0, r1);
}
