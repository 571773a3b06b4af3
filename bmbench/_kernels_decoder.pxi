# The Mamba-2 decode engine (kernels/decode.h) and the projection / vector checks both engines use.
# Part of _kernels.pyx (included there, one extension module: one dispatch state, one thread team).
# ------------------------------------------------------------------------- decode engine (decode.h)
cdef extern from "decode.h" nogil:
    enum: BMK_BATCH
    ctypedef struct bmk_linear:
        bmk_tensor w
        int format
    ctypedef struct bmk_layer_desc:
        const float *in_proj_norm
        bmk_linear in_proj
        const float *conv_w
        const float *conv_b
        const float *dt_bias
        const float *A_log
        const float *D
        const float *out_proj_norm
        bmk_linear out_proj
    ctypedef struct bmk_model_desc:
        int64_t n_layers, d_model, d_inner, n_heads, head_dim, d_state, n_groups, d_conv, vocab
        int conv_bc
        int D_per_channel
        float eps
        int act_quant
        const float *embedding
        const float *norm_f
        const float *lm_head_norm
        bmk_linear lm_head
        const bmk_layer_desc *layers
        int state_type
        int flavour
        int threads
    ctypedef struct bmk_model:
        pass
    bmk_model *bmk_model_create(const bmk_model_desc *desc, const char **err)
    void bmk_model_free(bmk_model *m)
    void bmk_model_reset(bmk_model *m)
    int32_t bmk_model_step(bmk_model *m, int32_t token, int want_logits)
    const float *bmk_model_logits(const bmk_model *m)
    int64_t bmk_model_decode(bmk_model *m, const int32_t *prompt, int64_t n_prompt, int64_t batch,
                             int64_t n_new, int32_t *out_tokens, int64_t *t_ns)
    size_t bmk_model_state_bytes(const bmk_model *m)
    void bmk_model_read_state(const bmk_model *m, uint8_t *out)
    void bmk_model_fill_state(bmk_model *m, uint64_t seed)

BATCH = BMK_BATCH  # tokens per batched pass of a prompt (kernels/decode.h)


cdef const float *_vec(object a, int64_t n, str name, list keep) except NULL:
    """Pointer to a float32 C-contiguous array of exactly n values (kept alive in `keep`)."""
    cdef const float[::1] v
    arr = _np.asarray(a)
    if arr.dtype != _np.float32 or not arr.flags.c_contiguous or arr.size != n or n < 1:
        raise ValueError(f"{name}: expected {n} contiguous float32 values, got {arr.dtype} {arr.shape}")
    keep.append(arr)
    v = arr.reshape(-1)
    return &v[0]


cdef int _lin(bmk_linear *out, object spec, str name, list keep) except -1:
    """spec = (format id, uint8 data, rows, cols, scale)."""
    cdef const uint8_t[::1] d
    fmt, data, rows, cols, scale = spec
    if fmt < 0 or fmt >= bmk_n_formats:
        raise ValueError(f"{name}: unknown format id {fmt}")
    arr = _np.asarray(data)
    if arr.dtype != _np.uint8 or not arr.flags.c_contiguous or arr.ndim != 1:
        raise ValueError(f"{name}: packed data must be a contiguous 1-D uint8 array")
    if <size_t>arr.shape[0] < bmk_formats[<int>fmt].data_bytes(rows, cols) or arr.shape[0] == 0:
        raise ValueError(f"{name}: packed data too small for {rows} x {cols}")
    keep.append(arr)
    d = arr
    out.w.data = &d[0]
    out.w.rows = rows
    out.w.cols = cols
    out.w.scale = scale
    out.format = fmt
    return 0


cdef class Decoder:
    """The C decode engine over one model's weights (see kernels/decode.h); bmbench.engine wraps it.

    cfg: dict of the bmk_model_desc sizes and flags; projections as (format id, data, rows, cols,
    scale); layers as dicts of the bmk_layer_desc fields.  The arrays are kept alive here."""
    cdef bmk_model *m
    cdef list _keep
    cdef readonly int64_t vocab

    def __cinit__(self, dict cfg, embedding, norm_f, lm_head_norm, lm_head, list layers,
                  int state_type, int flavour, int threads):
        cdef bmk_model_desc d
        cdef bmk_layer_desc *ls = NULL
        cdef const char *err = NULL
        cdef int64_t i, gn, conv_dim
        self.m = NULL
        self._keep = []
        keep = self._keep
        d.n_layers, d.d_model, d.d_inner = cfg["n_layers"], cfg["d_model"], cfg["d_inner"]
        d.n_heads, d.head_dim, d.d_state = cfg["n_heads"], cfg["head_dim"], cfg["d_state"]
        d.n_groups, d.d_conv, d.vocab = cfg["n_groups"], cfg["d_conv"], cfg["vocab"]
        d.conv_bc, d.D_per_channel, d.eps = cfg["conv_bc"], cfg["D_per_channel"], cfg["eps"]
        d.act_quant = cfg["act_quant"]
        if d.n_layers != len(layers) or d.n_layers < 1:
            raise ValueError("n_layers does not match the layer list")
        if d.n_groups < 1 or d.d_state < 1 or d.d_conv < 1:
            raise ValueError("config sizes must be positive")
        gn = d.n_groups * d.d_state
        conv_dim = d.d_inner + (2 * gn if d.conv_bc else 0)
        d.embedding = _vec(embedding, d.vocab * d.d_model, "embedding", keep)
        d.norm_f = _vec(norm_f, d.d_model, "norm_f", keep)
        d.lm_head_norm = NULL
        if lm_head_norm is not None:
            d.lm_head_norm = _vec(lm_head_norm, d.d_model, "lm_head_norm", keep)
        _lin(&d.lm_head, lm_head, "lm_head", keep)
        d.state_type, d.flavour, d.threads = state_type, flavour, threads
        ls = <bmk_layer_desc *>calloc(d.n_layers, sizeof(bmk_layer_desc))
        if ls == NULL:
            raise MemoryError()
        try:
            for i in range(d.n_layers):
                L = layers[i]
                ls[i].in_proj_norm = _vec(L["in_proj_norm"], d.d_model, f"layer {i} in_proj_norm", keep)
                _lin(&ls[i].in_proj, L["in_proj"], f"layer {i} in_proj", keep)
                ls[i].conv_w = _vec(L["conv_w"], conv_dim * d.d_conv, f"layer {i} conv_w", keep)
                ls[i].conv_b = _vec(L["conv_b"], conv_dim, f"layer {i} conv_b", keep)
                ls[i].dt_bias = _vec(L["dt_bias"], d.n_heads, f"layer {i} dt_bias", keep)
                ls[i].A_log = _vec(L["A_log"], d.n_heads, f"layer {i} A_log", keep)
                ls[i].D = _vec(L["D"], d.d_inner if d.D_per_channel else d.n_heads, f"layer {i} D", keep)
                ls[i].out_proj_norm = _vec(L["out_proj_norm"], d.d_inner, f"layer {i} out_proj_norm", keep)
                _lin(&ls[i].out_proj, L["out_proj"], f"layer {i} out_proj", keep)
            d.layers = ls
            self.m = bmk_model_create(&d, &err)
        finally:
            free(ls)
        if self.m == NULL:
            raise ValueError(err.decode() if err != NULL else "bmk_model_create failed")
        self.vocab = d.vocab

    def __dealloc__(self):
        if self.m != NULL:
            bmk_model_free(self.m)
            self.m = NULL

    def reset(self):
        with nogil:
            bmk_model_reset(self.m)

    def step(self, int32_t token, bint want_logits=True):
        """One token; returns the argmax (or -1 without logits)."""
        cdef int32_t r
        with nogil:
            r = bmk_model_step(self.m, token, want_logits)
        if r == -2:
            raise ValueError(f"token {token} outside the vocabulary")
        return r

    def logits(self):
        """A copy of the last logits."""
        cdef float *p = <float *>bmk_model_logits(self.m)
        return _np.asarray(<float[:self.vocab]>p).copy()

    def decode(self, const int32_t[::1] prompt, int32_t[::1] out_tokens, int64_t[::1] t_ns, int64_t batch=0):
        """Greedy decode of len(out_tokens) tokens after the prompt, run in batches of `batch`
        tokens (1: token by token, 0: all at once); t_ns needs len(prompt) + len(out_tokens)
        entries (see bmk_model_decode)."""
        cdef int64_t n_prompt = prompt.shape[0], n_new = out_tokens.shape[0], r
        if n_prompt < 1 or n_new < 1:
            raise ValueError("decode needs at least one prompt token and one new token")
        if t_ns.shape[0] < n_prompt + n_new:
            raise ValueError("t_ns too short")
        with nogil:
            r = bmk_model_decode(self.m, &prompt[0], n_prompt, batch, n_new, &out_tokens[0], &t_ns[0])
        if r == -2:
            raise ValueError("prompt token outside the vocabulary")
        if r == -4:
            raise MemoryError("out of memory for the prompt's batch")
        if r < 0:
            raise ValueError("bmk_model_decode failed")
        return r

    def fill_state(self, uint64_t seed):
        """A synthetic, seeded recurrent state (see bmk_model_fill_state)."""
        with nogil:
            bmk_model_fill_state(self.m, seed)

    @property
    def state_bytes(self):
        return bmk_model_state_bytes(self.m)

    def read_state(self):
        """A copy of the recurrent state's bytes (see bmk_model_read_state)."""
        out = _np.empty(bmk_model_state_bytes(self.m), dtype=_np.uint8)
        cdef uint8_t[::1] o = out
        bmk_model_read_state(self.m, &o[0])
        return out
