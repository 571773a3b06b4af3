# Thin Cython wrapper over the C kernels (kernels/bmk.h): typed memoryviews in, no logic of its own.
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport free, malloc


cdef extern from "bmk.h" nogil:
    int BMK_N_FLAVOURS
    const char *const bmk_flavour_names[]
    int bmk_flavour_runnable(int flavour)
    int bmk_flavour_compiled(int flavour)
    int bmk_flavour_emulated(int flavour)
    int bmk_best_flavour()
    const char *bmk_cpu_features()
    int bmk_default_threads()
    double bmk_probe_run(int kind, int flavour, double *a, double *b, double *c, size_t n,
                         long reps, int threads)

    ctypedef struct bmk_tensor:
        const uint8_t *data
        int64_t rows, cols
        float scale
    ctypedef void (*bmk_prep_fn)(const float *x, int64_t cols, void *act)
    ctypedef void (*bmk_gemv_fn)(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
    ctypedef struct bmk_format:
        const char *name
        double bpw
        int block
        int row_tile
        int exact
        size_t (*data_bytes)(int64_t rows, int64_t cols)
        size_t (*act_bytes)(int64_t cols)
        bmk_prep_fn prep
        bmk_gemv_fn gemv[4]
    const bmk_format bmk_formats[]
    const int bmk_n_formats
    void bmk_gemv(int format, int flavour, const bmk_tensor *w, const void *act, float *y, int threads)
    void bmk_gemv_loop(int format, int flavour, const bmk_tensor *tensors, int n_tensors,
                       const float *x, void *act, float *y, long calls, int threads)


N_FLAVOURS = BMK_N_FLAVOURS
FLAVOURS = tuple(bmk_flavour_names[i].decode() for i in range(BMK_N_FLAVOURS))


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


def prep(int fmt, const float[::1] x, uint8_t[::1] act):
    """Prepare activations (quantise / build lookup tables) into `act`."""
    cdef int64_t cols = x.shape[0]
    if <size_t>act.shape[0] < bmk_formats[fmt].act_bytes(cols):
        raise ValueError("activation buffer too small")
    with nogil:
        bmk_formats[fmt].prep(&x[0], cols, &act[0])


def gemv(int fmt, int flavour, const uint8_t[::1] data, int64_t rows, int64_t cols, float scale,
         const uint8_t[::1] act, float[::1] y, int threads=1):
    """y = W x for a packed tensor, with activations prepared by prep()."""
    cdef bmk_tensor t
    if bmk_formats[fmt].gemv[flavour] == NULL:
        raise ValueError(f"flavour {FLAVOURS[flavour]} not compiled for this format")
    if <size_t>data.shape[0] < bmk_formats[fmt].data_bytes(rows, cols):
        raise ValueError("weight buffer too small for its shape")
    if y.shape[0] < rows:
        raise ValueError("output buffer too small")
    if <size_t>act.shape[0] < bmk_formats[fmt].act_bytes(cols):
        raise ValueError("activation buffer too small")
    t.data = &data[0]
    t.rows = rows
    t.cols = cols
    t.scale = scale
    with nogil:
        bmk_gemv(fmt, flavour, &t, &act[0], &y[0], threads)


def gemv_loop(int fmt, int flavour, list datas, int64_t rows, int64_t cols, float scale,
              const float[::1] x, uint8_t[::1] act, float[::1] y, long calls, int threads=1):
    """`calls` x (prep + GEMV), rotating over the weight buffers in `datas` (all rows x cols)."""
    cdef int n = len(datas), i
    cdef const uint8_t[::1] d
    cdef bmk_tensor *ts
    if n == 0 or x.shape[0] != cols:
        raise ValueError("need at least one tensor and cols activations")
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
            bmk_gemv_loop(fmt, flavour, ts, n, &x[0], &act[0], &y[0], calls, threads)
    finally:
        free(ts)
