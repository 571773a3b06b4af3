/* ssm_common.h: scalar pieces shared by every flavour of the ssm family: the per-head coefficients
 * (computed with libm in every flavour, so all flavours see the same dt and dA), SiLU, and IEEE
 * half <-> float conversions (round to nearest even, bitwise equal to F16C / NEON fcvt). */
#ifndef BMK_SSM_COMMON_H
#define BMK_SSM_COMMON_H
#include <math.h>
#include <string.h>

#include "bmk.h"

#if defined(__GNUC__)
#define BMK_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define BMK_ALWAYS_INLINE static inline
#endif

static inline float bmk_silu(float v) { return v / (1.0f + expf(-v)); }

/* softplus with PyTorch's threshold: v above 20 is returned as is */
static inline float bmk_softplus(float v) { return v > 20.0f ? v : log1pf(expf(v)); }

/* dt and dA = exp(dt * A), A = -exp(A_log), of head h */
static inline void bmk_ssm_head_coeffs(const bmk_ssm_args *a, int64_t h, float *dt, float *dA)
{
    *dt = bmk_softplus(a->dt_raw[h] + a->dt_bias[h]);
    *dA = expf(*dt * -expf(a->A_log[h]));
}

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

/* Scalar pieces of the kernels, used whole by the generic flavour and for the tails of the SIMD
 * ones, so a tail computes exactly what the reference does. */

/* conv1d + SiLU over channels [c0, c1) of n */
static inline void bmk_conv_silu_range(float *state, const float *w, const float *b, const float *x,
                                       float *out, int64_t n, int64_t width, int64_t c0, int64_t c1)
{
    const int64_t last = width - 1;
    for (int64_t c = c0; c < c1; c++) {
        const float xc = x[c];
        float acc = b[c];
        for (int64_t k = 0; k < last; k++) acc += w[k * n + c] * state[k * n + c];
        acc += w[last * n + c] * xc;
        for (int64_t k = 0; k + 1 < last; k++) state[k * n + c] = state[(k + 1) * n + c];
        if (last > 0) state[(last - 1) * n + c] = xc;
        out[c] = bmk_silu(acc);
    }
}

/* Columns [n0, N) of one state row: s = dA*s + dtx*B[n], stored; returns sum of s*C[n]. */
BMK_ALWAYS_INLINE double bmk_ssm_row_tail(void *state, int64_t row, int64_t n0, int64_t N, float dA,
                                          float dtx, const float *B, const float *C, const int f16)
{
    float *sf = (float *)state + row;
    uint16_t *sh = (uint16_t *)state + row;
    double acc = 0;
    for (int64_t n = n0; n < N; n++) {
        const float s = dA * (f16 ? bmk_f16_to_f32(sh[n]) : sf[n]) + dtx * B[n];
        if (f16)
            sh[n] = bmk_f32_to_f16(s);
        else
            sf[n] = s;
        acc += (double)s * C[n];
    }
    return acc;
}

/* Channels [p0, head_dim) of head h, whole rows. */
BMK_ALWAYS_INLINE void bmk_ssm_head_tail(const bmk_ssm_args *a, int64_t h, int64_t p0, float dt,
                                         float dA, const float *B, const float *C, const int f16)
{
    const int64_t P = a->head_dim, N = a->d_state;
    for (int64_t p = p0; p < P; p++) {
        const int64_t i = h * P + p;
        const float xp = a->x[i], D = a->D_per_channel ? a->D[i] : a->D[h];
        const double acc = bmk_ssm_row_tail(a->state, i * N, 0, N, dA, dt * xp, B, C, f16);
        a->y[i] = (float)(acc + (double)D * xp);
    }
}

#endif
