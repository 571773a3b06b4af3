# Thin Cython wrapper over the C kernels (kernels/bmk.h): typed memoryviews in, no logic of its own.
# This file holds the flavours, the probe and the GEMV/GEMM primitives; the sections included at the
# end hold the ssm and attn primitives and the two engines (the transformer's reuses the decoder's
# checks).  One extension module, so the C side keeps one dispatch state and one thread team.
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


include "_kernels_ssm.pxi"
include "_kernels_attn.pxi"
include "_kernels_decoder.pxi"
include "_kernels_transformer.pxi"
