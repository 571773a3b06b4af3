"""The transformer attention kernels (kernels/attn_simd.h, generic/attn.c) with NumPy arrays and
flavour names: q.K scores over a cached fp16 or q8_0 K, softmax, the probability-weighted sum of V,
SwiGLU, and the threaded driver over KV heads.  The transformer decode engine calls the same kernels
from C.

A cache here is raw bytes: rows of `kv_row_bytes(kv, head_dim)` bytes, one per position (fp16: head_dim
IEEE halves; q8_0: head_dim / 32 blocks of fp16 d + 32 int8, as llama.cpp's q8_0).
"""
from __future__ import annotations

import numpy as np

from . import _kernels
from .dispatch import chosen_flavour, flavour_id
from .errors import BmbenchError

KV_TYPES = {"f16": 0, "q8_0": 1}


def kv_type_id(name: str) -> int:
    try:
        return KV_TYPES[name]
    except KeyError:
        raise BmbenchError(f"unknown KV cache type {name!r} (known: {', '.join(KV_TYPES)})") from None


def _fid(flavour: str | None) -> int:
    return flavour_id(flavour or chosen_flavour())


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _2d(a) -> np.ndarray:
    a = _f32(a)
    return a.reshape(1, -1) if a.ndim == 1 else a


def kv_row_bytes(kv: str, head_dim: int) -> int:
    """Bytes of one cached position of one KV head; raises if head_dim does not suit the type."""
    n = _kernels.kv_row_bytes(kv_type_id(kv), head_dim)
    if n == 0:
        raise BmbenchError(f"head_dim {head_dim} does not suit a {kv} KV cache (q8_0: a multiple of 32)")
    return n


def kv_pack(x: np.ndarray, kv: str = "f16") -> np.ndarray:
    """Rows x [n, head_dim] (float32) as cache bytes, exactly as the engine stores them."""
    x = _2d(x)
    out = np.empty(x.shape[0] * kv_row_bytes(kv, x.shape[1]), dtype=np.uint8)
    _kernels.kv_pack(kv_type_id(kv), x, out)
    return out


def _check(kv: str, cache: np.ndarray, n: int, head_dim: int) -> np.ndarray:
    cache = np.ascontiguousarray(cache, dtype=np.uint8).reshape(-1)
    if n < 1 or cache.size < n * kv_row_bytes(kv, head_dim):
        raise BmbenchError(f"need {n} >= 1 cached rows of head_dim {head_dim}")
    return cache


def scores(q: np.ndarray, K: np.ndarray, n: int, kv: str = "f16", scale: float | None = None,
           flavour: str | None = None) -> np.ndarray:
    """s [g, n] = scale * q [g, head_dim] . K rows 0..n-1 (scale default 1 / sqrt(head_dim))."""
    q = _2d(q)
    hd = q.shape[1]
    K = _check(kv, K, n, hd)
    s = np.empty((q.shape[0], n), dtype=np.float32)
    _kernels.attn_scores(_fid(flavour), kv_type_id(kv), q, K, n,
                         1 / np.sqrt(hd) if scale is None else scale, s)
    return s


def softmax(s: np.ndarray, flavour: str | None = None) -> np.ndarray:
    """A softmax of the 1-D scores s (returns a new array)."""
    out = _f32(s).reshape(-1).copy()
    if out.size < 1:
        raise BmbenchError("softmax of nothing")
    _kernels.softmax(_fid(flavour), out)
    return out


def values(p: np.ndarray, V: np.ndarray, n: int, head_dim: int, kv: str = "f16",
           flavour: str | None = None) -> np.ndarray:
    """out [g, head_dim] = p [g, >= n] . V rows 0..n-1."""
    p = _2d(p)
    V = _check(kv, V, n, head_dim)
    out = np.empty((p.shape[0], head_dim), dtype=np.float32)
    _kernels.attn_values(_fid(flavour), kv_type_id(kv), p, V, n, out)
    return out


def swiglu(gate: np.ndarray, up: np.ndarray, flavour: str | None = None) -> np.ndarray:
    """silu(gate) * up."""
    gate, up = _f32(gate), _f32(up)
    out = np.empty_like(gate)
    _kernels.swiglu(_fid(flavour), gate, up, out)
    return out


def attention(q: np.ndarray, K: np.ndarray, V: np.ndarray, n_kv_heads: int, n: int, stride: int | None = None,
              kv: str = "f16", flavour: str | None = None, threads: int = 1) -> np.ndarray:
    """One token's attention (the engine's driver): q [n_heads, head_dim]; K and V hold n_kv_heads x
    stride rows (query head h reads KV head h // (n_heads / n_kv_heads)), the first n attended."""
    q = _2d(q)
    stride = n if stride is None else stride
    K, V = (np.ascontiguousarray(a, dtype=np.uint8).reshape(-1) for a in (K, V))
    scratch = np.empty((q.shape[0], stride), dtype=np.float32)
    out = np.empty_like(q)
    _kernels.attention(_fid(flavour), kv_type_id(kv), q, K, V, n_kv_heads, n, stride,
                       1 / np.sqrt(q.shape[1]), scratch, out, threads)
    return out
