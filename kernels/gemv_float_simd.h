/* gemv_float_simd.h: the SIMD GEMVs of the float formats (f32, and f16 widened to float on load),
 * written once over the vector API (see ssm_simd.h); each ISA's gemv_float file includes its API
 * header, then this.  Four FMA chains per row hide the FMA latency; the tail runs scalar. */
#include "flavours.h"
#include "formats.h"
#include "half.h"
#include "vec_math.h"

/* one row's dot product; `half` is a constant at each call, so each GEMV gets its own loop */
static inline __attribute__((always_inline)) float bmk_float_row_dot(const void *row, const float *x, int64_t n,
                                                                      int half)
{
    const float *rf = (const float *)row;
    const uint16_t *rh = (const uint16_t *)row;
#define LOAD_W(k) (half ? V_LOAD_H(rh + (k)) : V_LOAD(rf + (k)))
    VF a0 = V_SET1(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t k = 0;
    for (; k + 4 * VL <= n; k += 4 * VL) {
        a0 = V_FMA(LOAD_W(k), V_LOAD(x + k), a0);
        a1 = V_FMA(LOAD_W(k + VL), V_LOAD(x + k + VL), a1);
        a2 = V_FMA(LOAD_W(k + 2 * VL), V_LOAD(x + k + 2 * VL), a2);
        a3 = V_FMA(LOAD_W(k + 3 * VL), V_LOAD(x + k + 3 * VL), a3);
    }
    for (; k + VL <= n; k += VL) a0 = V_FMA(LOAD_W(k), V_LOAD(x + k), a0);
#undef LOAD_W
    float s = V_HSUM(V_ADD(V_ADD(a0, a1), V_ADD(a2, a3)));
    for (; k < n; k++) s += (half ? bmk_f16_to_f32(rh[k]) : rf[k]) * x[k];
    return s;
}

void BMK_ISA_FN(bmk_gemv_f32_)(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const float *x = (const float *)BMK_ACT_CDATA(act);
    for (int64_t r = r0; r < r1; r++)
        y[r - r0] = bmk_float_row_dot((const float *)w->data + r * w->cols, x, w->cols, 0);
}

void BMK_ISA_FN(bmk_gemv_f16_)(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const float *x = (const float *)BMK_ACT_CDATA(act);
    for (int64_t r = r0; r < r1; r++)
        y[r - r0] = bmk_float_row_dot((const uint16_t *)w->data + r * w->cols, x, w->cols, 1);
}
