"""The Mamba-2 recurrence kernels (kernels/ssm_simd.h, generic/ssm.c) with NumPy arrays and flavour
names: conv1d step + SiLU, SSM state update (fp32 or fp16 state), RMSNorm and gated RMSNorm.

Layouts are those of the C kernels (kernels/bmk.h); `conv_weight_taps` turns PyTorch's
conv1d.weight [channels, 1, width] into them.  The decode engine calls the same kernels from C.
"""
from __future__ import annotations

import numpy as np

from . import _kernels
from .dispatch import chosen_flavour, flavour_id
from .errors import BmbenchError

STATE_TYPES = {"f32": 0, "f16": 1}
STATE_DTYPES = {"f32": np.float32, "f16": np.float16}


def _fid(flavour: str | None) -> int:
    return flavour_id(flavour or chosen_flavour())


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def state_type(name: str) -> int:
    try:
        return STATE_TYPES[name]
    except KeyError:
        raise BmbenchError(f"unknown SSM state type {name!r} (known: {', '.join(STATE_TYPES)})") from None


def conv_weight_taps(w: np.ndarray) -> np.ndarray:
    """[channels, width] (or PyTorch's [channels, 1, width]) -> the kernel's [width, channels]."""
    w = np.asarray(w, dtype=np.float32)
    return np.ascontiguousarray(w.reshape(w.shape[0], -1).T)


def conv_state(channels: int, width: int = 4) -> np.ndarray:
    """A zeroed conv state: the last width-1 inputs, [width-1, channels], oldest first."""
    return np.zeros((width - 1, channels), dtype=np.float32)


def conv_silu(state: np.ndarray, w_taps: np.ndarray, b: np.ndarray, x: np.ndarray,
              flavour: str | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """One causal conv1d step + bias + SiLU; `state` ([width-1, channels] float32) is updated."""
    width, channels = w_taps.shape
    if state.dtype != np.float32 or not state.flags.c_contiguous or state.shape != (width - 1, channels):
        raise BmbenchError("conv state must be a C-contiguous float32 [width-1, channels] array")
    out = np.empty(channels, dtype=np.float32) if out is None else out
    _kernels.conv_silu(_fid(flavour), state.reshape(-1), _f32(w_taps).reshape(-1), _f32(b), _f32(x),
                       out, width)
    return out


def ssm_state(n_heads: int, head_dim: int, d_state: int, dtype: str = "f32") -> np.ndarray:
    """A zeroed SSM state [n_heads, head_dim, d_state] in float32 or float16."""
    return np.zeros((n_heads, head_dim, d_state), dtype=STATE_DTYPES[dtype])


def ssm_step(state: np.ndarray, x, B, C, dt_raw, dt_bias, A_log, D, n_groups: int,
             flavour: str | None = None, threads: int = 1) -> np.ndarray:
    """One SSM state update; `state` ([heads, head_dim, d_state] float32 or float16) is updated.
    D has one value per head or one per channel.  Returns y [heads * head_dim]."""
    if not state.flags.c_contiguous or state.ndim != 3:
        raise BmbenchError("SSM state must be a C-contiguous [heads, head_dim, d_state] array")
    st = {np.dtype(np.float32): 0, np.dtype(np.float16): 1}.get(state.dtype)
    if st is None:
        raise BmbenchError(f"SSM state must be float32 or float16, not {state.dtype}")
    heads, head_dim, d_state = state.shape
    y = np.empty(heads * head_dim, dtype=np.float32)
    _kernels.ssm_step(_fid(flavour), st, state.reshape(-1).view(np.uint8), _f32(x), _f32(B), _f32(C),
                      _f32(dt_raw), _f32(dt_bias), _f32(A_log), _f32(D), y, heads, head_dim, d_state,
                      n_groups, threads)
    return y


def rmsnorm(x, w, eps: float = 1e-6, flavour: str | None = None) -> np.ndarray:
    x = _f32(x)
    out = np.empty_like(x)
    _kernels.rmsnorm(_fid(flavour), x, _f32(w), out, eps)
    return out


def gated_rmsnorm(y, z, w, eps: float = 1e-6, flavour: str | None = None) -> np.ndarray:
    y = _f32(y)
    out = np.empty_like(y)
    _kernels.gated_rmsnorm(_fid(flavour), y, _f32(z), _f32(w), out, eps)
    return out
