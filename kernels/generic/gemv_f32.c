/* Scalar reference GEMV for f32 weights (double accumulation: the most accurate oracle). */
#include "../flavours.h"
#include "../formats.h"

void bmk_gemv_f32_generic(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const float *x = (const float *)BMK_ACT_CDATA(act);
    const float *W = (const float *)w->data;
    for (int64_t r = r0; r < r1; r++) {
        const float *row = W + r * w->cols;
        double s = 0;
        for (int64_t k = 0; k < w->cols; k++) s += (double)row[k] * x[k];
        y[r - r0] = (float)s;
    }
}
