/* formats.c: the one table of weight formats (ggml's type-traits idea).  Each entry says how a
 * format is laid out and which function prepares activations and computes a GEMV per flavour; the
 * layout of each format is described next to its scalar kernel (kernels/generic/gemv_<fmt>.c) and
 * specified by its NumPy packer (bmbench/formats.py). */
#include <string.h>

#include "flavours.h"
#include "formats.h"

#define BMK_FORMAT_FNS(stem) .data_bytes = stem##_data_bytes, .act_bytes = stem##_act_bytes
/* one prep for every flavour (a scalar quantiser: cheap beside the GEMV it feeds) */
#define BMK_ONE_PREP(stem) .prep = {[0 ... BMK_N_FLAVOURS - 1] = stem##_prep}

#if BMK_HAVE_X86
#define BMK_TMAD_GEMM                                                                               \
    .gemm = {[BMK_AVX2] = bmk_gemm_tmad_avx2, [BMK_AVX512] = bmk_gemm_tmad_avx512,                 \
             [BMK_AVX512VNNI] = bmk_gemm_tmad_avx512vnni}
/* ternary-lut's GEMM is AVX2 code (its int16 pairs gain nothing from 512 bits yet) */
#define BMK_TLUT_GEMM                                                                               \
    .gemm = {[BMK_AVX2] = bmk_gemm_tlut_avx2, [BMK_AVX512] = bmk_gemm_tlut_avx2,                   \
             [BMK_AVX512VNNI] = bmk_gemm_tlut_avx2}
#else
#define BMK_TMAD_GEMM .gemm = {0}
#define BMK_TLUT_GEMM .gemm = {0}
#endif

const bmk_format bmk_formats[] = {
    {.name = "f32", .bpw = 32, .block = 1, .row_tile = 1, .exact = 0,
     BMK_FORMAT_FNS(bmk_f32), BMK_ONE_PREP(bmk_f32), .gemv = BMK_ALL_FLAVOURS(bmk_gemv_f32)},
    {.name = "f16", .bpw = 16, .block = 1, .row_tile = 1, .exact = 0,
     BMK_FORMAT_FNS(bmk_f16), BMK_ONE_PREP(bmk_f16), .gemv = BMK_ALL_FLAVOURS(bmk_gemv_f16)},
    {.name = "ternary-mad", .bpw = 2, .block = BMK_TMAD_BLOCK, .row_tile = 1, .exact = 1,
     BMK_FORMAT_FNS(bmk_tmad), .prep = BMK_ALL_FLAVOURS_VNNI(bmk_tmad_prep), .gemv = BMK_ALL_FLAVOURS_VNNI(bmk_gemv_tmad),
     BMK_TMAD_GEMM},
    {.name = "ternary-lut", .bpw = 2, .block = BMK_TLUT_COLS, .row_tile = BMK_TLUT_ROWS, .exact = 1,
     BMK_FORMAT_FNS(bmk_tlut), .prep = BMK_ALL_FLAVOURS(bmk_tlut_prep), .gemv = BMK_ALL_FLAVOURS(bmk_gemv_tlut),
     BMK_TLUT_GEMM},
    {.name = "q8_0", .bpw = 8.5, .block = BMK_Q8_BLOCK, .row_tile = 1, .exact = 0,
     BMK_FORMAT_FNS(bmk_q8_0), BMK_ONE_PREP(bmk_q8_0), .gemv = BMK_ALL_FLAVOURS_VNNI(bmk_gemv_q8_0)},
    {.name = "q4_0", .bpw = 4.5, .block = BMK_Q8_BLOCK, .row_tile = 1, .exact = 0,
     BMK_FORMAT_FNS(bmk_q4_0), BMK_ONE_PREP(bmk_q4_0), .gemv = BMK_ALL_FLAVOURS_VNNI(bmk_gemv_q4_0)},
};
const int bmk_n_formats = sizeof bmk_formats / sizeof bmk_formats[0];

int bmk_format_from_name(const char *name)
{
    for (int i = 0; i < bmk_n_formats; i++)
        if (strcmp(bmk_formats[i].name, name) == 0) return i;
    return -1;
}
