/* NEON flavour of the bandwidth probe kernels (native on aarch64, SIMDe on x86). */
#include "neon_compat.h"

#include "../flavours.h"

double BMK_NEON_FN(bmk_probe_read)(const double *a, size_t n)
{
    float64x2_t s0 = vdupq_n_f64(0), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vaddq_f64(s0, vld1q_f64(a + i));
        s1 = vaddq_f64(s1, vld1q_f64(a + i + 2));
        s2 = vaddq_f64(s2, vld1q_f64(a + i + 4));
        s3 = vaddq_f64(s3, vld1q_f64(a + i + 6));
    }
    double s = vaddvq_f64(vaddq_f64(vaddq_f64(s0, s1), vaddq_f64(s2, s3)));
    for (; i < n; i++) s += a[i];
    return s;
}

void BMK_NEON_FN(bmk_probe_copy)(double *dst, const double *src, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        vst1q_f64(dst + i, vld1q_f64(src + i));
        vst1q_f64(dst + i + 2, vld1q_f64(src + i + 2));
    }
    for (; i < n; i++) dst[i] = src[i];
}

void BMK_NEON_FN(bmk_probe_triad)(double *a, const double *b, const double *c, double s, size_t n)
{
    const float64x2_t vs = vdupq_n_f64(s);
    size_t i = 0;
    for (; i + 2 <= n; i += 2) vst1q_f64(a + i, vfmaq_f64(vld1q_f64(b + i), vs, vld1q_f64(c + i)));
    for (; i < n; i++) a[i] = b[i] + s * c[i];
}
