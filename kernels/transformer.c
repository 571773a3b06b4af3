/* transformer.c: the decode engine of the transformer baseline (see transformer.h).  Glue only:
 * every operation is a kernel from the formats table (prep + bmk_gemv), the attn table (attention,
 * SwiGLU) or the ssm table (RMSNorm), in the one flavour the model was created with; RoPE and the
 * KV cache writes are plain C (a few thousand values per token). */
#include "transformer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "attn_common.h"
#include "synth.h"
#include "engine_common.h"
#include "team.h"

/* Attention is split across threads only from this many cached values per layer up (fork/join
 * costs more than a few thousand multiply-adds). */
#define BMK_ATTN_PAR_MIN (1 << 14)

struct bmk_tf {
    bmk_tf_desc d;              /* the caller's description; d.layers points at `layers` */
    bmk_tf_layer_desc *layers;  /* own copy */
    int64_t q_dim, kv_dim, pos;
    size_t row_bytes, head_bytes, layer_bytes; /* one position of one KV head; one KV head; one layer's K */
    uint8_t *K, *V;             /* per layer [n_kv_heads, max_context] rows */
    /* a batch of up to `cap` tokens: row t of each is token t's (position pos + t) */
    float *h, *u, *q, *k, *v, *att, *tmp, *gate, *up, *scores, *logits, *cos, *sin;
    uint8_t *act;               /* prepared activations, act_stride bytes per token */
    size_t act_stride;
    int64_t act_slots;          /* tokens or threads act holds (engine_common.h) */
    int64_t cap;                /* tokens the batch buffers hold (grown on demand up to BMK_BATCH) */
};

static const char *validate(const bmk_tf_desc *d)
{
    if (d->n_layers < 1 || d->d_model < 1 || d->n_heads < 1 || d->n_kv_heads < 1 || d->head_dim < 1 ||
        d->d_ff < 1 || d->vocab < 1 || d->max_context < 1)
        return "config sizes must be positive";
    if (d->n_heads % d->n_kv_heads) return "n_heads must be a multiple of n_kv_heads";
    if (d->head_dim % 2) return "head_dim must be even (RoPE rotates pairs)";
    if (d->kv_type < 0 || d->kv_type >= BMK_N_KV_TYPES) return "unknown KV cache type";
    if (d->act_quant < 0 || d->act_quant >= BMK_N_ACT_QUANTS) return "unknown activation quantiser";
    if (bmk_kv_row_bytes(d->kv_type, d->head_dim) == 0) return "q8_0 KV cache needs head_dim a multiple of 32";
    if (d->flavour < 0 || d->flavour >= BMK_N_FLAVOURS || !bmk_flavour_runnable(d->flavour))
        return "kernel flavour not runnable on this CPU";
    if (!d->embedding || !d->norm_f || !d->layers || !d->rope_inv_freq)
        return "missing embedding, norm_f, rope_inv_freq or layers";
    const char *e = bmk_check_linear(&d->lm_head, d->vocab, d->d_model, d->flavour);
    if (e) return e;
    const int64_t qd = d->n_heads * d->head_dim, kvd = d->n_kv_heads * d->head_dim;
    for (int64_t l = 0; l < d->n_layers; l++) {
        const bmk_tf_layer_desc *L = &d->layers[l];
        if (!L->attn_norm || !L->ffn_norm) return "missing layer norm";
        if ((e = bmk_check_linear(&L->wq, qd, d->d_model, d->flavour)) ||
            (e = bmk_check_linear(&L->wk, kvd, d->d_model, d->flavour)) ||
            (e = bmk_check_linear(&L->wv, kvd, d->d_model, d->flavour)) ||
            (e = bmk_check_linear(&L->wo, d->d_model, qd, d->flavour)) ||
            (e = bmk_check_linear(&L->w_gate, d->d_ff, d->d_model, d->flavour)) ||
            (e = bmk_check_linear(&L->w_up, d->d_ff, d->d_model, d->flavour)) ||
            (e = bmk_check_linear(&L->w_down, d->d_model, d->d_ff, d->flavour)))
            return e;
    }
    return NULL;
}

static int reserve(bmk_tf *m, int64_t b);

bmk_tf *bmk_tf_create(const bmk_tf_desc *desc, const char **err)
{
    const char *e = validate(desc);
    if (e) {
        if (err) *err = e;
        return NULL;
    }
    bmk_tf *m = calloc(1, sizeof *m);
    if (!m) goto oom;
    m->d = *desc;
    const bmk_tf_desc *d = &m->d;
    const int64_t L = d->n_layers, hd = d->head_dim;
    m->q_dim = d->n_heads * hd;
    m->kv_dim = d->n_kv_heads * hd;
    m->row_bytes = bmk_kv_row_bytes(d->kv_type, hd);
    m->head_bytes = (size_t)d->max_context * m->row_bytes;
    m->layer_bytes = (size_t)d->n_kv_heads * m->head_bytes;

    size_t act = 0; /* the largest activation buffer any projection's format needs */
    for (int64_t l = 0; l <= L; l++) {
        const bmk_tf_layer_desc *Ld = &desc->layers[l < L ? l : 0];
        const bmk_linear *lin[8] = {&Ld->wq, &Ld->wk, &Ld->wv, &Ld->wo, &Ld->w_gate, &Ld->w_up, &Ld->w_down,
                                    &d->lm_head};
        for (int i = 0; i < 8; i++) {
            const size_t b = bmk_formats[lin[i]->format].act_bytes(lin[i]->w.cols);
            if (b > act) act = b;
        }
    }
    m->layers = malloc((size_t)L * sizeof *m->layers);
    m->K = bmk_alloc_zeroed((size_t)L * m->layer_bytes);
    m->V = bmk_alloc_zeroed((size_t)L * m->layer_bytes);
    m->scores = bmk_alloc_zeroed((size_t)(d->n_heads * d->max_context) * 4);
    m->logits = bmk_alloc_zeroed((size_t)d->vocab * 4);
    m->act_stride = (act + 63) / 64 * 64;
    if (!m->layers || !m->K || !m->V || !m->scores || !m->logits || reserve(m, 1)) goto oom;
    memcpy(m->layers, desc->layers, (size_t)L * sizeof *m->layers);
    m->d.layers = m->layers;
    return m;
oom:
    bmk_tf_free(m);
    if (err) *err = "out of memory (KV cache of max_context positions, or scratch)";
    return NULL;
}

void bmk_tf_free(bmk_tf *m)
{
    if (!m) return;
    void *ps[] = {m->layers, m->K, m->V, m->h, m->u, m->tmp, m->q, m->k, m->v, m->att, m->gate, m->up,
                  m->scores, m->logits, m->cos, m->sin, m->act};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) free(ps[i]);
    free(m);
}

/* The cache rows past the position are never read: resetting is moving the position. */
void bmk_tf_reset(bmk_tf *m) { m->pos = 0; }
int64_t bmk_tf_position(const bmk_tf *m) { return m->pos; }
const float *bmk_tf_logits(const bmk_tf *m) { return m->logits; }

size_t bmk_tf_kv_bytes_per_position(const bmk_tf *m)
{
    return 2 * (size_t)m->d.n_layers * (size_t)m->d.n_kv_heads * m->row_bytes;
}

size_t bmk_tf_kv_bytes_allocated(const bmk_tf *m) { return 2 * (size_t)m->d.n_layers * m->layer_bytes; }

/* Scratch for batches of b tokens (the contents are not kept): a decode holds one token's, a
 * prompt grows it once to its batch.  Returns 0, or -1 out of memory (cap 0, the buffers freed). */
static int reserve(bmk_tf *m, int64_t b)
{
    if (b <= m->cap) return 0;
    const bmk_tf_desc *d = &m->d;
    float **const bufs[] = {&m->h, &m->u, &m->tmp, &m->q, &m->k, &m->v, &m->att, &m->gate, &m->up, &m->cos, &m->sin};
    const int64_t wide = d->d_model > m->q_dim ? d->d_model : m->q_dim, half = d->head_dim / 2;
    const int64_t per[] = {d->d_model, d->d_model, wide, m->q_dim, m->kv_dim, m->kv_dim, m->q_dim, d->d_ff, d->d_ff,
                           half, half};
    const int r = bmk_batch_scratch(bufs, per, (int)(sizeof bufs / sizeof *bufs), &m->act, m->act_stride, b,
                                    m->d.threads, &m->act_slots);
    m->cap = r ? 0 : b;
    return r;
}

static uint8_t *kv_row(const bmk_tf *m, uint8_t *base, int64_t l, int64_t kvh, int64_t pos)
{
    return base + (size_t)l * m->layer_bytes + (size_t)kvh * m->head_bytes + (size_t)pos * m->row_bytes;
}

/* the projections of one input over the batch (engine_common.h) */
static void linears(bmk_tf *m, const float *x, int64_t x_stride, int64_t n, int np, const bmk_linear *const *p,
                    float *const *y, const int64_t *y_stride, int id, int nt)
{
    bmk_team_linears(m->d.flavour, m->d.act_quant, m->act, m->act_stride, m->act_slots, x, x_stride, n, np, p, y,
                     y_stride, id, nt);
}

/* rotate-half RoPE of n_heads heads of head_dim at the angles in cos / sin */
static void rope(const bmk_tf *m, float *x, int64_t n_heads, const float *cos_, const float *sin_)
{
    const int64_t hd = m->d.head_dim, half = hd / 2;
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = x + h * hd;
        for (int64_t i = 0; i < half; i++) {
            const float a = v[i], b = v[i + half], c = cos_[i], s = sin_[i];
            v[i] = a * c - b * s;
            v[i + half] = b * c + a * s;
        }
    }
}

/* One layer over a batch of n tokens at positions pos .. pos + n - 1: the per-token phases (norms,
 * RoPE, KV writes, residuals) on the thread owning the token (bmk_team_tokens), projections on the
 * whole team, the causal attention token after token on each thread's KV heads when shared; every
 * value is computed by the same kernel in the same order as one token at a time. */
static void layer_batch(bmk_tf *m, int64_t l, int64_t n, int id, int nt)
{
    const bmk_tf_desc *d = &m->d;
    const bmk_tf_layer_desc *L = &m->layers[l];
    const int fl = d->flavour;
    const int64_t hd = d->head_dim, dm = d->d_model, qd = m->q_dim, kd = m->kv_dim, ff = d->d_ff;
    int64_t t0, t1;
    bmk_team_tokens(n, id, nt, &t0, &t1);

    for (int64_t t = t0; t < t1; t++) bmk_ssm.rmsnorm[fl](m->h + t * dm, L->attn_norm, m->u + t * dm, dm, d->eps);
    const bmk_linear *qkv[3] = {&L->wq, &L->wk, &L->wv};
    float *const qkv_out[3] = {m->q, m->k, m->v};
    const int64_t qkv_stride[3] = {qd, kd, kd};
    linears(m, m->u, dm, n, 3, qkv, qkv_out, qkv_stride, id, nt);
    for (int64_t t = t0; t < t1; t++) {
        const float *c = m->cos + t * (hd / 2), *s = m->sin + t * (hd / 2);
        rope(m, m->q + t * qd, d->n_heads, c, s);
        rope(m, m->k + t * kd, d->n_kv_heads, c, s);
        for (int64_t k = 0; k < d->n_kv_heads; k++) {
            bmk_kv_store_row(kv_row(m, m->K, l, k, m->pos + t), m->k + t * kd + k * hd, hd, d->kv_type);
            bmk_kv_store_row(kv_row(m, m->V, l, k, m->pos + t), m->v + t * kd + k * hd, hd, d->kv_type);
        }
    }
    /* a batch, or a KV cache long enough to share: each thread its KV heads, token after token */
    const int shared = (n > 1 || (m->pos + 1) * kd >= BMK_ATTN_PAR_MIN) && nt > 1;
    if (shared) BMK_TEAM_BARRIER(nt);
    if (shared || id == 0)
        for (int64_t t = 0; t < n; t++) {
            const bmk_attn_args a = {
                .n_heads = d->n_heads, .n_kv_heads = d->n_kv_heads, .head_dim = hd, .n = m->pos + t + 1,
                .stride = d->max_context, .scale = (float)(1.0 / sqrt((double)hd)), .q = m->q + t * qd,
                .K = kv_row(m, m->K, l, 0, 0), .V = kv_row(m, m->V, l, 0, 0), .scores = m->scores,
                .out = m->att + t * qd,
            };
            bmk_attn_slice(fl, d->kv_type, &a, shared ? id : 0, shared ? nt : 1);
        }
    if (shared) BMK_TEAM_BARRIER(nt);
    const bmk_linear *o[1] = {&L->wo};
    float *const o_out[1] = {m->tmp};
    const int64_t o_stride[1] = {dm};
    linears(m, m->att, qd, n, 1, o, o_out, o_stride, id, nt);
    for (int64_t t = t0; t < t1; t++) {
        for (int64_t i = 0; i < dm; i++) m->h[t * dm + i] += m->tmp[t * dm + i];
        bmk_ssm.rmsnorm[fl](m->h + t * dm, L->ffn_norm, m->u + t * dm, dm, d->eps);
    }
    const bmk_linear *gu[2] = {&L->w_gate, &L->w_up};
    float *const gu_out[2] = {m->gate, m->up};
    const int64_t gu_stride[2] = {ff, ff};
    linears(m, m->u, dm, n, 2, gu, gu_out, gu_stride, id, nt);
    for (int64_t t = t0; t < t1; t++) bmk_attn_kernels.swiglu[fl](m->gate + t * ff, m->up + t * ff, m->gate + t * ff, ff);
    const bmk_linear *dn[1] = {&L->w_down};
    float *const dn_out[1] = {m->tmp};
    const int64_t dn_stride[1] = {dm};
    linears(m, m->gate, ff, n, 1, dn, dn_out, dn_stride, id, nt);
    for (int64_t t = t0; t < t1; t++)
        for (int64_t i = 0; i < dm; i++) m->h[t * dm + i] += m->tmp[t * dm + i];
}

static void batch_body(bmk_tf *m, int64_t n, int want_logits, int id, int nt)
{
    const bmk_tf_desc *d = &m->d;
    for (int64_t l = 0; l < d->n_layers; l++) layer_batch(m, l, n, id, nt);
    if (!want_logits) return;
    if (n > 1) BMK_TEAM_BARRIER(nt); /* the last token's h may be another thread's */
    if (id == 0) bmk_ssm.rmsnorm[d->flavour](m->h + (n - 1) * d->d_model, d->norm_f, m->u, d->d_model, d->eps);
    const bmk_linear *lm[1] = {&d->lm_head};
    float *const lm_out[1] = {m->logits};
    const int64_t lm_stride[1] = {0};
    linears(m, m->u, 0, 1, 1, lm, lm_out, lm_stride, id, nt);
}

int32_t bmk_tf_run(bmk_tf *m, const int32_t *tokens, int64_t n, int want_logits)
{
    const bmk_tf_desc *d = &m->d;
    for (int64_t j = 0; j < n; j++)
        if (tokens[j] < 0 || tokens[j] >= d->vocab) return -2;
    if (m->pos + n > d->max_context) return -3;
    if (reserve(m, n < BMK_BATCH ? n : BMK_BATCH)) return -4; /* out of memory */
    const int64_t half = d->head_dim / 2;
    for (int64_t j = 0; j < n; j += BMK_BATCH) {
        const int64_t b = n - j < BMK_BATCH ? n - j : BMK_BATCH;
        for (int64_t t = 0; t < b; t++) {
            for (int64_t i = 0; i < half; i++) {
                const double angle = (double)(m->pos + t) * (double)d->rope_inv_freq[i];
                m->cos[t * half + i] = (float)cos(angle);
                m->sin[t * half + i] = (float)sin(angle);
            }
            memcpy(m->h + t * d->d_model, d->embedding + (int64_t)tokens[j + t] * d->d_model, (size_t)d->d_model * 4);
        }
        /* team.h: one parallel region per batch (per token when decoding) */
        BMK_TEAM_RUN(d->threads, batch_body, m, b, want_logits && j + b == n);
        m->pos += b;
    }
    return want_logits && n > 0 ? bmk_argmax(m->logits, d->vocab) : -1;
}

int32_t bmk_tf_step(bmk_tf *m, int32_t token, int want_logits) { return bmk_tf_run(m, &token, 1, want_logits); }

static int32_t tf_run(void *m, const int32_t *tokens, int64_t n, int want_logits)
{
    return bmk_tf_run((bmk_tf *)m, tokens, n, want_logits);
}

int64_t bmk_tf_decode(bmk_tf *m, const int32_t *prompt, int64_t n_prompt, int64_t batch, int64_t n_new,
                      int32_t *out_tokens, int64_t *t_ns)
{
    if (n_prompt >= 1 && n_new >= 1 && m->pos + n_prompt + n_new - 1 > m->d.max_context) return -3;
    return bmk_decode_greedy(m, tf_run, m->d.vocab, prompt, n_prompt, batch, n_new, out_tokens, t_ns);
}

int bmk_tf_fill_context(bmk_tf *m, int64_t n, uint64_t seed)
{
    const bmk_tf_desc *d = &m->d;
    if (n < 0 || n > d->max_context) return -1;
    const int64_t hd = d->head_dim, rows = d->n_layers * d->n_kv_heads * n;
    const int threads = d->threads > 0 ? d->threads : bmk_default_threads();
    float *buf = malloc((size_t)(threads * hd) * sizeof *buf);
    if (!buf) return -2;
    /* every (layer, KV head, position) row from its own stream: any split gives the same bytes */
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
        float *x = buf + omp_get_thread_num() * hd;
#else
        float *x = buf;
#endif
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t l = r / (d->n_kv_heads * n), k = r / n % d->n_kv_heads, t = r % n;
            for (int which = 0; which < 2; which++) {
                uint64_t s = bmk_synth_stream(seed, 3 + (uint64_t)which, (uint64_t)(l * d->n_kv_heads + k),
                                              (uint64_t)t);
                for (int64_t i = 0; i < hd; i++) x[i] = bmk_synth_normal(&s);
                bmk_kv_store_row(kv_row(m, which ? m->V : m->K, l, k, t), x, hd, d->kv_type);
            }
        }
    }
    free(buf);
    m->pos = n;
    return 0;
}

void bmk_tf_kv_read(const bmk_tf *m, int64_t layer, int which, float *out)
{
    const bmk_tf_desc *d = &m->d;
    const int q8 = d->kv_type == BMK_KV_Q8_0;
    for (int64_t k = 0; k < d->n_kv_heads; k++)
        for (int64_t t = 0; t < m->pos; t++) {
            const uint8_t *row = kv_row(m, which ? m->V : m->K, layer, k, t);
            for (int64_t i = 0; i < d->head_dim; i++) out[(k * m->pos + t) * d->head_dim + i] = bmk_kv_get(row, i, q8);
        }
}
