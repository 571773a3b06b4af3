/* engine_common.h: what both decode engines (decode.c, transformer.c) need around their kernels:
 * zeroed aligned buffers, the projection checks of a model description, batch scratch, and the
 * team's projections over a batch. */
#ifndef BMK_ENGINE_COMMON_H
#define BMK_ENGINE_COMMON_H
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "team.h"

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
 * the prepared activations, act_stride bytes per token and at least one per thread of a team of
 * `threads` (0: the default; see bmk_team_linears), *act_slots of them.  0, or -1 out of memory
 * (some buffers then NULL: the caller's cap goes to 0 and its free() handles them). */
static inline int bmk_batch_scratch(float **const *bufs, const int64_t *per, int n, uint8_t **act, size_t act_stride,
                                    int64_t b, int threads, int64_t *act_slots)
{
    int ok = 1;
    for (int i = 0; i < n; i++) {
        free(*bufs[i]);
        ok &= (*bufs[i] = bmk_alloc_zeroed((size_t)(b * per[i]) * 4)) != NULL;
    }
    const int64_t team = threads > 0 ? threads : bmk_default_threads();
    *act_slots = b > team ? b : team;
    free(*act);
    ok &= (*act = bmk_alloc_zeroed((size_t)*act_slots * act_stride)) != NULL;
    return ok ? 0 : -1;
}

/* y_i = W_i x_t for np projections that read the same input, over a batch of n tokens (rows of x
 * x_stride floats apart, y_i's rows y_stride[i] apart), by a team (team.h), once per run of
 * projections of one format preparing the activations into act (act_stride bytes apart); the team
 * shares every projection's rows across every token (bmk_gemm_slice); one barrier after all.
 * A batch: each thread prepares the tokens it owns.  A single token on several threads (a decode
 * step) whose act holds a slot per thread (act_slots >= nt): every thread prepares its own copy
 * (the same bytes) into its own slot and reads only it, so no thread idles through another's prep
 * and none reads tables that another core has just written (perf, 2 threads on Zen 4: the
 * ternary-lut table build fell from 4.3% to 0.7% of samples); x, which the token's owner wrote,
 * is waited for once instead. */
static inline void bmk_team_linears(int flavour, int act_quant, uint8_t *act, size_t act_stride, int64_t act_slots,
                                    const float *x, int64_t x_stride, int64_t n, int np, const bmk_linear *const *p,
                                    float *const *y, const int64_t *y_stride, int id, int nt)
{
    const int own = n == 1 && nt > 1 && nt <= act_slots;
    int prepared = -1;
    int64_t t0, t1;
    bmk_team_tokens(n, id, nt, &t0, &t1);
    if (own) {
        act += (size_t)id * act_stride;
        t0 = 0, t1 = 1;
        BMK_TEAM_BARRIER(nt); /* x complete */
    }
    for (int i = 0; i < np; i++) {
        if (p[i]->format != prepared) {
            if (i > 0 && !own) BMK_TEAM_BARRIER(nt); /* the GEMMs before still read act */
            for (int64_t t = t0; t < t1; t++)
                bmk_formats[p[i]->format].prep[flavour](x + t * x_stride, p[i]->w.cols, act_quant, act + t * act_stride);
            if (!own) BMK_TEAM_BARRIER(nt);
            prepared = p[i]->format;
        }
        bmk_gemm_slice(p[i]->format, flavour, &p[i]->w, act, act_stride, n, y[i], y_stride[i], id, nt);
    }
    BMK_TEAM_BARRIER(nt);
}
#endif
