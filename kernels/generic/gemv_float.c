/* The float formats' scalar references, with double accumulation: the most accurate oracles.
 * f32: plain row-major float rows; activations are the float vector itself.
 * f16: row-major IEEE half rows (no padding), widened by the portable half -> float conversion;
 * activations are the float32 vector itself (the f32 prep). */
#include "../flavours.h"
#include "../formats.h"

size_t bmk_f32_data_bytes(int64_t rows, int64_t cols) { return (size_t)(rows * cols) * 4; }
size_t bmk_f32_act_bytes(int64_t cols) { return BMK_ACT_OFFSET + (size_t)cols * 4; }
void bmk_f32_prep(const float *x, int64_t cols, int act_quant, void *act)
{
    (void)act_quant; /* float activations */
    bmk_act_header *h = (bmk_act_header *)act;
    h->inv_scale = 1.0f;
    h->sum = 0;
    h->cols = cols;
    memcpy(BMK_ACT_DATA(act), x, (size_t)cols * 4);
}

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

size_t bmk_f16_data_bytes(int64_t rows, int64_t cols) { return (size_t)(rows * cols) * 2; }
size_t bmk_f16_act_bytes(int64_t cols) { return bmk_f32_act_bytes(cols); }
void bmk_f16_prep(const float *x, int64_t cols, int act_quant, void *act) { bmk_f32_prep(x, cols, act_quant, act); }

void bmk_gemv_f16_generic(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const float *x = (const float *)BMK_ACT_CDATA(act);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w->data + r * w->cols * 2;
        double s = 0;
        for (int64_t k = 0; k < w->cols; k++) s += (double)bmk_f16_to_f32(bmk_load_u16(row + 2 * k)) * x[k];
        y[r - r0] = (float)s;
    }
}
