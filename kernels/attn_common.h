/* attn_common.h: scalar pieces of the attn family shared by every flavour: reading one element of a
 * cached K/V row (fp16 or q8_0) as a float, and quantising a row into the cache's type.  The SIMD
 * flavours' tails use the same element reader, so a tail reads exactly what the reference reads. */
#ifndef BMK_ATTN_COMMON_H
#define BMK_ATTN_COMMON_H
#include <math.h>
#include <string.h>

#include "bmk.h"
#include "ssm_common.h" /* IEEE half conversions, BMK_ALWAYS_INLINE, bmk_silu */

#define BMK_KV_Q8_BYTES (2 + BMK_KV_QBLOCK) /* one q8_0 block: fp16 d + 32 int8 */

static inline float bmk_kv_q8_scale(const uint8_t *row, int64_t d)
{
    uint16_t h;
    memcpy(&h, row + (d / BMK_KV_QBLOCK) * BMK_KV_Q8_BYTES, 2);
    return bmk_f16_to_f32(h);
}

/* element d of a cached row */
BMK_ALWAYS_INLINE float bmk_kv_get(const uint8_t *row, int64_t d, const int q8)
{
    if (!q8) {
        uint16_t h;
        memcpy(&h, row + 2 * d, 2);
        return bmk_f16_to_f32(h);
    }
    const int8_t q = (int8_t)row[(d / BMK_KV_QBLOCK) * BMK_KV_Q8_BYTES + 2 + d % BMK_KV_QBLOCK];
    return bmk_kv_q8_scale(row, d) * (float)q;
}

/* x[head_dim] -> one cached row.  q8_0 as bmbench.formats packs q8_0 weights: d = fp16(max|x| / 127),
 * q = clip(round_half_even(x * (1 / d)), -127, 127) with d the stored (fp16) value, 0 when d is 0. */
static inline void bmk_kv_store_row(uint8_t *row, const float *x, int64_t head_dim, int kv_type)
{
    if (kv_type == BMK_KV_F16) {
        for (int64_t d = 0; d < head_dim; d++) {
            const uint16_t h = bmk_f32_to_f16(x[d]);
            memcpy(row + 2 * d, &h, 2);
        }
        return;
    }
    for (int64_t b = 0; b < head_dim / BMK_KV_QBLOCK; b++) {
        const float *xb = x + b * BMK_KV_QBLOCK;
        uint8_t *blk = row + b * BMK_KV_Q8_BYTES;
        float amax = 0.0f;
        for (int i = 0; i < BMK_KV_QBLOCK; i++) amax = fmaxf(amax, fabsf(xb[i]));
        const uint16_t dh = bmk_f32_to_f16(amax / 127.0f);
        const float dd = bmk_f16_to_f32(dh), inv = dd != 0.0f ? 1.0f / dd : 0.0f;
        memcpy(blk, &dh, 2);
        for (int i = 0; i < BMK_KV_QBLOCK; i++) {
            float q = nearbyintf(xb[i] * inv);
            q = q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q);
            blk[2 + i] = (uint8_t)(int8_t)q;
        }
    }
}

#endif
