/* dispatch.c: which flavours are compiled in and which this CPU + OS can run.  Detected once. */
#include "bmk.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

const char *const bmk_flavour_names[BMK_N_FLAVOURS] = {"scalar", "avx2", "avx512", "neon",
                                                              "avx512vnni", "neon-nodot"};

int bmk_flavour_compiled(int flavour)
{
    switch (flavour) {
    case BMK_SCALAR: return 1;
    case BMK_AVX2:
    case BMK_AVX512:
    case BMK_AVX512VNNI: return BMK_HAVE_X86;
    case BMK_NEON:
    case BMK_NEON_NODOT: return BMK_HAVE_NEON;
    default: return 0;
    }
}

int bmk_flavour_emulated(int flavour)
{
#if defined(__aarch64__)
    (void)flavour;
    return 0;
#else
    /* NEON intrinsics through SIMDe's portable implementation */
    return flavour == BMK_NEON || flavour == BMK_NEON_NODOT;
#endif
}

#if BMK_HAVE_X86
/* __builtin_cpu_supports checks XGETBV too, so an OS that does not save YMM/ZMM state says no. */
static int x86_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}
static int x86_avx512(void)
{
    return x86_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
static int x86_avx512vnni(void) { return x86_avx512() && __builtin_cpu_supports("avx512vnni"); }
#endif

static int neon_dotprod(void)
{
#if defined(__aarch64__) && defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__aarch64__)
    return 1; /* Apple silicon and other non-Linux aarch64 hosts all have dotprod */
#else
    return 1; /* emulated through SIMDe: runs anywhere */
#endif
}

int bmk_flavour_runnable(int flavour)
{
    if (!bmk_flavour_compiled(flavour)) return 0;
    switch (flavour) {
    case BMK_SCALAR: return 1;
#if BMK_HAVE_X86
    case BMK_AVX2: return x86_avx2();
    case BMK_AVX512: return x86_avx512();
    case BMK_AVX512VNNI: return x86_avx512vnni();
#endif
    case BMK_NEON: return neon_dotprod();
    case BMK_NEON_NODOT: return 1; /* every aarch64 CPU has NEON (ASIMD) */
    default: return 0;
    }
}

int bmk_best_flavour(void)
{
    static const int order[] = {BMK_AVX512VNNI, BMK_AVX512, BMK_AVX2, BMK_NEON, BMK_NEON_NODOT};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (bmk_flavour_runnable(order[i]) && !bmk_flavour_emulated(order[i])) return order[i];
    return BMK_SCALAR;
}

const char *bmk_cpu_features(void)
{
    static char buf[256];
    if (buf[0]) return buf;
    buf[0] = '\0';
#if BMK_HAVE_X86
    __builtin_cpu_init();
    /* __builtin_cpu_supports needs a string literal, hence a macro rather than a loop */
#define FEATURE(name) if (__builtin_cpu_supports(name)) strcat(buf, name " ");
    FEATURE("sse4.2") FEATURE("avx") FEATURE("avx2") FEATURE("fma") FEATURE("f16c")
    FEATURE("avx512f") FEATURE("avx512bw") FEATURE("avx512vl") FEATURE("avx512dq")
    FEATURE("avx512vnni") FEATURE("avx512vbmi") FEATURE("avxvnni")
#undef FEATURE
#elif defined(__aarch64__)
    strcat(buf, "neon ");
    if (neon_dotprod()) strcat(buf, "dotprod ");
#endif
    size_t n = strlen(buf);
    if (n) buf[n - 1] = '\0';
    return buf;
}

int bmk_default_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
