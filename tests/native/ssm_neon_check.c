/* The ssm family's NEON flavour against the scalar reference, built natively for aarch64 and run
 * under qemu-aarch64 by tests/test_ssm_neon_native.py (the pytest suite runs NEON through SIMDe on
 * x86; this runs the real intrinsics).  Exit status 0 when every case is within tolerance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "flavours.h"

static unsigned long long rng_state = 88172645463325252ull;
static float rnd(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) / (double)(1ull << 24)) * 2 - 1;
}

static void fill(float *a, long n, float scale, float offset)
{
    for (long i = 0; i < n; i++) a[i] = rnd() * scale + offset;
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
    printf("%-40s %.2e %s\n", what, err, err <= tol ? "ok" : "FAIL");
    return err <= tol ? 0 : 1;
}

static int check_ssm(long H, long P, long N, long G, int f16, int d_per_channel)
{
    const long n = H * P;
    float *x = malloc(n * 4), *B = malloc(G * N * 4), *C = malloc(G * N * 4), *dt = malloc(H * 4);
    float *db = malloc(H * 4), *al = malloc(H * 4), *D = malloc(n * 4), *y1 = malloc(n * 4), *y2 = malloc(n * 4);
    void *s1 = calloc(n * N, 4), *s2 = calloc(n * N, 4);
    fill(db, H, 1, -1);
    fill(al, H, 1, 1.5f);
    fill(D, d_per_channel ? n : H, 1, 0);
    bmk_ssm_args a = {.n_heads = H, .head_dim = P, .d_state = N, .n_groups = G,
                      .D_per_channel = d_per_channel, .x = x, .B = B, .C = C, .dt_raw = dt,
                      .dt_bias = db, .A_log = al, .D = D};
    double err = 0;
    for (int step = 0; step < 6; step++) {
        fill(x, n, 1, 0);
        fill(B, G * N, 1, 0);
        fill(C, G * N, 1, 0);
        fill(dt, H, 1, 0);
        a.state = s1, a.y = y1;
        (f16 ? bmk_ssm_step_f16_generic : bmk_ssm_step_f32_generic)(&a, 0, H);
        a.state = s2, a.y = y2;
        (f16 ? bmk_ssm_step_f16_neon : bmk_ssm_step_f32_neon)(&a, 0, H);
        err = fmax(err, rel_err(y1, y2, n));
    }
    char what[96];
    snprintf(what, sizeof what, "ssm H%ld P%ld N%ld G%ld %s D/%s", H, P, N, G, f16 ? "f16" : "f32",
             d_per_channel ? "channel" : "head");
    int bad = report(what, err, f16 ? 2e-3 : 2e-6);
    free(x), free(B), free(C), free(dt), free(db), free(al), free(D), free(y1), free(y2), free(s1), free(s2);
    return bad;
}

static int check_conv_norms(long ch, long width)
{
    float *w = malloc(width * ch * 4), *b = malloc(ch * 4), *x = malloc(ch * 4), *nw = malloc(ch * 4);
    float *o1 = malloc(ch * 4), *o2 = malloc(ch * 4);
    float *st1 = calloc((width - 1) * ch + 1, 4), *st2 = calloc((width - 1) * ch + 1, 4);
    fill(w, width * ch, 1, 0);
    fill(b, ch, 1, 0);
    fill(nw, ch, 0.1f, 1);
    double conv = 0, norm = 0;
    for (int step = 0; step < 6; step++) {
        fill(x, ch, 4, 0);
        bmk_conv_silu_generic(st1, w, b, x, o1, ch, width);
        bmk_conv_silu_neon(st2, w, b, x, o2, ch, width);
        conv = fmax(conv, rel_err(o1, o2, ch));
        bmk_rmsnorm_generic(x, nw, o1, ch, 1e-6f);
        bmk_rmsnorm_neon(x, nw, o2, ch, 1e-6f);
        norm = fmax(norm, rel_err(o1, o2, ch));
        bmk_gated_rmsnorm_generic(x, b, nw, o1, ch, 1e-6f);
        bmk_gated_rmsnorm_neon(x, b, nw, o2, ch, 1e-6f);
        norm = fmax(norm, rel_err(o1, o2, ch));
    }
    char what[96];
    snprintf(what, sizeof what, "conv width %ld channels %ld", width, ch);
    int bad = report(what, conv, 2e-6);
    snprintf(what, sizeof what, "norms channels %ld", ch);
    bad |= report(what, norm, 4e-6);
    free(w), free(b), free(x), free(nw), free(o1), free(o2), free(st1), free(st2);
    return bad;
}

int main(void)
{
    static const long shapes[][4] = {{1, 1, 1, 1}, {3, 33, 1, 3}, {16, 128, 1, 16}, {2, 64, 128, 1},
                                     {4, 128, 16, 2}, {3, 33, 5, 1}};
    static const long channels[] = {1, 3, 33, 255, 257};
    int bad = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int f16 = 0; f16 < 2; f16++)
            for (int dpc = 0; dpc < 2; dpc++)
                bad |= check_ssm(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], f16, dpc);
    for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++)
        for (long width = 1; width <= 4; width++) bad |= check_conv_norms(channels[i], width);
    puts(bad ? "FAIL" : "OK");
    return bad;
}
