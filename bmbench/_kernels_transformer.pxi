# The transformer decode engine (kernels/transformer.h).
# Part of _kernels.pyx (included there, one extension module: one dispatch state, one thread team).
# --------------------------------------------------------------- transformer engine (transformer.h)
cdef extern from "transformer.h" nogil:
    ctypedef struct bmk_tf_layer_desc:
        const float *attn_norm
        bmk_linear wq, wk, wv, wo
        const float *ffn_norm
        bmk_linear w_gate, w_up, w_down
    ctypedef struct bmk_tf_desc:
        int64_t n_layers, d_model, n_heads, n_kv_heads, head_dim, d_ff, vocab, max_context
        float eps
        int act_quant
        const float *rope_inv_freq
        const float *embedding
        const float *norm_f
        bmk_linear lm_head
        const bmk_tf_layer_desc *layers
        int kv_type
        int flavour
        int threads
    ctypedef struct bmk_tf:
        pass
    bmk_tf *bmk_tf_create(const bmk_tf_desc *desc, const char **err)
    void bmk_tf_free(bmk_tf *m)
    void bmk_tf_reset(bmk_tf *m)
    int64_t bmk_tf_position(const bmk_tf *m)
    int32_t bmk_tf_step(bmk_tf *m, int32_t token, int want_logits)
    const float *bmk_tf_logits(const bmk_tf *m)
    int64_t bmk_tf_decode(bmk_tf *m, const int32_t *prompt, int64_t n_prompt, int64_t batch,
                          int64_t n_new, int32_t *out_tokens, int64_t *t_ns)
    int bmk_tf_fill_context(bmk_tf *m, int64_t n, uint64_t seed)
    void bmk_tf_kv_read(const bmk_tf *m, int64_t layer, int which, float *out)
    size_t bmk_tf_kv_bytes_per_position(const bmk_tf *m)
    size_t bmk_tf_kv_bytes_allocated(const bmk_tf *m)

_TF_LINEARS = ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down")


cdef class TransformerDecoder:
    """The C decode engine of the transformer baseline (see kernels/transformer.h); bmbench.engine
    wraps it.  cfg: dict of the bmk_tf_desc sizes; projections as (format id, data, rows, cols,
    scale); layers as dicts of the bmk_tf_layer_desc fields.  The arrays are kept alive here."""
    cdef bmk_tf *m
    cdef list _keep
    cdef readonly int64_t vocab, n_layers, n_kv_heads, head_dim, max_context

    def __cinit__(self, dict cfg, rope_inv_freq, embedding, norm_f, lm_head, list layers, int kv_type,
                  int flavour, int threads):
        cdef bmk_tf_desc d
        cdef bmk_tf_layer_desc *ls = NULL
        cdef const char *err = NULL
        cdef int64_t i, qd, kvd
        self.m = NULL
        self._keep = []
        keep = self._keep
        d.n_layers, d.d_model, d.n_heads = cfg["n_layers"], cfg["d_model"], cfg["n_heads"]
        d.n_kv_heads, d.head_dim, d.d_ff = cfg["n_kv_heads"], cfg["head_dim"], cfg["d_ff"]
        d.vocab, d.max_context, d.eps = cfg["vocab"], cfg["max_context"], cfg["eps"]
        d.act_quant = cfg["act_quant"]
        if d.n_layers != len(layers) or d.n_layers < 1:
            raise ValueError("n_layers does not match the layer list")
        if d.head_dim < 2 or d.head_dim % 2:
            raise ValueError("head_dim must be even and positive")
        qd, kvd = d.n_heads * d.head_dim, d.n_kv_heads * d.head_dim
        d.rope_inv_freq = _vec(rope_inv_freq, d.head_dim // 2, "rope_inv_freq", keep)
        d.embedding = _vec(embedding, d.vocab * d.d_model, "embedding", keep)
        d.norm_f = _vec(norm_f, d.d_model, "norm_f", keep)
        _lin(&d.lm_head, lm_head, "lm_head", keep)
        d.kv_type, d.flavour, d.threads = kv_type, flavour, threads
        ls = <bmk_tf_layer_desc *>calloc(d.n_layers, sizeof(bmk_tf_layer_desc))
        if ls == NULL:
            raise MemoryError()
        try:
            for i in range(d.n_layers):
                L = layers[i]
                ls[i].attn_norm = _vec(L["attn_norm"], d.d_model, f"layer {i} attn_norm", keep)
                ls[i].ffn_norm = _vec(L["ffn_norm"], d.d_model, f"layer {i} ffn_norm", keep)
                _lin(&ls[i].wq, L["wq"], f"layer {i} wq", keep)
                _lin(&ls[i].wk, L["wk"], f"layer {i} wk", keep)
                _lin(&ls[i].wv, L["wv"], f"layer {i} wv", keep)
                _lin(&ls[i].wo, L["wo"], f"layer {i} wo", keep)
                _lin(&ls[i].w_gate, L["w_gate"], f"layer {i} w_gate", keep)
                _lin(&ls[i].w_up, L["w_up"], f"layer {i} w_up", keep)
                _lin(&ls[i].w_down, L["w_down"], f"layer {i} w_down", keep)
            d.layers = ls
            with nogil:
                self.m = bmk_tf_create(&d, &err)
        finally:
            free(ls)
        if self.m == NULL:
            raise ValueError(err.decode() if err != NULL else "bmk_tf_create failed")
        self.vocab, self.n_layers, self.n_kv_heads = d.vocab, d.n_layers, d.n_kv_heads
        self.head_dim, self.max_context = d.head_dim, d.max_context

    def __dealloc__(self):
        if self.m != NULL:
            bmk_tf_free(self.m)
            self.m = NULL

    def reset(self):
        bmk_tf_reset(self.m)

    @property
    def position(self):
        return bmk_tf_position(self.m)

    def step(self, int32_t token, bint want_logits=True):
        """One token at the current position; returns the argmax (or -1 without logits)."""
        cdef int32_t r
        with nogil:
            r = bmk_tf_step(self.m, token, want_logits)
        if r == -2:
            raise ValueError(f"token {token} outside the vocabulary")
        if r == -3:
            raise ValueError(f"KV cache full ({self.max_context} positions)")
        return r

    def logits(self):
        cdef float *p = <float *>bmk_tf_logits(self.m)
        return _np.asarray(<float[:self.vocab]>p).copy()

    def decode(self, const int32_t[::1] prompt, int32_t[::1] out_tokens, int64_t[::1] t_ns, int64_t batch=0):
        """Greedy decode of len(out_tokens) tokens after the prompt, in batches of `batch` tokens
        (see bmk_tf_decode)."""
        cdef int64_t n_prompt = prompt.shape[0], n_new = out_tokens.shape[0], r
        if n_prompt < 1 or n_new < 1:
            raise ValueError("decode needs at least one prompt token and one new token")
        if t_ns.shape[0] < n_prompt + n_new:
            raise ValueError("t_ns too short")
        with nogil:
            r = bmk_tf_decode(self.m, &prompt[0], n_prompt, batch, n_new, &out_tokens[0], &t_ns[0])
        if r == -2:
            raise ValueError("prompt token outside the vocabulary")
        if r == -3:
            raise ValueError(f"KV cache too small: position {self.position} + {n_prompt} prompt + "
                             f"{n_new} new tokens exceeds max_context {self.max_context}")
        if r == -4:
            raise MemoryError("out of memory for the prompt's batch")
        if r < 0:
            raise ValueError("bmk_tf_decode failed")
        return r

    def fill_context(self, int64_t n, uint64_t seed):
        cdef int r
        with nogil:
            r = bmk_tf_fill_context(self.m, n, seed)
        if r == -1:
            raise ValueError(f"context {n} outside [0, max_context {self.max_context}]")
        if r < 0:
            raise MemoryError()

    def kv_read(self, int64_t layer, int which):
        """The cached rows of one layer as float32 [n_kv_heads, position, head_dim]."""
        if layer < 0 or layer >= self.n_layers or which not in (0, 1):
            raise ValueError("kv_read: bad layer or which")
        out = _np.zeros((self.n_kv_heads, self.position, self.head_dim), dtype=_np.float32)
        cdef float[:, :, ::1] o = out
        if self.position > 0:
            bmk_tf_kv_read(self.m, layer, which, &o[0, 0, 0])
        return out

    @property
    def kv_bytes_per_position(self):
        return bmk_tf_kv_bytes_per_position(self.m)

    @property
    def kv_bytes_allocated(self):
        return bmk_tf_kv_bytes_allocated(self.m)
