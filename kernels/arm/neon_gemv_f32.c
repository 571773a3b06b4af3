/* NEON GEMV for f32 weights: four FMA chains per row. */
#include "neon_compat.h"

#include "../flavours.h"
#include "../formats.h"

void BMK_NEON_FN(bmk_gemv_f32)(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const float *x = (const float *)BMK_ACT_CDATA(act);
    const int64_t n = w->cols;
    for (int64_t r = r0; r < r1; r++) {
        const float *row = (const float *)w->data + r * n;
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
        int64_t k = 0;
        for (; k + 16 <= n; k += 16) {
            a0 = vfmaq_f32(a0, vld1q_f32(row + k), vld1q_f32(x + k));
            a1 = vfmaq_f32(a1, vld1q_f32(row + k + 4), vld1q_f32(x + k + 4));
            a2 = vfmaq_f32(a2, vld1q_f32(row + k + 8), vld1q_f32(x + k + 8));
            a3 = vfmaq_f32(a3, vld1q_f32(row + k + 12), vld1q_f32(x + k + 12));
        }
        for (; k + 4 <= n; k += 4) a0 = vfmaq_f32(a0, vld1q_f32(row + k), vld1q_f32(x + k));
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
        for (; k < n; k++) s += row[k] * x[k];
        y[r - r0] = s;
    }
}
