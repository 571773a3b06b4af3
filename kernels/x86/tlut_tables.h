/* tlut_tables.h: the ternary-lut table build for the x86 flavours (AVX2 instructions; the AVX-512
 * flavour builds the same way: one group's 16 int16 entries fill one 256-bit register, a wider one
 * would need a cross-lane byte split that costs what it saves).  Layout and reference:
 * kernels/generic/gemv_tlut.c.  Per pair of columns (q0, q1): T = sign(q0, A) + sign(q1, B) with
 * A = w(i & 3), B = w(i >> 2) in int16 (vpsignw: q times -1 / 0 / 1 exactly), split into its 7-bit
 * low part and its high part (T & 127, T >> 7) as the low and high bytes of a word, whose low bytes
 * and high bytes are then gathered into two 16-byte planes (vpshufb per lane, then a 64-bit
 * permute across lanes). */
#ifndef BMK_TLUT_TABLES_H
#define BMK_TLUT_TABLES_H
#include <immintrin.h>

#include "../formats.h"
#include "quant_x86.h"

static inline void tlut_tables_x86(const int8_t *q, int64_t kp, uint8_t *tab)
{
    const __m256i A = _mm256_setr_epi16(-1, 0, 1, 0, -1, 0, 1, 0, -1, 0, 1, 0, -1, 0, 1, 0);
    const __m256i B = _mm256_setr_epi16(-1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m256i low7 = _mm256_set1_epi16(127);
    /* per 128-bit lane: its 8 low bytes, then its 8 high bytes */
    const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                           0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    for (int64_t g = 0; g < kp / 2; g++) {
        const __m256i e = _mm256_add_epi16(_mm256_sign_epi16(_mm256_set1_epi16(q[2 * g]), A),
                                           _mm256_sign_epi16(_mm256_set1_epi16(q[2 * g + 1]), B));
        const __m256i t = _mm256_add_epi16(_mm256_and_si256(e, low7), _mm256_slli_epi16(_mm256_srai_epi16(e, 7), 8));
        /* quads: lo 0-7 | hi 0-7 | lo 8-15 | hi 8-15  ->  lo 0-7 | lo 8-15 | hi 0-7 | hi 8-15 */
        const __m256i s = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(t, split), _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)(tab + 32 * g), s);
    }
}

#define BMK_TLUT_PREP_X86(suffix)                                                                   \
    void bmk_tlut_prep_##suffix(const float *x, int64_t cols, int act_quant, void *act)             \
    {                                                                                               \
        int64_t kp;                                                                                 \
        const int8_t *q = bmk_tlut_quant(x, cols, act_quant, act, &kp, bmk_quant_i8_tensor_x86);   \
        tlut_tables_x86(q, kp, (uint8_t *)BMK_ACT_DATA(act));                                       \
    }
#endif
