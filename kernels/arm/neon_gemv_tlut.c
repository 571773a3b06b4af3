/* NEON ternary-lut (layout: kernels/generic/gemv_tlut.c).  Per step of 4 columns the four 16-byte
 * table planes are loaded once; each 16-row half of the tile's 32 bytes is split into nibbles,
 * looked up with tbl (vqtbl1q_u8, 16 rows per lookup) and zipped back into exact int16. */
#include "neon_compat.h"

#include "../flavours.h"
#include "../formats.h"

#define LUT_CHUNK 64 /* steps of 4 columns summed in int16: 64 x 2 x 254 = 32512 */

static inline int16x8_t pair16(uint8x16_t lo, uint8x16_t hi, int second)
{
    return vreinterpretq_s16_u8(second ? vzip2q_u8(lo, hi) : vzip1q_u8(lo, hi));
}

static void tile_dot(const uint8_t *tw, const uint8_t *tab, int64_t steps, int32_t *dot)
{
    const uint8x16_t m = vdupq_n_u8(0x0f);
    int32x4_t acc[8];
    for (int p = 0; p < 8; p++) acc[p] = vdupq_n_s32(0);
    for (int64_t k0 = 0; k0 < steps; k0 += LUT_CHUNK) {
        const int64_t k1 = k0 + LUT_CHUNK < steps ? k0 + LUT_CHUNK : steps;
        int16x8_t s[4]; /* rows 0-7, 8-15, 16-23, 24-31 */
        for (int p = 0; p < 4; p++) s[p] = vdupq_n_s16(0);
        for (int64_t k = k0; k < k1; k++) {
            const uint8_t *t = tab + 64 * k;
            const uint8x16_t tal = vld1q_u8(t), tah = vld1q_u8(t + 16);
            const uint8x16_t tbl = vld1q_u8(t + 32), tbh = vld1q_u8(t + 48);
            for (int half = 0; half < 2; half++) {
                const uint8x16_t v = vld1q_u8(tw + 32 * k + 16 * half);
                const uint8x16_t lo = vandq_u8(v, m), hi = vshrq_n_u8(v, 4);
                const uint8x16_t al = vqtbl1q_u8(tal, lo), ah = vqtbl1q_u8(tah, lo);
                const uint8x16_t bl = vqtbl1q_u8(tbl, hi), bh = vqtbl1q_u8(tbh, hi);
                s[2 * half] = vaddq_s16(s[2 * half], vaddq_s16(pair16(al, ah, 0), pair16(bl, bh, 0)));
                s[2 * half + 1] = vaddq_s16(s[2 * half + 1], vaddq_s16(pair16(al, ah, 1), pair16(bl, bh, 1)));
            }
        }
        for (int p = 0; p < 4; p++) {
            acc[2 * p] = vaddw_s16(acc[2 * p], vget_low_s16(s[p]));
            acc[2 * p + 1] = vaddw_high_s16(acc[2 * p + 1], s[p]);
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
 * registers, T = A q0 + B q1 (vmul / vmla by a scalar: exact in int16), their low and high bytes
 * separated by unzipping even and odd bytes. */
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
        const uint8x16_t e0 = vreinterpretq_u8_s16(vmlaq_n_s16(t0, B0, q[2 * g + 1])); /* entries 0-7 */
        const uint8x16_t e1 = vreinterpretq_u8_s16(vmlaq_n_s16(t0, B1, q[2 * g + 1])); /* entries 8-15 */
        vst1q_u8(tab + 32 * g, vuzp1q_u8(e0, e1));
        vst1q_u8(tab + 32 * g + 16, vuzp2q_u8(e0, e1));
    }
}
