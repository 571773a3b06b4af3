/* The attn family's NEON flavour against the scalar reference, built natively for aarch64 and run
 * under qemu-aarch64 by tests/test_attn_neon_native.py (the pytest suite runs NEON through SIMDe on
 * x86; this runs the real intrinsics).  Exit status 0 when every case is within tolerance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "attn_common.h"
#include "flavours.h"

static unsigned long long rng_state = 88172645463325252ull;
static float rnd(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) / (double)(1ull << 24)) * 2 - 1;
}

static void fill(float *a, long n, float scale)
{
    for (long i = 0; i < n; i++) a[i] = rnd() * scale;
}

/* max |a - b| relative to max |a| */
static double rel_err(const float *a, const float *b, long n)
{
    double m = 0, d = 0;
    for (long i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    for (long i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d / (m + 1e-30);
}

static int report(const char *what, double err, double tol)
{
    printf("%-44s %.2e %s\n", what, err, err <= tol ? "ok" : "FAIL");
    return err <= tol ? 0 : 1;
}

static int check(int kv, long hd, long n, long g)
{
    const size_t rb = bmk_kv_row_bytes(kv, hd);
    float *rows = malloc(n * hd * 4), *q = malloc(g * hd * 4), *s1 = malloc(g * n * 4), *s2 = malloc(g * n * 4);
    float *o1 = malloc(g * hd * 4), *o2 = malloc(g * hd * 4);
    uint8_t *K = malloc(n * rb), *V = malloc(n * rb);
    fill(rows, n * hd, 2);
    for (long t = 0; t < n; t++) bmk_kv_store_row(K + t * rb, rows + t * hd, hd, kv);
    fill(rows, n * hd, 2);
    for (long t = 0; t < n; t++) bmk_kv_store_row(V + t * rb, rows + t * hd, hd, kv);
    fill(q, g * hd, 1);
    char what[96];
    int fails = 0;
    const int q8 = kv == BMK_KV_Q8_0;
    (q8 ? bmk_attn_scores_q8_0_generic : bmk_attn_scores_f16_generic)(q, g, K, n, hd, 0.125f, s1, n);
    (q8 ? bmk_attn_scores_q8_0_neon : bmk_attn_scores_f16_neon)(q, g, K, n, hd, 0.125f, s2, n);
    snprintf(what, sizeof what, "scores %s hd %ld n %ld g %ld", q8 ? "q8_0" : "f16", hd, n, g);
    fails += report(what, rel_err(s1, s2, g * n), 1e-5);
    for (long j = 0; j < g; j++) {
        bmk_softmax_generic(s1 + j * n, n);
        bmk_softmax_neon(s2 + j * n, n);
    }
    snprintf(what, sizeof what, "softmax n %ld", n);
    fails += report(what, rel_err(s1, s2, g * n), 1e-5);
    (q8 ? bmk_attn_values_q8_0_generic : bmk_attn_values_f16_generic)(s1, n, g, V, n, hd, o1);
    (q8 ? bmk_attn_values_q8_0_neon : bmk_attn_values_f16_neon)(s1, n, g, V, n, hd, o2);
    snprintf(what, sizeof what, "values %s hd %ld n %ld g %ld", q8 ? "q8_0" : "f16", hd, n, g);
    fails += report(what, rel_err(o1, o2, g * hd), 1e-5);
    free(rows), free(q), free(s1), free(s2), free(o1), free(o2), free(K), free(V);
    return fails;
}

int main(void)
{
    int fails = 0;
    const long lens[] = {1, 3, 33, 257};
    for (int i = 0; i < 4; i++) {
        fails += check(BMK_KV_F16, 10, lens[i], 3);
        fails += check(BMK_KV_F16, 64, lens[i], 4);
        fails += check(BMK_KV_F16, 130, lens[i], 5);
        fails += check(BMK_KV_Q8_0, 64, lens[i], 4);
        fails += check(BMK_KV_Q8_0, 96, lens[i], 1);
    }
    float gate[37], up[37], y1[37], y2[37];
    fill(gate, 37, 6);
    fill(up, 37, 1);
    bmk_swiglu_generic(gate, up, y1, 37);
    bmk_swiglu_neon(gate, up, y2, 37);
    fails += report("swiglu n 37", rel_err(y1, y2, 37), 4e-6);
    printf("%d failure(s)\n", fails);
    return fails != 0;
}
