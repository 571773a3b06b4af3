/* pin.h: BMK_PIN(v) keeps vector variable v in a register at that point (an empty asm statement
 * that reads and writes it).  In the AVX-512 VNNI ternary-mad GEMV gcc 12 otherwise read the reused
 * activation loads as vpdpbusd memory operands (half the rate of register ones on Zen 4) and copied
 * its loop-carried accumulators through spare registers and the stack every block; its GEMM
 * (prefill) read its 8 activation vectors the same way.  Use it where it measures faster: in the
 * other integer GEMVs it changed nothing, and the GEMM's accumulators pinned as well forced spills
 * (prefill 210 -> 155 tok/s, against 228 with the activations alone).  A no-op where the vector
 * types are not native (SIMDe's emulation in the tests). */
#ifndef BMK_PIN_H
#define BMK_PIN_H
#if defined(__AVX2__)
#define BMK_PIN(v) __asm__("" : "+v"(v))
#else
#define BMK_PIN(v) ((void)0)
#endif
#endif
