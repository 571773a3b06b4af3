/* NEON ternary-lut (layout: kernels/generic/gemv_tlut.c).  Per step of 4 columns the four 16-byte
 * table planes are loaded once; each 16-row half of the tile's 32 bytes is split into nibbles and
 * looked up with tbl (vqtbl1q_u8, 16 rows per lookup).  The two pairs' 7-bit low parts add in a
 * byte and widen into uint16 sums (vaddw), their high parts add and accumulate in int8, and the two
 * recombine once per chunk: no zips per lookup. */
#include "neon_compat.h"

#include "../flavours.h"
#include "../formats.h"

#define LUT_CHUNK 32 /* steps per chunk: high parts sum to >= 32 x -4 = -128 in int8 */

static void tile_dot(const uint8_t *tw, const uint8_t *tab, int64_t steps, int32_t *dot)
{
    const uint8x16_t m = vdupq_n_u8(0x0f);
    int32x4_t acc[8];
    for (int p = 0; p < 8; p++) acc[p] = vdupq_n_s32(0);
    for (int64_t k0 = 0; k0 < steps; k0 += LUT_CHUNK) {
        const int64_t k1 = k0 + LUT_CHUNK < steps ? k0 + LUT_CHUNK : steps;
        uint16x8_t low[4]; /* rows 0-7, 8-15, 16-23, 24-31 */
        int8x16_t high[2]; /* rows 0-15, 16-31 */
        for (int p = 0; p < 4; p++) low[p] = vdupq_n_u16(0);
        high[0] = high[1] = vdupq_n_s8(0);
        for (int64_t k = k0; k < k1; k++) {
            const uint8_t *t = tab + 64 * k;
            const uint8x16_t tal = vld1q_u8(t), tah = vld1q_u8(t + 16);
            const uint8x16_t tbl = vld1q_u8(t + 32), tbh = vld1q_u8(t + 48);
            for (int half = 0; half < 2; half++) {
                const uint8x16_t v = vld1q_u8(tw + 32 * k + 16 * half);
                const uint8x16_t lo = vandq_u8(v, m), hi = vshrq_n_u8(v, 4);
                const uint8x16_t l = vaddq_u8(vqtbl1q_u8(tal, lo), vqtbl1q_u8(tbl, hi));
                const uint8x16_t h = vaddq_u8(vqtbl1q_u8(tah, lo), vqtbl1q_u8(tbh, hi));
                low[2 * half] = vaddw_u8(low[2 * half], vget_low_u8(l));
                low[2 * half + 1] = vaddw_high_u8(low[2 * half + 1], l);
                high[half] = vaddq_s8(high[half], vreinterpretq_s8_u8(h));
            }
        }
        for (int p = 0; p < 4; p++) {
            const int16x8_t hp = p & 1 ? vmovl_high_s8(high[p / 2]) : vmovl_s8(vget_low_s8(high[p / 2]));
            const int16x8_t s = vaddq_s16(vreinterpretq_s16_u16(low[p]), vshlq_n_s16(hp, 7));
            acc[2 * p] = vaddw_s16(acc[2 * p], vget_low_s16(s));
            acc[2 * p + 1] = vaddw_high_s16(acc[2 * p + 1], s);
        }
    }
    for (int p = 0; p < 8; p++) vst1q_s32(dot + 4 * p, acc[p]);
}

void BMK_NEON_FN(bmk_gemv_tlut)(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const bmk_act_header *h = (const bmk_act_header *)act;
    const uint8_t *tab = (const uint8_t *)BMK_ACT_CDATA(act);
    const int64_t steps = bmk_round_up(w->cols, BMK_TLUT_COLS) / 4;
    int32_t dot[BMK_TLUT_ROWS];
    for (int64_t t0 = r0; t0 < r1; t0 += BMK_TLUT_ROWS) {
        tile_dot(w->data + t0 * steps, tab, steps, dot);
        const int64_t n = r1 - t0 < BMK_TLUT_ROWS ? r1 - t0 : BMK_TLUT_ROWS;
        for (int64_t i = 0; i < n; i++) y[t0 - r0 + i] = bmk_int_out(dot[i], w->scale, h);
    }
}

/* The table build (reference: kernels/generic/gemv_tlut.c): a pair's 16 int16 entries in two
 * registers, T = A q0 + B q1 (vmul / vmla by a scalar: exact in int16), made words of low part
 * T & 127 and high part T >> 7, whose low and high bytes are separated by unzipping even and odd
 * bytes. */
static inline uint8x16_t parts(int16x8_t e)
{
    return vreinterpretq_u8_s16(vaddq_s16(vandq_s16(e, vdupq_n_s16(127)), vshlq_n_s16(vshrq_n_s16(e, 7), 8)));
}

void BMK_NEON_FN(bmk_tlut_prep)(const float *x, int64_t cols, int act_quant, void *act)
{
    int64_t kp;
    const int8_t *q = bmk_tlut_quant(x, cols, act_quant, act, &kp, bmk_quant_i8_tensor);
    uint8_t *tab = (uint8_t *)BMK_ACT_DATA(act);
    static const int16_t a[8] = {-1, 0, 1, 0, -1, 0, 1, 0}, b0[8] = {-1, -1, -1, -1, 0, 0, 0, 0},
                         b1[8] = {1, 1, 1, 1, 0, 0, 0, 0};
    const int16x8_t A = vld1q_s16(a), B0 = vld1q_s16(b0), B1 = vld1q_s16(b1);
    for (int64_t g = 0; g < kp / 2; g++) {
        const int16x8_t t0 = vmulq_n_s16(A, q[2 * g]);
        const uint8x16_t e0 = parts(vmlaq_n_s16(t0, B0, q[2 * g + 1])); /* entries 0-7 */
        const uint8x16_t e1 = parts(vmlaq_n_s16(t0, B1, q[2 * g + 1])); /* entries 8-15 */
        vst1q_u8(tab + 32 * g, vuzp1q_u8(e0, e1));
        vst1q_u8(tab + 32 * g + 16, vuzp2q_u8(e0, e1));
    }
}
