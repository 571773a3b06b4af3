/* transformer.h: the decode engine of the transformer baseline (Llama-shaped), a whole token loop
 * in C over a KV cache.
 *
 * A model object holds pointers to the caller's weights (packed projections in any format of the
 * formats table, fp32 vectors; the caller keeps them alive and unchanged) and owns the KV cache
 * (fp16 or q8_0, `max_context` positions, allocated once) and every scratch buffer.
 *
 * One layer per token at position pos, h the fp32 residual stream [d_model]:
 *   u = rmsnorm(h, attn_norm); q = wq u; k = wk u; v = wv u   (one prep() of u for all three)
 *   RoPE on q and k at pos (rotate-half pairs i, i + head_dim/2; angle pos * inv_freq[i])
 *   K[pos], V[pos] = k, v in the cache's type (per KV head)
 *   per query head h (KV head h / (n_heads / n_kv_heads)): p = softmax(q_h . K[0..pos] / sqrt(head_dim)),
 *   a_h = p . V[0..pos]                                      (bmk_attn: threads over KV heads)
 *   h += wo a;  u = rmsnorm(h, ffn_norm);  h += w_down (silu(w_gate u) * (w_up u))
 * then u = rmsnorm(h, norm_f), logits = lm_head(u), next token = argmax(logits) (first maximum).
 */
#ifndef BMK_TRANSFORMER_H
#define BMK_TRANSFORMER_H
#include "bmk.h"
#include "decode.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const float *attn_norm;     /* [d_model] */
    bmk_linear wq;              /* [n_heads * head_dim, d_model] */
    bmk_linear wk, wv;          /* [n_kv_heads * head_dim, d_model] */
    bmk_linear wo;              /* [d_model, n_heads * head_dim] */
    const float *ffn_norm;      /* [d_model] */
    bmk_linear w_gate, w_up;    /* [d_ff, d_model] */
    bmk_linear w_down;          /* [d_model, d_ff] */
} bmk_tf_layer_desc;

typedef struct {
    int64_t n_layers, d_model, n_heads, n_kv_heads, head_dim, d_ff, vocab;
    int64_t max_context;        /* KV cache positions allocated */
    float eps;                  /* every RMSNorm */
    int act_quant;              /* bmk_act_quant of the model family */
    const float *rope_inv_freq; /* [head_dim / 2] */
    const float *embedding;     /* [vocab, d_model] */
    const float *norm_f;        /* [d_model] */
    bmk_linear lm_head;         /* [vocab, d_model] (a tied model passes its embedding, packed) */
    const bmk_tf_layer_desc *layers; /* n_layers (copied by bmk_tf_create) */
    int kv_type;                /* bmk_kv_type */
    int flavour;                /* one kernel flavour for every kernel */
    int threads;                /* threads for the GEMVs and the attention (0: OpenMP's default) */
} bmk_tf_desc;

typedef struct bmk_tf bmk_tf;

/* NULL on failure, with a static message in *err (bad shapes, unknown format or flavour, memory). */
bmk_tf *bmk_tf_create(const bmk_tf_desc *desc, const char **err);
void bmk_tf_free(bmk_tf *m);
/* Empty the KV cache (a fresh sequence at position 0). */
void bmk_tf_reset(bmk_tf *m);
/* Positions in the cache (the next token's position). */
int64_t bmk_tf_position(const bmk_tf *m);

/* One token at the current position.  With want_logits also the final norm and lm_head: returns the
 * argmax and leaves the logits in bmk_tf_logits(); otherwise -1.  -2: token outside [0, vocab)
 * (nothing changed); -3: the cache is full (max_context positions). */
int32_t bmk_tf_step(bmk_tf *m, int32_t token, int want_logits);
/* n tokens at positions pos .. pos + n - 1 in batches of up to BMK_BATCH (prefill): each
 * projection one GEMM over the batch, the causal attention token after token (token t attends to
 * positions 0 .. pos + t); logits of the last token only.  Cache and logits bitwise those of n
 * bmk_tf_step calls.  -3 (nothing run) if the cache cannot hold n more positions, -4 if the batch's
 * scratch cannot be allocated. */
int32_t bmk_tf_run(bmk_tf *m, const int32_t *tokens, int64_t n, int want_logits);
const float *bmk_tf_logits(const bmk_tf *m);

/* Greedy decode with the timestamps of bmk_model_decode (decode.h); -3 if the cache would overflow
 * (nothing run). */
int64_t bmk_tf_decode(bmk_tf *m, const int32_t *prompt, int64_t n_prompt, int64_t batch, int64_t n_new,
                      int32_t *out_tokens, int64_t *t_ns);

/* Synthetic context: replace the cache by n positions of seeded pseudo-random K and V entries
 * (each element ~ N(0, sigma^2) approximately, sigma = 1: the magnitude of k = wk u for unit-RMS u
 * and weights of std 1/sqrt(d_model)), without running the model; the position becomes n.  Every
 * (layer, KV head, position) row has its own stream: the contents do not depend on the thread
 * count.  Returns 0, -1 if n > max_context, -2 out of memory. */
int bmk_tf_fill_context(bmk_tf *m, int64_t n, uint64_t seed);

/* The cached rows [0, position) of one layer as floats, [n_kv_heads, position, head_dim];
 * which = 0 keys (after RoPE), 1 values. */
void bmk_tf_kv_read(const bmk_tf *m, int64_t layer, int which, float *out);

/* Bytes of KV cache one position occupies across all layers (K and V). */
size_t bmk_tf_kv_bytes_per_position(const bmk_tf *m);
/* Bytes of KV cache allocated (max_context positions). */
size_t bmk_tf_kv_bytes_allocated(const bmk_tf *m);

#ifdef __cplusplus
}
#endif
#endif
