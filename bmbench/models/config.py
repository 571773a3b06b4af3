"""Model configurations: a dataclass per architecture family (`MambaConfig` for Mamba-2 and
BitMamba-2, `TransformerConfig` for the Llama-shaped transformer baseline) and one registry.

BitMamba-2 fits the Mamba-2 shape with B and C one scalar per head: each head is its own group
(`n_groups = n_heads`) with `d_state = 1`, and only x is convolved (`conv_bc = False`).

Dimensions of the published models (BRIEF section 2):
- bitmamba2-*: bitmamba.c / its scripts/export-bin.py (d_inner = 2 d_model, head_dim 128).
- mamba2-*: the state-spaces/mamba2-* config.json files (d_model, n_layer; Mamba2 defaults
  expand 2, headdim 64, d_state 128, ngroups 1, d_conv 4; vocab 50277 padded to a multiple of 16).
- llama-1b: Llama-3.2-1B's config.json (16 layers, hidden 2048, 32 query / 8 KV heads of 64,
  intermediate 8192, vocab 128256, tied embeddings, rope_theta 500000 with the "llama3" frequency
  scaling (factor 32, low/high frequency factors 1 and 4, original context 8192), RMSNorm eps 1e-5).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from ..errors import BmbenchError

# BitLinear's activation quantiser (bmbench.formats.ACT_QUANTS, kernels/bmk.h) is the family's, as its
# reference engine computes it: BitMamba-2 is defined by bitmamba.c (127 / (max|x| + 1e-5), round half
# away from zero); the others use BitNet b1.58's absmax rule (ternary formats of them have no reference
# engine of their own).  Engines and the float64 references read it from `config.act_quant`.
ACT_QUANT_OF_FAMILY = {"bitmamba2": "bitmamba", "mamba2": "absmax", "transformer": "absmax"}


@dataclass(frozen=True)
class MambaConfig:
    name: str
    n_layers: int
    d_model: int
    d_inner: int
    n_heads: int
    head_dim: int
    d_state: int
    n_groups: int
    d_conv: int
    vocab: int
    conv_bc: bool          # conv1d over x|B|C (Mamba-2) or over x only (BitMamba-2)
    lm_head_norm: bool     # lm_head is a BitLinear with its own input RMSNorm (BitMamba-2)
    eps: float = 1e-6
    family: str = "mamba2"        # "bitmamba2" | "mamba2": which real architecture the sizes describe
    tie_embeddings: bool = False  # real model's lm_head is the embedding (counted once in params)
    d_per_channel: bool = False   # real model's D has one value per channel (d_inner), not per head

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type == "int" and (not isinstance(v, int) or v <= 0):
                raise BmbenchError(f"model config {self.name!r}: {f.name} must be a positive integer, got {v!r}")
        if self.n_heads * self.head_dim != self.d_inner:
            raise BmbenchError(f"model config {self.name!r}: n_heads x head_dim = "
                               f"{self.n_heads * self.head_dim} != d_inner {self.d_inner}")
        if self.n_heads % self.n_groups:
            raise BmbenchError(f"model config {self.name!r}: n_heads {self.n_heads} is not a multiple "
                               f"of n_groups {self.n_groups}")
        if self.d_conv < 2:
            raise BmbenchError(f"model config {self.name!r}: d_conv must be >= 2, got {self.d_conv}")
        if self.family not in ("bitmamba2", "mamba2"):
            raise BmbenchError(f"model config {self.name!r}: unknown family {self.family!r}")

    @property
    def act_quant(self) -> str:
        return ACT_QUANT_OF_FAMILY[self.family]

    # ---------------------------------------------------------------- derived sizes
    @property
    def d_bc(self) -> int:
        """Length of B (and of C) in the in_proj output: n_groups x d_state."""
        return self.n_groups * self.d_state

    @property
    def d_in_proj(self) -> int:
        """in_proj output rows: z | x | B | C | dt."""
        return 2 * self.d_inner + 2 * self.d_bc + self.n_heads

    @property
    def in_proj_split(self) -> dict[str, slice]:
        """Row ranges of z, x, B, C, dt in the in_proj output."""
        b0 = 2 * self.d_inner
        c0 = b0 + self.d_bc
        t0 = c0 + self.d_bc
        return {"z": slice(0, self.d_inner), "x": slice(self.d_inner, b0), "B": slice(b0, c0),
                "C": slice(c0, t0), "dt": slice(t0, t0 + self.n_heads)}

    @property
    def conv_dim(self) -> int:
        """Channels of the causal depthwise conv1d: x (plus B and C if conv_bc)."""
        return self.d_inner + (2 * self.d_bc if self.conv_bc else 0)

    @property
    def heads_per_group(self) -> int:
        return self.n_heads // self.n_groups

    @property
    def ssm_state_elems(self) -> int:
        """SSM state elements per layer: n_heads x head_dim x d_state."""
        return self.n_heads * self.head_dim * self.d_state

    @property
    def conv_state_elems(self) -> int:
        """Conv state elements per layer: the last d_conv - 1 inputs of every conv channel."""
        return self.conv_dim * (self.d_conv - 1)

    @property
    def d_len(self) -> int:
        """Elements of the real model's D vector per layer."""
        return self.d_inner if self.d_per_channel else self.n_heads

    def layer_param_counts(self) -> dict[str, int]:
        """Parameters of one layer, by tensor (the real model's shapes)."""
        return {
            "in_proj_norm": self.d_model,
            "in_proj": self.d_in_proj * self.d_model,
            "conv_w": self.conv_dim * self.d_conv,
            "conv_b": self.conv_dim,
            "dt_bias": self.n_heads,
            "A_log": self.n_heads,
            "D": self.d_len,
            "out_proj_norm": self.d_inner,
            "out_proj": self.d_model * self.d_inner,
        }

    def param_counts(self) -> dict[str, int]:
        """Parameters by group: embedding, layers (all), final norms, lm_head (0 when tied)."""
        return {
            "embedding": self.vocab * self.d_model,
            "layers": self.n_layers * sum(self.layer_param_counts().values()),
            "final_norms": self.d_model * (2 if self.lm_head_norm else 1),
            "lm_head": 0 if self.tie_embeddings else self.vocab * self.d_model,
        }

    @property
    def n_params(self) -> int:
        return sum(self.param_counts().values())

    # ---------------------------------------------------------------- shared with TransformerConfig
    def gemv_weights_per_token(self) -> int:
        """Weights every decode token multiplies: all projections and the lm_head."""
        return self.n_layers * (self.d_in_proj * self.d_model + self.d_model * self.d_inner) \
            + self.vocab * self.d_model

    @property
    def gemv_shape(self) -> tuple[int, int]:
        """(rows, cols) of the model's representative projection (the compute-roof measurement)."""
        return self.d_in_proj, self.d_model


@dataclass(frozen=True)
class TransformerConfig:
    """A Llama-shaped decoder: per layer RMSNorm -> attention (RoPE, grouped-query: n_heads query
    heads share n_kv_heads KV heads) -> residual -> RMSNorm -> SwiGLU FFN -> residual; final RMSNorm,
    lm_head (tied to the embedding when tie_embeddings)."""
    name: str
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_ff: int
    vocab: int
    rope_theta: float = 500000.0
    eps: float = 1e-5
    tie_embeddings: bool = True
    # Llama 3's RoPE frequency scaling (rope_scaling.rope_type "llama3"): (factor, low_freq_factor,
    # high_freq_factor, original_max_position_embeddings), or None for plain RoPE
    rope_scaling: tuple[float, float, float, int] | None = None
    family: str = "transformer"

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type == "int" and (not isinstance(v, int) or v <= 0):
                raise BmbenchError(f"model config {self.name!r}: {f.name} must be a positive integer, got {v!r}")
        if self.n_heads % self.n_kv_heads:
            raise BmbenchError(f"model config {self.name!r}: n_heads {self.n_heads} is not a multiple of "
                               f"n_kv_heads {self.n_kv_heads}")
        if self.head_dim % 2:
            raise BmbenchError(f"model config {self.name!r}: head_dim must be even (RoPE), got {self.head_dim}")
        if self.family != "transformer":
            raise BmbenchError(f"model config {self.name!r}: unknown family {self.family!r}")

    @property
    def act_quant(self) -> str:
        return ACT_QUANT_OF_FAMILY[self.family]

    @property
    def q_dim(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    @property
    def group(self) -> int:
        """Query heads per KV head."""
        return self.n_heads // self.n_kv_heads

    def projection_shapes(self) -> dict[str, tuple[int, int]]:
        """(rows, cols) of one layer's packed projections, in decode order."""
        return {"wq": (self.q_dim, self.d_model), "wk": (self.kv_dim, self.d_model),
                "wv": (self.kv_dim, self.d_model), "wo": (self.d_model, self.q_dim),
                "w_gate": (self.d_ff, self.d_model), "w_up": (self.d_ff, self.d_model),
                "w_down": (self.d_model, self.d_ff)}

    def layer_param_counts(self) -> dict[str, int]:
        out = {"attn_norm": self.d_model, "ffn_norm": self.d_model}
        out.update({k: r * c for k, (r, c) in self.projection_shapes().items()})
        return out

    def param_counts(self) -> dict[str, int]:
        return {
            "embedding": self.vocab * self.d_model,
            "layers": self.n_layers * sum(self.layer_param_counts().values()),
            "final_norms": self.d_model,
            "lm_head": 0 if self.tie_embeddings else self.vocab * self.d_model,
        }

    @property
    def n_params(self) -> int:
        return sum(self.param_counts().values())

    def kv_elems_per_position(self) -> int:
        """K and V values one position adds to the cache, all layers: 2 x layers x kv_heads x head_dim."""
        return 2 * self.n_layers * self.kv_dim

    def rope_inv_freq(self) -> np.ndarray:
        """RoPE inverse frequencies [head_dim / 2] (float64): theta^(-2i / head_dim), with Llama 3's
        scaling when rope_scaling is set (long wavelengths divided by the factor, a smooth blend in
        between; transformers' _compute_llama3_parameters)."""
        inv = 1.0 / self.rope_theta ** (np.arange(0, self.head_dim, 2, dtype=np.float64) / self.head_dim)
        if self.rope_scaling is None:
            return inv
        factor, low, high, original = self.rope_scaling
        low_wavelen, high_wavelen = original / low, original / high
        wavelen = 2 * math.pi / inv
        scaled = np.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (original / wavelen - low) / (high - low)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
        return np.where(medium, blended, scaled)

    def gemv_weights_per_token(self) -> int:
        """Weights every decode token multiplies: all projections and the lm_head."""
        per_layer = sum(r * c for r, c in self.projection_shapes().values())
        return self.n_layers * per_layer + self.vocab * self.d_model

    @property
    def gemv_shape(self) -> tuple[int, int]:
        return self.d_ff, self.d_model


ModelConfig = MambaConfig | TransformerConfig


# -------------------------------------------------------------------------------- constructors
def bitmamba2_config(name: str, n_layers: int, d_model: int, n_heads: int, vocab: int,
                     d_conv: int = 4) -> MambaConfig:
    """A BitMamba-2 shape: expand 2, B/C one scalar per head, x-only conv, lm_head with its own norm."""
    d_inner = 2 * d_model
    if d_inner % n_heads:
        raise BmbenchError(f"model config {name!r}: d_inner {d_inner} is not a multiple of n_heads {n_heads}")
    return MambaConfig(name=name, n_layers=n_layers, d_model=d_model, d_inner=d_inner, n_heads=n_heads,
                       head_dim=d_inner // n_heads, d_state=1, n_groups=n_heads, d_conv=d_conv, vocab=vocab,
                       conv_bc=False, lm_head_norm=True, family="bitmamba2", d_per_channel=True)


def mamba2_config(name: str, n_layers: int, d_model: int, vocab: int, head_dim: int = 64,
                  d_state: int = 128, n_groups: int = 1, d_conv: int = 4, expand: int = 2,
                  tie_embeddings: bool = True) -> MambaConfig:
    """A state-spaces Mamba-2 shape (mamba_ssm.Mamba2 defaults unless given)."""
    d_inner = expand * d_model
    if d_inner % head_dim:
        raise BmbenchError(f"model config {name!r}: d_inner {d_inner} is not a multiple of head_dim {head_dim}")
    return MambaConfig(name=name, n_layers=n_layers, d_model=d_model, d_inner=d_inner,
                       n_heads=d_inner // head_dim, head_dim=head_dim, d_state=d_state, n_groups=n_groups,
                       d_conv=d_conv, vocab=vocab, conv_bc=True, lm_head_norm=False, family="mamba2",
                       tie_embeddings=tie_embeddings)


# -------------------------------------------------------------------------------- the registry
_MAMBA2_VOCAB = 50288  # 50277 padded to a multiple of 16 (pad_vocab_size_multiple)

_REGISTRY: dict[str, ModelConfig] = {c.name: c for c in (
    bitmamba2_config("bitmamba2-255m", n_layers=24, d_model=1024, n_heads=16, vocab=50257),
    bitmamba2_config("bitmamba2-1b", n_layers=32, d_model=2048, n_heads=32, vocab=50257),
    mamba2_config("mamba2-130m", n_layers=24, d_model=768, vocab=_MAMBA2_VOCAB),
    mamba2_config("mamba2-370m", n_layers=48, d_model=1024, vocab=_MAMBA2_VOCAB),
    mamba2_config("mamba2-780m", n_layers=48, d_model=1536, vocab=_MAMBA2_VOCAB),
    mamba2_config("mamba2-1.3b", n_layers=48, d_model=2048, vocab=_MAMBA2_VOCAB),
    mamba2_config("mamba2-2.7b", n_layers=64, d_model=2560, vocab=_MAMBA2_VOCAB),
    # tiny test shapes: small enough for the float64 reference and for f32 weights
    bitmamba2_config("tiny-bitmamba", n_layers=2, d_model=64, n_heads=4, vocab=256),
    mamba2_config("tiny-mamba2", n_layers=2, d_model=64, vocab=256, head_dim=32, d_state=16,
                  tie_embeddings=False),
    TransformerConfig("llama-1b", n_layers=16, d_model=2048, n_heads=32, n_kv_heads=8, head_dim=64,
                      d_ff=8192, vocab=128256, rope_theta=500000.0, eps=1e-5, tie_embeddings=True,
                      rope_scaling=(32.0, 1.0, 4.0, 8192)),
    # tiny test shape: 4 query heads per KV head as llama-1b; head_dim 32 so a q8_0 KV cache fits
    TransformerConfig("tiny-llama", n_layers=2, d_model=64, n_heads=4, n_kv_heads=1, head_dim=32,
                      d_ff=160, vocab=256, rope_theta=10000.0, eps=1e-5, tie_embeddings=True),
)}


def list_configs() -> list[str]:
    """Names of the registered configs, in registry order."""
    return list(_REGISTRY)


def get_config(name: str) -> ModelConfig:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BmbenchError(f"unknown model {name!r} (known: {', '.join(_REGISTRY)})") from None


def find_config(**dims) -> ModelConfig | None:
    """The registered config whose fields equal `dims` (all given fields), or None."""
    for cfg in _REGISTRY.values():
        if all(getattr(cfg, k, None) == v for k, v in dims.items()):
            return cfg
    return None
