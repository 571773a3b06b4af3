/* probe_simd.h: the SIMD flavours of the bandwidth probe (STREAM's read-sum, copy and triad), written
 * once over the vector API (see ssm_simd.h); each ISA's probe file includes its API header, then
 * this. */
#include "flavours.h"
#include "vec_math.h"

double BMK_ISA_FN(bmk_probe_read_)(const double *a, size_t n)
{
    /* four accumulators cover the add latency; loads are unaligned-safe */
    VD s0 = VD_SET1(0), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 4 * VDL <= n; i += 4 * VDL) {
        s0 = VD_ADD(s0, VD_LOAD(a + i));
        s1 = VD_ADD(s1, VD_LOAD(a + i + VDL));
        s2 = VD_ADD(s2, VD_LOAD(a + i + 2 * VDL));
        s3 = VD_ADD(s3, VD_LOAD(a + i + 3 * VDL));
    }
    double s = VD_HSUM(VD_ADD(VD_ADD(s0, s1), VD_ADD(s2, s3)));
    for (; i < n; i++) s += a[i];
    return s;
}

void BMK_ISA_FN(bmk_probe_copy_)(double *dst, const double *src, size_t n)
{
    size_t i = 0;
    for (; i + 2 * VDL <= n; i += 2 * VDL) {
        VD_STORE(dst + i, VD_LOAD(src + i));
        VD_STORE(dst + i + VDL, VD_LOAD(src + i + VDL));
    }
    for (; i < n; i++) dst[i] = src[i];
}

void BMK_ISA_FN(bmk_probe_triad_)(double *a, const double *b, const double *c, double s, size_t n)
{
    const VD vs = VD_SET1(s);
    size_t i = 0;
    for (; i + VDL <= n; i += VDL) VD_STORE(a + i, VD_FMA(vs, VD_LOAD(c + i), VD_LOAD(b + i)));
    for (; i < n; i++) a[i] = b[i] + s * c[i];
}
