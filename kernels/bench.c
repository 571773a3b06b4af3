/* bench.c: timing loops that keep Python out of what is measured. */
#include "bmk.h"

/* `calls` GEMVs, each preparing the activations then streaming tensor [i % n_tensors]: the rotating
 * set makes the "streaming" regime (distinct matrices larger than the caches, as decode sees them),
 * n_tensors = 1 the "in-cache" regime. */
void bmk_gemv_loop(int format, int flavour, const bmk_tensor *tensors, int n_tensors, const float *x,
                   int act_quant, void *act, float *y, long calls, int threads)
{
    const bmk_format *f = &bmk_formats[format];
    for (long i = 0; i < calls; i++) {
        const bmk_tensor *t = &tensors[i % n_tensors];
        f->prep[flavour](x, t->cols, act_quant, act);
        bmk_gemv(format, flavour, t, act, y, threads);
    }
}
