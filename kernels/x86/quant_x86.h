/* quant_x86.h: bmk_quant_i8_tensor (kernels/quant.c) in AVX2 for the x86 flavours' preps, bitwise
 * the same: max ignores NaN and is order-free, the rounding is the same float operations element
 * by element (no contraction), the clamps are applied after NaN is zeroed (the scalar's branches
 * then agree), and the int32 sum is exact.  Tails take the scalar steps (quant_one.h).  Scalar, the
 * quantiser was most of a decode step's prep. */
#ifndef BMK_QUANT_X86_H
#define BMK_QUANT_X86_H
#include <immintrin.h>

#include "../formats.h"
#include "../quant_one.h"

/* 8 quantised values as int32: absmax (round half even, clamp +-127) or bitmamba (+-0.5, truncate,
 * clamp [-128, 127]); NaN -> 0 either way */
static inline __m256i quant8(__m256 x, __m256 s, int away)
{
    const __m256 v = _mm256_mul_ps(x, s);
    __m256 r;
    if (away) {
        const __m256 half = _mm256_blendv_ps(_mm256_set1_ps(-0.5f), _mm256_set1_ps(0.5f),
                                             _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ));
        r = _mm256_add_ps(v, half);
    } else {
        const __m256 magic = _mm256_set1_ps(12582912.f);
        r = _mm256_sub_ps(_mm256_add_ps(v, magic), magic);
    }
    r = _mm256_and_ps(r, _mm256_cmp_ps(r, r, _CMP_ORD_Q));
    r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(away ? -128.f : -127.f)), _mm256_set1_ps(127.f));
    return away ? _mm256_cvttps_epi32(r) : _mm256_cvtps_epi32(r);
}

static inline void bmk_quant_i8_tensor_x86(const float *x, int64_t cols, int64_t padded, int act_quant, int8_t *q,
                                           bmk_act_header *h)
{
    const __m256 sign = _mm256_set1_ps(-0.f);
    __m256 m8 = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= cols; k += 8) m8 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)), m8);
    float lanes[8], amax = 0.f;
    _mm256_storeu_ps(lanes, m8);
    for (int i = 0; i < 8; i++) amax = lanes[i] > amax ? lanes[i] : amax;
    for (; k < cols; k++) amax = absmax(amax, x[k]);

    const int away = act_quant == BMK_AQ_BITMAMBA;
    float s;
    const int ok = bmk_i8_scale(amax, act_quant, &s);
    int32_t sum = 0;
    k = 0;
    if (ok) {
        const __m256 vs = _mm256_set1_ps(s);
        const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        __m256i acc = _mm256_setzero_si256();
        for (; k + 32 <= cols; k += 32) {
            const __m256i a = quant8(_mm256_loadu_ps(x + k), vs, away);
            const __m256i b = quant8(_mm256_loadu_ps(x + k + 8), vs, away);
            const __m256i c = quant8(_mm256_loadu_ps(x + k + 16), vs, away);
            const __m256i d = quant8(_mm256_loadu_ps(x + k + 24), vs, away);
            acc = _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(c, d)));
            /* packs work within 128-bit lanes: groups of 4 values come out as 0 2 4 6 | 1 3 5 7 */
            const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
            _mm256_storeu_si256((__m256i *)(q + k), _mm256_permutevar8x32_epi32(p, order));
        }
        int32_t parts[8];
        _mm256_storeu_si256((__m256i *)parts, acc);
        for (int i = 0; i < 8; i++) sum += parts[i];
        sum += bmk_quant_i8_range(x, k, cols, s, away, q);
    }
    bmk_quant_i8_close(q, cols, padded, ok, s, sum, h);
}
#endif
