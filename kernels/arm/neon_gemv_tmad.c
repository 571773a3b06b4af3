/* NEON ternary-mad: per 128-weight block two 16-byte loads, shift + mask to 8 x 16 codes w + 1
 * (as int8 0..2), sdot (bmk_sdot) against the int8 activations; four rows per pass share the
 * activation loads, two accumulators per row keep two sdot chains in flight. */
#include "neon_compat.h"

#include "../flavours.h"
#include "../formats.h"

#define MAD_ROWS 4

static inline __attribute__((always_inline)) void rows_dot(const uint8_t *w0, int64_t row_bytes,
                                                           const int8_t *q, int64_t nb, int nr,
                                                           int32_t *dot)
{
    const uint8x16_t m3 = vdupq_n_u8(3);
    int32x4_t acc[MAD_ROWS][2];
    for (int i = 0; i < nr; i++) acc[i][0] = acc[i][1] = vdupq_n_s32(0);
    for (int64_t b = 0; b < nb; b++) {
        const int8_t *xb = q + b * BMK_TMAD_BLOCK;
        int8x16_t x[8];
        for (int j = 0; j < 8; j++) x[j] = vld1q_s8(xb + 16 * j);
        for (int i = 0; i < nr; i++) {
            const uint8_t *wb = w0 + i * row_bytes + b * 32;
            const uint8x16_t v0 = vld1q_u8(wb), v1 = vld1q_u8(wb + 16);
            int32x4_t a = acc[i][0], c = acc[i][1];
            a = bmk_sdot(a, vreinterpretq_s8_u8(vandq_u8(v0, m3)), x[0]);
            c = bmk_sdot(c, vreinterpretq_s8_u8(vandq_u8(v1, m3)), x[1]);
            a = bmk_sdot(a, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v0, 2), m3)), x[2]);
            c = bmk_sdot(c, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v1, 2), m3)), x[3]);
            a = bmk_sdot(a, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v0, 4), m3)), x[4]);
            c = bmk_sdot(c, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v1, 4), m3)), x[5]);
            a = bmk_sdot(a, vreinterpretq_s8_u8(vshrq_n_u8(v0, 6)), x[6]);
            c = bmk_sdot(c, vreinterpretq_s8_u8(vshrq_n_u8(v1, 6)), x[7]);
            acc[i][0] = a;
            acc[i][1] = c;
        }
    }
    for (int i = 0; i < nr; i++) dot[i] = vaddvq_s32(vaddq_s32(acc[i][0], acc[i][1]));
}

/* the scalar quantiser (a NEON copy is not written yet) */
void BMK_NEON_FN(bmk_tmad_prep)(const float *x, int64_t cols, int act_quant, void *act)
{
    bmk_tmad_quant(x, cols, act_quant, act, bmk_quant_i8_tensor);
}

void BMK_NEON_FN(bmk_gemv_tmad)(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
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
