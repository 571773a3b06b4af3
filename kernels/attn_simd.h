/* attn_simd.h: the SIMD flavours of the attn family, written once over the vector API of
 * x86/avx2_vec.h, x86/avx512_vec.h and arm/neon_vec.h (see ssm_simd.h for the operations).
 *
 * Each ISA file (x86/avx2_attn.c, x86/avx512_attn.c, arm/neon_attn.c) includes its API header and
 * then this one, which emits bmk_<kernel>_<BMK_ISA>.  The query heads that share a KV head are
 * processed up to four at a time, so every K and V row is loaded (and converted) once for all of
 * them; V is walked in blocks of ATTN_TB positions that stay in L1 while the head_dim is swept.
 * Tails of head_dim (fp16 caches only: q8_0 rows are whole 32-element blocks, and VL divides 32)
 * read elements through bmk_kv_get, as the scalar reference does.
 */
#include "attn_common.h"
#include "flavours.h"
#include "vec_math.h"

#define ATTN_TB 64 /* V rows per block: 64 x 128 B (head_dim 64, fp16) = 8 KiB */

/* VL elements of a cached row from element d (d a multiple of VL) */
BMK_ALWAYS_INLINE VF v_load_row(const uint8_t *row, int64_t d, const int q8)
{
    if (!q8) return V_LOAD_H((const uint16_t *)row + d);
    const uint8_t *blk = row + (d / BMK_KV_QBLOCK) * BMK_KV_Q8_BYTES;
    return V_MUL(V_LOAD_I8(blk + 2 + d % BMK_KV_QBLOCK), V_SET1(bmk_kv_q8_scale(row, d)));
}

/* scores of jn <= 4 query heads (q rows hd apart) against rows 0 .. n-1 */
BMK_ALWAYS_INLINE void scores_heads(const float *q, const uint8_t *K, size_t rb, int64_t n, int64_t hd,
                                    float scale, float *s, int64_t s_stride, const int jn, const int q8)
{
    const int64_t dv = hd / VL * VL;
    const VF zero = V_SET1(0.0f);
    for (int64_t t = 0; t < n; t++) {
        const uint8_t *row = K + (size_t)t * rb;
        VF a0 = zero, a1 = zero, a2 = zero, a3 = zero;
        for (int64_t d = 0; d < dv; d += VL) {
            const VF k = v_load_row(row, d, q8);
            a0 = V_FMA(V_LOAD(q + d), k, a0);
            if (jn > 1) a1 = V_FMA(V_LOAD(q + hd + d), k, a1);
            if (jn > 2) a2 = V_FMA(V_LOAD(q + 2 * hd + d), k, a2);
            if (jn > 3) a3 = V_FMA(V_LOAD(q + 3 * hd + d), k, a3);
        }
        float acc[4] = {V_HSUM(a0), jn > 1 ? V_HSUM(a1) : 0.0f, jn > 2 ? V_HSUM(a2) : 0.0f,
                        jn > 3 ? V_HSUM(a3) : 0.0f};
        for (int64_t d = dv; d < hd; d++) {
            const float k = bmk_kv_get(row, d, q8);
            for (int j = 0; j < jn; j++) acc[j] += q[j * hd + d] * k;
        }
        for (int j = 0; j < jn; j++) s[j * s_stride + t] = acc[j] * scale;
    }
}

BMK_ALWAYS_INLINE void scores(const float *q, int64_t g, const uint8_t *K, int64_t n, int64_t hd,
                              float scale, float *s, int64_t s_stride, const int q8)
{
    const size_t rb = bmk_kv_row_bytes(q8 ? BMK_KV_Q8_0 : BMK_KV_F16, hd);
    for (int64_t j = 0; j < g; j += 4) {
        const float *qj = q + j * hd;
        float *sj = s + j * s_stride;
        switch (g - j) {
        case 1: scores_heads(qj, K, rb, n, hd, scale, sj, s_stride, 1, q8); break;
        case 2: scores_heads(qj, K, rb, n, hd, scale, sj, s_stride, 2, q8); break;
        case 3: scores_heads(qj, K, rb, n, hd, scale, sj, s_stride, 3, q8); break;
        default: scores_heads(qj, K, rb, n, hd, scale, sj, s_stride, 4, q8); break;
        }
    }
}

/* out rows of jn <= 4 query heads += their probabilities x V, rows t0 .. t1-1 */
BMK_ALWAYS_INLINE void values_heads(const float *p, int64_t p_stride, const uint8_t *V, size_t rb, int64_t t0,
                                    int64_t t1, int64_t hd, float *out, const int jn, const int q8)
{
    const int64_t dv = hd / VL * VL;
    const VF zero = V_SET1(0.0f);
    for (int64_t d = 0; d < dv; d += VL) {
        VF a0 = V_LOAD(out + d);
        VF a1 = jn > 1 ? V_LOAD(out + hd + d) : zero;
        VF a2 = jn > 2 ? V_LOAD(out + 2 * hd + d) : zero;
        VF a3 = jn > 3 ? V_LOAD(out + 3 * hd + d) : zero;
        for (int64_t t = t0; t < t1; t++) {
            const VF v = v_load_row(V + (size_t)t * rb, d, q8);
            a0 = V_FMA(V_SET1(p[t]), v, a0);
            if (jn > 1) a1 = V_FMA(V_SET1(p[p_stride + t]), v, a1);
            if (jn > 2) a2 = V_FMA(V_SET1(p[2 * p_stride + t]), v, a2);
            if (jn > 3) a3 = V_FMA(V_SET1(p[3 * p_stride + t]), v, a3);
        }
        V_STORE(out + d, a0);
        if (jn > 1) V_STORE(out + hd + d, a1);
        if (jn > 2) V_STORE(out + 2 * hd + d, a2);
        if (jn > 3) V_STORE(out + 3 * hd + d, a3);
    }
    for (int64_t d = dv; d < hd; d++)
        for (int j = 0; j < jn; j++) {
            float acc = out[j * hd + d];
            for (int64_t t = t0; t < t1; t++) acc += p[j * p_stride + t] * bmk_kv_get(V + (size_t)t * rb, d, q8);
            out[j * hd + d] = acc;
        }
}

BMK_ALWAYS_INLINE void values(const float *p, int64_t p_stride, int64_t g, const uint8_t *V, int64_t n,
                              int64_t hd, float *out, const int q8)
{
    const size_t rb = bmk_kv_row_bytes(q8 ? BMK_KV_Q8_0 : BMK_KV_F16, hd);
    memset(out, 0, (size_t)(g * hd) * sizeof *out);
    for (int64_t t0 = 0; t0 < n; t0 += ATTN_TB) {
        const int64_t t1 = t0 + ATTN_TB < n ? t0 + ATTN_TB : n;
        for (int64_t j = 0; j < g; j += 4) {
            const float *pj = p + j * p_stride;
            float *oj = out + j * hd;
            switch (g - j) {
            case 1: values_heads(pj, p_stride, V, rb, t0, t1, hd, oj, 1, q8); break;
            case 2: values_heads(pj, p_stride, V, rb, t0, t1, hd, oj, 2, q8); break;
            case 3: values_heads(pj, p_stride, V, rb, t0, t1, hd, oj, 3, q8); break;
            default: values_heads(pj, p_stride, V, rb, t0, t1, hd, oj, 4, q8); break;
            }
        }
    }
}

void BMK_ISA_FN(bmk_attn_scores_f16_)(const float *q, int64_t g, const uint8_t *K, int64_t n, int64_t hd,
                                      float scale, float *s, int64_t s_stride)
{
    scores(q, g, K, n, hd, scale, s, s_stride, 0);
}

void BMK_ISA_FN(bmk_attn_scores_q8_0_)(const float *q, int64_t g, const uint8_t *K, int64_t n, int64_t hd,
                                       float scale, float *s, int64_t s_stride)
{
    scores(q, g, K, n, hd, scale, s, s_stride, 1);
}

void BMK_ISA_FN(bmk_attn_values_f16_)(const float *p, int64_t p_stride, int64_t g, const uint8_t *V,
                                      int64_t n, int64_t hd, float *out)
{
    values(p, p_stride, g, V, n, hd, out, 0);
}

void BMK_ISA_FN(bmk_attn_values_q8_0_)(const float *p, int64_t p_stride, int64_t g, const uint8_t *V,
                                       int64_t n, int64_t hd, float *out)
{
    values(p, p_stride, g, V, n, hd, out, 1);
}

void BMK_ISA_FN(bmk_softmax_)(float *s, int64_t n)
{
    int64_t i = 0;
    float m = s[0];
    if (n >= VL) {
        VF vm = V_LOAD(s);
        for (i = VL; i + VL <= n; i += VL) vm = V_MAX(vm, V_LOAD(s + i));
        m = v_hmax(vm);
    }
    for (; i < n; i++) m = s[i] > m ? s[i] : m;
    const VF vmax = V_SET1(m);
    VF vsum = V_SET1(0.0f);
    for (i = 0; i + VL <= n; i += VL) {
        const VF e = v_exp(V_SUB(V_LOAD(s + i), vmax));
        V_STORE(s + i, e);
        vsum = V_ADD(vsum, e);
    }
    double sum = V_HSUM(vsum);
    for (; i < n; i++) {
        s[i] = expf(s[i] - m);
        sum += s[i];
    }
    const float r = (float)(1.0 / sum);
    const VF vr = V_SET1(r);
    for (i = 0; i + VL <= n; i += VL) V_STORE(s + i, V_MUL(V_LOAD(s + i), vr));
    for (; i < n; i++) s[i] *= r;
}

void BMK_ISA_FN(bmk_swiglu_)(const float *gate, const float *up, float *out, int64_t n)
{
    int64_t i = 0;
    for (; i + VL <= n; i += VL) V_STORE(out + i, V_MUL(v_silu(V_LOAD(gate + i)), V_LOAD(up + i)));
    for (; i < n; i++) out[i] = bmk_silu(gate[i]) * up[i];
}
