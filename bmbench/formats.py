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

from . import _kernels, arena
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
    # activations as the kernel sees them, float64, under a family's BitLinear quantiser (ACT_QUANTS;
    # only the per-tensor int8 formats depend on it)
    act_reference: Callable[[np.ndarray, str], np.ndarray]
    rtol: float        # tolerance of a float flavour against the scalar reference (relative to |W||x|)
    # ternary formats: (codes int8 rows x cols in {-1, 0, 1}, s_w) -> packed, keeping the given
    # scale (the BIT2 loader repacks published codes with it); None for the other formats
    from_ternary: Callable[[np.ndarray, float], Packed] | None = None

    def data_bytes(self, rows: int, cols: int) -> int:
        return _kernels.data_bytes(self.id, rows, cols)

    def act_bytes(self, cols: int) -> int:
        return _kernels.act_bytes(self.id, cols)


def _round_up(n: int, m: int) -> int:
    return (n + m - 1) // m * m


def _chunked(name: str, rows: int, cols: int, make_part: Callable[[int, int], np.ndarray],
             chunk: int = 256) -> np.ndarray:
    """Packed bytes of `rows` rows built `chunk` rows at a time (bounded memory for big matrices).

    make_part(r0, n) packs rows [r0, r0 + n); row-major layouts and tiled ones whose tile divides
    `chunk` concatenate part after part.  The total is checked against the C table's data_bytes."""
    data = arena.empty(get(name).data_bytes(rows, cols))  # a loader's huge-page pool, if one collects
    off = 0
    for r0 in range(0, rows, chunk):
        with arena.scratch():
            part = make_part(r0, min(chunk, rows - r0))
        data[off:off + part.size] = part
        off += part.size
    if off != data.size:
        raise RuntimeError(f"{name}: packed {off} bytes, the C table expects {data.size}")
    return data


# ---------------------------------------------------------------------------------------------- f32
def _f32_quantise(w: np.ndarray) -> Packed:
    w = np.ascontiguousarray(w, dtype=np.float32)
    return Packed("f32", w.shape[0], w.shape[1], w.view(np.uint8).reshape(-1))


def _f32_dequantise(p: Packed) -> np.ndarray:
    return p.data.view(np.float32).reshape(p.rows, p.cols).astype(np.float64)


def _f32_synthetic(rng: np.random.Generator, rows: int, cols: int) -> Packed:
    return _f32_quantise(rng.standard_normal((rows, cols), dtype=np.float32) / np.sqrt(cols))


def _float_act(x: np.ndarray, quant: str = "absmax") -> np.ndarray:
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def _gaussian(rng: np.random.Generator, n: int, cols: int) -> np.ndarray:
    """Untrained-looking float32 weights, std 1/sqrt(cols) (outputs O(|x|))."""
    return rng.standard_normal((n, cols), dtype=np.float32) * np.float32(1 / np.sqrt(cols))


# ---------------------------------------------------------------------------------------------- f16
# Row-major IEEE half (little-endian), no padding; activations are float32.
def _f16_quantise(w: np.ndarray) -> Packed:
    w = np.asarray(w)
    return Packed("f16", w.shape[0], w.shape[1], _chunked(
        "f16", *w.shape, lambda r0, n: np.ascontiguousarray(w[r0:r0 + n], dtype="<f2").view(np.uint8).reshape(-1)))


def _f16_dequantise(p: Packed) -> np.ndarray:
    return p.data.view("<f2").reshape(p.rows, p.cols).astype(np.float64)


def _f16_synthetic(rng: np.random.Generator, rows: int, cols: int) -> Packed:
    data = _chunked("f16", rows, cols,
                    lambda r0, n: _gaussian(rng, n, cols).astype("<f2").view(np.uint8).reshape(-1))
    return Packed("f16", rows, cols, data)


# ------------------------------------------------------------------------------------------ ternary
# BitNet b1.58: s_w = mean|W| per tensor (clamped to >= 1e-5 as BitNet does), codes
# w = clip(round(W / s_w), -1, 1), stored as c = w + 1 in {0, 1, 2}, 2 bits each; padding codes 1.
# Activations: int8 per tensor by the model family's quantiser (ACT_QUANTS, kernels/bmk.h).
TMAD_BLOCK = 128    # ternary-mad: weights per 32-byte block
TLUT_ROWS = 32      # ternary-lut: rows per tile
TLUT_COLS = 4       # ternary-lut: columns per byte of a row


def _row_chunks(rows: int, chunk: int = 256):
    return (slice(r0, min(r0 + chunk, rows)) for r0 in range(0, rows, chunk))


def ternary_scale(w: np.ndarray) -> float:
    """BitNet b1.58 absmean scale s_w = max(mean|W|, 1e-5), as a float32 value (float64 sum,
    row chunk by row chunk: no full-size temporary)."""
    w = np.asarray(w)
    total = sum(float(np.abs(w[sl], dtype=np.float64).sum()) for sl in _row_chunks(w.shape[0]))
    return float(np.float32(max(total / w.size if w.size else 0.0, 1e-5)))


def _ternary_round(w: np.ndarray, s_w: float) -> np.ndarray:
    """codes = clip(round_half_even(W / s_w), -1, 1) as int8."""
    return np.clip(np.rint(np.asarray(w, dtype=np.float64) / s_w), -1, 1).astype(np.int8)


def ternary_codes(w: np.ndarray) -> tuple[np.ndarray, float]:
    """BitNet b1.58 absmean quantisation: (codes int8 in {-1, 0, 1}, s_w as a float32 value)."""
    s_w = ternary_scale(w)
    return _ternary_round(w, s_w), s_w


def _check_codes(codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.size and (codes.min() < -1 or codes.max() > 1):
        raise BmbenchError("ternary codes must lie in {-1, 0, 1}")
    return codes.astype(np.int8, copy=False)


def matrix_shape(m) -> tuple[int, int]:
    """(rows, cols) of a matrix: an array, or any object with a 2-D `shape` whose row slices
    m[r0:r1] are arrays (a checkpoint tensor read chunk by chunk)."""
    shape = tuple(getattr(m, "shape", np.shape(m)))
    if len(shape) != 2:
        raise BmbenchError(f"expected a matrix, got shape {shape}")
    return shape


def _padded_codes(codes: np.ndarray, rows_to: int, cols_to: int) -> np.ndarray:
    """codes + 1 as uint8, padded with 1 (w = 0) to rows_to x cols_to."""
    c = np.ones((rows_to, cols_to), dtype=np.uint8)
    c[:codes.shape[0], :codes.shape[1]] = codes + 1
    return c


def _tmad_pack(codes: np.ndarray) -> np.ndarray:
    """ternary-mad layout: row-major, cols padded to 128; per 128-weight block 32 bytes, byte j =
    c[j] | c[j + 32] << 2 | c[j + 64] << 4 | c[j + 96] << 6 (c = w + 1 of the block)."""
    rows, cols = codes.shape
    kp = _round_up(cols, TMAD_BLOCK)
    c = _padded_codes(codes, rows, kp).reshape(rows, kp // TMAD_BLOCK, 4, 32)
    return (c[:, :, 0] | c[:, :, 1] << 2 | c[:, :, 2] << 4 | c[:, :, 3] << 6).reshape(-1)


def _tmad_unpack(data: np.ndarray, rows: int, cols: int) -> np.ndarray:
    kp = _round_up(cols, TMAD_BLOCK)
    b = data[:rows * kp // 4].reshape(rows, kp // TMAD_BLOCK, 1, 32)
    c = (b >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)) & 3
    return c.reshape(rows, kp)[:, :cols].astype(np.int8) - 1


def _tlut_pack(codes: np.ndarray) -> np.ndarray:
    """ternary-lut layout: rows padded to tiles of 32, cols to 4.  Per tile, per 4 columns
    (4k .. 4k+3), 32 bytes: byte i = idx(row i, cols 4k, 4k+1) | idx(row i, cols 4k+2, 4k+3) << 4,
    idx(c0, c1) = c0 | c1 << 2 indexes the 16-entry table of that column pair."""
    rows, cols = codes.shape
    rp, kp = _round_up(rows, TLUT_ROWS), _round_up(cols, TLUT_COLS)
    c = _padded_codes(codes, rp, kp)
    idx = c[:, 0::2] | c[:, 1::2] << 2            # (rp, kp / 2): one index per column pair
    b = idx[:, 0::2] | idx[:, 1::2] << 4          # (rp, kp / 4): two indices per byte
    return np.ascontiguousarray(b.reshape(rp // TLUT_ROWS, TLUT_ROWS, kp // 4).transpose(0, 2, 1)).reshape(-1)


def _tlut_unpack(data: np.ndarray, rows: int, cols: int) -> np.ndarray:
    rp, kp = _round_up(rows, TLUT_ROWS), _round_up(cols, TLUT_COLS)
    b = data[:rp * kp // 4].reshape(rp // TLUT_ROWS, kp // 4, TLUT_ROWS).transpose(0, 2, 1).reshape(rp, kp // 4)
    idx = np.empty((rp, kp // 2), dtype=np.uint8)
    idx[:, 0::2], idx[:, 1::2] = b & 15, b >> 4
    c = np.empty((rp, kp), dtype=np.uint8)
    c[:, 0::2], c[:, 1::2] = idx & 3, idx >> 2
    return c[:rows, :cols].astype(np.int8) - 1


def _ternary_side(name: str, pack, unpack) -> tuple:
    def from_ternary(codes, s_w: float) -> Packed:
        # codes: an int8 matrix, or row-sliceable (matrix_shape): packed 256 rows at a time, so a
        # checkpoint's codes are never all unpacked at once
        rows, cols = matrix_shape(codes)
        data = _chunked(name, rows, cols, lambda r0, n: pack(_check_codes(codes[r0:r0 + n])))
        return Packed(name, rows, cols, data, float(np.float32(s_w)))

    def quantise(w: np.ndarray) -> Packed:
        w = np.asarray(w)
        rows, cols = w.shape
        s_w = ternary_scale(w)
        data = _chunked(name, rows, cols, lambda r0, n: pack(_ternary_round(w[r0:r0 + n], s_w)))
        return Packed(name, rows, cols, data, s_w)

    def dequantise(p: Packed) -> np.ndarray:
        return unpack(p.data, p.rows, p.cols) * float(np.float32(p.scale))

    def synthetic(rng: np.random.Generator, rows: int, cols: int) -> Packed:
        # uniform codes in {-1, 0, 1} (1/3 zeros, as trained BitNet weights roughly have) and the
        # absmean scale of Gaussian weights of std 1/sqrt(cols) (~0.8 / sqrt(cols))
        data = _chunked(name, rows, cols,
                        lambda r0, n: pack(rng.integers(-1, 2, size=(n, cols), dtype=np.int8)))
        return Packed(name, rows, cols, data, float(np.float32(np.sqrt(2 / np.pi) / np.sqrt(cols))))

    return (quantise, dequantise, synthetic, _i8_act_reference, 0.0, from_ternary)


# BitLinear's per-tensor int8 activation quantisers, by name (the C enum bmk_act_quant's order); a
# model family picks one (models/config.py, ACT_QUANT_OF_FAMILY).
ACT_QUANTS: tuple[str, ...] = _kernels.ACT_QUANTS


def act_quant_id(name: str) -> int:
    try:
        return ACT_QUANTS.index(name)
    except ValueError:
        raise BmbenchError(f"unknown activation quantiser {name!r} (known: {', '.join(ACT_QUANTS)})") from None


def i8_tensor_activations(x: np.ndarray, quant: str = "absmax") -> tuple[np.ndarray, float]:
    """The kernels' per-tensor int8 activations (kernels/quant.c) in NumPy float32 arithmetic:
    (q int8, inv_scale = 1 / s_x as a float32 value; 0 for an all-zero vector under absmax).
      absmax:   s_x = 127 / max|x|, q = round-half-even(x s_x) clipped to +-127
      bitmamba: s_x = 127 / (max|x| + 1e-5), q = trunc(x s_x +- 0.5) (float32 add) in [-128, 127]"""
    act_quant_id(quant)
    x = np.asarray(x, dtype=np.float32)
    amax = np.max(np.abs(x)) if x.size else np.float32(0)
    with np.errstate(over="ignore", invalid="ignore"):
        if quant == "bitmamba":
            s = np.float32(127) / (amax + np.float32(1e-5))
            v = x * s
            r = v + np.where(v >= 0, np.float32(0.5), np.float32(-0.5))
            q = np.clip(np.trunc(np.nan_to_num(r, nan=0.0)), -128, 127).astype(np.int8)
            return q, float(np.float32(1) / s)
        if not amax > 0:
            return np.zeros(x.shape, dtype=np.int8), 0.0
        s = np.float32(127) / amax
        q = _clip_q(np.rint(x * s))
        return q, float(np.float32(1) / s)


def _clip_q(q: np.ndarray) -> np.ndarray:
    """Rounded activations to int8 as kernels/quant.c does: clip to +-127, NaN (0 x inf, when a
    scale overflowed on denormal inputs) to 0."""
    return np.clip(np.nan_to_num(q, nan=0.0), -127, 127).astype(np.int8)


def _i8_act_reference(x: np.ndarray, quant: str = "absmax") -> np.ndarray:
    q, inv = i8_tensor_activations(x, quant)
    return q.astype(np.float64) * inv


# ------------------------------------------------------------------------------------ q8_0 / q4_0
# llama.cpp's block layouts, rows one after another, cols padded to 32 with zeros:
#   q8_0 block, 34 bytes: fp16 d = max|w| / 127, int8 q[32];  w = d q
#   q4_0 block, 18 bytes: fp16 d = m / -8 (m: the element of largest |w|, first if tied), 16 bytes,
#     byte j = nibble(j) | nibble(j + 16) << 4, nibble = min(15, trunc(w / d + 8.5));  w = d (nibble - 8)
# The codes are rounded against the stored (fp16) d, so every weight within the representable
# range is within half a step of its value (llama.cpp rounds against the fp32 d).
# Activations: Q8 blocks of 32, fp32 d_x = max|x| / 127 per block, q = round-half-even(x / d_x).
QBLOCK = 32


def _blocks(w: np.ndarray) -> np.ndarray:
    """float32 weights, zero-padded, as (rows, n_blocks, 32)."""
    w = np.asarray(w, dtype=np.float32)
    rows, cols = w.shape
    kp = _round_up(cols, QBLOCK)
    if kp != cols:
        w = np.concatenate([w, np.zeros((rows, kp - cols), dtype=np.float32)], axis=1)
    return w.reshape(rows, kp // QBLOCK, QBLOCK)


def _inverse(d: np.ndarray) -> np.ndarray:
    """1 / d in float32, 0 where d is 0."""
    out = np.zeros_like(d)
    with np.errstate(over="ignore"):
        np.divide(np.float32(1), d, out=out, where=d != 0)
    return out


def _q8_0_pack(w: np.ndarray) -> np.ndarray:
    b = _blocks(w)
    d16 = (np.max(np.abs(b), axis=-1) / np.float32(127)).astype("<f2")
    q = np.clip(np.rint(b * _inverse(d16.astype(np.float32))[..., None]), -127, 127).astype(np.int8)
    out = np.empty(b.shape[:2] + (34,), dtype=np.uint8)
    out[..., :2] = d16.view(np.uint8).reshape(b.shape[:2] + (2,))
    out[..., 2:] = q.view(np.uint8)
    return out.reshape(-1)


def _q8_0_unpack(p: Packed) -> tuple[np.ndarray, np.ndarray]:
    """(d float64 (rows, nb), q int8 (rows, nb, 32))"""
    blk = p.data.reshape(p.rows, -1, 34)
    return (np.ascontiguousarray(blk[..., :2]).view("<f2")[..., 0].astype(np.float64),
            blk[..., 2:].view(np.int8))


def _q4_0_pack(w: np.ndarray) -> np.ndarray:
    b = _blocks(w)
    i = np.argmax(np.abs(b), axis=-1)
    m = np.take_along_axis(b, i[..., None], axis=-1)[..., 0]
    d16 = (m / np.float32(-8)).astype("<f2")
    x = b * _inverse(d16.astype(np.float32))[..., None] + np.float32(8.5)
    q = np.clip(np.floor(x), 0, 15).astype(np.uint8)
    out = np.empty(b.shape[:2] + (18,), dtype=np.uint8)
    out[..., :2] = d16.view(np.uint8).reshape(b.shape[:2] + (2,))
    out[..., 2:] = q[..., :16] | q[..., 16:] << 4
    return out.reshape(-1)


def _q4_0_unpack(p: Packed) -> tuple[np.ndarray, np.ndarray]:
    """(d float64 (rows, nb), q int8 (rows, nb, 32) in -8..7)"""
    blk = p.data.reshape(p.rows, -1, 18)
    qs = blk[..., 2:]
    q = np.concatenate([qs & 15, qs >> 4], axis=-1).astype(np.int8) - 8
    return np.ascontiguousarray(blk[..., :2]).view("<f2")[..., 0].astype(np.float64), q


def _qblock_side(name: str, pack, unpack) -> tuple:
    def quantise(w: np.ndarray) -> Packed:
        w = np.asarray(w)
        return Packed(name, w.shape[0], w.shape[1], _chunked(name, *w.shape, lambda r0, n: pack(w[r0:r0 + n])))

    def dequantise(p: Packed) -> np.ndarray:
        d, q = unpack(p)
        return (q * d[..., None]).reshape(p.rows, -1)[:, :p.cols]

    def synthetic(rng: np.random.Generator, rows: int, cols: int) -> Packed:
        return Packed(name, rows, cols, _chunked(name, rows, cols, lambda r0, n: pack(_gaussian(rng, n, cols))))

    return (quantise, dequantise, synthetic, _q8_act_reference, 1e-5)


def q8_block_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kernels' Q8 activation blocks (kernels/quant.c) in NumPy float32 arithmetic:
    (q int8 (n_blocks, 32), d float32 (n_blocks,))."""
    b = _blocks(np.asarray(x, dtype=np.float32)[None, :])[0]
    d = np.max(np.abs(b), axis=-1) / np.float32(127)
    with np.errstate(over="ignore", invalid="ignore"):
        return _clip_q(np.rint(b * _inverse(d)[:, None])), d


def _q8_act_reference(x: np.ndarray, quant: str = "absmax") -> np.ndarray:
    q, d = q8_block_activations(x)
    return (q.astype(np.float64) * d.astype(np.float64)[:, None]).reshape(-1)[:np.shape(x)[0]]


# ------------------------------------------------------------------------------------ the table
# name -> (quantise, dequantise, synthetic, act_reference, rtol[, from_ternary]); the C table
# supplies the rest.
_NUMPY_SIDE: dict[str, tuple] = {
    "f32": (_f32_quantise, _f32_dequantise, _f32_synthetic, _float_act, 1e-5),
    "f16": (_f16_quantise, _f16_dequantise, _f16_synthetic, _float_act, 1e-5),
    "ternary-mad": _ternary_side("ternary-mad", _tmad_pack, _tmad_unpack),
    "ternary-lut": _ternary_side("ternary-lut", _tlut_pack, _tlut_unpack),
    "q8_0": _qblock_side("q8_0", _q8_0_pack, _q8_0_unpack),
    "q4_0": _qblock_side("q4_0", _q4_0_pack, _q4_0_unpack),
}


def _build_table() -> dict[str, Format]:
    table = {}
    for c in _kernels.formats():
        if c["name"] not in _NUMPY_SIDE:
            raise RuntimeError(f"format {c['name']} has C kernels but no NumPy packing")
        q, dq, syn, act_ref, rtol, *rest = _NUMPY_SIDE[c["name"]]
        table[c["name"]] = Format(name=c["name"], id=c["id"], bpw=c["bpw"], block=c["block"],
                                  row_tile=c["row_tile"], exact=c["exact"], flavours=c["flavours"],
                                  quantise=q, dequantise=dq, synthetic=syn, act_reference=act_ref,
                                  rtol=rtol, from_ternary=rest[0] if rest else None)
    return table


FORMATS: dict[str, Format] = _build_table()


def get(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise BmbenchError(f"unknown weight format {name!r} (known: {', '.join(FORMATS)})") from None


def quantise_rows(fmt: Format, rows: int, cols: int, get_rows: Callable[[int, int], np.ndarray]) -> Packed:
    """`fmt.quantise` of a rows x cols matrix given row chunk by row chunk (get_rows(r0, n): float32
    rows r0 .. r0+n), so the float matrix never exists whole.  For the formats whose rows quantise
    independently: all but the ternary ones (their scale is per tensor)."""
    if fmt.from_ternary is not None:
        raise BmbenchError(f"{fmt.name} quantises with a per-tensor scale, not row by row")
    data = _chunked(fmt.name, rows, cols, lambda r0, n: fmt.quantise(get_rows(r0, n)).data)
    return Packed(fmt.name, rows, cols, data)


def aligned_empty(nbytes: int, align: int = 64) -> np.ndarray:
    """Uninitialised bytes whose start is aligned for SIMD loads (and a cache line)."""
    raw = np.empty(nbytes + align, dtype=np.uint8)
    off = (-raw.ctypes.data) % align
    return raw[off:off + nbytes]


def prepare(fmt: Format, x: np.ndarray, quant: str = "absmax", flavour: str = "scalar") -> np.ndarray:
    """Activations prepared for `fmt` (quantised with `quant` or turned into lookup tables) by
    `flavour`'s prep (the same bytes from every flavour), as raw bytes."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    act = aligned_empty(fmt.act_bytes(x.shape[0]))
    act[:] = 0  # bytes no prep writes (past the header) compare equal
    _kernels.prep(fmt.id, x, act, act_quant_id(quant), flavour_id(flavour))
    return act


def gemv(w: Packed, x: np.ndarray, flavour: str | None = None, threads: int = 1,
         act: np.ndarray | None = None, out: np.ndarray | None = None, quant: str = "absmax") -> np.ndarray:
    """y = W x with the C kernel of `flavour` (default: the dispatch's choice)."""
    fmt = get(w.format)
    if x.shape != (w.cols,):
        raise BmbenchError(f"activation length {x.shape} does not match {w.cols} columns")
    flavour = flavour or chosen_flavour()
    if act is None:
        act = prepare(fmt, x, quant, flavour)
    y = np.empty(w.rows, dtype=np.float32) if out is None else out
    _kernels.gemv(fmt.id, flavour_id(flavour), w.data, w.rows, w.cols,
                  w.scale, act, y, threads)
    return y
