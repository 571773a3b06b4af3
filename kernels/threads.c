/* threads.c: the one place that splits work across OpenMP threads. */
#include "flavours.h"
#include "team.h"

static int resolve_threads(int threads) { return threads > 0 ? threads : bmk_default_threads(); }

const bmk_probe_table bmk_probe = {
    .read = BMK_ALL_FLAVOURS(bmk_probe_read),
    .copy = BMK_ALL_FLAVOURS(bmk_probe_copy),
    .triad = BMK_ALL_FLAVOURS(bmk_probe_triad),
};

/* Thread id's slice of n doubles: aligned to 8 doubles (one cache line) so threads never share a
 * line.  bmk_probe_fill and bmk_probe_run split alike, so each thread reads what it first touched. */
static void probe_slice(size_t n, size_t *lo, size_t *hi)
{
    const size_t id = (size_t)BMK_TEAM_ID(), nt = (size_t)BMK_TEAM_SIZE();
    *lo = (n * id / nt) & ~(size_t)7;
    *hi = id == nt - 1 ? n : (n * (id + 1) / nt) & ~(size_t)7;
}

void bmk_probe_fill(double *a, size_t n, double value, int threads)
{
#pragma omp parallel num_threads(resolve_threads(threads))
    {
        size_t lo, hi;
        probe_slice(n, &lo, &hi);
        for (size_t i = lo; i < hi; i++) a[i] = value;
    }
}

double bmk_probe_run(int kind, int flavour, double *a, double *b, double *c, size_t n, long reps,
                     int threads)
{
    double sum = 0;
    const bmk_probe_table *t = &bmk_probe;
#pragma omp parallel num_threads(resolve_threads(threads)) reduction(+ : sum)
    {
        size_t lo, hi;
        probe_slice(n, &lo, &hi);
        for (long r = 0; r < reps; r++) {
            switch (kind) {
            case 0: sum += t->read[flavour](a + lo, hi - lo); break;
            case 1: t->copy[flavour](a + lo, b + lo, hi - lo); break;
            default: t->triad[flavour](a + lo, b + lo, c + lo, 3.0, hi - lo); break;
            }
        }
        if (kind != 0 && hi > lo) sum += a[lo];
    }
    return sum;
}

const bmk_ssm_table bmk_ssm = {
    .conv = BMK_ALL_FLAVOURS(bmk_conv_silu),
    .ssm = {[BMK_STATE_F32] = BMK_ALL_FLAVOURS(bmk_ssm_step_f32),
            [BMK_STATE_F16] = BMK_ALL_FLAVOURS(bmk_ssm_step_f16)},
    .rmsnorm = BMK_ALL_FLAVOURS(bmk_rmsnorm),
    .gated_rmsnorm = BMK_ALL_FLAVOURS(bmk_gated_rmsnorm),
};

void bmk_ssm_slice(int flavour, int state_type, const bmk_ssm_args *a, int id, int nt)
{
    int64_t h0, h1;
    bmk_team_share(a->n_heads, id, nt, &h0, &h1);
    if (h0 < h1) bmk_ssm.ssm[state_type][flavour](a, h0, h1);
}

void bmk_ssm_step(int flavour, int state_type, const bmk_ssm_args *a, int threads)
{
    threads = resolve_threads(threads);
    if (threads > a->n_heads) threads = (int)a->n_heads;
    BMK_TEAM_RUN(threads, bmk_ssm_slice, flavour, state_type, a);
}

static int64_t row_tiles(const bmk_format *f, const bmk_tensor *w) { return (w->rows + f->row_tile - 1) / f->row_tile; }

/* thread id of nt's rows [r0, r1) of a matrix: whole tiles (the format's rows stored together) */
static void slice_rows(const bmk_format *f, const bmk_tensor *w, int id, int nt, int64_t *r0, int64_t *r1)
{
    int64_t t0, t1;
    bmk_team_share(row_tiles(f, w), id, nt, &t0, &t1);
    *r0 = t0 * f->row_tile;
    *r1 = t1 * f->row_tile < w->rows ? t1 * f->row_tile : w->rows;
}

/* a team for a matrix: no more threads than row tiles */
static int team_for_rows(const bmk_format *f, const bmk_tensor *w, int threads)
{
    threads = resolve_threads(threads);
    return threads > row_tiles(f, w) ? (int)row_tiles(f, w) : threads;
}

void bmk_gemv_slice(int format, int flavour, const bmk_tensor *w, const void *act, float *y, int id, int nt)
{
    const bmk_format *f = &bmk_formats[format];
    int64_t r0, r1;
#ifdef BMK_TEST_HOOKS
    if (id == 0) bmk_test_slowdown_kernel(format, flavour, w, act); /* every GEMV, team or not */
#endif
    slice_rows(f, w, id, nt, &r0, &r1);
    if (r0 < r1) f->gemv[flavour](w, act, y + r0, r0, r1);
}

void bmk_gemv(int format, int flavour, const bmk_tensor *w, const void *act, float *y, int threads)
{
    BMK_TEAM_RUN(team_for_rows(&bmk_formats[format], w, threads), bmk_gemv_slice, format, flavour, w, act, y);
}

/* Rows of one GEMM block: about BMK_GEMM_BLOCK_BYTES of weights, whole tiles. */
static int64_t gemm_block_rows(const bmk_format *f, int64_t cols)
{
    const int64_t tile_bytes = (int64_t)(f->bpw * (double)(f->row_tile * cols) / 8) + 1;
    const int64_t tiles = BMK_GEMM_BLOCK_BYTES / tile_bytes;
    return (tiles > 1 ? tiles : 1) * f->row_tile;
}

void bmk_gemm_slice(int format, int flavour, const bmk_tensor *w, const void *acts, size_t act_stride, int64_t n,
                    float *y, int64_t y_stride, int id, int nt)
{
    if (n == 1) {
        bmk_gemv_slice(format, flavour, w, acts, y, id, nt);
        return;
    }
    const bmk_format *f = &bmk_formats[format];
    const int64_t block = gemm_block_rows(f, w->cols);
    int64_t r0, r1;
#ifdef BMK_TEST_HOOKS
    if (id == 0)
        for (int64_t j = 0; j < n; j++) bmk_test_slowdown_kernel(format, flavour, w, (const uint8_t *)acts + j * act_stride);
#endif
    slice_rows(f, w, id, nt, &r0, &r1);
    for (int64_t b0 = r0; b0 < r1; b0 += block) { /* a block from memory once, then from L2 n - 1 times */
        const int64_t b1 = b0 + block < r1 ? b0 + block : r1;
        if (f->gemm[flavour])
            f->gemm[flavour](w, acts, act_stride, n, y + b0, y_stride, b0, b1);
        else
            for (int64_t j = 0; j < n; j++)
                f->gemv[flavour](w, (const uint8_t *)acts + j * act_stride, y + j * y_stride + b0, b0, b1);
    }
}

void bmk_gemm(int format, int flavour, const bmk_tensor *w, const void *acts, size_t act_stride, int64_t n, float *y,
              int64_t y_stride, int threads)
{
    BMK_TEAM_RUN(team_for_rows(&bmk_formats[format], w, threads), bmk_gemm_slice, format, flavour, w, acts,
                 act_stride, n, y, y_stride);
}

const bmk_attn_table bmk_attn_kernels = {
    .scores = {[BMK_KV_F16] = BMK_ALL_FLAVOURS(bmk_attn_scores_f16),
               [BMK_KV_Q8_0] = BMK_ALL_FLAVOURS(bmk_attn_scores_q8_0)},
    .softmax = BMK_ALL_FLAVOURS(bmk_softmax),
    .values = {[BMK_KV_F16] = BMK_ALL_FLAVOURS(bmk_attn_values_f16),
               [BMK_KV_Q8_0] = BMK_ALL_FLAVOURS(bmk_attn_values_q8_0)},
    .swiglu = BMK_ALL_FLAVOURS(bmk_swiglu),
};

/* KV heads [k0, k1): each one's g query heads through scores -> softmax -> values */
static void attn_kv_heads(int flavour, int kv_type, const bmk_attn_args *a, int64_t k0, int64_t k1)
{
    const bmk_attn_table *t = &bmk_attn_kernels;
    const int64_t g = a->n_heads / a->n_kv_heads, hd = a->head_dim;
    const size_t head_bytes = (size_t)a->stride * bmk_kv_row_bytes(kv_type, hd);
    for (int64_t k = k0; k < k1; k++) {
        const int64_t h0 = k * g;
        float *s = a->scores + h0 * a->stride;
        t->scores[kv_type][flavour](a->q + h0 * hd, g, a->K + k * head_bytes, a->n, hd, a->scale, s, a->stride);
        for (int64_t j = 0; j < g; j++) t->softmax[flavour](s + j * a->stride, a->n);
        t->values[kv_type][flavour](s, a->stride, g, a->V + k * head_bytes, a->n, hd, a->out + h0 * hd);
    }
}

void bmk_attn_slice(int flavour, int kv_type, const bmk_attn_args *a, int id, int nt)
{
    int64_t k0, k1;
    bmk_team_share(a->n_kv_heads, id, nt, &k0, &k1);
    if (k0 < k1) attn_kv_heads(flavour, kv_type, a, k0, k1);
}

void bmk_attn(int flavour, int kv_type, const bmk_attn_args *a, int threads)
{
    threads = resolve_threads(threads);
    if (threads > a->n_kv_heads) threads = (int)a->n_kv_heads;
    BMK_TEAM_RUN(threads, bmk_attn_slice, flavour, kv_type, a);
}
