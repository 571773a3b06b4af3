/* neon_compat.h: NEON intrinsics natively on aarch64, through SIMDe's portable implementation
 * elsewhere (so the x86 test suite runs the NEON flavour's real code paths).  Every NEON source is
 * built twice (meson.build): with the dot-product extension (flavour neon, symbols stem_neon) and
 * for plain ARMv8.0 (BMK_NEON_DOTPROD=0: flavour neon-nodot, symbols stem_neon_nodot). */
#ifndef BMK_NEON_COMPAT_H
#define BMK_NEON_COMPAT_H
#if defined(__aarch64__)
#include <arm_neon.h>
#else
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/arm/neon.h>
#endif

#ifndef BMK_NEON_DOTPROD
#define BMK_NEON_DOTPROD 1
#endif
#if BMK_NEON_DOTPROD
#define BMK_NEON_SUFFIX neon
#define BMK_NEON_FN(stem) stem##_neon
#else
#define BMK_NEON_SUFFIX neon_nodot
#define BMK_NEON_FN(stem) stem##_neon_nodot
#endif

/* acc + the dot products of a and b, four int8 pairs per int32 lane (sdot).  Without the
 * extension: widening multiplies (|a b| <= 128^2 fits int16) pairwise-added into the lanes, so each
 * lane holds a different share of the products but the lanes' total is the same. */
static inline int32x4_t bmk_sdot(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if BMK_NEON_DOTPROD
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}
#endif
