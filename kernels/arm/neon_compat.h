/* neon_compat.h: NEON intrinsics natively on aarch64, through SIMDe's portable implementation
 * elsewhere (so the x86 test suite runs the NEON flavour's real code paths). */
#ifndef BMK_NEON_COMPAT_H
#define BMK_NEON_COMPAT_H
#if defined(__aarch64__)
#include <arm_neon.h>
#else
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/arm/neon.h>
#endif
#endif
