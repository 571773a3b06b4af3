/* Test driver for the native NEON kernels (cross-compiled for aarch64, run under qemu-aarch64 by
 * tests/test_neon_qemu.py).  Reads cases written by the test: packed weights and activations from
 * bmbench/formats.py plus the x86 scalar kernel's output; checks, natively on aarch64, the scalar
 * kernel against the x86 one and each NEON flavour this CPU runs (neon, neon-nodot) against the
 * scalar one (bitwise for the integer formats, within rtol x |W||x| otherwise).
 * Activations quantised on aarch64 by the record's quantiser (bmk_act_quant) must give the x86 result.
 * Record: char name[16]; int64 rows, cols; float scale, rtol; int32 act_quant; int64 nbytes;
 *         uint8 data[nbytes]; float x[cols]; float y_x86[rows]; float bound[rows]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmk.h"

static int close_enough(float a, float b, float rtol, float bound, int exact)
{
    if (exact) return memcmp(&a, &b, sizeof a) == 0;
    float d = a - b;
    if (d < 0) d = -d;
    return d <= rtol * bound + 1e-6f;
}

int main(int argc, char **argv)
{
    FILE *f = fopen(argc > 1 ? argv[1] : "", "rb");
    if (!f) return 2;
    int cases = 0, fails = 0;
    static const int neon[] = {BMK_NEON, BMK_NEON_NODOT};
    enum { N_NEON = sizeof neon / sizeof neon[0] };
    int ran[N_NEON] = {0};
    char name[17] = {0};
    while (fread(name, 16, 1, f) == 1) {
        int64_t rows, cols, nbytes;
        float scale, rtol;
        int32_t act_quant;
        if (fread(&rows, 8, 1, f) != 1 || fread(&cols, 8, 1, f) != 1 || fread(&scale, 4, 1, f) != 1 ||
            fread(&rtol, 4, 1, f) != 1 || fread(&act_quant, 4, 1, f) != 1 || fread(&nbytes, 8, 1, f) != 1)
            return 2;
        uint8_t *data = malloc((size_t)nbytes);
        float *x = malloc((size_t)cols * 4), *ref = malloc((size_t)rows * 4), *bound = malloc((size_t)rows * 4);
        float *yg = malloc((size_t)rows * 4), *yn = malloc((size_t)rows * 4);
        if (fread(data, 1, (size_t)nbytes, f) != (size_t)nbytes || fread(x, 4, (size_t)cols, f) != (size_t)cols ||
            fread(ref, 4, (size_t)rows, f) != (size_t)rows || fread(bound, 4, (size_t)rows, f) != (size_t)rows)
            return 2;
        const int fmt = bmk_format_from_name(name);
        if (fmt < 0) return 3;
        const bmk_format *F = &bmk_formats[fmt];
        const size_t act_bytes = (F->act_bytes(cols) + 63) / 64 * 64;
        void *act = aligned_alloc(64, act_bytes), *act_n = aligned_alloc(64, act_bytes);
        memset(act, 0, act_bytes);
        F->prep[BMK_SCALAR](x, cols, act_quant, act);
        const bmk_tensor t = {data, rows, cols, scale};
        bmk_gemv(fmt, BMK_SCALAR, &t, act, yg, 1);
        int bad = 0;
        for (int64_t r = 0; r < rows; r++)
            if (!close_enough(yg[r], ref[r], rtol, bound[r], F->exact)) bad++;
        for (size_t k = 0; k < N_NEON; k++) {
            if (!bmk_flavour_runnable(neon[k])) continue; /* dotprod on a CPU without it */
            ran[k] = 1;
            memset(act_n, 0, act_bytes);
            F->prep[neon[k]](x, cols, act_quant, act_n); /* each flavour's prep: the same bytes */
            bmk_gemv(fmt, neon[k], &t, act_n, yn, 1);
            bad += memcmp(act, act_n, F->act_bytes(cols)) != 0;
            for (int64_t r = 0; r < rows; r++)
                if (!close_enough(yn[r], yg[r], rtol, bound[r], F->exact)) bad++;
        }
        if (bad) {
            printf("FAIL %s %lldx%lld quantiser %d: %d mismatches\n", name, (long long)rows, (long long)cols,
                   act_quant, bad);
            fails++;
        }
        cases++;
        free(data), free(x), free(ref), free(bound), free(yg), free(yn), free(act), free(act_n);
    }
    for (size_t k = 0; k < N_NEON; k++)
        if (ran[k]) printf("ran %s\n", bmk_flavour_names[neon[k]]);
    printf("%d cases, %d failed\n", cases, fails);
    return fails != 0;
}
