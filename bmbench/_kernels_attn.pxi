# The transformer attention primitives (the attn family) and their KV row packing.
# Part of _kernels.pyx (included there, one extension module: one dispatch state, one thread team).
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
