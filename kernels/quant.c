/* quant.c: activation quantisers shared by the integer formats (scalar: prep runs once per input
 * vector, its cost is O(cols) against the GEMV's O(rows x cols); the x86 flavours of the ternary
 * formats run the int8 tensor quantiser's AVX2 copy, x86/quant_x86.h, bitwise the same, since in a
 * decode step every thread quantises the whole token).  bmbench/formats.py mirrors each one in
 * NumPy float32 arithmetic, so the float64 oracle sees exactly the kernel's integers. */
#include <math.h>

#include "formats.h"
#include "quant_one.h"

const char *const bmk_act_quant_names[BMK_N_ACT_QUANTS] = {"absmax", "bitmamba"};

void bmk_quant_i8_tensor(const float *x, int64_t cols, int64_t padded, int act_quant, int8_t *q,
                         bmk_act_header *h)
{
    float amax = 0.f, s;
    for (int64_t k = 0; k < cols; k++) amax = absmax(amax, x[k]);
    const int ok = bmk_i8_scale(amax, act_quant, &s);
    const int32_t sum = ok ? bmk_quant_i8_range(x, 0, cols, s, act_quant == BMK_AQ_BITMAMBA, q) : 0;
    bmk_quant_i8_close(q, cols, padded, ok, s, sum, h);
}

size_t bmk_q8_act_bytes(int64_t cols)
{
    const int64_t nb = (cols + BMK_Q8_BLOCK - 1) / BMK_Q8_BLOCK;
    return BMK_ACT_OFFSET + (size_t)nb * (BMK_Q8_BLOCK + sizeof(float));
}

void bmk_quant_q8_blocks(const float *x, int64_t cols, void *act)
{
    bmk_act_header *h = (bmk_act_header *)act;
    const int64_t nb = (cols + BMK_Q8_BLOCK - 1) / BMK_Q8_BLOCK;
    int8_t *q = (int8_t *)BMK_ACT_DATA(act);
    float *d = (float *)(q + nb * BMK_Q8_BLOCK);
    int32_t sum = 0;
    for (int64_t b = 0; b < nb; b++) {
        const int64_t k0 = b * BMK_Q8_BLOCK;
        const int64_t n = cols - k0 < BMK_Q8_BLOCK ? cols - k0 : BMK_Q8_BLOCK;
        float amax = 0.f;
        for (int64_t j = 0; j < n; j++) amax = absmax(amax, x[k0 + j]);
        const float db = amax / 127.f, id = db > 0.f ? 1.f / db : 0.f;
        for (int64_t j = 0; j < BMK_Q8_BLOCK; j++) {
            q[k0 + j] = j < n ? quant_one(x[k0 + j], id) : 0;
            sum += q[k0 + j];
        }
        d[b] = db;
    }
    h->inv_scale = 1.f;
    h->sum = sum;
    h->cols = cols;
}
