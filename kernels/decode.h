/* decode.h: the decode engine, a whole Mamba-2 token loop in C.
 *
 * A model object holds pointers to the caller's weights (packed projections in any format of the
 * formats table, fp32 vectors; the caller keeps them alive and unchanged), and owns the recurrent
 * state (SSM state fp32 or fp16, conv state) and every scratch buffer, allocated once at creation.
 *
 * One layer per token, h the fp32 residual stream [d_model]:
 *   u = rmsnorm(h, in_proj_norm); xz = in_proj(u)         (the format's prep, then bmk_gemv_slice)
 *   xz = z[d_inner] | x[d_inner] | B[G*N] | C[G*N] | dt[H]
 *   conv1d step + SiLU over x (conv_bc = 0: BitMamba-2) or over x|B|C (conv_bc = 1: Mamba-2)
 *   y = ssm_step(x, B, C, dt);  g = gated_rmsnorm(y, z, out_proj_norm);  h += out_proj(g)
 * then u = rmsnorm(h, norm_f) (and u = rmsnorm(u, lm_head_norm) when given), logits = lm_head(u),
 * next token = argmax(logits) (the first index of the maximum).  With threads > 1 a token is one
 * parallel region: the team shares every GEMV, barriers between phases (decode.c).  A prompt runs
 * in batches (bmk_model_run): each projection is one GEMM over the batch's tokens.
 */
#ifndef BMK_DECODE_H
#define BMK_DECODE_H
#include "bmk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A projection: a packed tensor and the index of its format in bmk_formats. */
typedef struct {
    bmk_tensor w;
    int format;
} bmk_linear;

typedef struct {
    const float *in_proj_norm;  /* [d_model] */
    bmk_linear in_proj;         /* [2*d_inner + 2*n_groups*d_state + n_heads, d_model] */
    const float *conv_w;        /* [conv_dim, d_conv], PyTorch's conv1d.weight without its 1 */
    const float *conv_b;        /* [conv_dim]; conv_dim = d_inner (+ 2*n_groups*d_state if conv_bc) */
    const float *dt_bias;       /* [n_heads] */
    const float *A_log;         /* [n_heads] */
    const float *D;             /* [n_heads], or [d_inner] when D_per_channel */
    const float *out_proj_norm; /* [d_inner] */
    bmk_linear out_proj;        /* [d_model, d_inner] */
} bmk_layer_desc;

typedef struct {
    int64_t n_layers, d_model, d_inner, n_heads, head_dim, d_state, n_groups, d_conv, vocab;
    int conv_bc;       /* 1: B and C go through the conv with x (Mamba-2); 0: only x (BitMamba-2) */
    int D_per_channel; /* D has d_inner values rather than n_heads */
    float eps;         /* every RMSNorm */
    int act_quant;     /* bmk_act_quant of the model family (BitMamba-2: bitmamba.c's) */
    const float *embedding;    /* [vocab, d_model] */
    const float *norm_f;       /* [d_model] */
    const float *lm_head_norm; /* [d_model] or NULL */
    bmk_linear lm_head;        /* [vocab, d_model] */
    const bmk_layer_desc *layers; /* n_layers (copied by bmk_model_create) */
    int state_type;    /* bmk_state_type of the SSM state */
    int flavour;       /* one kernel flavour for every kernel */
    int threads;       /* threads for the GEMVs and the state update (0: OpenMP's default) */
} bmk_model_desc;

typedef struct bmk_model bmk_model;

/* Tokens per batched pass of the prompt (the engines' scratch holds this many tokens' activations). */
#define BMK_BATCH 64

/* NULL on failure, with a static message in *err (bad shapes, unknown format or flavour, memory). */
bmk_model *bmk_model_create(const bmk_model_desc *desc, const char **err);
void bmk_model_free(bmk_model *m);
/* Zero the SSM and conv states (a fresh sequence). */
void bmk_model_reset(bmk_model *m);

/* One token through every layer.  With want_logits, also the final norm(s) and lm_head: returns
 * the argmax and leaves the logits in bmk_model_logits(); otherwise returns -1.  A token outside
 * [0, vocab) returns -2 and changes nothing. */
int32_t bmk_model_step(bmk_model *m, int32_t token, int want_logits);
/* n tokens in batches of up to BMK_BATCH (prefill): each layer's projections take the whole batch
 * (bmk_gemm: the weights are read once per batch), the conv and the state update go token after
 * token; with want_logits the final norm(s) and lm_head of the last token only.  State and logits
 * are bitwise those of n bmk_model_step calls.  Returns as bmk_model_step, or -4 when the batch's scratch
 * cannot be allocated (nothing run). */
int32_t bmk_model_run(bmk_model *m, const int32_t *tokens, int64_t n, int want_logits);
/* The logits of the last step that asked for them, [vocab]. */
const float *bmk_model_logits(const bmk_model *m);

/* Greedy decode.  Runs the n_prompt >= 1 prompt tokens through bmk_model_run in batches of
 * `batch` tokens (1: token by token; < 1: the whole prompt at once; only the last batch computes
 * logits), then generates: out_tokens[0] is the argmax after the prompt, and each further
 * out_tokens[i] (i < n_new) costs one step fed with out_tokens[i-1].
 * t_ns (n_prompt + n_new entries, CLOCK_MONOTONIC nanoseconds):
 *   t_ns[0]                 before the first step
 *   t_ns[j], 1 <= j <= n_prompt  after the batch holding prompt token j-1 (t_ns[n_prompt]: prefill
 *                           done and out_tokens[0] known)
 *   t_ns[n_prompt + i], 1 <= i < n_new  after out_tokens[i] is known
 * so prefill takes t_ns[n_prompt] - t_ns[0] and generated token i (i >= 1) takes
 * t_ns[n_prompt + i] - t_ns[n_prompt + i - 1].  Returns the number of tokens written to
 * out_tokens (n_new), or -2 if a prompt token is out of range (nothing run), -1 on bad counts. */
int64_t bmk_model_decode(bmk_model *m, const int32_t *prompt, int64_t n_prompt, int64_t batch, int64_t n_new,
                         int32_t *out_tokens, int64_t *t_ns);

/* Bytes of recurrent state (SSM + conv) the model reads and writes per token. */
size_t bmk_model_state_bytes(const bmk_model *m);
/* A copy of that state: every layer's SSM state (fp32 or fp16), then every layer's conv state. */
void bmk_model_read_state(const bmk_model *m, uint8_t *out);

/* A synthetic state standing in for a context that was never run: every SSM state value of head h
 * ~ N(0, sigma_h^2) approximately, sigma_h^2 = dt^2 / (1 - dA^2) the stationary variance of
 * s = dA s + dt x B for unit-variance x B (dt = softplus(dt_bias_h), dA = exp(-dt exp(A_log_h)));
 * conv state inputs ~ N(0, 1).  Seeded (synth.h); the decode cost does not depend on it. */
void bmk_model_fill_state(bmk_model *m, uint64_t seed);

/* Greedy choice shared by the decode engines: the first index of the largest logit. */
static inline int32_t bmk_argmax(const float *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return (int32_t)best;
}

/* The greedy loop shared by the decode engines: `run(model, tokens, n, want_logits)` runs n tokens
 * and returns the argmax after the last (want_logits) or -1, -2 for a token outside the vocabulary,
 * < -2 for a model-specific failure (returned as is, the loop stops).  Batches, timestamps and
 * return value as bmk_model_decode. */
typedef int32_t (*bmk_run_fn)(void *model, const int32_t *tokens, int64_t n, int want_logits);
int64_t bmk_decode_greedy(void *model, bmk_run_fn run, int64_t vocab, const int32_t *prompt, int64_t n_prompt,
                          int64_t batch, int64_t n_new, int32_t *out_tokens, int64_t *t_ns);

#ifdef __cplusplus
}
#endif
#endif
