"""BitMamba-2 `BIT2` checkpoints (the binary bitmamba.c reads, written by its scripts/export-bin.py).

Little-endian.  Header: int32 magic 0x42495432, vocab, d_model, n_layers, n_heads.  Then tensor
records in a fixed order:
  fp32    = int32 type 0, int32 ndim, int32 dims[ndim], float32 data
  ternary = int32 type 2, int32 rows, int32 cols, float32 scale (= 1 / mean|W|, so W = codes / scale),
            rows * cols / 4 bytes of 2-bit codes w + 1 in {0, 1, 2}, element k of each group of 4
            in bits 2k..2k+1
Order: embedding; per layer in_proj_norm, in_proj, conv1d weight [d_inner, 1, 4], conv1d bias,
dt_bias, A_log, D [d_inner], out_proj_norm, out_proj; then norm_f, lm_head_norm, lm_head.
The header implies the whole config (d_inner = 2 d_model, head_dim = d_inner / n_heads, conv 4).

The loader reads the file with positioned reads (no mapping), checks every record against the
header-implied config and the file size, and repacks tensor by tensor, 256 rows at a time: a loaded
model holds its weights once, in the engine's layout.

The same function as the reference engine.  bmbench's BitMamba-2 forward (kernels/decode.c, the
float64 `models.reference.Reference`) was checked step by step against bitmamba.c (src/model.c
model_forward_step, src/block.c block_step, src/kernel.c scalar_bitlinear_forward / scalar_ssm_inner,
src/bitmamba.h), and tests/test_bit2_reference.py checks it against an independent float64 forward
written from that arithmetic:
  - embedding: row `token` of the fp32 table, the residual stream h.                        matches
  - BitLinear: RMSNorm with its own weight, x / sqrt(mean(x^2) + 1e-6) * w (BitMamba-2's eps is
    1e-6 everywhere), then the family's activation quantiser (config.act_quant = "bitmamba"):
    s_x = 127 / (max|x_norm| + 1e-5), q = (int)(x s_x +- 0.5) in float32 (half away from zero),
    clipped to [-128, 127]; y = dot(q, codes) / (s_x * stored scale).                        matches;
    bmbench computes the same integers and scales with y = dot * (s_w * (1 / s_x)), s_w = 1 / stored
    scale in float32: the float32 product may differ from bitmamba.c's in the last bit
  - in_proj split z | x | B | C | dt (B, C, dt one scalar per head).                         matches
  - conv1d over x only, kernel 4, state = the last 3 raw inputs (bitmamba.c's ring buffer, oldest
    at tap 0): conv = bias + sum_k<3 w[c, k] s_k + w[c, 3] x, then SiLU.                     matches
  - dt = softplus(dt_raw + dt_bias), softplus(v) = v above 20, else log(1 + e^v) (bmbench: log1p,
    equal up to float rounding); A = -exp(A_log); decay = exp(A dt).                         matches
  - s = s decay + x (B dt); y = (s C + x D_i) * silu(z), D per channel.                      matches
    (bmbench: dA s + (dt x) B, the same product in another float order)
  - out_proj: BitLinear over y with out_proj_norm (bmbench's gated RMSNorm is that norm of y silu(z)),
    residual h += out.                                                                       matches
  - final: RMSNorm(h) * norm_f, then lm_head as a BitLinear whose own RMSNorm uses lm_head_norm
    (two norms in a row).                                                                    matches
  - greedy: the first index of the largest logit (bitmamba.c with temp < 0.05).              matches
  - prompt: fed token by token (bitmamba.c prefills all but the last prompt token in a batch that
    computes the same per-token function, then steps the last one).                        matches
Float32 sums run in another order (bmbench's norms sum in double, its GEMVs in int32 in any order:
integer sums are exact), so logits agree to float rounding, not bit for bit.  bitmamba.c itself
differs between its flavours: its AVX2 quantiser rounds ties to even (_mm256_round_ps), its scalar
and NEON ones away from zero; bmbench follows the scalar reference (src/kernel.c) in every flavour.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator, Mapping, Union

import numpy as np

from .. import formats
from ..errors import BmbenchError
from .config import MambaConfig, bitmamba2_config, find_config
from .weights import (LayerWeights, ModelWeights, in_arena, pack_ternary, synthetic_embedding,
                      synthetic_float_params)

MAGIC = 0x42495432
TYPE_F32 = 0
TYPE_TERNARY = 2
HEADER_BYTES = 20
D_CONV = 4  # fixed by the format: conv1d weight is [d_inner, 1, 4]
_MAX_NDIM = 4
_CHUNK_VALUES = 1 << 22  # float values checked for finiteness per step


@dataclass(frozen=True)
class Ternary:
    """A ternary tensor as BIT2 stores it: codes in {-1, 0, 1} and the stored scale 1 / s_w."""
    codes: np.ndarray  # int8 [rows, cols]
    scale: float       # as stored (float32 value): W = codes / scale

    @property
    def s_w(self) -> float:
        """The weight scale mean|W| the codes are multiplied by (what formats' from_ternary take)."""
        return 1.0 / float(np.float32(self.scale))


@dataclass(frozen=True)
class Bit2Record:
    """Where one tensor lies in a BIT2 file."""
    name: str
    kind: str                 # "f32" | "ternary"
    shape: tuple[int, ...]
    offset: int               # start of the record (its type code)
    data_offset: int          # start of the float data / packed codes
    nbytes: int               # bytes of data
    scale: float | None = None  # ternary: stored scale


Tensor = Union[np.ndarray, Ternary]


# -------------------------------------------------------------------------------- layout
def bit2_config(vocab: int, d_model: int, n_layers: int, n_heads: int) -> MambaConfig:
    """The config a BIT2 header implies: the registered BitMamba-2 size if it matches, else a new one."""
    dims = dict(vocab=vocab, d_model=d_model, n_layers=n_layers, n_heads=n_heads)
    known = find_config(family="bitmamba2", d_conv=D_CONV, **dims)
    return known or bitmamba2_config(f"bit2-{n_layers}x{d_model}-h{n_heads}-v{vocab}", **dims)


def bit2_schedule(c: MambaConfig) -> list[tuple[str, str, tuple[int, ...]]]:
    """(name, kind, shape) of every record, in file order."""
    out = [("embedding", "f32", (c.vocab, c.d_model))]
    for i in range(c.n_layers):
        p = f"layers.{i}."
        out += [(p + "in_proj_norm", "f32", (c.d_model,)),
                (p + "in_proj", "ternary", (c.d_in_proj, c.d_model)),
                (p + "conv1d_weight", "f32", (c.d_inner, 1, c.d_conv)),
                (p + "conv1d_bias", "f32", (c.d_inner,)),
                (p + "dt_bias", "f32", (c.n_heads,)),
                (p + "A_log", "f32", (c.n_heads,)),
                (p + "D", "f32", (c.d_inner,)),
                (p + "out_proj_norm", "f32", (c.d_inner,)),
                (p + "out_proj", "ternary", (c.d_model, c.d_inner))]
    out += [("norm_f", "f32", (c.d_model,)), ("lm_head_norm", "f32", (c.d_model,)),
            ("lm_head", "ternary", (c.vocab, c.d_model))]
    return out


def _check_bit2_shape(c: MambaConfig, where: str) -> None:
    ok = (c.d_inner == 2 * c.d_model and c.d_state == 1 and c.n_groups == c.n_heads and not c.conv_bc
          and c.lm_head_norm and c.d_conv == D_CONV and c.d_model % 4 == 0)
    if not ok:
        raise BmbenchError(f"{where}: model {c.name!r} is not a BitMamba-2 shape that BIT2 can hold")


# -------------------------------------------------------------------------------- reading
class _File:
    """A BIT2 file read with positioned reads, bounds-checked, naming the tensor on failure.  Never
    mapped: the bytes read stay in the page cache, not in this process's resident memory, so a
    loaded model holds its weights once (in the engine's layout) however large the file."""

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            self.fh = open(self.path, "rb")
            self.size = os.fstat(self.fh.fileno()).st_size
        except OSError as e:
            raise BmbenchError(f"cannot read BIT2 file {self.path}: {e.strerror}") from None
        if self.size < HEADER_BYTES:
            self.fh.close()
            raise BmbenchError(f"BIT2 {self.path}: file is {self.size} bytes, shorter than the "
                               f"{HEADER_BYTES}-byte header")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def fail(self, problem: str, name: str, offset: int):
        raise BmbenchError(f"BIT2 {self.path}: {problem} (tensor {name} at offset {offset})")

    def need(self, offset: int, n: int, name: str, what: str) -> None:
        if offset + n > self.size:
            self.fail(f"truncated: {what} needs {n} bytes, only {max(self.size - offset, 0)} left",
                      name, offset)

    def into(self, offset: int, out: np.ndarray) -> np.ndarray:
        """Fill the contiguous array `out` with the bytes at `offset`."""
        view = memoryview(out).cast("B")
        self.fh.seek(offset)
        got = 0
        while got < len(view):
            n = self.fh.readinto(view[got:])
            if not n:
                raise BmbenchError(f"BIT2 {self.path}: file shrank while reading (offset {offset + got})")
            got += n
        return out

    def i32(self, offset: int, count: int) -> list[int]:
        return [int(v) for v in self.into(offset, np.empty(count, dtype="<i4"))]

    def f32(self, offset: int) -> float:
        return float(self.into(offset, np.empty(1, dtype="<f4"))[0])


def _header(f: _File) -> tuple[MambaConfig, dict]:
    magic, vocab, d_model, n_layers, n_heads = f.i32(0, 5)
    if magic != MAGIC:
        f.fail(f"bad magic 0x{magic & 0xFFFFFFFF:08x}, expected 0x{MAGIC:08x}", "header", 0)
    hdr = dict(vocab=vocab, d_model=d_model, n_layers=n_layers, n_heads=n_heads)
    for k, v in hdr.items():
        if v <= 0:
            f.fail(f"header {k} = {v} is not positive", "header", 0)
    if d_model % 4:
        f.fail(f"header d_model = {d_model} is not a multiple of 4 (2-bit rows)", "header", 0)
    if (2 * d_model) % n_heads:
        f.fail(f"header n_heads = {n_heads} does not divide d_inner = 2 x d_model = {2 * d_model}",
               "header", 0)
    return bit2_config(**hdr), hdr


def read_bit2_index(path) -> tuple[MambaConfig, list[Bit2Record]]:
    """Validate a BIT2 file's structure (header, every record's type and dims, the file size) and
    return the header-implied config and where each tensor lies.  Code values are checked on load."""
    with _File(path) as f:
        config, _ = _header(f)
        return config, _index(f, config)


def _index(f: _File, c: MambaConfig) -> list[Bit2Record]:
    pos = HEADER_BYTES
    records = []
    for name, kind, shape in bit2_schedule(c):
        start = pos
        f.need(pos, 4, name, "type code")
        (typ,) = f.i32(pos, 1)
        want_type = TYPE_TERNARY if kind == "ternary" else TYPE_F32
        if typ != want_type:
            f.fail(f"type code {typ}, expected {want_type} ({kind})", name, start)
        pos += 4
        scale = None
        if kind == "ternary":
            f.need(pos, 12, name, "rows, cols, scale")
            rows, cols = f.i32(pos, 2)
            scale = f.f32(pos + 8)
            if (rows, cols) != shape:
                f.fail(f"dims {rows}x{cols}, expected {shape[0]}x{shape[1]}", name, start)
            if not (math.isfinite(scale) and scale > 0):
                f.fail(f"scale {scale} is not a positive finite number", name, start)
            pos += 12
            nbytes = rows * cols // 4
        else:
            f.need(pos, 4, name, "ndim")
            (ndim,) = f.i32(pos, 1)
            if not 1 <= ndim <= _MAX_NDIM:
                f.fail(f"ndim {ndim}, expected {len(shape)}", name, start)
            pos += 4
            f.need(pos, 4 * ndim, name, "dims")
            dims = tuple(f.i32(pos, ndim))
            if dims != shape:
                f.fail(f"dims {list(dims)}, expected {list(shape)}", name, start)
            pos += 4 * ndim
            nbytes = 4 * math.prod(shape)
        f.need(pos, nbytes, name, "data")
        records.append(Bit2Record(name, kind, shape, start, pos, nbytes, scale))
        pos += nbytes
    if pos != f.size:
        f.fail(f"trailing garbage: {f.size - pos} bytes after the last tensor", "end of file", pos)
    return records


class _Codes:
    """The int8 codes of a ternary record, read and unpacked one row slice at a time (what the
    formats' from_ternary asks for), rejecting the unused code value 3."""

    def __init__(self, f: _File, r: Bit2Record):
        self.f, self.r, self.shape = f, r, r.shape

    def __getitem__(self, rows: slice) -> np.ndarray:
        r, (n_rows, cols) = self.r, self.shape
        r0, r1, step = rows.indices(n_rows)
        if step != 1:
            raise IndexError("BIT2 codes are read in contiguous row ranges")
        stride = cols // 4
        raw = self.f.into(r.data_offset + r0 * stride, np.empty((max(r1 - r0, 0), stride), np.uint8))
        codes = (raw[:, :, None] >> np.array([0, 2, 4, 6], dtype=np.uint8)) & 3  # element k at bits 2k
        bad = codes == 3
        if bad.any():
            i, j, k = (int(v[0]) for v in np.nonzero(bad))
            self.f.fail(f"code value 3 at row {r0 + i}, column {4 * j + k} (byte offset "
                        f"{r.data_offset + (r0 + i) * stride + j})", r.name, r.offset)
        return codes.reshape(-1, cols).view(np.int8) - 1


def _floats(f: _File, r: Bit2Record) -> np.ndarray:
    """A float32 record read into its own (anonymous) array, checked finite chunk by chunk."""
    arr = f.into(r.data_offset, np.empty(r.shape, dtype="<f4"))
    flat = arr.reshape(-1)
    for k in range(0, flat.size, _CHUNK_VALUES):
        if not np.isfinite(flat[k:k + _CHUNK_VALUES]).all():
            f.fail("non-finite float values", r.name, r.offset)
    return arr.astype(np.float32, copy=False)


def _iter(f: _File, config: MambaConfig) -> Iterator[tuple[Bit2Record, Tensor]]:
    for r in _index(f, config):
        yield r, (Ternary(_Codes(f, r), r.scale) if r.kind == "ternary" else _floats(f, r))


def iter_bit2(path) -> Iterator[tuple[Bit2Record, Tensor]]:
    """Every tensor of a validated BIT2 file, in file order: fp32 records as float32 arrays, ternary
    records as `Ternary` whose codes are read from the file when sliced (np.asarray(t.codes[:])
    unpacks them all).  One tensor is read at a time."""
    with _File(path) as f:
        config, _ = _header(f)
        yield from _iter(f, config)


def read_bit2_tensors(path) -> tuple[MambaConfig, dict[str, Tensor]]:
    """Header-implied config and all tensors by name, codes unpacked (tiny files and tests)."""
    with _File(path) as f:
        config, _ = _header(f)
        return config, {r.name: Ternary(t.codes[:], t.scale) if isinstance(t, Ternary) else t
                        for r, t in _iter(f, config)}


# -------------------------------------------------------------------------------- to ModelWeights
def _projection(t: Tensor, fmt: formats.Format) -> formats.Packed:
    if isinstance(t, Ternary):
        return pack_ternary(fmt, t.codes, t.s_w)
    return fmt.quantise(np.asarray(t, dtype=np.float32))


@in_arena
def _assemble(c: MambaConfig, items: Iterator[tuple[str, Tensor]], fmt: formats.Format) -> ModelWeights:
    layer_keys = {"in_proj_norm": "in_proj_norm", "conv1d_weight": "conv_w", "conv1d_bias": "conv_b",
                  "dt_bias": "dt_bias", "A_log": "A_log", "D": "D", "out_proj_norm": "out_proj_norm"}
    top: dict = {}
    layers: list[dict] = [dict() for _ in range(c.n_layers)]
    for name, t in items:
        if name.startswith("layers."):
            _, i, key = name.split(".", 2)
            dst = layers[int(i)]
            if key in ("in_proj", "out_proj"):
                dst[key] = _projection(t, fmt)
            else:
                arr = np.ascontiguousarray(t, dtype=np.float32)
                dst[layer_keys[key]] = arr.reshape(c.conv_dim, c.d_conv) if key == "conv1d_weight" else arr
        elif name == "lm_head":
            top[name] = _projection(t, fmt)
        else:
            top[name] = np.ascontiguousarray(t, dtype=np.float32)
    w = ModelWeights(config=c, format=fmt.name, embedding=top["embedding"],
                     layers=[LayerWeights(**lw) for lw in layers], norm_f=top["norm_f"],
                     lm_head_norm=top["lm_head_norm"], lm_head=top["lm_head"])
    w.validate()
    return w


def weights_from_bit2_tensors(config: MambaConfig, tensors: Mapping[str, Tensor],
                              format: str) -> ModelWeights:
    """ModelWeights in `format` from BIT2-named tensors (what the loader does, without a file)."""
    _check_bit2_shape(config, "weights_from_bit2_tensors")
    fmt = formats.get(format)
    missing = [n for n, _, _ in bit2_schedule(config) if n not in tensors]
    if missing:
        raise BmbenchError(f"BIT2 tensors missing: {', '.join(missing[:5])}"
                           f"{' ...' if len(missing) > 5 else ''}")
    return _assemble(config, ((n, tensors[n]) for n, _, _ in bit2_schedule(config)), fmt)


def load_bit2(path, format: str, config: MambaConfig | None = None) -> ModelWeights:
    """Load a BIT2 checkpoint into `format`, tensor by tensor: ternary tensors repacked from the
    file's bytes 256 rows at a time (`from_ternary`, s_w = 1 / stored scale; other formats quantise
    the dequantised weights row chunk by row chunk), float tensors read into their arrays.  Peak
    memory is the loaded weights plus a chunk.  With `config`, the header must describe exactly
    that model."""
    fmt = formats.get(format)
    with _File(path) as f:
        hcfg, hdr = _header(f)
        if config is not None:
            mism = [f"{k} {v} (config {getattr(config, k)})" for k, v in hdr.items()
                    if getattr(config, k) != v]
            try:
                _check_bit2_shape(config, f"BIT2 {f.path}")
            except BmbenchError:
                mism.append("config is not a BitMamba-2 shape")
            if mism:
                raise BmbenchError(f"BIT2 {f.path}: header does not match model {config.name!r}: "
                                   f"{', '.join(mism)}")
            hcfg = config
        return _assemble(hcfg, ((r.name, t) for r, t in _iter(f, hcfg)), fmt)


# -------------------------------------------------------------------------------- writing
def ternarise(w: np.ndarray) -> Ternary:
    """Float weights -> BIT2 ternary.  Weights already ternary-valued ({-s, 0, s}, e.g. a ternary
    format dequantised) keep their codes and s exactly; others use BitNet's absmean rule
    (s = mean|W|, codes = clip(round(W / s), -1, 1)), as the checkpoint exporter does."""
    w = np.asarray(w, dtype=np.float64)
    a = np.abs(w)
    m = float(a.max()) if a.size else 0.0
    if m == 0.0:
        return Ternary(np.zeros(w.shape, dtype=np.int8), 1.0)
    nz = a[a > 0]
    if np.all(np.abs(nz - m) <= 1e-6 * m):
        return Ternary(np.sign(w).astype(np.int8), float(np.float32(1.0 / m)))
    s = float(a.mean())
    return Ternary(np.clip(np.rint(w / s), -1, 1).astype(np.int8), float(np.float32(1.0 / s)))


def bit2_tensors_from_weights(weights: ModelWeights) -> dict[str, Tensor]:
    """BIT2-named tensors of a BitMamba-2-shaped ModelWeights (projections ternarised)."""
    c = weights.config
    _check_bit2_shape(c, "bit2_tensors_from_weights")
    fmt = formats.get(weights.format)
    out: dict[str, Tensor] = {"embedding": weights.embedding}
    for i, lw in enumerate(weights.layers):
        p = f"layers.{i}."
        out.update({p + "in_proj_norm": lw.in_proj_norm, p + "in_proj": ternarise(fmt.dequantise(lw.in_proj)),
                    p + "conv1d_weight": lw.conv_w.reshape(c.d_inner, 1, c.d_conv),
                    p + "conv1d_bias": lw.conv_b, p + "dt_bias": lw.dt_bias, p + "A_log": lw.A_log,
                    p + "D": lw.D, p + "out_proj_norm": lw.out_proj_norm,
                    p + "out_proj": ternarise(fmt.dequantise(lw.out_proj))})
    out.update({"norm_f": weights.norm_f, "lm_head_norm": weights.lm_head_norm,
                "lm_head": ternarise(fmt.dequantise(weights.lm_head))})
    return out


def _pack_codes(codes: np.ndarray) -> bytes:
    rows, cols = codes.shape
    u = (codes.astype(np.int16) + 1).astype(np.uint8).reshape(rows, cols // 4, 4)
    return (u[..., 0] | (u[..., 1] << 2) | (u[..., 2] << 4) | (u[..., 3] << 6)).astype(np.uint8).tobytes()


def write_bit2(path, source: ModelWeights | Mapping[str, Tensor]) -> None:
    """Write a BIT2 file from a ModelWeights (BitMamba-2 shape) or from BIT2-named tensors
    (float arrays for every tensor, or `Ternary` for the projections; float projections are
    ternarised).  The header comes from the tensors: vocab, d_model from the embedding, n_layers
    from the layer count, n_heads from dt_bias."""
    tensors = bit2_tensors_from_weights(source) if isinstance(source, ModelWeights) else dict(source)
    try:
        vocab, d_model = np.shape(tensors["embedding"])
        n_heads = int(np.shape(tensors["layers.0.dt_bias"])[0])
    except (KeyError, ValueError) as e:
        raise BmbenchError(f"write_bit2: cannot derive the header from the tensors ({e})") from None
    n_layers = sum(1 for k in tensors if k.startswith("layers.") and k.endswith(".in_proj"))
    config = bit2_config(vocab, d_model, n_layers, n_heads)
    _check_bit2_shape(config, "write_bit2")
    with open(path, "wb") as fh:
        fh.write(np.array([MAGIC, vocab, d_model, n_layers, n_heads], dtype="<i4").tobytes())
        for name, kind, shape in bit2_schedule(config):
            if name not in tensors:
                raise BmbenchError(f"write_bit2: tensor {name} missing")
            t = tensors[name]
            if kind == "ternary":
                if not isinstance(t, Ternary):
                    t = ternarise(t)
                if t.codes.shape != shape:
                    raise BmbenchError(f"write_bit2: {name} is {t.codes.shape}, expected {shape}")
                fh.write(np.array([TYPE_TERNARY, *shape], dtype="<i4").tobytes())
                fh.write(np.array([t.scale], dtype="<f4").tobytes())
                fh.write(_pack_codes(t.codes))
            else:
                a = np.asarray(t, dtype="<f4")
                if a.size != math.prod(shape):
                    raise BmbenchError(f"write_bit2: {name} has {a.size} values, expected shape {shape}")
                fh.write(np.array([TYPE_F32, len(shape), *shape], dtype="<i4").tobytes())
                fh.write(np.ascontiguousarray(a).tobytes())


def synthetic_bit2_tensors(config: MambaConfig, seed: int = 0) -> dict[str, Tensor]:
    """Seeded BIT2-named tensors for a BitMamba-2 shape: ternary projections (codes uniform over
    {-1, 0, 1}, s_w ~ 1/sqrt(cols)) and the float parameters of `synthetic_weights`."""
    _check_bit2_shape(config, "synthetic_bit2_tensors")
    c = config
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB172]))

    def tern(rows, cols):
        codes = rng.integers(-1, 2, size=(rows, cols), dtype=np.int8)
        s_w = rng.uniform(0.5, 1.5) / math.sqrt(cols)
        return Ternary(codes, float(np.float32(1.0 / s_w)))

    out: dict[str, Tensor] = {"embedding": synthetic_embedding(c, seed)}
    for i in range(c.n_layers):
        fl = synthetic_float_params(c, seed, i)
        p = f"layers.{i}."
        out.update({p + "in_proj_norm": fl["in_proj_norm"], p + "in_proj": tern(c.d_in_proj, c.d_model),
                    p + "conv1d_weight": fl["conv_w"].reshape(c.d_inner, 1, c.d_conv),
                    p + "conv1d_bias": fl["conv_b"], p + "dt_bias": fl["dt_bias"], p + "A_log": fl["A_log"],
                    p + "D": fl["D"], p + "out_proj_norm": fl["out_proj_norm"],
                    p + "out_proj": tern(c.d_model, c.d_inner)})
    out.update({"norm_f": np.ones(c.d_model, np.float32) * np.float32(1.05),
                "lm_head_norm": np.ones(c.d_model, np.float32) * np.float32(0.95),
                "lm_head": tern(c.vocab, c.d_model)})
    return out
