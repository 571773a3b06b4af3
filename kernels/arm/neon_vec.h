/* neon_vec.h: the NEON vector API (native on aarch64, SIMDe on x86) that the SIMD kernel bodies
 * (ssm_simd.h, attn_simd.h) are written over; see ssm_simd.h for the list of operations. */
#ifndef BMK_NEON_VEC_H
#define BMK_NEON_VEC_H
#include "neon_compat.h"

#include <stdint.h>
#include <string.h>

typedef float32x4_t VF;
#define VL 4
#define V_LOAD(p) vld1q_f32(p)
#define V_STORE(p, v) vst1q_f32(p, v)
#define V_LOAD_H(p) vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)))
#define V_STORE_H(p, v) vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(v)))
#define V_SET1(f) vdupq_n_f32(f)
#define V_ADD(a, b) vaddq_f32(a, b)
#define V_SUB(a, b) vsubq_f32(a, b)
#define V_MUL(a, b) vmulq_f32(a, b)
#define V_DIV(a, b) vdivq_f32(a, b)
#define V_MIN(a, b) vminq_f32(a, b)
#define V_MAX(a, b) vmaxq_f32(a, b)
#define V_FMA(a, b, c) vfmaq_f32(c, a, b)
#define V_ROUND(v) vrndnq_f32(v)
#define V_POW2I(v) vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(v), vdupq_n_s32(127)), 23))
#define V_HSUM(v) vaddvq_f32(v)

/* 4 int8 -> 4 floats, reading exactly 4 bytes */
static inline float32x4_t bmk_neon_load_i8x4(const int8_t *p)
{
    int32_t w;
    memcpy(&w, p, 4);
    return vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(w))))));
}
#define V_LOAD_I8(p) bmk_neon_load_i8x4((const int8_t *)(p))

/* doubles (the bandwidth probe) */
typedef float64x2_t VD;
#define VDL 2
#define VD_LOAD(p) vld1q_f64(p)
#define VD_STORE(p, v) vst1q_f64(p, v)
#define VD_SET1(f) vdupq_n_f64(f)
#define VD_ADD(a, b) vaddq_f64(a, b)
#define VD_FMA(a, b, c) vfmaq_f64(c, a, b)
#define VD_HSUM(v) vaddvq_f64(v)

#define BMK_ISA BMK_NEON_SUFFIX
#endif
