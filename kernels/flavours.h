/* flavours.h: declares a kernel in every flavour and builds its row of a dispatch table, so that a
 * kernel is added in one line and no list of flavours is kept by hand twice.  Two flavours refine a
 * parent: neon-nodot is every NEON source built a second time for ARMv8.0 (its own symbols,
 * stem_neon_nodot); avx512vnni has its own kernels only where VNNI changes the code (the integer
 * GEMVs: BMK_ALL_FLAVOURS_VNNI) and runs the AVX-512 ones elsewhere. */
#ifndef BMK_FLAVOURS_H
#define BMK_FLAVOURS_H
#include "bmk.h"

#define BMK_DECLARE_FLAVOURS(ret, stem, args)                                                       \
    ret stem##_generic args;                                                                        \
    ret stem##_avx2 args;                                                                           \
    ret stem##_avx512 args;                                                                         \
    ret stem##_neon args;                                                                           \
    ret stem##_neon_nodot args;
#define BMK_DECLARE_VNNI(ret, stem, args) ret stem##_avx512vnni args;

#if BMK_HAVE_X86
#define BMK_X86_SLOTS(stem, vnni) [BMK_AVX2] = stem##_avx2, [BMK_AVX512] = stem##_avx512,           \
                                  [BMK_AVX512VNNI] = stem##_##vnni,
#else
#define BMK_X86_SLOTS(stem, vnni)
#endif
#if BMK_HAVE_NEON
#define BMK_NEON_SLOTS(stem) [BMK_NEON] = stem##_neon, [BMK_NEON_NODOT] = stem##_neon_nodot,
#else
#define BMK_NEON_SLOTS(stem)
#endif
/* Table row indexed by flavour, NULL where a flavour is not compiled in. */
#define BMK_ALL_FLAVOURS(stem) {[BMK_SCALAR] = stem##_generic, BMK_X86_SLOTS(stem, avx512) BMK_NEON_SLOTS(stem)}
/* ... for a kernel with a VNNI version of its own */
#define BMK_ALL_FLAVOURS_VNNI(stem)                                                                 \
    {[BMK_SCALAR] = stem##_generic, BMK_X86_SLOTS(stem, avx512vnni) BMK_NEON_SLOTS(stem)}

/* bandwidth probe */
BMK_DECLARE_FLAVOURS(double, bmk_probe_read, (const double *a, size_t n))
BMK_DECLARE_FLAVOURS(void, bmk_probe_copy, (double *dst, const double *src, size_t n))
BMK_DECLARE_FLAVOURS(void, bmk_probe_triad, (double *a, const double *b, const double *c, double s, size_t n))

/* Mamba-2 recurrence (family ssm) */
BMK_DECLARE_FLAVOURS(void, bmk_conv_silu, (float *state, const float *w, const float *b, const float *x,
                                           float *out, int64_t channels, int64_t width))
BMK_DECLARE_FLAVOURS(void, bmk_ssm_step_f32, (const bmk_ssm_args *a, int64_t h0, int64_t h1))
BMK_DECLARE_FLAVOURS(void, bmk_ssm_step_f16, (const bmk_ssm_args *a, int64_t h0, int64_t h1))
BMK_DECLARE_FLAVOURS(void, bmk_rmsnorm, (const float *x, const float *w, float *out, int64_t n, float eps))
BMK_DECLARE_FLAVOURS(void, bmk_gated_rmsnorm, (const float *y, const float *z, const float *w, float *out,
                                               int64_t n, float eps))

/* transformer attention (family attn) */
BMK_DECLARE_FLAVOURS(void, bmk_attn_scores_f16, (const float *q, int64_t g, const uint8_t *K, int64_t n,
                                                 int64_t head_dim, float scale, float *s, int64_t s_stride))
BMK_DECLARE_FLAVOURS(void, bmk_attn_scores_q8_0, (const float *q, int64_t g, const uint8_t *K, int64_t n,
                                                  int64_t head_dim, float scale, float *s, int64_t s_stride))
BMK_DECLARE_FLAVOURS(void, bmk_softmax, (float *s, int64_t n))
BMK_DECLARE_FLAVOURS(void, bmk_attn_values_f16, (const float *p, int64_t p_stride, int64_t g, const uint8_t *V,
                                                 int64_t n, int64_t head_dim, float *out))
BMK_DECLARE_FLAVOURS(void, bmk_attn_values_q8_0, (const float *p, int64_t p_stride, int64_t g, const uint8_t *V,
                                                  int64_t n, int64_t head_dim, float *out))
BMK_DECLARE_FLAVOURS(void, bmk_swiglu, (const float *gate, const float *up, float *out, int64_t n))

/* GEMV, one line per format */
#define BMK_GEMV_ARGS (const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
BMK_DECLARE_FLAVOURS(void, bmk_gemv_f32, BMK_GEMV_ARGS)
BMK_DECLARE_FLAVOURS(void, bmk_gemv_f16, BMK_GEMV_ARGS)
BMK_DECLARE_FLAVOURS(void, bmk_gemv_tmad, BMK_GEMV_ARGS)
BMK_DECLARE_VNNI(void, bmk_gemv_tmad, BMK_GEMV_ARGS)
BMK_DECLARE_FLAVOURS(void, bmk_gemv_tlut, BMK_GEMV_ARGS)
BMK_DECLARE_FLAVOURS(void, bmk_gemv_q8_0, BMK_GEMV_ARGS)
BMK_DECLARE_FLAVOURS(void, bmk_gemv_q4_0, BMK_GEMV_ARGS)
BMK_DECLARE_VNNI(void, bmk_gemv_q8_0, BMK_GEMV_ARGS)
BMK_DECLARE_VNNI(void, bmk_gemv_q4_0, BMK_GEMV_ARGS)

/* multi-vector GEMMs (prefill), where a flavour has one */
#define BMK_GEMM_ARGS                                                                               \
    (const bmk_tensor *w, const void *acts, size_t act_stride, int64_t n, float *y, int64_t y_stride, int64_t r0, \
     int64_t r1)
void bmk_gemm_tmad_avx2 BMK_GEMM_ARGS;
void bmk_gemm_tmad_avx512 BMK_GEMM_ARGS;
void bmk_gemm_tmad_avx512vnni BMK_GEMM_ARGS;
void bmk_gemm_tlut_avx2 BMK_GEMM_ARGS;

#endif
