/* formats.h: helpers shared by the format entries and their kernels. */
#ifndef BMK_FORMATS_H
#define BMK_FORMATS_H
#include <string.h>

#include "bmk.h"
#include "flavours.h"
#include "half.h"

/* Every activation buffer starts with a bmk_act_header; the format's data follows at a 64-byte
 * offset so SIMD loads of it are aligned when the buffer is. */
#define BMK_ACT_OFFSET 64
#define BMK_ACT_DATA(act) ((void *)((uint8_t *)(act) + BMK_ACT_OFFSET))
#define BMK_ACT_CDATA(act) ((const void *)((const uint8_t *)(act) + BMK_ACT_OFFSET))

static inline int64_t bmk_round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

/* A format's table functions, defined next to its scalar kernel (kernels/generic/gemv_<fmt>.c). */
#define BMK_DECLARE_FORMAT(stem)                                                                    \
    size_t stem##_data_bytes(int64_t rows, int64_t cols);                                           \
    size_t stem##_act_bytes(int64_t cols);
#define BMK_DECLARE_PREP(stem) void stem##_prep(const float *x, int64_t cols, int act_quant, void *act);
BMK_DECLARE_FORMAT(bmk_f32)
BMK_DECLARE_FORMAT(bmk_f16)
BMK_DECLARE_FORMAT(bmk_tmad)
BMK_DECLARE_FORMAT(bmk_tlut)
BMK_DECLARE_FORMAT(bmk_q8_0)
BMK_DECLARE_FORMAT(bmk_q4_0)
BMK_DECLARE_PREP(bmk_f32)
BMK_DECLARE_PREP(bmk_f16)
BMK_DECLARE_PREP(bmk_q8_0)
BMK_DECLARE_PREP(bmk_q4_0)
/* ternary-lut builds its tables in SIMD per flavour (kernels/generic/gemv_tlut.c has the layout):
 * every flavour's tables are bitwise the generic one's. */
BMK_DECLARE_FLAVOURS(void, bmk_tlut_prep, (const float *x, int64_t cols, int act_quant, void *act))
/* ternary-mad's prep is the int8 quantiser alone: the x86 flavours run its AVX2 copy (x86/quant_x86.h) */
BMK_DECLARE_FLAVOURS(void, bmk_tmad_prep, (const float *x, int64_t cols, int act_quant, void *act))
BMK_DECLARE_VNNI(void, bmk_tmad_prep, (const float *x, int64_t cols, int act_quant, void *act))
/* an int8 tensor quantiser: bmk_quant_i8_tensor, or a SIMD copy of it (bitwise the same) */
typedef void (*bmk_quant_i8_fn)(const float *x, int64_t cols, int64_t padded, int act_quant, int8_t *q,
                                bmk_act_header *h);
/* the shared first half of every flavour's tlut prep: int8 activations (by `quant`) at the end of
 * the buffer; returns them and the number of padded columns */
const int8_t *bmk_tlut_quant(const float *x, int64_t cols, int act_quant, void *act, int64_t *kp,
                             bmk_quant_i8_fn quant);

/* ---- activation quantisers shared by the integer formats (kernels/quant.c) ---- */

/* BitLinear activations: int8 per tensor by the model family's quantiser (bmk_act_quant, bmk.h)
 * for k < cols, 0 for cols <= k < padded; h->inv_scale = 1 / s_x (0 when max|x| = 0 under absmax),
 * h->sum = sum(q), h->cols = cols. */
void bmk_quant_i8_tensor(const float *x, int64_t cols, int64_t padded, int act_quant, int8_t *q,
                         bmk_act_header *h);

/* Q8 activation blocks of BMK_Q8_BLOCK (used by q8_0 and q4_0): per block d = max|x| / 127 (fp32),
 * q = round-half-even(x / d) (x * (1/d), 0 where d = 0).  Layout after the header: int8 q[nb * 32],
 * then float d[nb]; cols are padded with zeros to nb * 32. */
#define BMK_Q8_BLOCK 32
size_t bmk_q8_act_bytes(int64_t cols);
void bmk_quant_q8_blocks(const float *x, int64_t cols, void *act);
static inline const int8_t *bmk_q8_act_q(const void *act) { return (const int8_t *)BMK_ACT_CDATA(act); }
static inline const float *bmk_q8_act_d(const void *act, int64_t nb)
{
    return (const float *)((const uint8_t *)BMK_ACT_CDATA(act) + nb * BMK_Q8_BLOCK);
}

/* ---- batched GEMMs (bmk_gemm_fn) ---- */
/* the headers of vectors j0 .. j0 + nv - 1 of a batch, and their int8 data `off` bytes into each */
static inline void bmk_batch_vectors(const void *acts, size_t act_stride, int64_t j0, int nv, int64_t off,
                                     const bmk_act_header **h, const int8_t **q)
{
    for (int j = 0; j < nv; j++) {
        h[j] = (const bmk_act_header *)((const uint8_t *)acts + (j0 + j) * act_stride);
        q[j] = (const int8_t *)BMK_ACT_CDATA(h[j]) + off;
    }
}
/* vectors j0 .. n - 1 that a GEMM's passes of several vectors leave over: one GEMV each */
static inline void bmk_gemm_rest(bmk_gemv_fn gemv, const bmk_tensor *w, const void *acts, size_t act_stride,
                                 int64_t j0, int64_t n, float *y, int64_t y_stride, int64_t r0, int64_t r1)
{
    for (; j0 < n; j0++) gemv(w, (const uint8_t *)acts + j0 * act_stride, y + j0 * y_stride, r0, r1);
}

/* little-endian fp16 bits at any alignment (half.h converts them) */
static inline uint16_t bmk_load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* ---- layouts (bmbench/formats.py packs them; the comments there are the specification) ---- */
/* ternary-mad: rows of BMK_TMAD_BLOCK-weight blocks of 32 bytes; byte j of a block holds elements
 * j, j+32, j+64, j+96 in bits 0-1, 2-3, 4-5, 6-7 as codes w+1. */
#define BMK_TMAD_BLOCK 128
/* ternary-mad's prep by a given quantiser (its flavours differ only in that) */
static inline void bmk_tmad_quant(const float *x, int64_t cols, int act_quant, void *act, bmk_quant_i8_fn quant)
{
    quant(x, cols, bmk_round_up(cols, BMK_TMAD_BLOCK), act_quant, (int8_t *)BMK_ACT_DATA(act), (bmk_act_header *)act);
}
/* ternary-lut: tiles of 32 rows; per tile and per 4 columns 32 bytes, byte i = row i's 4-bit
 * index of columns (4k, 4k+1) | index of (4k+2, 4k+3) << 4, index = c0 | c1 << 2. */
#define BMK_TLUT_ROWS 32
#define BMK_TLUT_COLS 4
/* q8_0: per row blocks of 34 bytes (fp16 d, 32 int8).  q4_0: 18 bytes (fp16 d, 16 nibble bytes). */
#define BMK_Q8_0_BYTES 34
#define BMK_Q4_0_BYTES 18
#endif
