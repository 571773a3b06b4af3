/* ssm_simd.h: the SIMD flavours of the ssm family, written once over a small vector API (also used by
 * attn_simd.h, gemv_float_simd.h and probe_simd.h).
 *
 * Each ISA file (x86/avx2_ssm.c, x86/avx512_ssm.c, arm/neon_ssm.c) includes its ISA's API header
 * (x86/avx2_vec.h, x86/avx512_vec.h, arm/neon_vec.h, shared with the attn family) and then this
 * header, which emits bmk_<kernel>_<BMK_ISA>.  The ISA-specific code is the API; the
 * kernels are not copied per ISA.  Tails (lengths not a multiple of VL) run the scalar pieces of
 * ssm_common.h, i.e. exactly the reference's arithmetic.
 *
 *   VF, VL                 float vector type and its lane count
 *   V_LOAD(p) V_STORE(p,v) unaligned float loads / stores
 *   V_LOAD_H(p) V_STORE_H(p,v)  VL IEEE halves (uint16_t *) <-> floats, round to nearest even
 *   V_LOAD_I8(p)           VL int8 -> floats (reads exactly VL bytes)
 *   V_SET1(f) V_ADD V_SUB V_MUL V_DIV V_MIN V_MAX
 *   V_FMA(a,b,c)           a*b + c
 *   V_ROUND(v)             round to nearest integer (as floats)
 *   V_POW2I(v)             2^v for integer-valued v in [-126, 127]
 *   V_HSUM(v)              sum of the lanes
 *   VD, VDL, VD_LOAD VD_STORE VD_SET1 VD_ADD VD_FMA VD_HSUM   the same for doubles (probe_simd.h)
 *   BMK_ISA                symbol suffix (avx2, avx512, neon)
 */
#include "flavours.h"
#include "ssm_common.h"
#include "vec_math.h"

void BMK_ISA_FN(bmk_conv_silu_)(float *state, const float *w, const float *b, const float *x, float *out,
                                int64_t channels, int64_t width)
{
    const int64_t n = channels, last = width - 1;
    int64_t c = 0;
    for (; c + VL <= n; c += VL) {
        const VF xc = V_LOAD(x + c);
        VF acc = V_LOAD(b + c);
        for (int64_t k = 0; k < last; k++) acc = V_FMA(V_LOAD(w + k * n + c), V_LOAD(state + k * n + c), acc);
        acc = V_FMA(V_LOAD(w + last * n + c), xc, acc);
        for (int64_t k = 0; k + 1 < last; k++) V_STORE(state + k * n + c, V_LOAD(state + (k + 1) * n + c));
        if (last > 0) V_STORE(state + (last - 1) * n + c, xc);
        V_STORE(out + c, v_silu(acc));
    }
    bmk_conv_silu_range(state, w, b, x, out, n, width, c, n);
}

BMK_ALWAYS_INLINE VF v_load_state(const void *state, int64_t i, const int f16)
{
    return f16 ? V_LOAD_H((const uint16_t *)state + i) : V_LOAD((const float *)state + i);
}

BMK_ALWAYS_INLINE void v_store_state(void *state, int64_t i, VF v, const int f16)
{
    if (f16)
        V_STORE_H((uint16_t *)state + i, v);
    else
        V_STORE((float *)state + i, v);
}

BMK_ALWAYS_INLINE void ssm_step(const bmk_ssm_args *a, int64_t h0, int64_t h1, const int f16)
{
    const int64_t P = a->head_dim, N = a->d_state, heads_per_group = a->n_heads / a->n_groups;
    for (int64_t h = h0; h < h1; h++) {
        float dt, dA;
        bmk_ssm_head_coeffs(a, h, &dt, &dA);
        const int64_t g = h / heads_per_group;
        const float *B = a->B + g * N, *C = a->C + g * N;
        const VF vdt = V_SET1(dt), vdA = V_SET1(dA);
        int64_t p = 0;
        if (N == 1) {
            /* one state per channel (BitMamba-2): vectors run along the head's channels */
            const VF vB = V_SET1(B[0]), vC = V_SET1(C[0]);
            for (; p + VL <= P; p += VL) {
                const int64_t i = h * P + p;
                const VF xp = V_LOAD(a->x + i);
                const VF D = a->D_per_channel ? V_LOAD(a->D + i) : V_SET1(a->D[h]);
                const VF s = V_FMA(vdA, v_load_state(a->state, i, f16), V_MUL(V_MUL(vdt, xp), vB));
                v_store_state(a->state, i, s, f16);
                V_STORE(a->y + i, V_FMA(s, vC, V_MUL(D, xp)));
            }
        } else {
            /* a head_dim x d_state block: vectors run along each channel's row of d_state */
            for (; p < P; p++) {
                const int64_t i = h * P + p, row = i * N;
                const float xp = a->x[i], D = a->D_per_channel ? a->D[i] : a->D[h];
                const float dtx = dt * xp;
                const VF vdtx = V_SET1(dtx);
                VF acc = V_SET1(0.0f);
                int64_t n = 0;
                for (; n + VL <= N; n += VL) {
                    const VF s = V_FMA(vdA, v_load_state(a->state, row + n, f16), V_MUL(vdtx, V_LOAD(B + n)));
                    v_store_state(a->state, row + n, s, f16);
                    acc = V_FMA(s, V_LOAD(C + n), acc);
                }
                const double tail = bmk_ssm_row_tail(a->state, row, n, N, dA, dtx, B, C, f16);
                a->y[i] = (float)((double)V_HSUM(acc) + tail + (double)D * xp);
            }
        }
        bmk_ssm_head_tail(a, h, p, dt, dA, B, C, f16);
    }
}

void BMK_ISA_FN(bmk_ssm_step_f32_)(const bmk_ssm_args *a, int64_t h0, int64_t h1) { ssm_step(a, h0, h1, 0); }
void BMK_ISA_FN(bmk_ssm_step_f16_)(const bmk_ssm_args *a, int64_t h0, int64_t h1) { ssm_step(a, h0, h1, 1); }

/* out[i] = out[i] * r * w[i] (the second pass of both norms) */
static inline void v_scale_by(const float *x, const float *w, float *out, int64_t n, double ss, float eps)
{
    const float r = (float)(1.0 / sqrt(ss / (double)n + eps));
    const VF vr = V_SET1(r);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) V_STORE(out + i, V_MUL(V_MUL(V_LOAD(x + i), vr), V_LOAD(w + i)));
    for (; i < n; i++) out[i] = x[i] * r * w[i];
}

void BMK_ISA_FN(bmk_rmsnorm_)(const float *x, const float *w, float *out, int64_t n, float eps)
{
    VF acc0 = V_SET1(0.0f), acc1 = acc0;
    int64_t i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
        const VF v0 = V_LOAD(x + i), v1 = V_LOAD(x + i + VL);
        acc0 = V_FMA(v0, v0, acc0);
        acc1 = V_FMA(v1, v1, acc1);
    }
    for (; i + VL <= n; i += VL) {
        const VF v = V_LOAD(x + i);
        acc0 = V_FMA(v, v, acc0);
    }
    double ss = V_HSUM(V_ADD(acc0, acc1));
    for (; i < n; i++) ss += (double)x[i] * x[i];
    v_scale_by(x, w, out, n, ss, eps);
}

void BMK_ISA_FN(bmk_gated_rmsnorm_)(const float *y, const float *z, const float *w, float *out, int64_t n,
                                    float eps)
{
    VF acc = V_SET1(0.0f);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        const VF g = V_MUL(V_LOAD(y + i), v_silu(V_LOAD(z + i)));
        V_STORE(out + i, g);
        acc = V_FMA(g, g, acc);
    }
    double ss = V_HSUM(acc);
    for (; i < n; i++) {
        const float g = y[i] * bmk_silu(z[i]);
        out[i] = g;
        ss += (double)g * g;
    }
    v_scale_by(out, w, out, n, ss, eps);
}
