/* Scalar reference of the attn family (transformer attention over a KV cache, SwiGLU): the oracle
 * every SIMD flavour is tested against.  Reductions accumulate in double. */
#include "../attn_common.h"
#include "../flavours.h"

BMK_ALWAYS_INLINE void scores(const float *q, int64_t g, const uint8_t *K, int64_t n, int64_t hd,
                              float scale, float *s, int64_t s_stride, const int q8)
{
    const size_t rb = bmk_kv_row_bytes(q8 ? BMK_KV_Q8_0 : BMK_KV_F16, hd);
    for (int64_t t = 0; t < n; t++) {
        const uint8_t *row = K + (size_t)t * rb;
        for (int64_t j = 0; j < g; j++) {
            double acc = 0;
            for (int64_t d = 0; d < hd; d++) acc += (double)q[j * hd + d] * bmk_kv_get(row, d, q8);
            s[j * s_stride + t] = (float)(acc * scale);
        }
    }
}

BMK_ALWAYS_INLINE void values(const float *p, int64_t p_stride, int64_t g, const uint8_t *V, int64_t n,
                              int64_t hd, float *out, const int q8)
{
    const size_t rb = bmk_kv_row_bytes(q8 ? BMK_KV_Q8_0 : BMK_KV_F16, hd);
    for (int64_t j = 0; j < g; j++)
        for (int64_t d = 0; d < hd; d++) {
            double acc = 0;
            for (int64_t t = 0; t < n; t++) acc += (double)p[j * p_stride + t] * bmk_kv_get(V + (size_t)t * rb, d, q8);
            out[j * hd + d] = (float)acc;
        }
}

void bmk_attn_scores_f16_generic(const float *q, int64_t g, const uint8_t *K, int64_t n, int64_t hd,
                                 float scale, float *s, int64_t s_stride)
{
    scores(q, g, K, n, hd, scale, s, s_stride, 0);
}

void bmk_attn_scores_q8_0_generic(const float *q, int64_t g, const uint8_t *K, int64_t n, int64_t hd,
                                  float scale, float *s, int64_t s_stride)
{
    scores(q, g, K, n, hd, scale, s, s_stride, 1);
}

void bmk_attn_values_f16_generic(const float *p, int64_t p_stride, int64_t g, const uint8_t *V, int64_t n,
                                 int64_t hd, float *out)
{
    values(p, p_stride, g, V, n, hd, out, 0);
}

void bmk_attn_values_q8_0_generic(const float *p, int64_t p_stride, int64_t g, const uint8_t *V, int64_t n,
                                  int64_t hd, float *out)
{
    values(p, p_stride, g, V, n, hd, out, 1);
}

void bmk_softmax_generic(float *s, int64_t n)
{
    float m = s[0];
    for (int64_t i = 1; i < n; i++) m = s[i] > m ? s[i] : m;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        s[i] = expf(s[i] - m);
        sum += s[i];
    }
    const float r = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) s[i] *= r;
}

void bmk_swiglu_generic(const float *gate, const float *up, float *out, int64_t n)
{
    for (int64_t i = 0; i < n; i++) out[i] = bmk_silu(gate[i]) * up[i];
}
