"""The formats table's Python side: quantise/pack with NumPy, dequantise, synthetic weights, GEMV.

The C table (kernels/formats.c) says how a format is laid out and which kernels compute with it;
this module adds, per format name, the NumPy functions that produce those bytes.  `FORMATS` joins
both, so a format exists once on each side and nowhere else.

Every packing function here is the specification of its layout; the C kernels read exactly this.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _kernels
from .dispatch import chosen_flavour, flavour_id
from .errors import BmbenchError


@dataclass(frozen=True)
class Packed:
    """A weight tensor in a format's packed bytes, ready for the C kernels."""
    format: str
    rows: int
    cols: int
    data: np.ndarray  # uint8, C-contiguous
    scale: float = 1.0  # per-tensor weight scale (ternary s_w = mean|W|); 1 for block-scaled formats

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)


@dataclass(frozen=True)
class Format:
    name: str
    id: int            # index in the C table
    bpw: float         # nominal bits per weight, scales included
    block: int         # weights per block along a row
    row_tile: int      # rows stored interleaved together
    exact: bool        # integer dot products: every flavour bitwise equal to the scalar one
    flavours: tuple[str, ...]  # flavours compiled for this format
    quantise: Callable[[np.ndarray], Packed]          # float weights -> packed
    dequantise: Callable[[Packed], np.ndarray]        # packed -> float64 weights (rows x cols)
    synthetic: Callable[[np.random.Generator, int, int], Packed]  # seeded, directly packed
    act_reference: Callable[[np.ndarray], np.ndarray]  # activations as the kernel sees them, float64
    rtol: float        # tolerance of a float flavour against the scalar reference (relative to |W||x|)

    def data_bytes(self, rows: int, cols: int) -> int:
        return _kernels.data_bytes(self.id, rows, cols)

    def act_bytes(self, cols: int) -> int:
        return _kernels.act_bytes(self.id, cols)


# ---------------------------------------------------------------------------------------------- f32
def _f32_quantise(w: np.ndarray) -> Packed:
    w = np.ascontiguousarray(w, dtype=np.float32)
    return Packed("f32", w.shape[0], w.shape[1], w.view(np.uint8).reshape(-1))


def _f32_dequantise(p: Packed) -> np.ndarray:
    return p.data.view(np.float32).reshape(p.rows, p.cols).astype(np.float64)


def _f32_synthetic(rng: np.random.Generator, rows: int, cols: int) -> Packed:
    return _f32_quantise(rng.standard_normal((rows, cols), dtype=np.float32) / np.sqrt(cols))


def _float_act(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).astype(np.float64)


# ------------------------------------------------------------------------------------ the table
# name -> (quantise, dequantise, synthetic, act_reference, rtol); the C table supplies the rest.
_NUMPY_SIDE: dict[str, tuple] = {
    "f32": (_f32_quantise, _f32_dequantise, _f32_synthetic, _float_act, 1e-5),
}


def _build_table() -> dict[str, Format]:
    table = {}
    for c in _kernels.formats():
        if c["name"] not in _NUMPY_SIDE:
            raise RuntimeError(f"format {c['name']} has C kernels but no NumPy packing")
        q, dq, syn, act_ref, rtol = _NUMPY_SIDE[c["name"]]
        table[c["name"]] = Format(name=c["name"], id=c["id"], bpw=c["bpw"], block=c["block"],
                                  row_tile=c["row_tile"], exact=c["exact"], flavours=c["flavours"],
                                  quantise=q, dequantise=dq, synthetic=syn, act_reference=act_ref,
                                  rtol=rtol)
    return table


FORMATS: dict[str, Format] = _build_table()


def get(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise BmbenchError(f"unknown weight format {name!r} (known: {', '.join(FORMATS)})") from None


def aligned_empty(nbytes: int, align: int = 64) -> np.ndarray:
    """Uninitialised bytes whose start is aligned for SIMD loads (and a cache line)."""
    raw = np.empty(nbytes + align, dtype=np.uint8)
    off = (-raw.ctypes.data) % align
    return raw[off:off + nbytes]


def prepare(fmt: Format, x: np.ndarray) -> np.ndarray:
    """Activations prepared for `fmt` (quantised or turned into lookup tables), as raw bytes."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    act = aligned_empty(fmt.act_bytes(x.shape[0]))
    _kernels.prep(fmt.id, x, act)
    return act


def gemv(w: Packed, x: np.ndarray, flavour: str | None = None, threads: int = 1,
         act: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """y = W x with the C kernel of `flavour` (default: the dispatch's choice)."""
    fmt = get(w.format)
    if x.shape != (w.cols,):
        raise BmbenchError(f"activation length {x.shape} does not match {w.cols} columns")
    if act is None:
        act = prepare(fmt, x)
    y = np.empty(w.rows, dtype=np.float32) if out is None else out
    _kernels.gemv(fmt.id, flavour_id(flavour or chosen_flavour()), w.data, w.rows, w.cols,
                  w.scale, act, y, threads)
    return y
