/* AVX2 q8_0 / q4_0 (layouts: kernels/generic/gemv_qblock.c).  One block of 32 weights is one
 * vector of int8; the signed x signed int8 dot uses maddubs(|w|, sign(x, w)); the block's int32
 * dot is scaled by d_w d_x into a float accumulator (FMA).  Four rows per pass share the
 * activation loads.  The two formats differ only in how a block is loaded. */
#include <immintrin.h>

#include "../flavours.h"
#include "../formats.h"

#define Q_ROWS 4

static inline __m256i load_q8_0(const uint8_t *blk) { return _mm256_loadu_si256((const __m256i *)(blk + 2)); }

static inline __m256i load_q4_0(const uint8_t *blk)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)(blk + 2));
    const __m256i n = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
    return _mm256_sub_epi8(n, _mm256_set1_epi8(8));
}

static inline __m256 dot_i8(__m256i w, __m256i x)
{
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

static inline float hsum_ps(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

#define QBLOCK_AVX2(name, BYTES)                                                                    \
    static inline __attribute__((always_inline)) void rows_##name(const uint8_t *w0, int64_t nb,     \
                                                                  const int8_t *xq, const float *xd, \
                                                                  int nr, float *out)               \
    {                                                                                               \
        __m256 acc[Q_ROWS];                                                                         \
        for (int i = 0; i < nr; i++) acc[i] = _mm256_setzero_ps();                                  \
        for (int64_t b = 0; b < nb; b++) {                                                          \
            const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));                   \
            for (int i = 0; i < nr; i++) {                                                          \
                const uint8_t *blk = w0 + (i * nb + b) * BYTES;                                     \
                const float d = _cvtsh_ss(bmk_load_u16(blk)) * xd[b];                          \
                acc[i] = _mm256_fmadd_ps(dot_i8(load_##name(blk), x), _mm256_set1_ps(d), acc[i]);   \
            }                                                                                       \
        }                                                                                           \
        for (int i = 0; i < nr; i++) out[i] = hsum_ps(acc[i]);                                      \
    }                                                                                               \
    void bmk_gemv_##name##_avx2(const bmk_tensor *w, const void *act, float *y, int64_t r0,          \
                                int64_t r1)                                                         \
    {                                                                                               \
        const int64_t nb = (w->cols + BMK_Q8_BLOCK - 1) / BMK_Q8_BLOCK;                             \
        const int8_t *xq = bmk_q8_act_q(act);                                                       \
        const float *xd = bmk_q8_act_d(act, nb);                                                    \
        int64_t r = r0;                                                                             \
        for (; r + Q_ROWS <= r1; r += Q_ROWS)                                                       \
            rows_##name(w->data + r * nb * BYTES, nb, xq, xd, Q_ROWS, y + (r - r0));                \
        for (; r < r1; r++) rows_##name(w->data + r * nb * BYTES, nb, xq, xd, 1, y + (r - r0));     \
    }
QBLOCK_AVX2(q8_0, BMK_Q8_0_BYTES)
QBLOCK_AVX2(q4_0, BMK_Q4_0_BYTES)
