# The Mamba-2 recurrence's primitives (the ssm family), one call per kernel.
# Part of _kernels.pyx (included there, one extension module: one dispatch state, one thread team).
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
