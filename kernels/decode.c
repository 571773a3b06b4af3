/* decode.c: the decode engine (see decode.h).  Glue only: every operation is a kernel from the
 * formats table (prep + bmk_gemv) or the ssm table, in the one flavour the model was created with. */
#include "decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ssm_common.h" /* softplus, IEEE half conversion (fill_state) */
#include "synth.h"
#include "engine_common.h"
#include "team.h"

/* The state update is shared across the team only from this many state values per layer up (the
 * Mamba-2 2.7B's 655360); below it (BitMamba-2) two barriers cost more than the split saves. */
#define BMK_SSM_PAR_MIN (1 << 16)

struct bmk_model {
    bmk_model_desc d;       /* the caller's description; d.layers points at `layers` */
    bmk_layer_desc *layers; /* own copy */
    int64_t conv_dim, xz_rows, gn, ssm_layer_values;
    size_t ssm_layer_bytes;
    int ssm_shared; /* 1: the team shares the state update (BMK_SSM_PAR_MIN) */
    float *conv_w;     /* per layer [d_conv, conv_dim], the kernel's tap-major layout */
    float *conv_state; /* per layer [d_conv - 1, conv_dim] */
    void *ssm_state;   /* per layer [n_heads, head_dim, d_state], fp32 or fp16 */
    /* a batch of up to `cap` tokens (grown on demand up to BMK_BATCH): row t of each is token t's */
    float *h, *u, *xz, *y, *tmp, *logits;
    uint8_t *act;      /* prepared activations, act_stride bytes per token (the largest any projection needs) */
    size_t act_stride;
    int64_t act_slots; /* tokens or threads act holds (engine_common.h) */
    int64_t cap;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Scratch for batches of b tokens (the contents are not kept): a decode holds one token's, a
 * prompt grows it once to its batch.  Returns 0, or -1 out of memory (cap 0, the buffers freed). */
static int reserve(bmk_model *m, int64_t b)
{
    if (b <= m->cap) return 0;
    const bmk_model_desc *d = &m->d;
    float **const bufs[] = {&m->h, &m->u, &m->tmp, &m->xz, &m->y};
    const int64_t per[] = {d->d_model, d->d_model, d->d_model, m->xz_rows, d->d_inner};
    const int r = bmk_batch_scratch(bufs, per, 5, &m->act, m->act_stride, b, m->d.threads, &m->act_slots);
    m->cap = r ? 0 : b;
    return r;
}

static const char *validate(const bmk_model_desc *d)
{
    if (d->n_layers < 1 || d->d_model < 1 || d->d_inner < 1 || d->n_heads < 1 || d->head_dim < 1 ||
        d->d_state < 1 || d->n_groups < 1 || d->d_conv < 1 || d->vocab < 1)
        return "config sizes must be positive";
    if (d->n_heads * d->head_dim != d->d_inner) return "n_heads * head_dim must equal d_inner";
    if (d->n_heads % d->n_groups) return "n_heads must be a multiple of n_groups";
    if (d->flavour < 0 || d->flavour >= BMK_N_FLAVOURS || !bmk_flavour_runnable(d->flavour))
        return "kernel flavour not runnable on this CPU";
    if (d->state_type < 0 || d->state_type >= BMK_N_STATE_TYPES) return "unknown SSM state type";
    if (d->act_quant < 0 || d->act_quant >= BMK_N_ACT_QUANTS) return "unknown activation quantiser";
    if (!d->embedding || !d->norm_f || !d->layers) return "missing embedding, norm_f or layers";
    const char *e = bmk_check_linear(&d->lm_head, d->vocab, d->d_model, d->flavour);
    if (e) return e;
    const int64_t gn = d->n_groups * d->d_state;
    for (int64_t l = 0; l < d->n_layers; l++) {
        const bmk_layer_desc *L = &d->layers[l];
        if (!L->in_proj_norm || !L->conv_w || !L->conv_b || !L->dt_bias || !L->A_log || !L->D ||
            !L->out_proj_norm)
            return "missing layer vector";
        if ((e = bmk_check_linear(&L->in_proj, 2 * d->d_inner + 2 * gn + d->n_heads, d->d_model, d->flavour)))
            return e;
        if ((e = bmk_check_linear(&L->out_proj, d->d_model, d->d_inner, d->flavour))) return e;
    }
    return NULL;
}

bmk_model *bmk_model_create(const bmk_model_desc *desc, const char **err)
{
    const char *e = validate(desc);
    if (e) {
        if (err) *err = e;
        return NULL;
    }
    bmk_model *m = calloc(1, sizeof *m);
    if (!m) goto oom;
    m->d = *desc;
    const bmk_model_desc *d = &m->d;
    const int64_t L = d->n_layers;
    m->gn = d->n_groups * d->d_state;
    m->conv_dim = d->d_inner + (d->conv_bc ? 2 * m->gn : 0);
    m->xz_rows = 2 * d->d_inner + 2 * m->gn + d->n_heads;
    m->ssm_layer_values = d->d_inner * d->d_state;
    m->ssm_layer_bytes = (size_t)m->ssm_layer_values * (d->state_type == BMK_STATE_F16 ? 2 : 4);
    m->ssm_shared = m->ssm_layer_values >= BMK_SSM_PAR_MIN;

    size_t act = 0; /* the largest activation buffer any projection's format needs */
    for (int64_t l = 0; l < L; l++) {
        const bmk_linear *lin[3] = {&d->lm_head, &desc->layers[l].in_proj, &desc->layers[l].out_proj};
        for (int i = 0; i < 3; i++) {
            const size_t b = bmk_formats[lin[i]->format].act_bytes(lin[i]->w.cols);
            if (b > act) act = b;
        }
    }

    m->layers = malloc((size_t)L * sizeof *m->layers);
    m->conv_w = bmk_alloc_zeroed((size_t)(L * d->d_conv * m->conv_dim) * 4);
    m->conv_state = bmk_alloc_zeroed((size_t)(L * (d->d_conv - 1) * m->conv_dim) * 4);
    m->ssm_state = bmk_alloc_zeroed((size_t)L * m->ssm_layer_bytes);
    m->logits = bmk_alloc_zeroed((size_t)d->vocab * 4);
    m->act_stride = (act + 63) / 64 * 64;
    if (!m->layers || !m->conv_w || !m->conv_state || !m->ssm_state || !m->logits || reserve(m, 1)) goto oom;
    memcpy(m->layers, desc->layers, (size_t)L * sizeof *m->layers);
    m->d.layers = m->layers;
    /* conv weights [conv_dim, d_conv] -> the kernel's tap-major [d_conv, conv_dim] */
    for (int64_t l = 0; l < L; l++) {
        float *wt = m->conv_w + l * d->d_conv * m->conv_dim;
        for (int64_t c = 0; c < m->conv_dim; c++)
            for (int64_t k = 0; k < d->d_conv; k++)
                wt[k * m->conv_dim + c] = m->layers[l].conv_w[c * d->d_conv + k];
    }
    return m;
oom:
    bmk_model_free(m);
    if (err) *err = "out of memory";
    return NULL;
}

void bmk_model_free(bmk_model *m)
{
    if (!m) return;
    free(m->layers);
    free(m->conv_w);
    free(m->conv_state);
    free(m->ssm_state);
    free(m->h);
    free(m->u);
    free(m->tmp);
    free(m->xz);
    free(m->y);
    free(m->logits);
    free(m->act);
    free(m);
}

void bmk_model_reset(bmk_model *m)
{
    memset(m->conv_state, 0, (size_t)(m->d.n_layers * (m->d.d_conv - 1) * m->conv_dim) * 4);
    memset(m->ssm_state, 0, (size_t)m->d.n_layers * m->ssm_layer_bytes);
}

size_t bmk_model_state_bytes(const bmk_model *m)
{
    return (size_t)m->d.n_layers * (m->ssm_layer_bytes + (size_t)((m->d.d_conv - 1) * m->conv_dim) * 4);
}

void bmk_model_read_state(const bmk_model *m, uint8_t *out)
{
    const size_t ssm = (size_t)m->d.n_layers * m->ssm_layer_bytes;
    memcpy(out, m->ssm_state, ssm);
    memcpy(out + ssm, m->conv_state, bmk_model_state_bytes(m) - ssm);
}

const float *bmk_model_logits(const bmk_model *m) { return m->logits; }

/* y_t = W x_t for the batch's n tokens (engine_common.h) */
static void linear(bmk_model *m, const bmk_linear *p, const float *x, int64_t x_stride, int64_t n, float *y,
                   int64_t y_stride, int id, int nt)
{
    bmk_team_linears(m->d.flavour, m->d.act_quant, m->act, m->act_stride, m->act_slots, x, x_stride, n, 1, &p, &y,
                     &y_stride, id, nt);
#ifdef BMK_TEST_HOOKS
    if (id == 0) bmk_test_slowdown_decode(p->format, m->d.flavour, &p->w, m->act);
#endif
}

/* One layer over a batch of n tokens.  The per-token phases run on the thread that owns the token
 * (bmk_team_tokens), the projections on the whole team, the conv on thread 0 token after token,
 * the state update token after token on each thread's heads; every value is computed by the same
 * kernel in the same order as one token at a time, so a batch is bitwise n single steps. */
static void layer_batch(bmk_model *m, int64_t l, int64_t n, int id, int nt)
{
    const bmk_model_desc *d = &m->d;
    const bmk_layer_desc *L = &m->layers[l];
    const int fl = d->flavour;
    const int64_t di = d->d_inner, dm = d->d_model, xr = m->xz_rows;
    int64_t t0, t1;
    bmk_team_tokens(n, id, nt, &t0, &t1);

    for (int64_t t = t0; t < t1; t++) bmk_ssm.rmsnorm[fl](m->h + t * dm, L->in_proj_norm, m->u + t * dm, dm, d->eps);
    linear(m, &L->in_proj, m->u, dm, n, m->xz, xr, id, nt);

    /* xz_t = z | x | B | C | dt */
    if (id == 0)
        for (int64_t t = 0; t < n; t++) {
            float *x = m->xz + t * xr + di;
            bmk_ssm.conv[fl](m->conv_state + l * (d->d_conv - 1) * m->conv_dim,
                             m->conv_w + l * d->d_conv * m->conv_dim, L->conv_b, x, x, m->conv_dim, d->d_conv);
        }
    /* a state big enough to share (Mamba-2 2.7B), or a batch: each thread its heads, token after token */
    const int shared = (m->ssm_shared || n > 1) && nt > 1;
    if (shared) BMK_TEAM_BARRIER(nt);
    if (shared || id == 0)
        for (int64_t t = 0; t < n; t++) {
            float *x = m->xz + t * xr + di, *B = x + di, *C = B + m->gn, *dt = C + m->gn;
            const bmk_ssm_args a = {
                .n_heads = d->n_heads, .head_dim = d->head_dim, .d_state = d->d_state, .n_groups = d->n_groups,
                .D_per_channel = d->D_per_channel,
                .state = (uint8_t *)m->ssm_state + (size_t)l * m->ssm_layer_bytes,
                .x = x, .B = B, .C = C, .dt_raw = dt, .dt_bias = L->dt_bias, .A_log = L->A_log, .D = L->D,
                .y = m->y + t * di,
            };
            bmk_ssm_slice(fl, d->state_type, &a, shared ? id : 0, shared ? nt : 1);
        }
    if (shared) BMK_TEAM_BARRIER(nt);

    for (int64_t t = t0; t < t1; t++)
        bmk_ssm.gated_rmsnorm[fl](m->y + t * di, m->xz + t * xr, L->out_proj_norm, m->y + t * di, di, d->eps);
    linear(m, &L->out_proj, m->y, di, n, m->tmp, dm, id, nt);
    for (int64_t t = t0; t < t1; t++)
        for (int64_t i = 0; i < dm; i++) m->h[t * dm + i] += m->tmp[t * dm + i];
}

static void batch_body(bmk_model *m, int64_t n, int want_logits, int id, int nt)
{
    const bmk_model_desc *d = &m->d;
    for (int64_t l = 0; l < d->n_layers; l++) layer_batch(m, l, n, id, nt);
    if (!want_logits) return;
    float *h = m->h + (n - 1) * d->d_model; /* the last token's, maybe another thread's */
    if (n > 1) BMK_TEAM_BARRIER(nt);
    if (id == 0) {
        bmk_ssm.rmsnorm[d->flavour](h, d->norm_f, m->u, d->d_model, d->eps);
        if (d->lm_head_norm) bmk_ssm.rmsnorm[d->flavour](m->u, d->lm_head_norm, m->u, d->d_model, d->eps);
    }
    linear(m, &d->lm_head, m->u, 0, 1, m->logits, 0, id, nt);
}

int32_t bmk_model_run(bmk_model *m, const int32_t *tokens, int64_t n, int want_logits)
{
    const bmk_model_desc *d = &m->d;
    for (int64_t j = 0; j < n; j++)
        if (tokens[j] < 0 || tokens[j] >= d->vocab) return -2;
    if (reserve(m, n < BMK_BATCH ? n : BMK_BATCH)) return -4; /* out of memory */
    for (int64_t j = 0; j < n; j += BMK_BATCH) {
        const int64_t b = n - j < BMK_BATCH ? n - j : BMK_BATCH;
        for (int64_t t = 0; t < b; t++)
            memcpy(m->h + t * d->d_model, d->embedding + (int64_t)tokens[j + t] * d->d_model, (size_t)d->d_model * 4);
        /* team.h: one parallel region per batch (per token when decoding) */
        BMK_TEAM_RUN(d->threads, batch_body, m, b, want_logits && j + b == n);
    }
    return want_logits && n > 0 ? bmk_argmax(m->logits, d->vocab) : -1;
}

int32_t bmk_model_step(bmk_model *m, int32_t token, int want_logits)
{
    return bmk_model_run(m, &token, 1, want_logits);
}

int64_t bmk_decode_greedy(void *model, bmk_run_fn run, int64_t vocab, const int32_t *prompt, int64_t n_prompt,
                          int64_t batch, int64_t n_new, int32_t *out_tokens, int64_t *t_ns)
{
    if (n_prompt < 1 || n_new < 1) return -1;
    for (int64_t j = 0; j < n_prompt; j++)
        if (prompt[j] < 0 || prompt[j] >= vocab) return -2;
    if (batch < 1) batch = n_prompt;
    t_ns[0] = now_ns();
    int32_t next = -1;
    for (int64_t j = 0; j < n_prompt; j += batch) {
        const int64_t b = n_prompt - j < batch ? n_prompt - j : batch;
        next = run(model, prompt + j, b, j + b == n_prompt);
        if (next < -2) return next;
        const int64_t t = now_ns();
        for (int64_t k = 1; k <= b; k++) t_ns[j + k] = t;
    }
    out_tokens[0] = next;
    for (int64_t i = 1; i < n_new; i++) {
        out_tokens[i] = run(model, &out_tokens[i - 1], 1, 1);
        if (out_tokens[i] < -2) return out_tokens[i];
        t_ns[n_prompt + i] = now_ns();
    }
    return n_new;
}

static int32_t model_run(void *m, const int32_t *tokens, int64_t n, int want_logits)
{
    return bmk_model_run((bmk_model *)m, tokens, n, want_logits);
}

int64_t bmk_model_decode(bmk_model *m, const int32_t *prompt, int64_t n_prompt, int64_t batch, int64_t n_new,
                         int32_t *out_tokens, int64_t *t_ns)
{
    return bmk_decode_greedy(m, model_run, m->d.vocab, prompt, n_prompt, batch, n_new, out_tokens, t_ns);
}

void bmk_model_fill_state(bmk_model *m, uint64_t seed)
{
    const bmk_model_desc *d = &m->d;
    const int64_t P = d->head_dim, N = d->d_state, conv_vals = (d->d_conv - 1) * m->conv_dim;
    for (int64_t l = 0; l < d->n_layers; l++) {
        const bmk_layer_desc *L = &m->layers[l];
        uint8_t *state = (uint8_t *)m->ssm_state + (size_t)l * m->ssm_layer_bytes;
        for (int64_t h = 0; h < d->n_heads; h++) {
            const double dt = bmk_softplus(L->dt_bias[h]), dA = exp(-dt * exp(L->A_log[h]));
            const float sigma = (float)(dt / sqrt(1.0 - dA * dA + 1e-12));
            uint64_t s = bmk_synth_stream(seed, 1, (uint64_t)l, (uint64_t)h);
            for (int64_t i = h * P * N; i < (h + 1) * P * N; i++) {
                const float v = sigma * bmk_synth_normal(&s);
                if (d->state_type == BMK_STATE_F16)
                    ((uint16_t *)state)[i] = bmk_f32_to_f16(v);
                else
                    ((float *)state)[i] = v;
            }
        }
        uint64_t s = bmk_synth_stream(seed, 2, (uint64_t)l, 0);
        float *conv = m->conv_state + l * conv_vals;
        for (int64_t i = 0; i < conv_vals; i++) conv[i] = bmk_synth_normal(&s);
    }
}
