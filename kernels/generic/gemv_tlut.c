/* ternary-lut (T-MAC style): the same ternary codes and activations as ternary-mad, but the GEMV
 * looks signed sums of activations up in tables built once per input vector: no multiplies.
 *
 * Choice of group size and layout (all flavours share them; prep is per format):
 * - g = 2 activations per table: the index of a weight pair is c0 | c1 << 2 (the two 2-bit codes
 *   w + 1) -- 4 bits, so 16 entries, exactly what one pshufb / vqtbl1q lookup serves, and the codes
 *   need no re-encoding (2.0 bpw).  T[c0 | c1 << 2] = w(c0) x0 + w(c1) x1 with w(0,1,2) = -1, 0, 1
 *   (index code 3 never occurs; its entries are 0).  |T| <= 254, so entries are int16, stored as
 *   two byte planes: the 7-bit low part T & 127 and the high part T >> 7 (-2..1), T = low +
 *   128 high.  Two lookups per index; a step's two pairs' low parts add in a byte (<= 254) and so
 *   do their high parts, so byte-table flavours sum the parts apart and recombine them once per
 *   chunk of steps (no interleaving per lookup; the AVX-512 one turns the planes into int16 words
 *   once per call).  g = 3 (27 entries) or g = 4 (81) would need two-level lookups or
 *   base-3 repacking; g = 2 keeps the AVX2 inner loop at one load, one shift, two masks, four
 *   lookups and six adds or shifts per 128 weights.
 * - Weights in tiles of 32 rows (row_tile = 32, rows padded with zero weights): per tile and per 4
 *   columns k = 4k'..4k'+3, 32 bytes, byte i = row i's index of columns (4k', 4k'+1) in the low
 *   nibble and of (4k'+2, 4k'+3) in the high nibble.  One 32-byte load feeds 32 rows, so a lookup
 *   serves 32 rows (AVX2: 16 per 128-bit lane) with the table of those two columns broadcast.
 * - Tables: after the header, per group of 2 columns 32 bytes = 16 low parts then 16 high parts,
 *   so the 4 columns of step k' are the 64 bytes at 64 k' (16 bytes per column: 32 KiB for 2048
 *   columns, L1/L2 resident).  Then the int8 activations q[kp] (kept for reference).
 * cols are padded to 4 (padding activations are 0, padding codes 1). */
#include "../flavours.h"
#include "../formats.h"

static inline int64_t tlut_kp(int64_t cols) { return bmk_round_up(cols, BMK_TLUT_COLS); }

size_t bmk_tlut_data_bytes(int64_t rows, int64_t cols)
{
    return (size_t)(bmk_round_up(rows, BMK_TLUT_ROWS) * (tlut_kp(cols) / 4));
}
size_t bmk_tlut_act_bytes(int64_t cols) { return BMK_ACT_OFFSET + (size_t)tlut_kp(cols) * (16 + 1); }

const int8_t *bmk_tlut_quant(const float *x, int64_t cols, int act_quant, void *act, int64_t *kp, bmk_quant_i8_fn quant)
{
    *kp = tlut_kp(cols);
    int8_t *q = (int8_t *)BMK_ACT_DATA(act) + *kp * 16;
    quant(x, cols, *kp, act_quant, q, (bmk_act_header *)act);
    return q;
}

/* The reference table build: T[i] = w(i & 3) q0 + w(i >> 2) q1, low parts then high parts.  The
 * SIMD flavours build the same bytes (x86/tlut_tables.h, arm/neon_gemv_tlut.c). */
void bmk_tlut_prep_generic(const float *x, int64_t cols, int act_quant, void *act)
{
    int64_t kp;
    const int8_t *q = bmk_tlut_quant(x, cols, act_quant, act, &kp, bmk_quant_i8_tensor);
    uint8_t *tab = (uint8_t *)BMK_ACT_DATA(act);
    static const int wt[4] = {-1, 0, 1, 0};
    for (int64_t g = 0; g < kp / 2; g++) {
        uint8_t *t = tab + 32 * g;
        for (int i = 0; i < 16; i++) {
            const int v = wt[i & 3] * q[2 * g] + wt[i >> 2] * q[2 * g + 1];
            t[i] = (uint8_t)(v & 127);
            t[16 + i] = (uint8_t)(int8_t)(v >> 7); /* arithmetic shift: floor(v / 128) */
        }
    }
}

static inline int lut(const uint8_t *t, int i) { return t[i] + 128 * (int8_t)t[16 + i]; }

void bmk_gemv_tlut_generic(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const bmk_act_header *h = (const bmk_act_header *)act;
    const uint8_t *tab = (const uint8_t *)BMK_ACT_CDATA(act);
    const int64_t steps = tlut_kp(w->cols) / 4;
    for (int64_t t0 = r0; t0 < r1; t0 += BMK_TLUT_ROWS) {
        const uint8_t *tw = w->data + t0 * steps;
        int32_t dot[BMK_TLUT_ROWS] = {0};
        for (int64_t k = 0; k < steps; k++) {
            const uint8_t *wk = tw + 32 * k, *ta = tab + 64 * k, *tb = ta + 32;
            for (int i = 0; i < BMK_TLUT_ROWS; i++) dot[i] += lut(ta, wk[i] & 15) + lut(tb, wk[i] >> 4);
        }
        const int n = r1 - t0 < BMK_TLUT_ROWS ? (int)(r1 - t0) : BMK_TLUT_ROWS;
        for (int i = 0; i < n; i++) y[t0 - r0 + i] = bmk_int_out(dot[i], w->scale, h);
    }
}
