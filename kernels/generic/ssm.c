/* Scalar reference of the Mamba-2 recurrence kernels: the oracle every SIMD flavour is tested
 * against.  Reductions accumulate in double; the per-element pieces live in ssm_common.h so the
 * SIMD flavours' tails compute exactly this. */
#include "../flavours.h"
#include "../ssm_common.h"

void bmk_conv_silu_generic(float *state, const float *w, const float *b, const float *x, float *out,
                           int64_t channels, int64_t width)
{
    bmk_conv_silu_range(state, w, b, x, out, channels, width, 0, channels);
}

BMK_ALWAYS_INLINE void ssm_step(const bmk_ssm_args *a, int64_t h0, int64_t h1, const int f16)
{
    const int64_t N = a->d_state, heads_per_group = a->n_heads / a->n_groups;
    for (int64_t h = h0; h < h1; h++) {
        float dt, dA;
        bmk_ssm_head_coeffs(a, h, &dt, &dA);
        const int64_t g = h / heads_per_group;
        bmk_ssm_head_tail(a, h, 0, dt, dA, a->B + g * N, a->C + g * N, f16);
    }
}

void bmk_ssm_step_f32_generic(const bmk_ssm_args *a, int64_t h0, int64_t h1) { ssm_step(a, h0, h1, 0); }
void bmk_ssm_step_f16_generic(const bmk_ssm_args *a, int64_t h0, int64_t h1) { ssm_step(a, h0, h1, 1); }

void bmk_rmsnorm_generic(const float *x, const float *w, float *out, int64_t n, float eps)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    const float r = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * r * w[i];
}

void bmk_gated_rmsnorm_generic(const float *y, const float *z, const float *w, float *out, int64_t n,
                               float eps)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++) {
        const float g = y[i] * bmk_silu(z[i]);
        out[i] = g;
        ss += (double)g * g;
    }
    const float r = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++) out[i] = out[i] * r * w[i];
}
