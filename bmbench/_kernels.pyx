# Thin Cython wrapper over the C kernels (kernels/bmk.h): typed memoryviews in, no logic of its own.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free, malloc

import numpy as _np


cdef extern from "bmk.h" nogil:
    enum: BMK_N_FLAVOURS  # a compile-time constant, so the tables below are sized by it
    const char *const bmk_flavour_names[]
    int bmk_flavour_runnable(int flavour)
    int bmk_flavour_compiled(int flavour)
    int bmk_flavour_emulated(int flavour)
    int bmk_best_flavour()
    const char *bmk_cpu_features()
    int bmk_default_threads()
    double bmk_probe_run(int kind, int flavour, double *a, double *b, double *c, size_t n,
                         long reps, int threads)
    void bmk_probe_fill(double *a, size_t n, double value, int threads)

    ctypedef struct bmk_tensor:
        const uint8_t *data
        int64_t rows, cols
        float scale
    int BMK_N_ACT_QUANTS
    const char *const bmk_act_quant_names[]
    ctypedef void (*bmk_prep_fn)(const float *x, int64_t cols, int act_quant, void *act)
    ctypedef void (*bmk_gemv_fn)(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
    ctypedef struct bmk_format:
        const char *name
        double bpw
        int block
        int row_tile
        int exact
        size_t (*data_bytes)(int64_t rows, int64_t cols)
        size_t (*act_bytes)(int64_t cols)
        bmk_prep_fn prep[BMK_N_FLAVOURS]
        bmk_gemv_fn gemv[BMK_N_FLAVOURS]
    const bmk_format bmk_formats[]
    const int bmk_n_formats
    void bmk_gemv(int format, int flavour, const bmk_tensor *w, const void *act, float *y, int threads)
    void bmk_gemm(int format, int flavour, const bmk_tensor *w, const void *acts, size_t act_stride, int64_t n,
                  float *y, int64_t y_stride, int threads)
    void bmk_gemv_loop(int format, int flavour, const bmk_tensor *tensors, int n_tensors,
                       const float *x, int act_quant, void *act, float *y, long calls, int threads)

    ctypedef struct bmk_ssm_args:
        int64_t n_heads, head_dim, d_state, n_groups
        int D_per_channel
        void *state
        const float *x
        const float *B
        const float *C
        const float *dt_raw
        const float *dt_bias
        const float *A_log
        const float *D
        float *y
    ctypedef void (*bmk_conv_fn)(float *state, const float *w, const float *b, const float *x,
                                 float *out, int64_t channels, int64_t width)
    ctypedef void (*bmk_rmsnorm_fn)(const float *x, const float *w, float *out, int64_t n, float eps)
    ctypedef void (*bmk_gated_rmsnorm_fn)(const float *y, const float *z, const float *w, float *out,
                                          int64_t n, float eps)
    ctypedef void (*bmk_ssm_fn)(const bmk_ssm_args *a, int64_t h0, int64_t h1)
    ctypedef struct bmk_ssm_table:
        bmk_conv_fn conv[BMK_N_FLAVOURS]
        bmk_ssm_fn ssm[2][BMK_N_FLAVOURS]
        bmk_rmsnorm_fn rmsnorm[BMK_N_FLAVOURS]
        bmk_gated_rmsnorm_fn gated_rmsnorm[BMK_N_FLAVOURS]
    const bmk_ssm_table bmk_ssm
    int BMK_N_STATE_TYPES
    void bmk_ssm_step(int flavour, int state_type, const bmk_ssm_args *a, int threads)


N_FLAVOURS = BMK_N_FLAVOURS
FLAVOURS = tuple(bmk_flavour_names[i].decode() for i in range(BMK_N_FLAVOURS))
ACT_QUANTS = tuple(bmk_act_quant_names[i].decode() for i in range(BMK_N_ACT_QUANTS))


def flavour_compiled(int flavour):
    return bool(bmk_flavour_compiled(flavour))


def flavour_runnable(int flavour):
    return bool(bmk_flavour_runnable(flavour))


def flavour_emulated(int flavour):
    return bool(bmk_flavour_emulated(flavour))


def best_flavour():
    return bmk_best_flavour()


def cpu_features():
    return bmk_cpu_features().decode().split()


def default_threads():
    return bmk_default_threads()


def probe_fill(double[::1] a, double value, int threads):
    """First touch of a probe array by the threads that will read it (bmk_probe_fill)."""
    with nogil:
        bmk_probe_fill(&a[0], a.shape[0], value, threads)


def probe_run(int kind, int flavour, double[::1] a, double[::1] b, double[::1] c, long reps,
              int threads):
    """Run a probe kernel (0 read, 1 copy, 2 triad) `reps` times over len(a) doubles."""
    cdef size_t n = a.shape[0]
    if b.shape[0] < n or c.shape[0] < n:
        raise ValueError("probe arrays must have equal lengths")
    with nogil:
        s = bmk_probe_run(kind, flavour, &a[0], &b[0], &c[0], n, reps, threads)
    return s


def formats():
    """The C formats table as a list of dicts (bmbench.formats joins it with the NumPy side)."""
    out = []
    for i in range(bmk_n_formats):
        f = &bmk_formats[i]
        out.append(dict(id=i, name=f.name.decode(), bpw=f.bpw, block=f.block, row_tile=f.row_tile,
                        exact=bool(f.exact),
                        flavours=tuple(FLAVOURS[k] for k in range(BMK_N_FLAVOURS)
                                       if f.gemv[k] != NULL)))
    return out


def data_bytes(int fmt, int64_t rows, int64_t cols):
    return bmk_formats[fmt].data_bytes(rows, cols)


def act_bytes(int fmt, int64_t cols):
    return bmk_formats[fmt].act_bytes(cols)


cdef int _check_act_quant(int act_quant) except -1:
    if act_quant < 0 or act_quant >= BMK_N_ACT_QUANTS:
        raise ValueError(f"unknown activation quantiser {act_quant}")
    return 0


def prep(int fmt, const float[::1] x, uint8_t[::1] act, int act_quant=0, int flavour=0):
    """Prepare activations (quantise / build lookup tables) into `act` with the family's quantiser,
    by `flavour`'s prep (every flavour's gives the same bytes)."""
    cdef int64_t cols = x.shape[0]
    _check_act_quant(act_quant)
    if <size_t>act.shape[0] < bmk_formats[fmt].act_bytes(cols):
        raise ValueError("activation buffer too small")
    if flavour < 0 or flavour >= BMK_N_FLAVOURS or bmk_formats[fmt].prep[flavour] == NULL:
        raise ValueError(f"no prep of flavour {flavour} for this format")
    with nogil:
        bmk_formats[fmt].prep[flavour](&x[0], cols, act_quant, &act[0])


cdef bmk_tensor _tensor(int fmt, int flavour, const uint8_t[::1] data, int64_t rows, int64_t cols,
                       float scale) except *:
    """A packed tensor, after the checks every GEMV and GEMM call makes."""
    cdef bmk_tensor t
    if bmk_formats[fmt].gemv[flavour] == NULL:
        raise ValueError(f"flavour {FLAVOURS[flavour]} not compiled for this format")
    if <size_t>data.shape[0] < bmk_formats[fmt].data_bytes(rows, cols):
        raise ValueError("weight buffer too small for its shape")
    t.data = &data[0]
    t.rows = rows
    t.cols = cols
    t.scale = scale
    return t


def gemv(int fmt, int flavour, const uint8_t[::1] data, int64_t rows, int64_t cols, float scale,
         const uint8_t[::1] act, float[::1] y, int threads=1):
    """y = W x for a packed tensor, with activations prepared by prep()."""
    cdef bmk_tensor t = _tensor(fmt, flavour, data, rows, cols, scale)
    if y.shape[0] < rows:
        raise ValueError("output buffer too small")
    if <size_t>act.shape[0] < bmk_formats[fmt].act_bytes(cols):
        raise ValueError("activation buffer too small")
    with nogil:
        bmk_gemv(fmt, flavour, &t, &act[0], &y[0], threads)


def gemm(int fmt, int flavour, const uint8_t[::1] data, int64_t rows, int64_t cols, float scale,
         const uint8_t[:, ::1] acts, float[:, ::1] y, int threads=1):
    """y[j] = W x_j for the vectors prepared by prep() into the rows of acts (bmk_gemm)."""
    cdef bmk_tensor t = _tensor(fmt, flavour, data, rows, cols, scale)
    if y.shape[0] != acts.shape[0] or y.shape[1] < rows or acts.shape[0] < 1:
        raise ValueError("need one output row of >= rows values per activation row")
    if <size_t>acts.shape[1] < bmk_formats[fmt].act_bytes(cols) or acts.shape[1] % 64:
        raise ValueError("activation rows too small, or not a multiple of 64 bytes")
    with nogil:
        bmk_gemm(fmt, flavour, &t, &acts[0, 0], acts.shape[1], acts.shape[0], &y[0, 0], y.shape[1], threads)


def gemv_loop(int fmt, int flavour, list datas, int64_t rows, int64_t cols, float scale,
              const float[::1] x, uint8_t[::1] act, float[::1] y, long calls, int threads=1,
              int act_quant=0):
    """`calls` x (prep + GEMV), rotating over the weight buffers in `datas` (all rows x cols)."""
    cdef int n = len(datas), i
    cdef const uint8_t[::1] d
    cdef bmk_tensor *ts
    if n == 0 or x.shape[0] != cols:
        raise ValueError("need at least one tensor and cols activations")
    _check_act_quant(act_quant)
    if bmk_formats[fmt].gemv[flavour] == NULL:
        raise ValueError(f"flavour {FLAVOURS[flavour]} not compiled for this format")
    if <size_t>act.shape[0] < bmk_formats[fmt].act_bytes(cols) or y.shape[0] < rows:
        raise ValueError("activation or output buffer too small")
    ts = <bmk_tensor *>malloc(n * sizeof(bmk_tensor))
    try:
        for i in range(n):
            d = datas[i]
            if <size_t>d.shape[0] < bmk_formats[fmt].data_bytes(rows, cols):
                raise ValueError("weight buffer too small for its shape")
            ts[i].data = &d[0]
            ts[i].rows = rows
            ts[i].cols = cols
            ts[i].scale = scale
        with nogil:
            bmk_gemv_loop(fmt, flavour, ts, n, &x[0], act_quant, &act[0], &y[0], calls, threads)
    finally:
        free(ts)

# ------------------------------------------------------------------ Mamba-2 recurrence (ssm family)
cdef int _check_flavour(int flavour) except -1:
    if flavour < 0 or flavour >= BMK_N_FLAVOURS or bmk_ssm.conv[flavour] == NULL:
        raise ValueError(f"flavour {flavour} not compiled in")
    return 0


def conv_silu(int flavour, float[::1] state, const float[::1] w, const float[::1] b,
              const float[::1] x, float[::1] out, int64_t width):
    """Causal conv1d step + SiLU; w is [width, channels] (tap-major), state [width-1, channels]."""
    cdef int64_t n = x.shape[0]
    _check_flavour(flavour)
    if width < 1 or n < 1 or w.shape[0] != width * n or b.shape[0] != n or out.shape[0] != n \
            or state.shape[0] != (width - 1) * n:
        raise ValueError("conv_silu: inconsistent shapes")
    with nogil:
        bmk_ssm.conv[flavour](&state[0] if width > 1 else NULL, &w[0], &b[0], &x[0], &out[0], n, width)


def ssm_step(int flavour, int state_type, uint8_t[::1] state, const float[::1] x, const float[::1] B,
             const float[::1] C, const float[::1] dt_raw, const float[::1] dt_bias,
             const float[::1] A_log, const float[::1] D, float[::1] y, int64_t n_heads,
             int64_t head_dim, int64_t d_state, int64_t n_groups, int threads=1):
    """One SSM state update (state: raw bytes of the fp32 or fp16 state); D per head or per channel."""
    cdef bmk_ssm_args a
    cdef int64_t d_inner = n_heads * head_dim
    _check_flavour(flavour)
    if state_type < 0 or state_type >= BMK_N_STATE_TYPES:
        raise ValueError("unknown state type")
    if n_heads < 1 or head_dim < 1 or d_state < 1 or n_groups < 1 or n_heads % n_groups:
        raise ValueError("ssm_step: bad head / group counts")
    if x.shape[0] != d_inner or y.shape[0] != d_inner or B.shape[0] != n_groups * d_state \
            or C.shape[0] != n_groups * d_state or dt_raw.shape[0] != n_heads \
            or dt_bias.shape[0] != n_heads or A_log.shape[0] != n_heads \
            or D.shape[0] not in (n_heads, d_inner) \
            or state.shape[0] != d_inner * d_state * (4 if state_type == 0 else 2):
        raise ValueError("ssm_step: inconsistent shapes")
    a.n_heads, a.head_dim, a.d_state, a.n_groups = n_heads, head_dim, d_state, n_groups
    a.D_per_channel = D.shape[0] != n_heads
    a.state = &state[0]
    a.x, a.B, a.C, a.dt_raw, a.dt_bias = &x[0], &B[0], &C[0], &dt_raw[0], &dt_bias[0]
    a.A_log, a.D, a.y = &A_log[0], &D[0], &y[0]
    with nogil:
        bmk_ssm_step(flavour, state_type, &a, threads)


def rmsnorm(int flavour, const float[::1] x, const float[::1] w, float[::1] out, float eps):
    cdef int64_t n = x.shape[0]
    _check_flavour(flavour)
    if n < 1 or w.shape[0] != n or out.shape[0] != n:
        raise ValueError("rmsnorm: inconsistent shapes")
    with nogil:
        bmk_ssm.rmsnorm[flavour](&x[0], &w[0], &out[0], n, eps)


def gated_rmsnorm(int flavour, const float[::1] y, const float[::1] z, const float[::1] w,
                  float[::1] out, float eps):
    cdef int64_t n = y.shape[0]
    _check_flavour(flavour)
    if n < 1 or z.shape[0] != n or w.shape[0] != n or out.shape[0] != n:
        raise ValueError("gated_rmsnorm: inconsistent shapes")
    with nogil:
        bmk_ssm.gated_rmsnorm[flavour](&y[0], &z[0], &w[0], &out[0], n, eps)


# --------------------------------------------------------- transformer attention (attn family)
cdef extern from "bmk.h" nogil:
    int BMK_N_KV_TYPES
    ctypedef void (*bmk_attn_scores_fn)(const float *q, int64_t g, const uint8_t *K, int64_t n,
                                        int64_t head_dim, float scale, float *s, int64_t s_stride)
    ctypedef void (*bmk_softmax_fn)(float *s, int64_t n)
    ctypedef void (*bmk_attn_values_fn)(const float *p, int64_t p_stride, int64_t g, const uint8_t *V,
                                        int64_t n, int64_t head_dim, float *out)
    ctypedef void (*bmk_swiglu_fn)(const float *gate, const float *up, float *out, int64_t n)
    ctypedef struct bmk_attn_table:
        bmk_attn_scores_fn scores[2][BMK_N_FLAVOURS]
        bmk_softmax_fn softmax[BMK_N_FLAVOURS]
        bmk_attn_values_fn values[2][BMK_N_FLAVOURS]
        bmk_swiglu_fn swiglu[BMK_N_FLAVOURS]
    const bmk_attn_table bmk_attn_kernels
    size_t bmk_kv_row_bytes(int kv_type, int64_t head_dim)
    ctypedef struct bmk_attn_args:
        int64_t n_heads, n_kv_heads, head_dim, n, stride
        float scale
        const float *q
        const uint8_t *K
        const uint8_t *V
        float *scores
        float *out
    void bmk_attn(int flavour, int kv_type, const bmk_attn_args *a, int threads)

cdef extern from "attn_common.h" nogil:
    void bmk_kv_store_row(uint8_t *row, const float *x, int64_t head_dim, int kv_type)


cdef int _check_attn(int flavour, int kv_type, int64_t head_dim) except -1:
    if flavour < 0 or flavour >= BMK_N_FLAVOURS or bmk_attn_kernels.softmax[flavour] == NULL:
        raise ValueError(f"flavour {flavour} not compiled in")
    if kv_type < 0 or kv_type >= BMK_N_KV_TYPES:
        raise ValueError(f"unknown KV cache type {kv_type}")
    if bmk_kv_row_bytes(kv_type, head_dim) == 0:
        raise ValueError(f"head_dim {head_dim} not valid for KV cache type {kv_type}")
    return 0


def kv_row_bytes(int kv_type, int64_t head_dim):
    """Bytes of one cached position of one KV head (0 if head_dim does not suit the type)."""
    return bmk_kv_row_bytes(kv_type, head_dim)


def kv_pack(int kv_type, const float[:, ::1] x, uint8_t[::1] out):
    """Rows x [n, head_dim] into the cache layout of kv_type (n rows of kv_row_bytes)."""
    cdef int64_t n = x.shape[0], hd = x.shape[1], i
    cdef size_t rb
    _check_attn(0, kv_type, hd)
    rb = bmk_kv_row_bytes(kv_type, hd)
    if <size_t>out.shape[0] < n * rb:
        raise ValueError("kv_pack: output too small")
    with nogil:
        for i in range(n):
            bmk_kv_store_row(&out[0] + i * rb, &x[i, 0], hd, kv_type)


def attn_scores(int flavour, int kv_type, const float[:, ::1] q, const uint8_t[::1] K, int64_t n,
                float scale, float[:, ::1] s):
    """s[j, t] = scale * q[j] . K[t] for the g = len(q) query heads sharing these rows."""
    cdef int64_t g = q.shape[0], hd = q.shape[1]
    _check_attn(flavour, kv_type, hd)
    if g < 1 or n < 1 or s.shape[0] != g or s.shape[1] < n \
            or <size_t>K.shape[0] < n * bmk_kv_row_bytes(kv_type, hd):
        raise ValueError("attn_scores: inconsistent shapes")
    with nogil:
        bmk_attn_kernels.scores[kv_type][flavour](&q[0, 0], g, &K[0], n, hd, scale, &s[0, 0], s.shape[1])


def softmax(int flavour, float[::1] s):
    _check_attn(flavour, 0, 2)
    if s.shape[0] < 1:
        raise ValueError("softmax of nothing")
    with nogil:
        bmk_attn_kernels.softmax[flavour](&s[0], s.shape[0])


def attn_values(int flavour, int kv_type, const float[:, ::1] p, const uint8_t[::1] V, int64_t n,
                float[:, ::1] out):
    """out[j] = sum_t p[j, t] V[t] for the g = len(p) query heads sharing these rows."""
    cdef int64_t g = p.shape[0], hd = out.shape[1]
    _check_attn(flavour, kv_type, hd)
    if g < 1 or n < 1 or out.shape[0] != g or p.shape[1] < n \
            or <size_t>V.shape[0] < n * bmk_kv_row_bytes(kv_type, hd):
        raise ValueError("attn_values: inconsistent shapes")
    with nogil:
        bmk_attn_kernels.values[kv_type][flavour](&p[0, 0], p.shape[1], g, &V[0], n, hd, &out[0, 0])


def swiglu(int flavour, const float[::1] gate, const float[::1] up, float[::1] out):
    cdef int64_t n = gate.shape[0]
    _check_attn(flavour, 0, 2)
    if n < 1 or up.shape[0] != n or out.shape[0] != n:
        raise ValueError("swiglu: inconsistent shapes")
    with nogil:
        bmk_attn_kernels.swiglu[flavour](&gate[0], &up[0], &out[0], n)


def attention(int flavour, int kv_type, const float[:, ::1] q, const uint8_t[::1] K, const uint8_t[::1] V,
              int64_t n_kv_heads, int64_t n, int64_t stride, float scale, float[:, ::1] scores,
              float[:, ::1] out, int threads=1):
    """The threaded driver: q [n_heads, hd]; K, V [n_kv_heads, stride] rows; scores [n_heads, stride]."""
    cdef bmk_attn_args a
    cdef int64_t hd = q.shape[1]
    _check_attn(flavour, kv_type, hd)
    if n_kv_heads < 1 or q.shape[0] % n_kv_heads or n < 1 or stride < n \
            or <size_t>K.shape[0] < n_kv_heads * stride * bmk_kv_row_bytes(kv_type, hd) \
            or <size_t>V.shape[0] < n_kv_heads * stride * bmk_kv_row_bytes(kv_type, hd) \
            or scores.shape[0] != q.shape[0] or scores.shape[1] != stride \
            or out.shape[0] != q.shape[0] or out.shape[1] != hd:
        raise ValueError("attention: inconsistent shapes")
    a.n_heads, a.n_kv_heads, a.head_dim, a.n, a.stride = q.shape[0], n_kv_heads, hd, n, stride
    a.scale = scale
    a.q, a.K, a.V, a.scores, a.out = &q[0, 0], &K[0], &V[0], &scores[0, 0], &out[0, 0]
    with nogil:
        bmk_attn(flavour, kv_type, &a, threads)


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
