/* quant_one.h: the per-element steps of the int8 tensor quantiser (kernels/quant.c), shared with its
 * SIMD copy (x86/quant_x86.h) so both take the same steps element by element. */
#ifndef BMK_QUANT_ONE_H
#define BMK_QUANT_ONE_H
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bmk.h"

/* max(m, |x|) ignoring NaN as fmaxf does, without its libm call per element */
static inline float absmax(float m, float x) { return fabsf(x) > m ? fabsf(x) : m; }

static inline int8_t quant_one(float x, float s)
{
    /* round half to even, as np.rint: adding and subtracting 1.5 x 2^23 rounds to an integer in
     * the default rounding mode, exact for |x s| < 2^22 (larger values are clamped below anyway);
     * a libm nearbyintf call per element made prep a fifth of a GEMV's time on out_proj */
    const float magic = 12582912.f;
    float q = (x * s + magic) - magic;
    if (q > 127.f)
        q = 127.f;
    else if (q < -127.f)
        q = -127.f;
    else if (q != q)
        q = 0.f; /* 0 x inf: the scale overflowed (a vector or block of denormals) */
    return (int8_t)q;
}

/* bitmamba.c's rounding (src/kernel.c): add +-0.5 in float32, truncate toward zero, clip to
 * [-128, 127].  The float32 add matters: x s = 0.49999997 becomes 1, as there. */
static inline int8_t quant_one_away(float x, float s)
{
    const float v = x * s;
    const float r = v + (v >= 0.f ? 0.5f : -0.5f);
    if (r >= 127.f) return 127;
    if (r <= -128.f) return -128;
    if (r != r) return 0; /* NaN input */
    return (int8_t)(int)r;
}

/* the tensor's scale s_x from max|x| by the family's quantiser; 0 where absmax quantises all to 0 */
static inline int bmk_i8_scale(float amax, int act_quant, float *s)
{
    if (act_quant == BMK_AQ_BITMAMBA) { /* 127 / (max_abs + 1e-5): finite even for an all-zero vector */
        *s = 127.f / (amax + 1e-5f);
        return 1;
    }
    *s = amax > 0.f ? 127.f / amax : 0.f;
    return amax > 0.f;
}

/* q[k0 .. k1) by the scalar steps; returns their sum */
static inline int32_t bmk_quant_i8_range(const float *x, int64_t k0, int64_t k1, float s, int away, int8_t *q)
{
    int32_t sum = 0;
    for (int64_t k = k0; k < k1; k++) {
        q[k] = away ? quant_one_away(x[k], s) : quant_one(x[k], s);
        sum += q[k];
    }
    return sum;
}

/* the zero padding and the header (ok: the scale was usable, else every q is 0) */
static inline void bmk_quant_i8_close(int8_t *q, int64_t cols, int64_t padded, int ok, float s, int32_t sum,
                                      bmk_act_header *h)
{
    if (!ok) memset(q, 0, (size_t)cols);
    memset(q + cols, 0, (size_t)(padded - cols));
    h->inv_scale = ok ? 1.f / s : 0.f;
    h->sum = ok ? sum : 0;
    h->cols = cols;
}
#endif
