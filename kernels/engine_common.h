/* engine_common.h: what both decode engines (decode.c, transformer.c) need around their kernels:
 * zeroed aligned buffers, the projection checks of a model description, batch scratch. */
#ifndef BMK_ENGINE_COMMON_H
#define BMK_ENGINE_COMMON_H
#include <stdlib.h>
#include <string.h>

#include "decode.h"

/* zeroed, 64-byte aligned (SIMD loads, cache lines), never a NULL for 0 bytes */
static inline void *bmk_alloc_zeroed(size_t bytes)
{
    bytes = (bytes + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    void *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

/* NULL if the projection is usable in this flavour with this shape, else why not */
static inline const char *bmk_check_linear(const bmk_linear *p, int64_t rows, int64_t cols, int flavour)
{
    if (p->format < 0 || p->format >= bmk_n_formats) return "unknown weight format";
    if (bmk_formats[p->format].gemv[flavour] == NULL) return "format has no GEMV kernel in this flavour";
    if (p->w.data == NULL) return "projection without data";
    if (p->w.rows != rows || p->w.cols != cols) return "projection shape does not match the config";
    return NULL;
}

/* Batch scratch for b tokens (contents not kept): n float buffers of per[i] values per token and
 * the prepared activations, act_stride bytes per token.  0, or -1 out of memory (some buffers then
 * NULL: the caller's cap goes to 0 and its free() handles them). */
static inline int bmk_batch_scratch(float **const *bufs, const int64_t *per, int n, uint8_t **act, size_t act_stride,
                                    int64_t b)
{
    int ok = 1;
    for (int i = 0; i < n; i++) {
        free(*bufs[i]);
        ok &= (*bufs[i] = bmk_alloc_zeroed((size_t)(b * per[i]) * 4)) != NULL;
    }
    free(*act);
    ok &= (*act = bmk_alloc_zeroed((size_t)b * act_stride)) != NULL;
    return ok ? 0 : -1;
}
#endif
