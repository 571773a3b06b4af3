/* NEON q8_0 / q4_0 (layouts: kernels/generic/gemv_qblock.c).  A block is two int8x16 vectors;
 * two sdot (bmk_sdot) give its int32 dot, scaled by d_w d_x into a float accumulator.  Four rows per pass
 * share the activation loads.  The two formats differ only in how a block is loaded. */
#include "neon_compat.h"

#include "../flavours.h"
#include "../formats.h"

#define Q_ROWS 4

static inline void load_q8_0(const uint8_t *blk, int8x16_t *w0, int8x16_t *w1)
{
    *w0 = vld1q_s8((const int8_t *)blk + 2);
    *w1 = vld1q_s8((const int8_t *)blk + 18);
}

static inline void load_q4_0(const uint8_t *blk, int8x16_t *w0, int8x16_t *w1)
{
    const uint8x16_t v = vld1q_u8(blk + 2), eight = vdupq_n_u8(8);
    *w0 = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(v, vdupq_n_u8(15)), eight));
    *w1 = vreinterpretq_s8_u8(vsubq_u8(vshrq_n_u8(v, 4), eight));
}

/* fp16 -> fp32 with the hardware conversion (exact, as the portable one) */
static inline float half_to_float(const uint8_t *p)
{
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(bmk_load_u16(p)))), 0);
}

#define QBLOCK_NEON(name, BYTES)                                                                    \
    static inline __attribute__((always_inline)) void rows_##name(const uint8_t *w0, int64_t nb,     \
                                                                  const int8_t *xq, const float *xd, \
                                                                  int nr, float *out)               \
    {                                                                                               \
        float32x4_t acc[Q_ROWS];                                                                    \
        for (int i = 0; i < nr; i++) acc[i] = vdupq_n_f32(0);                                       \
        for (int64_t b = 0; b < nb; b++) {                                                          \
            const int8x16_t x0 = vld1q_s8(xq + 32 * b), x1 = vld1q_s8(xq + 32 * b + 16);            \
            for (int i = 0; i < nr; i++) {                                                          \
                const uint8_t *blk = w0 + (i * nb + b) * BYTES;                                     \
                int8x16_t v0, v1;                                                                   \
                load_##name(blk, &v0, &v1);                                                         \
                const int32x4_t p = bmk_sdot(bmk_sdot(vdupq_n_s32(0), v0, x0), v1, x1);             \
                acc[i] = vfmaq_f32(acc[i], vcvtq_f32_s32(p), vdupq_n_f32(half_to_float(blk) * xd[b])); \
            }                                                                                       \
        }                                                                                           \
        for (int i = 0; i < nr; i++) out[i] = vaddvq_f32(acc[i]);                                   \
    }                                                                                               \
    void BMK_NEON_FN(bmk_gemv_##name)(const bmk_tensor *w, const void *act, float *y, int64_t r0,  \
                                      int64_t r1)                                                   \
    {                                                                                               \
        const int64_t nb = (w->cols + BMK_Q8_BLOCK - 1) / BMK_Q8_BLOCK;                             \
        const int8_t *xq = bmk_q8_act_q(act);                                                       \
        const float *xd = bmk_q8_act_d(act, nb);                                                    \
        int64_t r = r0;                                                                             \
        for (; r + Q_ROWS <= r1; r += Q_ROWS)                                                       \
            rows_##name(w->data + r * nb * BYTES, nb, xq, xd, Q_ROWS, y + (r - r0));                \
        for (; r < r1; r++) rows_##name(w->data + r * nb * BYTES, nb, xq, xd, 1, y + (r - r0));     \
    }
QBLOCK_NEON(q8_0, BMK_Q8_0_BYTES)
QBLOCK_NEON(q4_0, BMK_Q4_0_BYTES)
