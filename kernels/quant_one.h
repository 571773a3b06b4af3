/* quant_one.h: the per-element steps of the int8 tensor quantiser (kernels/quant.c), shared with its
 * SIMD copy (x86/quant_x86.h) so both take the same steps element by element. */
#ifndef BMK_QUANT_ONE_H
#define BMK_QUANT_ONE_H
#include <math.h>
#include <stdint.h>

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

#endif
