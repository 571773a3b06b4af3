"""Model weights in a chosen weight format: the arrays the C decode engine and the reference read.

Projections (in_proj, out_proj, lm_head) are `formats.Packed` in one format; everything else is
float32.  `synthetic_weights` generates them seeded and directly packed (the format's `synthetic`),
so even the 1B model never takes a full fp32 detour.

D is stored per channel, `[d_inner]`, for every model: BitMamba-2 checkpoints carry one D per
channel, and a Mamba-2 per-head D is repeated over its head's channels (`y_i += D_i x_i`).

The transformer baseline (`TransformerWeights`) packs wq, wk, wv, wo, w_gate, w_up, w_down in the
format; norms and the embedding are float32.  A tied lm_head is the embedding: the GEMV path reads it
as a packed copy of the embedding in the projection format (`lm_head`), so a tied model holds the
fp32 table (one row read per token) and that copy (read whole per token).
"""
from __future__ import annotations

import dataclasses
import functools
import zlib
from dataclasses import dataclass

import numpy as np

from .. import arena, formats
from ..errors import BmbenchError
from ..formats import Packed
from .config import MambaConfig, ModelConfig, TransformerConfig


@dataclass
class LayerWeights:
    """One layer. Float arrays are np.float32, C-contiguous."""
    in_proj_norm: np.ndarray  # [d_model]
    in_proj: Packed           # [d_in_proj, d_model]; rows split z|x|B|C|dt
    conv_w: np.ndarray        # [conv_dim, d_conv]; column d_conv-1 multiplies the newest input
    conv_b: np.ndarray        # [conv_dim]
    dt_bias: np.ndarray       # [n_heads]
    A_log: np.ndarray         # [n_heads]
    D: np.ndarray             # [d_inner] (per channel; see the module docstring)
    out_proj_norm: np.ndarray  # [d_inner] (gated RMSNorm weight)
    out_proj: Packed          # [d_model, d_inner]


@dataclass
class ModelWeights:
    config: MambaConfig
    format: str
    embedding: np.ndarray     # [vocab, d_model] float32
    layers: list[LayerWeights]
    norm_f: np.ndarray        # [d_model]
    lm_head_norm: np.ndarray | None  # [d_model] when config.lm_head_norm, else None
    lm_head: Packed           # [vocab, d_model]
    arena: list | None = dataclasses.field(default=None, repr=False, compare=False)  # gather_projections

    def projections(self):
        """(name, Packed) of every packed matrix, in decode order."""
        for i, lw in enumerate(self.layers):
            yield f"layers.{i}.in_proj", lw.in_proj
            yield f"layers.{i}.out_proj", lw.out_proj
        yield "lm_head", self.lm_head

    @property
    def nbytes(self) -> int:
        """Bytes held: packed projections + float arrays."""
        n = self.embedding.nbytes + self.norm_f.nbytes
        n += 0 if self.lm_head_norm is None else self.lm_head_norm.nbytes
        n += sum(p.nbytes for _, p in self.projections())
        for lw in self.layers:
            n += sum(getattr(lw, k).nbytes for k in _LAYER_FLOATS)
        return n

    def validate(self) -> None:
        """Raise BmbenchError if any array's shape, dtype or format disagrees with the config."""
        c = self.config
        _check_f32("embedding", self.embedding, (c.vocab, c.d_model))
        _check_f32("norm_f", self.norm_f, (c.d_model,))
        if c.lm_head_norm:
            if self.lm_head_norm is None:
                raise BmbenchError(f"{c.name}: lm_head_norm missing (config says lm_head_norm)")
            _check_f32("lm_head_norm", self.lm_head_norm, (c.d_model,))
        elif self.lm_head_norm is not None:
            raise BmbenchError(f"{c.name}: lm_head_norm given but the config has none")
        if len(self.layers) != c.n_layers:
            raise BmbenchError(f"{c.name}: {len(self.layers)} layers, config says {c.n_layers}")
        for i, lw in enumerate(self.layers):
            for key, shape in layer_float_shapes(c).items():
                _check_f32(f"layers.{i}.{key}", getattr(lw, key), shape)
        shapes = {"in_proj": (c.d_in_proj, c.d_model), "out_proj": (c.d_model, c.d_inner),
                  "lm_head": (c.vocab, c.d_model)}
        for name, p in self.projections():
            want = shapes[name.rsplit(".", 1)[-1]]
            if p.format != self.format or (p.rows, p.cols) != want:
                raise BmbenchError(f"{c.name}: {name} is {p.format} {p.rows}x{p.cols}, "
                                   f"expected {self.format} {want[0]}x{want[1]}")


_LAYER_FLOATS = ("in_proj_norm", "conv_w", "conv_b", "dt_bias", "A_log", "D", "out_proj_norm")


def gather_projections(w: "ModelWeights | TransformerWeights") -> list:
    """The huge-page arenas (bmbench.arena) that hold every packed matrix of w (w.arena).  The
    loaders here make their matrices in them directly (`in_arena`); weights built elsewhere are
    moved: matrices in decode order, each Packed replaced by one over its copy as soon as
    that is made and the heap trimmed, so the old array is freed then (the peak: the weights plus
    one matrix, not twice the weights)."""
    if w.arena is None:
        pool = arena.Pool()
        for name in [name for name, _ in w.projections()]:
            owner, attr = _projection_slot(w, name)
            p = getattr(owner, attr)
            view = pool.take(p.nbytes).reshape(p.data.shape)
            view[...] = p.data
            setattr(owner, attr, dataclasses.replace(p, data=view))
            del p
            arena.trim_heap()
        w.arena = pool.segments
    return w.arena


def in_arena(load):
    """A weights loader whose packed matrices are made in huge-page arenas (arena.collecting) and
    recorded as the weights' arena, so an engine finds them there and copies nothing."""
    @functools.wraps(load)
    def wrapped(*args, **kwargs):
        with arena.collecting() as pool:
            w = load(*args, **kwargs)
        w.arena = pool.segments
        return w
    return wrapped


def _projection_slot(w, name: str) -> tuple[object, str]:
    """(object, attribute) holding the projection `name` of projections()."""
    *layer, attr = name.split(".")
    return (w.layers[int(layer[1])] if layer else w), attr


def layer_float_shapes(c: MambaConfig) -> dict[str, tuple[int, ...]]:
    """Shapes of a layer's float arrays as LayerWeights holds them."""
    return {"in_proj_norm": (c.d_model,), "conv_w": (c.conv_dim, c.d_conv), "conv_b": (c.conv_dim,),
            "dt_bias": (c.n_heads,), "A_log": (c.n_heads,), "D": (c.d_inner,),
            "out_proj_norm": (c.d_inner,)}


def _check_f32(name: str, a: np.ndarray, shape: tuple[int, ...]) -> None:
    if not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.shape != shape \
            or not a.flags.c_contiguous:
        got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise BmbenchError(f"{name}: expected C-contiguous float32 {shape}, got {got}")


# ------------------------------------------------------------------------------ packing helpers
def pack_ternary(fmt: formats.Format | str, codes, s_w: float) -> Packed:
    """Ternary codes (int8 in {-1,0,1}) with scale s_w (W = codes * s_w) packed into `fmt`.

    Ternary formats take the codes directly (`from_ternary`); any other format quantises the
    float weights codes * s_w, row chunk by row chunk.  `codes` may be any row-sliceable matrix
    (formats.matrix_shape), e.g. a checkpoint's tensor read from its file on demand.
    """
    fmt = formats.get(fmt) if isinstance(fmt, str) else fmt
    if fmt.from_ternary is not None:
        return fmt.from_ternary(codes, float(s_w))
    rows, cols = formats.matrix_shape(codes)
    return formats.quantise_rows(fmt, rows, cols, lambda r0, n: np.asarray(
        codes[r0:r0 + n], dtype=np.float32) * np.float32(s_w))


# ------------------------------------------------------------------------------ synthetic weights
# Every tensor draws from its own stream, keyed by (seed, layer, tensor): generation order never
# changes the bytes, and a tensor can be regenerated alone.
_TENSOR_IDS = {name: i for i, name in enumerate(
    ("embedding", "norm_f", "lm_head_norm", "lm_head", "in_proj_norm", "in_proj", "conv_w", "conv_b",
     "dt_bias", "A_log", "D", "out_proj_norm", "out_proj",
     # transformer (appended: the ids above, and so the Mamba bytes, never change)
     "attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w_gate", "w_up", "w_down"))}


def _rng(c: ModelConfig, seed: int, layer: int, tensor: str) -> np.random.Generator:
    # keyed by the model name too (two models never share weights); layer -1 = model-level tensors
    key = [zlib.crc32(c.name.encode()), seed, layer + 1, _TENSOR_IDS[tensor]]
    return np.random.default_rng(np.random.SeedSequence(key))


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def synthetic_float_params(c: MambaConfig, seed: int, layer: int) -> dict[str, np.ndarray]:
    """A layer's float parameters with trained-like statistics (Mamba-2 initialisation):
    A_log = log(U(1, 16)); dt_bias = softplus^-1(dt), dt log-uniform in [1e-3, 0.1]; D ~ 1;
    norm weights ~ 1; conv weights and bias ~ U(-1/sqrt(d_conv), 1/sqrt(d_conv)) (PyTorch's conv
    init).  D has one value per channel for BitMamba-2, one per head (repeated) for Mamba-2."""
    r = lambda name: _rng(c, seed, layer, name)  # noqa: E731
    bound = 1.0 / np.sqrt(c.d_conv)
    dt = np.exp(r("dt_bias").uniform(np.log(1e-3), np.log(0.1), c.n_heads))
    d_vals = 1.0 + 0.1 * r("D").standard_normal(c.d_len)
    D = d_vals if c.d_per_channel else np.repeat(d_vals, c.head_dim)
    return {
        "in_proj_norm": _f32(1.0 + 0.1 * r("in_proj_norm").standard_normal(c.d_model)),
        "conv_w": _f32(r("conv_w").uniform(-bound, bound, (c.conv_dim, c.d_conv))),
        "conv_b": _f32(r("conv_b").uniform(-bound, bound, c.conv_dim)),
        "dt_bias": _f32(dt + np.log(-np.expm1(-dt))),  # inverse softplus
        "A_log": _f32(np.log(r("A_log").uniform(1.0, 16.0, c.n_heads))),
        "D": _f32(D),
        "out_proj_norm": _f32(1.0 + 0.1 * r("out_proj_norm").standard_normal(c.d_inner)),
    }


def synthetic_embedding(c: ModelConfig, seed: int) -> np.ndarray:
    """N(0, 1) rows (nn.Embedding's initialisation), float32, generated without a float64 detour."""
    return _rng(c, seed, -1, "embedding").standard_normal((c.vocab, c.d_model), dtype=np.float32)


@in_arena
def synthetic_weights(config: ModelConfig, format: str, seed: int = 0) -> "ModelWeights | TransformerWeights":
    """Seeded synthetic weights in `format`: same (config, format, seed), same bytes.

    Projections come straight from the format's `synthetic` (ternary formats draw codes, block
    formats Gaussian weights before quantisation), so memory stays bounded by the packed sizes
    plus the fp32 embedding.
    """
    if isinstance(config, TransformerConfig):
        return synthetic_transformer_weights(config, format, seed)
    fmt = formats.get(format)
    c = config
    layers = []
    for i in range(c.n_layers):
        fl = synthetic_float_params(c, seed, i)
        layers.append(LayerWeights(
            in_proj=fmt.synthetic(_rng(c, seed, i, "in_proj"), c.d_in_proj, c.d_model),
            out_proj=fmt.synthetic(_rng(c, seed, i, "out_proj"), c.d_model, c.d_inner),
            **fl))
    norm_f = _f32(1.0 + 0.1 * _rng(c, seed, -1, "norm_f").standard_normal(c.d_model))
    lm_norm = (_f32(1.0 + 0.1 * _rng(c, seed, -1, "lm_head_norm").standard_normal(c.d_model))
               if c.lm_head_norm else None)
    w = ModelWeights(config=c, format=fmt.name, embedding=synthetic_embedding(c, seed), layers=layers,
                     norm_f=norm_f, lm_head_norm=lm_norm,
                     lm_head=fmt.synthetic(_rng(c, seed, -1, "lm_head"), c.vocab, c.d_model))
    w.validate()
    return w


# ------------------------------------------------------------------------------ transformer
@dataclass
class TransformerLayerWeights:
    """One transformer layer. Norms np.float32 [d_model]; projections packed (shapes in
    TransformerConfig.projection_shapes)."""
    attn_norm: np.ndarray
    wq: Packed
    wk: Packed
    wv: Packed
    wo: Packed
    ffn_norm: np.ndarray
    w_gate: Packed
    w_up: Packed
    w_down: Packed


TRANSFORMER_PROJECTIONS = ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down")


@dataclass
class TransformerWeights:
    config: TransformerConfig
    format: str
    embedding: np.ndarray     # [vocab, d_model] float32
    layers: list[TransformerLayerWeights]
    norm_f: np.ndarray        # [d_model]
    lm_head: Packed           # [vocab, d_model]; tied: the embedding packed in `format`
    arena: list | None = dataclasses.field(default=None, repr=False, compare=False)  # gather_projections

    def projections(self):
        """(name, Packed) of every packed matrix, in decode order."""
        for i, lw in enumerate(self.layers):
            for k in TRANSFORMER_PROJECTIONS:
                yield f"layers.{i}.{k}", getattr(lw, k)
        yield "lm_head", self.lm_head

    @property
    def nbytes(self) -> int:
        """Bytes held: packed projections and lm_head (copy) + float arrays."""
        n = self.embedding.nbytes + self.norm_f.nbytes + sum(p.nbytes for _, p in self.projections())
        return n + sum(lw.attn_norm.nbytes + lw.ffn_norm.nbytes for lw in self.layers)

    def validate(self) -> None:
        c = self.config
        _check_f32("embedding", self.embedding, (c.vocab, c.d_model))
        _check_f32("norm_f", self.norm_f, (c.d_model,))
        if len(self.layers) != c.n_layers:
            raise BmbenchError(f"{c.name}: {len(self.layers)} layers, config says {c.n_layers}")
        shapes = dict(c.projection_shapes(), lm_head=(c.vocab, c.d_model))
        for i, lw in enumerate(self.layers):
            _check_f32(f"layers.{i}.attn_norm", lw.attn_norm, (c.d_model,))
            _check_f32(f"layers.{i}.ffn_norm", lw.ffn_norm, (c.d_model,))
        for name, p in self.projections():
            want = shapes[name.rsplit(".", 1)[-1]]
            if p.format != self.format or (p.rows, p.cols) != want:
                raise BmbenchError(f"{c.name}: {name} is {p.format} {p.rows}x{p.cols}, "
                                   f"expected {self.format} {want[0]}x{want[1]}")


def synthetic_transformer_weights(c: TransformerConfig, format: str, seed: int = 0) -> TransformerWeights:
    """Seeded synthetic transformer weights: projections from the format's `synthetic` (Gaussian of
    std 1/sqrt(cols) before quantisation, or ternary codes), norms ~ 1 + 0.1 N(0, 1), embedding
    N(0, 1); a tied lm_head is the embedding quantised into the format."""
    fmt = formats.get(format)
    norm = lambda layer, name: _f32(1.0 + 0.1 * _rng(c, seed, layer, name).standard_normal(c.d_model))  # noqa: E731
    layers = []
    for i in range(c.n_layers):
        packed = {k: fmt.synthetic(_rng(c, seed, i, k), r, col) for k, (r, col) in c.projection_shapes().items()}
        layers.append(TransformerLayerWeights(attn_norm=norm(i, "attn_norm"), ffn_norm=norm(i, "ffn_norm"),
                                              **packed))
    emb = synthetic_embedding(c, seed)
    lm_head = (fmt.quantise(emb) if c.tie_embeddings
               else fmt.synthetic(_rng(c, seed, -1, "lm_head"), c.vocab, c.d_model))
    w = TransformerWeights(config=c, format=fmt.name, embedding=emb, layers=layers,
                           norm_f=norm(-1, "norm_f"), lm_head=lm_head)
    w.validate()
    return w
