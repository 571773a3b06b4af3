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
    BMK_NEON = 3,   /* NEON + dotprod (ARMv8.2+: Cortex-A55/A76 on); compiled through SIMDe on x86 */
    /* the flavours below reuse their parent's kernels where they add nothing (flavours.h) */
    BMK_AVX512VNNI = 4, /* AVX-512 + VNNI (vpdpbusd) for the integer GEMVs */
    BMK_NEON_NODOT = 5, /* NEON of ARMv8.0 (Cortex-A53/A72: no dotprod), built for armv8-a */
    BMK_N_FLAVOURS = 6
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

/* a[i] = value, each thread writing the slice it reads in bmk_probe_run with the same thread count
 * (first touch: on NUMA hosts the pages land next to the thread that streams them). */
void bmk_probe_fill(double *a, size_t n, double value, int threads);
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

/* BitLinear's per-tensor int8 activation quantiser: a property of the model family (each family's
 * reference engine defines it; bmbench/models/config.py maps family -> quantiser), passed to every
 * prep.  Block-quantised formats (q8_0, q4_0: llama.cpp's Q8 activation blocks) and float formats
 * have their own activations and ignore it.
 *   BMK_AQ_ABSMAX    BitNet b1.58: s_x = 127 / max|x|, q = round-half-even(x s_x) clipped to +-127
 *   BMK_AQ_BITMAMBA  bitmamba.c (src/kernel.c, the BitMamba-2 reference engine):
 *                    s_x = 127 / (max|x| + 1e-5), q = (int)(x s_x + (x s_x >= 0 ? 0.5 : -0.5)) in
 *                    float32 (round half away from zero), clipped to [-128, 127]
 * Both keep |q| <= 127 in practice (|x s_x| <= 127), so every integer kernel's bounds hold. */
typedef enum { BMK_AQ_ABSMAX = 0, BMK_AQ_BITMAMBA = 1, BMK_N_ACT_QUANTS = 2 } bmk_act_quant;
extern const char *const bmk_act_quant_names[BMK_N_ACT_QUANTS];

/* Prepared activations for the integer formats: the header of every act buffer. */
typedef struct {
    float inv_scale; /* 1 / s_x: the float that turns an integer dot product into x units */
    int32_t sum;     /* sum of the quantised activations (the MAD path's w+1 offset) */
    int64_t cols;
} bmk_act_header;

typedef void (*bmk_prep_fn)(const float *x, int64_t cols, int act_quant, void *act);
/* y[r - r0] for rows r in [r0, r1); r0 and r1 are multiples of the format's row_tile (r1 may be
 * rows, the tile padding is never written). */
typedef void (*bmk_gemv_fn)(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1);
/* the GEMV of n prepared vectors (vector j at acts + j * act_stride bytes) over rows [r0, r1):
 * y[j * y_stride + r - r0], bit for bit the format's GEMV of each vector */
typedef void (*bmk_gemm_fn)(const bmk_tensor *w, const void *acts, size_t act_stride, int64_t n, float *y,
                            int64_t y_stride, int64_t r0, int64_t r1);

typedef struct {
    const char *name;
    double bpw;    /* nominal bits per weight, scales included */
    int block;     /* weights per block along a row (cols are padded to a multiple) */
    int row_tile;  /* rows stored interleaved together (rows are padded to a multiple) */
    int exact;     /* 1: integer dot products, every flavour bitwise equal to the generic one */
    size_t (*data_bytes)(int64_t rows, int64_t cols);
    size_t (*act_bytes)(int64_t cols);
    bmk_prep_fn prep[BMK_N_FLAVOURS]; /* per flavour: the same integers from every one */
    bmk_gemv_fn gemv[BMK_N_FLAVOURS];
    /* optional: a kernel that reuses each weight load for several vectors (prefill); NULL: bmk_gemm
     * runs the GEMV once per vector */
    bmk_gemm_fn gemm[BMK_N_FLAVOURS];
} bmk_format;

extern const bmk_format bmk_formats[];

#ifdef BMK_TEST_HOOKS
/* test builds only (kernels/test_hooks.c): known slowdowns for the gate's catch-rate evidence */
void bmk_test_slowdown_kernel(int format, int flavour, const bmk_tensor *w, const void *act);
void bmk_test_slowdown_decode(int format, int flavour, const bmk_tensor *w, const void *act);
#endif
extern const int bmk_n_formats;
int bmk_format_from_name(const char *name);

/* Threaded driver: prepares nothing, splits [0, rows) across threads at row_tile granularity. */
void bmk_gemv(int format, int flavour, const bmk_tensor *w, const void *act, float *y, int threads);
/* Thread id of nt's share of the same GEMV (whole row tiles, contiguous): for a caller that keeps
 * one parallel region across several kernels (the decode engine's team per token). */
void bmk_gemv_slice(int format, int flavour, const bmk_tensor *w, const void *act, float *y, int id, int nt);

/* Batched GEMV (prefill): y[j * y_stride + r] = row r of W . x_j for n vectors prepared by the
 * format's prep, vector j at acts + j * act_stride bytes.  Each thread takes bmk_gemv_slice's rows
 * and runs them in blocks of about BMK_GEMM_BLOCK_BYTES of weights, each block through all n
 * vectors: the weights come from memory once per batch and from L2 after, and every output is the
 * format's GEMV kernel's (bitwise n GEMVs). */
#define BMK_GEMM_BLOCK_BYTES (128 * 1024)
void bmk_gemm(int format, int flavour, const bmk_tensor *w, const void *acts, size_t act_stride, int64_t n, float *y,
              int64_t y_stride, int threads);
void bmk_gemm_slice(int format, int flavour, const bmk_tensor *w, const void *acts, size_t act_stride, int64_t n,
                    float *y, int64_t y_stride, int id, int nt);

/* Benchmark loop (bench.c): `calls` x (prep + GEMV) over a rotating set of tensors. */
void bmk_gemv_loop(int format, int flavour, const bmk_tensor *tensors, int n_tensors, const float *x,
                   int act_quant, void *act, float *y, long calls, int threads);

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
/* thread id of nt's heads of the same update (contiguous) */
void bmk_ssm_slice(int flavour, int state_type, const bmk_ssm_args *a, int id, int nt);

/* ---- Attention kernels of the transformer baseline (generic/attn.c and per-ISA attn files) ----
 * One decode token's attention over a KV cache, fp32 queries and scores.  A KV head's cache is
 * `stride` rows (positions) of bmk_kv_row_bytes(kv_type, head_dim) bytes; row t holds position t:
 *   BMK_KV_F16   head_dim IEEE halves
 *   BMK_KV_Q8_0  head_dim / 32 blocks of {fp16 d, int8 q[32]} (llama.cpp's q8_0, 34 bytes), x = d q
 * Kernels take the g query heads that share one KV head (GQA), so each K and V row is read once
 * per token; bmk_attn (threads.c) splits the KV heads across threads.                             */
typedef enum { BMK_KV_F16 = 0, BMK_KV_Q8_0 = 1, BMK_N_KV_TYPES = 2 } bmk_kv_type;
#define BMK_KV_QBLOCK 32

/* s[j*s_stride + t] = scale * dot(q[j*head_dim ...], K row t), j < g, t < n */
typedef void (*bmk_attn_scores_fn)(const float *q, int64_t g, const uint8_t *K, int64_t n, int64_t head_dim,
                                   float scale, float *s, int64_t s_stride);
/* in place over n >= 1 scores: s = exp(s - max s) / sum exp(s - max s) */
typedef void (*bmk_softmax_fn)(float *s, int64_t n);
/* out[j*head_dim + d] = sum_t p[j*p_stride + t] * V[t][d], j < g */
typedef void (*bmk_attn_values_fn)(const float *p, int64_t p_stride, int64_t g, const uint8_t *V, int64_t n,
                                   int64_t head_dim, float *out);
/* out = silu(gate) * up over n (SwiGLU); out may alias gate or up */
typedef void (*bmk_swiglu_fn)(const float *gate, const float *up, float *out, int64_t n);

typedef struct {
    bmk_attn_scores_fn scores[BMK_N_KV_TYPES][BMK_N_FLAVOURS];
    bmk_softmax_fn softmax[BMK_N_FLAVOURS];
    bmk_attn_values_fn values[BMK_N_KV_TYPES][BMK_N_FLAVOURS];
    bmk_swiglu_fn swiglu[BMK_N_FLAVOURS];
} bmk_attn_table;
extern const bmk_attn_table bmk_attn_kernels;

/* Bytes of one cached position of one KV head (0: head_dim not valid for the type). */
static inline size_t bmk_kv_row_bytes(int kv_type, int64_t head_dim)
{
    if (head_dim < 1) return 0;
    if (kv_type == BMK_KV_F16) return (size_t)head_dim * 2;
    if (kv_type == BMK_KV_Q8_0 && head_dim % BMK_KV_QBLOCK == 0)
        return (size_t)(head_dim / BMK_KV_QBLOCK) * (2 + BMK_KV_QBLOCK);
    return 0;
}

typedef struct {
    int64_t n_heads, n_kv_heads, head_dim; /* n_heads a multiple of n_kv_heads */
    int64_t n;                            /* positions attended: rows 0 .. n-1 */
    int64_t stride;                       /* rows allocated per KV head (>= n) */
    float scale;                          /* 1 / sqrt(head_dim) */
    const float *q;                       /* [n_heads, head_dim], query head h uses KV head h / g */
    const uint8_t *K, *V;                 /* [n_kv_heads, stride] rows */
    float *scores;                        /* scratch [n_heads, stride] */
    float *out;                           /* [n_heads, head_dim] */
} bmk_attn_args;

/* Threaded driver: scores -> softmax -> values per KV head, KV heads split contiguously across
 * threads (bitwise equal to one thread). */
void bmk_attn(int flavour, int kv_type, const bmk_attn_args *a, int threads);
/* thread id of nt's KV heads of the same attention (contiguous) */
void bmk_attn_slice(int flavour, int kv_type, const bmk_attn_args *a, int id, int nt);

#ifdef __cplusplus
}
#endif
#endif
