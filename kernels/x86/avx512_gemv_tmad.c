/* AVX-512 ternary-mad: the 32 code bytes of a block are broadcast to both 256-bit halves; a
 * per-half variable shift (vpsrlvw: 0 | 2, then 4 | 6) + mask gives the codes of elements 0-63,
 * then 64-127, in activation order, so each block is two 64-byte activation loads and two
 * maddubs.  Four rows per pass share the activation loads; the next pass is prefetched.
 * Built a second time with BMK_VNNI=1 (flavour avx512vnni), where no code is shifted at all (see
 * rows_dot below). */
#include <immintrin.h>

#include "../flavours.h"
#include "../formats.h"
#include "pin.h"
#include "quant_x86.h"

#define MAD_ROWS 4


#if BMK_VNNI
#define MAD_CHUNK ((int64_t)1 << 40) /* int32 all the way: one chunk */
#define MAD_ACC(s, c, x) _mm512_dpbusd_epi32(s, c, x)
#define MAD_CHUNK_END(acc, s) _mm512_add_epi32(acc, s)
#define MAD_FN(stem) stem##_avx512vnni
#else
#define MAD_CHUNK 16 /* per block and int16 lane: 2 maddubs x 2 products x 2 x 127 = 1016 */
#define MAD_ACC(s, c, x) _mm512_add_epi16(s, _mm512_maddubs_epi16(c, x))
#define MAD_CHUNK_END(acc, s) _mm512_add_epi32(acc, _mm512_madd_epi16(s, _mm512_set1_epi16(1)))
#define MAD_FN(stem) stem##_avx512
#endif

#if BMK_VNNI
/* VNNI: a code byte masked in place holds code j times 4^j (v & 0x0c = 4 c1, v & 0x30 = 16 c2,
 * v & 0xc0 = 64 c3, at most 128), so no shifts: vpdpbusd multiplies those unsigned bytes by the
 * signed activations into int32, one accumulator per scale, and each accumulator is divided by its
 * scale once at the end, exactly (every term is a multiple of it).  Per block and row: one load, 4
 * masks, 4 vpdpbusd, 256 bits wide (a block's bytes meet the activations in their own order; two
 * blocks per 512-bit step measured the same on Zen 4, which splits 512-bit operations). */
static inline __attribute__((always_inline)) void rows_dot(const uint8_t *w0, int64_t row_bytes,
                                                           const int8_t *q, int64_t nb, int nr,
                                                           int32_t *dot)
{
    const __m256i m[4] = {_mm256_set1_epi8(0x03), _mm256_set1_epi8(0x0c), _mm256_set1_epi8(0x30),
                          _mm256_set1_epi8((char)0xc0)};
    __m256i acc[MAD_ROWS][4];
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_si256();
    for (int64_t b = 0; b < nb; b++) {
        const int8_t *xb = q + b * BMK_TMAD_BLOCK;
        __m256i x[4];
        /* activations and accumulators pinned in registers (pin.h): 14.1 -> 10.7 cycles per 4 rows
         * x 32 bytes from L2 on Zen 4 */
        for (int j = 0; j < 4; j++) {
            x[j] = _mm256_loadu_si256((const __m256i *)(xb + 32 * j));
            BMK_PIN(x[j]);
        }
        for (int o = 0; o < nr * 32; o += 64) /* the next pass's span (see avx2_gemv_tmad.c) */
            _mm_prefetch((const char *)(w0 + nr * row_bytes + nr * 32 * b + o), _MM_HINT_T0);
        for (int i = 0; i < nr; i++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(w0 + i * row_bytes + b * 32));
            for (int j = 0; j < 4; j++) {
                acc[i][j] = _mm256_dpbusd_epi32(acc[i][j], _mm256_and_si256(v, m[j]), x[j]);
                BMK_PIN(acc[i][j]);
            }
        }
    }
    for (int i = 0; i < nr; i++) {
        const __m256i t = _mm256_add_epi32(_mm256_add_epi32(acc[i][0], _mm256_srai_epi32(acc[i][1], 2)),
                                           _mm256_add_epi32(_mm256_srai_epi32(acc[i][2], 4),
                                                            _mm256_srai_epi32(acc[i][3], 6)));
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        dot[i] = _mm_cvtsi128_si32(_mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1)));
    }
}
#else
static inline __attribute__((always_inline)) void rows_dot(const uint8_t *w0, int64_t row_bytes,
                                                           const int8_t *q, int64_t nb, int nr,
                                                           int32_t *dot)
{
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i sh01 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i sh23 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
    __m512i acc[MAD_ROWS];
    for (int i = 0; i < nr; i++) acc[i] = _mm512_setzero_si512();
    for (int64_t b0 = 0; b0 < nb; b0 += MAD_CHUNK) {
        const int64_t b1 = b0 + MAD_CHUNK < nb ? b0 + MAD_CHUNK : nb;
        __m512i s[MAD_ROWS];
        for (int i = 0; i < nr; i++) s[i] = _mm512_setzero_si512();
        for (int64_t b = b0; b < b1; b++) {
            const __m512i x01 = _mm512_loadu_si512(q + b * BMK_TMAD_BLOCK);
            const __m512i x23 = _mm512_loadu_si512(q + b * BMK_TMAD_BLOCK + 64);
            /* prefetch the next pass's span linearly, as far into it as this pass has come (the
             * AVX2 kernel's stream, see avx2_gemv_tmad.c; without it 1 thread streamed at ~20%
             * of the probe on Zen 4) */
            for (int o = 0; o < nr * 32; o += 64)
                _mm_prefetch((const char *)(w0 + nr * row_bytes + nr * 32 * b + o), _MM_HINT_T0);
            for (int i = 0; i < nr; i++) {
                const __m512i v = _mm512_broadcast_i64x4(
                    _mm256_loadu_si256((const __m256i *)(w0 + i * row_bytes + b * 32)));
                const __m512i c01 = _mm512_and_si512(_mm512_srlv_epi16(v, sh01), m3);
                const __m512i c23 = _mm512_and_si512(_mm512_srlv_epi16(v, sh23), m3);
                s[i] = MAD_ACC(MAD_ACC(s[i], c01, x01), c23, x23);
            }
        }
        for (int i = 0; i < nr; i++) acc[i] = MAD_CHUNK_END(acc[i], s[i]);
    }
    for (int i = 0; i < nr; i++) dot[i] = _mm512_reduce_add_epi32(acc[i]);
}
#endif

void MAD_FN(bmk_tmad_prep)(const float *x, int64_t cols, int act_quant, void *act)
{
    bmk_tmad_quant(x, cols, act_quant, act, bmk_quant_i8_tensor_x86);
}

void MAD_FN(bmk_gemv_tmad)(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
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

/* ---- batched (prefill): GEMM_ROWS rows x GEMM_VECS activation vectors per pass, each block's
 * codes decoded once for all the vectors (the GEMV decodes them once per vector).  The dot
 * products are the same exact integers, so the outputs are the GEMV's bit for bit. */
#define GEMM_ROWS 2
#define GEMM_VECS 4

static inline __attribute__((always_inline)) void rows_vecs_dot(const uint8_t *w0, int64_t row_bytes,
                                                                const int8_t *const *q, int64_t nb, int nr,
                                                                int32_t dot[][GEMM_VECS])
{
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i sh01 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i sh23 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
    __m512i acc[GEMM_ROWS][GEMM_VECS];
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < GEMM_VECS; j++) acc[i][j] = _mm512_setzero_si512();
    for (int64_t b0 = 0; b0 < nb; b0 += MAD_CHUNK) {
        const int64_t b1 = b0 + MAD_CHUNK < nb ? b0 + MAD_CHUNK : nb;
        __m512i s[GEMM_ROWS][GEMM_VECS];
        for (int i = 0; i < nr; i++)
            for (int j = 0; j < GEMM_VECS; j++) s[i][j] = _mm512_setzero_si512();
        for (int64_t b = b0; b < b1; b++) {
            __m512i x01[GEMM_VECS], x23[GEMM_VECS];
            for (int j = 0; j < GEMM_VECS; j++) {
                x01[j] = _mm512_loadu_si512(q[j] + b * BMK_TMAD_BLOCK);
                x23[j] = _mm512_loadu_si512(q[j] + b * BMK_TMAD_BLOCK + 64);
                BMK_PIN(x01[j]); /* pin.h: registers, not vpdpbusd memory operands */
                BMK_PIN(x23[j]);
            }
            _mm_prefetch((const char *)(w0 + nr * row_bytes + nr * 32 * b), _MM_HINT_T0);
            for (int i = 0; i < nr; i++) {
                const __m512i v = _mm512_broadcast_i64x4(
                    _mm256_loadu_si256((const __m256i *)(w0 + i * row_bytes + b * 32)));
                const __m512i c01 = _mm512_and_si512(_mm512_srlv_epi16(v, sh01), m3);
                const __m512i c23 = _mm512_and_si512(_mm512_srlv_epi16(v, sh23), m3);
                for (int j = 0; j < GEMM_VECS; j++) s[i][j] = MAD_ACC(MAD_ACC(s[i][j], c01, x01[j]), c23, x23[j]);
            }
        }
        for (int i = 0; i < nr; i++)
            for (int j = 0; j < GEMM_VECS; j++) acc[i][j] = MAD_CHUNK_END(acc[i][j], s[i][j]);
    }
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < GEMM_VECS; j++) dot[i][j] = _mm512_reduce_add_epi32(acc[i][j]);
}

void MAD_FN(bmk_gemm_tmad)(const bmk_tensor *w, const void *acts, size_t act_stride, int64_t n, float *y,
                           int64_t y_stride, int64_t r0, int64_t r1)
{
    const int64_t kp = bmk_round_up(w->cols, BMK_TMAD_BLOCK), row_bytes = kp / 4, nb = kp / BMK_TMAD_BLOCK;
    int64_t j0 = 0;
    for (; j0 + GEMM_VECS <= n; j0 += GEMM_VECS) {
        const bmk_act_header *h[GEMM_VECS];
        const int8_t *q[GEMM_VECS];
        bmk_batch_vectors(acts, act_stride, j0, GEMM_VECS, 0, h, q);
        int32_t dot[GEMM_ROWS][GEMM_VECS];
        for (int64_t r = r0; r < r1; r += GEMM_ROWS) {
            const int nr = r + GEMM_ROWS <= r1 ? GEMM_ROWS : 1; /* GEMM_ROWS 2: a last odd row */
            if (nr == GEMM_ROWS)
                rows_vecs_dot(w->data + r * row_bytes, row_bytes, q, nb, GEMM_ROWS, dot);
            else
                rows_vecs_dot(w->data + r * row_bytes, row_bytes, q, nb, 1, dot);
            for (int i = 0; i < nr; i++)
                for (int j = 0; j < GEMM_VECS; j++)
                    y[(j0 + j) * y_stride + r - r0 + i] = bmk_int_out(dot[i][j] - h[j]->sum, w->scale, h[j]);
        }
    }
    bmk_gemm_rest(MAD_FN(bmk_gemv_tmad), w, acts, act_stride, j0, n, y, y_stride, r0, r1);
}
