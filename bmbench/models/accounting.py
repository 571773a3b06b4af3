"""Per model x weight format accounting: parameters, resident memory, bytes moved per decode token.

Bytes per token (BRIEF section 5), every term in bytes:
  projections  every in_proj and out_proj, packed (Format.data_bytes: codes + block scales)
  lm_head      packed, read once (a tied lm_head is still one full read of vocab x d_model)
  embedding    one fp32 row
  vectors      the float vectors read per token: norms, conv weights and bias, dt_bias, A_log, D
  ssm_state    read + written: 2 x layers x n_heads x head_dim x d_state x (4 fp32 | 2 fp16)
  conv_state   read + written: 2 x layers x conv_dim x (d_conv - 1) x 4 (fp32)
Transformer baseline (no SSM or conv state; vectors = the RMSNorm weights):
  projections  wq, wk, wv, wo, w_gate, w_up, w_down of all layers, packed
  lm_head      tied to the embedding: the GEMV reads a packed copy of the embedding in the projection
               format (the fp32 table stays resident for the one-row lookup)
  kv_cache     read up to the position: 2 x layers x kv_heads x head_dim x context x (2 fp16 |
               34/32 q8_0); the one new position written per token is not counted
Activations and logits stay in cache and are not counted.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .. import formats
from ..errors import BmbenchError
from .config import MambaConfig, ModelConfig, TransformerConfig, get_config, list_configs

STATE_BYTES = {"f32": 4, "f16": 2}
FLOAT_BYTES = 4  # embedding, norms and the other float vectors are fp32
# KV cache bytes per cached value (q8_0: blocks of 32 int8 + an fp16 scale)
KV_BYTES = {"f16": 2.0, "q8_0": 34 / 32}


@dataclass(frozen=True)
class Accounting:
    model: str
    format: str
    state_dtype: str
    params: int                 # the real model's parameter count (tied lm_head counted once)
    projection_bytes: int       # packed in_proj + out_proj of all layers
    lm_head_bytes: int          # packed lm_head
    embedding_bytes: int        # the fp32 table (resident)
    embedding_row_bytes: int    # one fp32 row (per token)
    vector_bytes: int           # fp32 norms, conv weights/bias, dt_bias, A_log, D of all layers + final norms
    ssm_state_bytes: int        # resident SSM state, all layers
    conv_state_bytes: int       # resident conv state, all layers (fp32)
    family: str = "mamba2"
    context: int = 0            # positions in the KV cache (transformer; the Mamba state does not grow)
    kv_dtype: str | None = None           # transformer: KV cache type
    kv_bytes_per_position: int = 0        # transformer: K + V of one position, all layers
    notes: tuple[str, ...] = ()

    @property
    def kv_cache_bytes(self) -> int:
        """KV cache at `context` positions: resident, and read whole by the next token."""
        return self.kv_bytes_per_position * self.context

    @property
    def weight_bytes(self) -> int:
        """Resident weights: packed projections and lm_head, fp32 embedding and vectors."""
        return self.projection_bytes + self.lm_head_bytes + self.embedding_bytes + self.vector_bytes

    @property
    def state_bytes(self) -> int:
        """Recurrent state (SSM + conv), or the KV cache at `context`."""
        return self.ssm_state_bytes + self.conv_state_bytes + self.kv_cache_bytes

    @property
    def memory_bytes(self) -> int:
        """Weights + recurrent state (no activations, no process overhead)."""
        return self.weight_bytes + self.state_bytes

    def bytes_per_token_breakdown(self) -> dict[str, int]:
        out = {"projections": self.projection_bytes, "lm_head": self.lm_head_bytes,
               "embedding_row": self.embedding_row_bytes, "vectors": self.vector_bytes}
        if self.family == "transformer":
            out["kv_cache"] = self.kv_cache_bytes
        else:
            out.update(ssm_state=2 * self.ssm_state_bytes, conv_state=2 * self.conv_state_bytes)
        return out

    @property
    def bytes_per_token(self) -> int:
        return sum(self.bytes_per_token_breakdown().values())

    def as_dict(self) -> dict:
        """A flat record with named fields (derived figures included), for printers and results."""
        d = asdict(self)
        d.update(weight_bytes=self.weight_bytes, state_bytes=self.state_bytes, kv_cache_bytes=self.kv_cache_bytes,
                 memory_bytes=self.memory_bytes, bytes_per_token=self.bytes_per_token,
                 bytes_per_token_breakdown=self.bytes_per_token_breakdown())
        return d


def vector_elems(c: MambaConfig) -> int:
    """Float vector elements read per token (the real model's shapes): per layer in_proj_norm,
    conv weights and bias, dt_bias, A_log, D, out_proj_norm; then norm_f (and lm_head_norm)."""
    per_layer = c.layer_param_counts()
    per_layer.pop("in_proj")
    per_layer.pop("out_proj")
    return c.n_layers * sum(per_layer.values()) + c.d_model * (2 if c.lm_head_norm else 1)


def kv_bytes_per_position(c: TransformerConfig, kv_dtype: str = "f16") -> int:
    """K and V of one position, all layers: 2 x layers x kv_heads x head_dim x bytes per value."""
    if kv_dtype not in KV_BYTES:
        raise BmbenchError(f"unknown KV cache type {kv_dtype!r} (known: {', '.join(KV_BYTES)})")
    return int(round(c.kv_elems_per_position() * KV_BYTES[kv_dtype]))


def _account_transformer(c: TransformerConfig, fmt, context: int, kv_dtype: str) -> Accounting:
    per_layer = sum(fmt.data_bytes(r, col) for r, col in c.projection_shapes().values())
    notes = ()
    if c.tie_embeddings:
        notes = (f"lm_head tied to the embedding: the GEMV reads a packed {fmt.name} copy of the embedding "
                 f"(lm_head_bytes, resident too); the fp32 table stays for the one-row lookup",)
    return Accounting(
        model=c.name, format=fmt.name, state_dtype=kv_dtype, params=c.n_params,
        projection_bytes=c.n_layers * per_layer,
        lm_head_bytes=fmt.data_bytes(c.vocab, c.d_model),
        embedding_bytes=c.vocab * c.d_model * FLOAT_BYTES,
        embedding_row_bytes=c.d_model * FLOAT_BYTES,
        vector_bytes=(2 * c.n_layers + 1) * c.d_model * FLOAT_BYTES,
        ssm_state_bytes=0, conv_state_bytes=0, family="transformer", context=context, kv_dtype=kv_dtype,
        kv_bytes_per_position=kv_bytes_per_position(c, kv_dtype), notes=notes)


def account(config: ModelConfig | str, format: str, state_dtype: str = "f32", context: int = 0,
            kv_dtype: str = "f16") -> Accounting:
    """The accounting of `config` with projections in `format`: the SSM state in `state_dtype`
    (Mamba-2), or the KV cache in `kv_dtype` holding `context` positions (transformer)."""
    c = get_config(config) if isinstance(config, str) else config
    fmt = formats.get(format)
    if context < 0:
        raise BmbenchError(f"context must be >= 0, got {context}")
    if isinstance(c, TransformerConfig):
        return _account_transformer(c, fmt, context, kv_dtype)
    if state_dtype not in STATE_BYTES:
        raise BmbenchError(f"unknown state dtype {state_dtype!r} (known: {', '.join(STATE_BYTES)})")
    per_layer_proj = fmt.data_bytes(c.d_in_proj, c.d_model) + fmt.data_bytes(c.d_model, c.d_inner)
    return Accounting(
        model=c.name, format=fmt.name, state_dtype=state_dtype, params=c.n_params,
        projection_bytes=c.n_layers * per_layer_proj,
        lm_head_bytes=fmt.data_bytes(c.vocab, c.d_model),
        embedding_bytes=c.vocab * c.d_model * FLOAT_BYTES,
        embedding_row_bytes=c.d_model * FLOAT_BYTES,
        vector_bytes=vector_elems(c) * FLOAT_BYTES,
        ssm_state_bytes=c.n_layers * c.ssm_state_elems * STATE_BYTES[state_dtype],
        conv_state_bytes=c.n_layers * c.conv_state_elems * FLOAT_BYTES, family=c.family, context=context,
    )


def model_table(models: list[str] | None = None, formats_: list[str] | None = None,
                state_dtype: str = "f32", context: int = 0, kv_dtype: str = "f16") -> list[Accounting]:
    """Accounting for every model x format (default: all registered models and formats)."""
    models = list_configs() if models is None else models
    formats_ = list(formats.FORMATS) if formats_ is None else formats_
    return [account(m, f, state_dtype, context, kv_dtype) for m in models for f in formats_]
