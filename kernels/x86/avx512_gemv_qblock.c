/* AVX-512 q8_0 / q4_0 (layouts: kernels/generic/gemv_qblock.c).  Two blocks per 512-bit vector
 * (one per 256-bit half, each with its own d_w d_x); the int8 x int8 dot is maddubs(|w|, x with
 * w's sign) for q8_0, the sign applied with a mask (AVX-512 has no vpsignb), and for q4_0
 * maddubs(unsigned nibbles, x) with one correction per pass.  A lone last block
 * is loaded into both halves with a zero scale for the copy.  Four rows per pass; the next pass is
 * prefetched as on AVX2.  Built a second time with BMK_VNNI=1 (flavour avx512vnni): vpdpbusd does
 * the maddubs + madd pair in one instruction. */
#include <immintrin.h>

#include "../flavours.h"
#include "../formats.h"

#if BMK_VNNI
/* int32 lanes of u . s (unsigned u, signed s bytes), four products per lane */
#define DOT_US(u, s) _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s)
#define Q_FN(stem) stem##_avx512vnni
#else
#define DOT_US(u, s) _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1))
#define Q_FN(stem) stem##_avx512
#endif

#define Q_ROWS 4

static inline __m256i load_q8_0(const uint8_t *blk) { return _mm256_loadu_si256((const __m256i *)(blk + 2)); }

/* q4_0's nibbles kept unsigned (n = w + 8 in 0..15), as on AVX2: maddubs(n, x) needs no sign
 * handling, and the - 8 sum(x) of each block is one row-independent term per pass */
static inline __m256i load_q4_0(const uint8_t *blk)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)(blk + 2));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
}

static inline __m512i pair(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

/* int32 lanes of w . x for signed int8 w: maddubs(|w|, x with w's sign) */
static inline __m512i dot_q8_0(__m512i w, __m512i x, __m512i unused)
{
    (void)unused;
    const __mmask64 neg = _mm512_movepi8_mask(w);
    const __m512i sx = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
    return DOT_US(_mm512_abs_epi8(w), sx);
}

/* int32 lanes of (n - 8) . x: maddubs(n, x) minus the pass's 8 x lanes (xs8) */
static inline __m512i dot_q4_0(__m512i n, __m512i x, __m512i xs8)
{
    return _mm512_sub_epi32(DOT_US(n, x), xs8);
}

/* the row-independent term of a pass: 8 x summed like maddubs + madd sums w x (zero for q8_0) */
static inline __m512i xsum_q8_0(__m512i x) { (void)x; return _mm512_setzero_si512(); }
static inline __m512i xsum_q4_0(__m512i x) { return DOT_US(_mm512_set1_epi8(8), x); }

static inline float d_w(const uint8_t *blk) { return _cvtsh_ss(bmk_load_u16(blk)); }

#define QBLOCK_AVX512(name, BYTES)                                                                  \
    static inline __attribute__((always_inline)) void rows_##name(const uint8_t *w0, int64_t nb,     \
                                                                  const int8_t *xq, const float *xd, \
                                                                  int nr, float *out)               \
    {                                                                                               \
        __m512 acc[Q_ROWS];                                                                         \
        for (int i = 0; i < nr; i++) acc[i] = _mm512_setzero_ps();                                  \
        int64_t b = 0;                                                                              \
        for (; b + 2 <= nb; b += 2) {                                                               \
            const __m512i x = _mm512_loadu_si512(xq + 32 * b);                                      \
            const __m512i xs = xsum_##name(x);                                                      \
            /* the next pass's span, linearly (see avx2_gemv_tmad.c) */                             \
            for (int o = 0; o < 2 * nr * BYTES; o += 64)                                            \
                _mm_prefetch((const char *)(w0 + nr * nb * BYTES + nr * BYTES * b + o), _MM_HINT_T0); \
            for (int i = 0; i < nr; i++) {                                                          \
                const uint8_t *blk = w0 + (i * nb + b) * BYTES;                                     \
                const __m512 d = _mm512_insertf32x8(_mm512_set1_ps(d_w(blk) * xd[b]),               \
                                                    _mm256_set1_ps(d_w(blk + BYTES) * xd[b + 1]), 1); \
                const __m512i p = dot_##name(pair(load_##name(blk), load_##name(blk + BYTES)), x, xs); \
                acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc[i]);                         \
            }                                                                                       \
        }                                                                                           \
        if (b < nb) {                                                                               \
            const __m512i x = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(xq + 32 * b))); \
            const __m512i xs = xsum_##name(x);                                                      \
            for (int i = 0; i < nr; i++) {                                                          \
                const uint8_t *blk = w0 + (i * nb + b) * BYTES;                                     \
                const __m256i v = load_##name(blk);                                                 \
                const __m512 d = _mm512_insertf32x8(_mm512_set1_ps(d_w(blk) * xd[b]),               \
                                                    _mm256_setzero_ps(), 1);                        \
                acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_##name(pair(v, v), x, xs)), d, acc[i]); \
            }                                                                                       \
        }                                                                                           \
        for (int i = 0; i < nr; i++) out[i] = _mm512_reduce_add_ps(acc[i]);                         \
    }                                                                                               \
    void Q_FN(bmk_gemv_##name)(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1) \
    {                                                                                               \
        const int64_t nb = (w->cols + BMK_Q8_BLOCK - 1) / BMK_Q8_BLOCK;                             \
        const int8_t *xq = bmk_q8_act_q(act);                                                       \
        const float *xd = bmk_q8_act_d(act, nb);                                                    \
        int64_t r = r0;                                                                             \
        for (; r + Q_ROWS <= r1; r += Q_ROWS)                                                       \
            rows_##name(w->data + r * nb * BYTES, nb, xq, xd, Q_ROWS, y + (r - r0));                \
        for (; r < r1; r++) rows_##name(w->data + r * nb * BYTES, nb, xq, xd, 1, y + (r - r0));     \
    }
QBLOCK_AVX512(q8_0, BMK_Q8_0_BYTES)
QBLOCK_AVX512(q4_0, BMK_Q4_0_BYTES)
