/* NEON GEMV for f16 weights: vcvt (fp16 -> fp32, 4 at a time), four FMA chains per row. */
#include "neon_compat.h"

#include "../flavours.h"
#include "../formats.h"

static inline float32x4_t ld(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

void BMK_NEON_FN(bmk_gemv_f16)(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const float *x = (const float *)BMK_ACT_CDATA(act);
    const int64_t n = w->cols;
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *row = (const uint16_t *)w->data + r * n;
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
        int64_t k = 0;
        for (; k + 16 <= n; k += 16) {
            a0 = vfmaq_f32(a0, ld(row + k), vld1q_f32(x + k));
            a1 = vfmaq_f32(a1, ld(row + k + 4), vld1q_f32(x + k + 4));
            a2 = vfmaq_f32(a2, ld(row + k + 8), vld1q_f32(x + k + 8));
            a3 = vfmaq_f32(a3, ld(row + k + 12), vld1q_f32(x + k + 12));
        }
        for (; k + 4 <= n; k += 4) a0 = vfmaq_f32(a0, ld(row + k), vld1q_f32(x + k));
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
        for (; k < n; k++) s += bmk_f16_to_f32(row[k]) * x[k];
        y[r - r0] = s;
    }
}
