/* pin.h: BMK_PIN(v) keeps vector variable v in a register at that point (an empty asm statement
 * that reads and writes it).  In the integer GEMV loops gcc 12 otherwise reads reused activation
 * loads as memory operands of the multiply-adds (half their rate on Zen 4) and copies loop-carried
 * accumulators through spare registers and the stack every iteration (avx512_gemv_tmad.c).  A
 * no-op where the vector types are not native (SIMDe's emulation in the tests). */
#ifndef BMK_PIN_H
#define BMK_PIN_H
#if defined(__AVX2__)
#define BMK_PIN(v) __asm__("" : "+v"(v))
#else
#define BMK_PIN(v) ((void)0)
#endif
#endif
