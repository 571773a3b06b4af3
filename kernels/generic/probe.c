/* Scalar reference of the bandwidth probe kernels (STREAM's read-sum, copy and triad). */
#include "../flavours.h"

double bmk_probe_read_generic(const double *a, size_t n)
{
    /* four independent sums so the loop is bound by loads, not by the add latency */
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i];
        s1 += a[i + 1];
        s2 += a[i + 2];
        s3 += a[i + 3];
    }
    for (; i < n; i++) s0 += a[i];
    return (s0 + s1) + (s2 + s3);
}

void bmk_probe_copy_generic(double *dst, const double *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
}

void bmk_probe_triad_generic(double *a, const double *b, const double *c, double s, size_t n)
{
    for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}
