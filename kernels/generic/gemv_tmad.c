/* ternary-mad (TQ2_0 / I2_S style): BitNet b1.58 weights as 2-bit codes c = w + 1 in {0, 1, 2}.
 *
 * Weights: row-major, cols padded to BMK_TMAD_BLOCK = 128; each 128-weight block is 32 bytes and
 * byte j holds elements j, j+32, j+64, j+96 in bits 0-1, 2-3, 4-5, 6-7 (one shift + mask yields 32
 * consecutive codes, matching 32 consecutive activations).  Padding codes are 1 (w = 0).
 * Activations: int8 absmax per tensor (bmk_quant_i8_tensor), padded with zeros to the block.
 * dot = sum(c q) - sum(q) = sum(w q) exactly; y = bmk_int_out(dot, s_w, header). */
#include "../flavours.h"
#include "../formats.h"

size_t bmk_tmad_data_bytes(int64_t rows, int64_t cols)
{
    return (size_t)(rows * (bmk_round_up(cols, BMK_TMAD_BLOCK) / 4));
}
size_t bmk_tmad_act_bytes(int64_t cols) { return BMK_ACT_OFFSET + (size_t)bmk_round_up(cols, BMK_TMAD_BLOCK); }
void bmk_tmad_prep_generic(const float *x, int64_t cols, int act_quant, void *act)
{
    bmk_tmad_quant(x, cols, act_quant, act, bmk_quant_i8_tensor);
}

void bmk_gemv_tmad_generic(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const bmk_act_header *h = (const bmk_act_header *)act;
    const int8_t *q = (const int8_t *)BMK_ACT_CDATA(act);
    const int64_t kp = bmk_round_up(w->cols, BMK_TMAD_BLOCK), row_bytes = kp / 4;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w->data + r * row_bytes;
        int32_t dot = 0;
        for (int64_t b = 0; b < kp; b += BMK_TMAD_BLOCK) {
            const uint8_t *blk = row + b / 4;
            const int8_t *xb = q + b;
            for (int j = 0; j < 32; j++)
                for (int s = 0; s < 4; s++) dot += ((blk[j] >> (2 * s)) & 3) * xb[32 * s + j];
        }
        y[r - r0] = bmk_int_out(dot - h->sum, w->scale, h);
    }
}
