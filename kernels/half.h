/* half.h: portable IEEE half <-> float conversions (round to nearest even, bitwise equal to F16C /
 * NEON fcvt), shared by the f16 format and the fp16 SSM state. */
#ifndef BMK_HALF_H
#define BMK_HALF_H
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t bmk_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf, NaN (kept quiet) */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to infinity */
    if (ax < 0x38800000u) {
        /* below 2^-14: half subnormal or zero.  Adding 0.5 makes the float's ulp 2^-24, the half
         * subnormal ulp, so the FPU's own round-to-nearest-even does the rounding. */
        float t = fabsf(f) + 0.5f;
        uint32_t tb;
        memcpy(&tb, &t, 4);
        return (uint16_t)(sign | (tb - 0x3f000000u));
    }
    /* normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even */
    const uint32_t odd = (ax >> 13) & 1u;
    return (uint16_t)(sign | ((ax + 0xc8000fffu + odd) >> 13));
}

static inline float bmk_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, em = h & 0x7fffu;
    uint32_t bits;
    float f;
    if (em >= 0x7c00u) {
        bits = sign | 0x7f800000u | ((em & 0x3ffu) << 13);
    } else if (em >= 0x0400u) {
        bits = sign | ((em << 13) + 0x38000000u);
    } else { /* subnormal or zero: em * 2^-24 is exact in float */
        f = (float)em * 5.9604644775390625e-8f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    memcpy(&f, &bits, 4);
    return f;
}

#endif
