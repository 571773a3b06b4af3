/* vec_math.h: math over the per-ISA vector API (x86/avx2_vec.h, x86/avx512_vec.h, arm/neon_vec.h),
 * shared by the SIMD kernel bodies (ssm_simd.h, attn_simd.h).  Include after the ISA's API header. */
#ifndef BMK_VEC_MATH_H
#define BMK_VEC_MATH_H

#define BMK_CAT_(a, b) a##b
#define BMK_CAT(a, b) BMK_CAT_(a, b)
#define BMK_ISA_FN(stem) BMK_CAT(stem, BMK_ISA)

/* exp(x), Cephes' single-precision polynomial (about 2 ulp), inputs clamped to [-87.3, 88.3] so
 * 2^n stays a normal float (silu and the gate only need it saturated beyond). */
static inline VF v_exp(VF x)
{
    x = V_MIN(V_MAX(x, V_SET1(-87.3f)), V_SET1(88.3f));
    const VF n = V_ROUND(V_MUL(x, V_SET1(1.44269504088896341f)));
    /* r = x - n*ln2, ln2 split in two so n*ln2_hi is exact */
    VF r = V_FMA(n, V_SET1(-0.693359375f), x);
    r = V_FMA(n, V_SET1(2.12194440e-4f), r);
    VF p = V_SET1(1.9875691500e-4f);
    p = V_FMA(p, r, V_SET1(1.3981999507e-3f));
    p = V_FMA(p, r, V_SET1(8.3334519073e-3f));
    p = V_FMA(p, r, V_SET1(4.1665795894e-2f));
    p = V_FMA(p, r, V_SET1(1.6666665459e-1f));
    p = V_FMA(p, r, V_SET1(5.0000001201e-1f));
    p = V_FMA(p, V_MUL(r, r), V_ADD(r, V_SET1(1.0f)));
    return V_MUL(p, V_POW2I(n));
}

static inline VF v_silu(VF v)
{
    return V_DIV(v, V_ADD(V_SET1(1.0f), v_exp(V_SUB(V_SET1(0.0f), v))));
}

/* the largest lane */
static inline float v_hmax(VF v)
{
    float t[VL];
    V_STORE(t, v);
    float m = t[0];
    for (int i = 1; i < VL; i++) m = t[i] > m ? t[i] : m;
    return m;
}

#endif
