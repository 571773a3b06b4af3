/* q8_0 and q4_0: llama.cpp's block formats, one row after another, cols padded to 32.
 *   q8_0 block (34 bytes): fp16 d, int8 q[32];          w = d q
 *   q4_0 block (18 bytes): fp16 d, uint8 qs[16];        byte j: low nibble element j, high nibble
 *                                                       element j + 16; w = d (nibble - 8)
 * Activations: Q8 blocks of 32 (bmk_quant_q8_blocks: fp32 d_x per block, int8 q).
 * y = sum over blocks d_w d_x idot.  Scalar reference: exact int dot per block, double sum. */
#include "../flavours.h"
#include "../formats.h"

static inline int64_t nblocks(int64_t cols) { return (cols + BMK_Q8_BLOCK - 1) / BMK_Q8_BLOCK; }

size_t bmk_q8_0_data_bytes(int64_t rows, int64_t cols) { return (size_t)(rows * nblocks(cols) * BMK_Q8_0_BYTES); }
size_t bmk_q4_0_data_bytes(int64_t rows, int64_t cols) { return (size_t)(rows * nblocks(cols) * BMK_Q4_0_BYTES); }
size_t bmk_q8_0_act_bytes(int64_t cols) { return bmk_q8_act_bytes(cols); }
size_t bmk_q4_0_act_bytes(int64_t cols) { return bmk_q8_act_bytes(cols); }
void bmk_q8_0_prep(const float *x, int64_t cols, int act_quant, void *act)
{
    (void)act_quant; /* llama.cpp's Q8 blocks whatever the family */
    bmk_quant_q8_blocks(x, cols, act);
}
void bmk_q4_0_prep(const float *x, int64_t cols, int act_quant, void *act) { bmk_q8_0_prep(x, cols, act_quant, act); }

static inline int32_t dot_q8_0(const uint8_t *blk, const int8_t *x)
{
    const int8_t *q = (const int8_t *)(blk + 2);
    int32_t s = 0;
    for (int j = 0; j < 32; j++) s += q[j] * x[j];
    return s;
}

static inline int32_t dot_q4_0(const uint8_t *blk, const int8_t *x)
{
    const uint8_t *qs = blk + 2;
    int32_t s = 0;
    for (int j = 0; j < 16; j++) s += ((qs[j] & 15) - 8) * x[j] + ((qs[j] >> 4) - 8) * x[j + 16];
    return s;
}

#define QBLOCK_GENERIC(name, BYTES)                                                                 \
    void bmk_gemv_##name##_generic(const bmk_tensor *w, const void *act, float *y, int64_t r0,       \
                                   int64_t r1)                                                      \
    {                                                                                               \
        const int64_t nb = nblocks(w->cols);                                                        \
        const int8_t *xq = bmk_q8_act_q(act);                                                       \
        const float *xd = bmk_q8_act_d(act, nb);                                                    \
        for (int64_t r = r0; r < r1; r++) {                                                         \
            const uint8_t *row = w->data + r * nb * BYTES;                                          \
            double s = 0;                                                                           \
            for (int64_t b = 0; b < nb; b++) {                                                      \
                const uint8_t *blk = row + b * BYTES;                                               \
                s += (double)bmk_f16_to_f32(bmk_load_u16(blk)) * xd[b] *                         \
                     dot_##name(blk, xq + b * 32);                                                  \
            }                                                                                       \
            y[r - r0] = (float)s;                                                                   \
        }                                                                                           \
    }
QBLOCK_GENERIC(q8_0, BMK_Q8_0_BYTES)
QBLOCK_GENERIC(q4_0, BMK_Q4_0_BYTES)
