/* bmk.h: the kernel contract of bmbench.
 *
 * - Flavours: one scalar reference ("generic") per kernel plus per-ISA files whose symbols carry the
 *   ISA in their name (bmk_gemv_tlut_avx2).  The generic kernel is the oracle every flavour is tested
 *   against.
 * - Formats: one table (bmk_formats[], formats.c).  Adding a format or a flavour is adding an entry.
 * - Kernels are single-threaded over a row range; threading is one driver (bmk_gemv in threads.c)
 *   that splits rows across OpenMP threads at the format's row-tile granularity.
 */
#ifndef BMK_H
#define BMK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    BMK_SCALAR = 0,
    BMK_AVX2 = 1,   /* AVX2 + FMA + F16C */
    BMK_AVX512 = 2, /* AVX-512 F/BW/VL/DQ */
    BMK_NEON = 3,   /* NEON + dotprod; compiled through SIMDe on x86 */
    BMK_N_FLAVOURS = 4
} bmk_flavour;

extern const char *const bmk_flavour_names[BMK_N_FLAVOURS];

/* ---- dispatch (dispatch.c) ---- */
/* 1 if the flavour is compiled in and this CPU + OS can run it. */
int bmk_flavour_runnable(int flavour);
/* 1 if compiled in at all (may still not run on this CPU). */
int bmk_flavour_compiled(int flavour);
/* The best runnable flavour that is native to this CPU (never the SIMDe-emulated NEON on x86).
 * The Python layer applies the BMBENCH_KERNELS override once at import (bmbench/dispatch.py). */
int bmk_best_flavour(void);
/* 1 if the flavour runs through SIMDe emulation rather than natively. */
int bmk_flavour_emulated(int flavour);
/* CPU features as detected by the dispatch (for `bmbench info`), space separated. */
const char *bmk_cpu_features(void);
/* Number of OpenMP threads to use when the caller passes 0. */
int bmk_default_threads(void);

/* ---- bandwidth probe (generic/probe.c and per-ISA probe files) ----
 * Each thread works on its own contiguous slice of the arrays, `reps` times, inside one parallel
 * region (no barrier per repetition), so cache-resident slices measure that cache level.          */
typedef double (*bmk_probe_read_fn)(const double *a, size_t n);
typedef void (*bmk_probe_copy_fn)(double *dst, const double *src, size_t n);
typedef void (*bmk_probe_triad_fn)(double *a, const double *b, const double *c, double s, size_t n);

typedef struct {
    bmk_probe_read_fn read[BMK_N_FLAVOURS];
    bmk_probe_copy_fn copy[BMK_N_FLAVOURS];
    bmk_probe_triad_fn triad[BMK_N_FLAVOURS];
} bmk_probe_table;
extern const bmk_probe_table bmk_probe;

/* kind: 0 read, 1 copy, 2 triad.  Returns a checksum (keeps the compiler honest). */
double bmk_probe_run(int kind, int flavour, double *a, double *b, double *c, size_t n, long reps,
                     int threads);

/* ---- GEMV formats ----
 * A weight tensor holds rows x cols weights packed by the format's Python pack function
 * (bmbench/formats.py) into `data`; `scale` is the per-tensor weight scale (ternary: s_w =
 * mean|W|; 1 for block-scaled and float formats).  Activations are prepared once per input vector
 * (quantised, or turned into lookup tables) into a buffer of act_bytes(cols) bytes, then every row
 * reads them.                                                                                       */
typedef struct {
    const uint8_t *data;
    int64_t rows, cols;
    float scale;
} bmk_tensor;

/* Prepared activations for the integer formats: the header of every act buffer. */
typedef struct {
    float inv_scale; /* 1 / s_x: the float that turns an integer dot product into x units */
    int32_t sum;     /* sum of the quantised activations (the MAD path's w+1 offset) */
    int64_t cols;
} bmk_act_header;

typedef void (*bmk_prep_fn)(const float *x, int64_t cols, void *act);
/* y[r - r0] for rows r in [r0, r1); r0 and r1 are multiples of the format's row_tile (r1 may be
 * rows, the tile padding is never written). */
typedef void (*bmk_gemv_fn)(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1);

typedef struct {
    const char *name;
    double bpw;    /* nominal bits per weight, scales included */
    int block;     /* weights per block along a row (cols are padded to a multiple) */
    int row_tile;  /* rows stored interleaved together (rows are padded to a multiple) */
    int exact;     /* 1: integer dot products, every flavour bitwise equal to the generic one */
    size_t (*data_bytes)(int64_t rows, int64_t cols);
    size_t (*act_bytes)(int64_t cols);
    bmk_prep_fn prep;
    bmk_gemv_fn gemv[BMK_N_FLAVOURS];
} bmk_format;

extern const bmk_format bmk_formats[];
extern const int bmk_n_formats;
int bmk_format_from_name(const char *name);

/* Threaded driver: prepares nothing, splits [0, rows) across threads at row_tile granularity. */
void bmk_gemv(int format, int flavour, const bmk_tensor *w, const void *act, float *y, int threads);

/* Benchmark loop (bench.c): `calls` x (prep + GEMV) over a rotating set of tensors. */
void bmk_gemv_loop(int format, int flavour, const bmk_tensor *tensors, int n_tensors, const float *x,
                   void *act, float *y, long calls, int threads);

/* The one final scaling shared by every flavour of the integer formats, so that equal integer dot
 * products give bitwise-equal outputs. */
static inline float bmk_int_out(int32_t dot, float w_scale, const bmk_act_header *h)
{
    return (float)dot * (w_scale * h->inv_scale);
}


/* ---- Mamba-2 recurrence kernels (generic/ssm.c and per-ISA ssm files) ----
 * Single-token decode steps of a Mamba-2 mixer, fp32 activations.  Kernels are single-threaded;
 * bmk_ssm_step (threads.c) splits the heads of the state update across threads.                  */

/* Causal depthwise conv1d step + bias + SiLU over `channels`, state updated in place.
 *   w     [width, channels]  tap k of channel c at w[k*channels + c]; tap width-1 meets the newest
 *                            input (the transpose of PyTorch's conv1d.weight[c, 0, k])
 *   state [width-1, channels] the last width-1 inputs, row 0 the oldest
 *   out[c] = silu(b[c] + sum_k<width-1 w[k,c]*state[k,c] + w[width-1,c]*x[c]); out may alias x. */
typedef void (*bmk_conv_fn)(float *state, const float *w, const float *b, const float *x, float *out,
                            int64_t channels, int64_t width);

/* SSM state storage: fp32, or IEEE half (computed in fp32, rounded to nearest even on store). */
typedef enum { BMK_STATE_F32 = 0, BMK_STATE_F16 = 1, BMK_N_STATE_TYPES = 2 } bmk_state_type;

/* One SSM state update, per head h (group g = h / (n_heads / n_groups)):
 *   dt = softplus(dt_raw[h] + dt_bias[h]); dA = exp(dt * -exp(A_log[h]))
 *   S_h = dA * S_h + dt * outer(x_h, B_g);  y_h = S_h @ C_g + D * x_h
 * with x_h = x[h*head_dim : (h+1)*head_dim], B_g = B[g*d_state : (g+1)*d_state] (C likewise), S_h
 * the head_dim x d_state block of state at h*head_dim*d_state (row-major), D = D[h] or, when
 * D_per_channel, D[h*head_dim + p].  y is computed from the fp32 value of the new state.        */
typedef struct {
    int64_t n_heads, head_dim, d_state, n_groups;
    int D_per_channel;
    void *state; /* float or uint16_t (half), n_heads * head_dim * d_state */
    const float *x, *B, *C, *dt_raw, *dt_bias, *A_log, *D;
    float *y;
} bmk_ssm_args;
typedef void (*bmk_ssm_fn)(const bmk_ssm_args *a, int64_t h0, int64_t h1);

/* out = x / sqrt(mean(x^2) + eps) * w; out may alias x. */
typedef void (*bmk_rmsnorm_fn)(const float *x, const float *w, float *out, int64_t n, float eps);
/* Mamba-2's gated RMSNorm (norm_before_gate=False): g = y * silu(z); out = rmsnorm(g) * w over the
 * n elements; out may alias y or z. */
typedef void (*bmk_gated_rmsnorm_fn)(const float *y, const float *z, const float *w, float *out,
                                     int64_t n, float eps);

typedef struct {
    bmk_conv_fn conv[BMK_N_FLAVOURS];
    bmk_ssm_fn ssm[BMK_N_STATE_TYPES][BMK_N_FLAVOURS];
    bmk_rmsnorm_fn rmsnorm[BMK_N_FLAVOURS];
    bmk_gated_rmsnorm_fn gated_rmsnorm[BMK_N_FLAVOURS];
} bmk_ssm_table;
extern const bmk_ssm_table bmk_ssm;

/* Threaded driver of the state update: heads split contiguously across threads (bitwise equal to
 * one thread). */
void bmk_ssm_step(int flavour, int state_type, const bmk_ssm_args *a, int threads);

#ifdef __cplusplus
}
#endif
#endif
