"""The decode engines: a model's whole token loop in C, driven from here.  `Engine` runs Mamba-2
(kernels/decode.c), `TransformerEngine` the transformer baseline over a KV cache
(kernels/transformer.c); `engine_for` picks by the weights' config family.

    eng = engine_for(weights, threads=2)      # weights: bmbench.models ModelWeights / TransformerWeights
    eng.fill_context(2048)                    # optional: a synthetic context of 2048 positions
    run = eng.decode([50256], n_new=32)       # greedy; GIL released, no Python inside the loop
    run.tokens, run.prefill_ns, run.token_ns

An engine keeps the weights' arrays alive and owns its state (SSM + conv state, or the KV cache) and
scratch buffers; every kernel runs in one flavour (default: the dispatch's choice).  It first moves the
weights' packed matrices into one arena on huge pages (models.weights.gather_projections), where the
DRAM probe's buffer is too: the bound and the decode stream the same kind of pages.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import _kernels, formats
from .dispatch import chosen_flavour, flavour_id
from .errors import BmbenchError
from .attn import kv_type_id
from .models.weights import gather_projections
from .ssm import state_type


@dataclass(frozen=True)
class DecodeRun:
    """One greedy decode: the tokens and a CLOCK_MONOTONIC timestamp per step (kernels/decode.h)."""
    prompt: np.ndarray  # int32 [n_prompt]
    tokens: np.ndarray  # int32 [n_new]
    t_ns: np.ndarray    # int64 [n_prompt + n_new]: start, after each prompt batch (one entry per
                        # token of it), after each new token

    @property
    def prefill_ns(self) -> int:
        """Time to run the prompt and know the first new token."""
        return int(self.t_ns[len(self.prompt)] - self.t_ns[0])

    @property
    def token_ns(self) -> np.ndarray:
        """Per generated token after the first (each one full step), nanoseconds."""
        return np.diff(self.t_ns[len(self.prompt):])


def _linear(p) -> tuple:
    fmt = formats.get(p.format)
    return (fmt.id, np.ascontiguousarray(p.data, dtype=np.uint8).reshape(-1), int(p.rows), int(p.cols),
            float(p.scale))


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


class _Greedy:
    """What both C engines share: one step, the last logits, the greedy decode loop (all in C)."""

    _c = None  # the Cython engine object

    def step(self, token: int, logits: bool = True) -> int:
        """One token through the model; returns the greedy next token (-1 when logits=False)."""
        try:
            return self._c.step(int(token), logits)
        except ValueError as e:
            raise BmbenchError(str(e)) from None

    def logits(self) -> np.ndarray:
        """A copy of the last step's logits (float32 [vocab])."""
        return self._c.logits()

    def decode(self, prompt: Sequence[int], n_new: int, batch: int = 0) -> DecodeRun:
        """Run the prompt, then generate n_new tokens greedily; the state carries on from before
        (call reset() first for a fresh sequence).  The prompt runs in batches of `batch` tokens
        (0: as one batch, the engine's GEMM over up to 64 tokens at a time; 1: token by token);
        the result is the same either way, bit for bit."""
        p = np.ascontiguousarray(prompt, dtype=np.int32).reshape(-1)
        if len(p) < 1 or n_new < 1:
            raise BmbenchError("decode needs at least one prompt token and one new token")
        out = np.empty(n_new, dtype=np.int32)
        t_ns = np.empty(len(p) + n_new, dtype=np.int64)
        try:
            self._c.decode(p, out, t_ns, int(batch))
        except ValueError as e:
            raise BmbenchError(str(e)) from None
        return DecodeRun(prompt=p, tokens=out, t_ns=t_ns)


class Engine(_Greedy):
    """A model's weights bound to the C decode engine, with its own state."""

    def __init__(self, weights, threads: int = 1, flavour: str | None = None, state: str = "f32"):
        cfg = weights.config
        self.weights = weights
        gather_projections(weights)
        self.flavour = flavour or chosen_flavour()
        self.threads = threads
        self.state = state
        if cfg.lm_head_norm != (weights.lm_head_norm is not None):
            raise BmbenchError("config.lm_head_norm and the weights' lm_head_norm disagree")
        d_per_channel = np.size(weights.layers[0].D) == cfg.d_inner != cfg.n_heads
        conv_dim = cfg.d_inner + (2 * cfg.n_groups * cfg.d_state if cfg.conv_bc else 0)
        desc = dict(n_layers=cfg.n_layers, d_model=cfg.d_model, d_inner=cfg.d_inner,
                    n_heads=cfg.n_heads, head_dim=cfg.head_dim, d_state=cfg.d_state,
                    n_groups=cfg.n_groups, d_conv=cfg.d_conv, vocab=cfg.vocab,
                    conv_bc=int(cfg.conv_bc), D_per_channel=int(d_per_channel), eps=float(cfg.eps),
                    act_quant=formats.act_quant_id(cfg.act_quant))
        layers = [dict(in_proj_norm=_f32(L.in_proj_norm), in_proj=_linear(L.in_proj),
                       conv_w=_f32(L.conv_w).reshape(conv_dim, -1), conv_b=_f32(L.conv_b),
                       dt_bias=_f32(L.dt_bias), A_log=_f32(L.A_log), D=_f32(L.D),
                       out_proj_norm=_f32(L.out_proj_norm), out_proj=_linear(L.out_proj))
                  for L in weights.layers]
        lm_head_norm = None if weights.lm_head_norm is None else _f32(weights.lm_head_norm)
        try:
            self._c = _kernels.Decoder(desc, _f32(weights.embedding), _f32(weights.norm_f),
                                       lm_head_norm, _linear(weights.lm_head), layers,
                                       state_type(state), flavour_id(self.flavour), threads)
        except ValueError as e:
            raise BmbenchError(f"cannot build the decode engine for {cfg.name}: {e}") from None

    context_fill = "synthetic SSM/conv state"

    @property
    def state_bytes(self) -> int:
        """Recurrent state (SSM + conv) read and written per token, bytes."""
        return self._c.state_bytes

    def read_state(self) -> np.ndarray:
        """The recurrent state's bytes (every layer's SSM state, then every layer's conv state)."""
        return self._c.read_state()

    def reset(self) -> None:
        """Zero the recurrent state: the next token starts a new sequence."""
        self._c.reset()

    def fill_context(self, n: int, seed: int = 0) -> None:
        """Stand in for a context of n tokens without running it: a seeded synthetic SSM and conv state
        of realistic magnitude (kernels/decode.h, bmk_model_fill_state).  A Mamba-2 step costs the
        same whatever the context, so n only decides whether the state is zero (n = 0) or not."""
        if n < 0:
            raise BmbenchError(f"context must be >= 0, got {n}")
        self._c.reset()
        if n > 0:
            self._c.fill_state(int(seed))


class TransformerEngine(_Greedy):
    """A transformer's weights bound to the C decode engine (kernels/transformer.h), with its own KV
    cache of max_context positions (fp16 or q8_0)."""

    context_fill = "synthetic KV cache"

    def __init__(self, weights, threads: int = 1, flavour: str | None = None, kv: str = "f16",
                 max_context: int = 2048):
        cfg = weights.config
        self.weights = weights
        gather_projections(weights)
        self.flavour = flavour or chosen_flavour()
        self.threads = threads
        self.kv = kv
        if max_context < 1:
            raise BmbenchError(f"max_context must be >= 1, got {max_context}")
        desc = dict(n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads,
                    n_kv_heads=cfg.n_kv_heads, head_dim=cfg.head_dim, d_ff=cfg.d_ff, vocab=cfg.vocab,
                    max_context=int(max_context), eps=float(cfg.eps),
                    act_quant=formats.act_quant_id(cfg.act_quant))
        layers = [dict(attn_norm=_f32(L.attn_norm), ffn_norm=_f32(L.ffn_norm),
                       **{k: _linear(getattr(L, k)) for k in ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down")})
                  for L in weights.layers]
        try:
            self._c = _kernels.TransformerDecoder(desc, _f32(cfg.rope_inv_freq()), _f32(weights.embedding),
                                                  _f32(weights.norm_f), _linear(weights.lm_head), layers,
                                                  kv_type_id(kv), flavour_id(self.flavour), threads)
        except ValueError as e:
            raise BmbenchError(f"cannot build the decode engine for {cfg.name}: {e}") from None

    @property
    def max_context(self) -> int:
        return self._c.max_context

    @property
    def position(self) -> int:
        """Positions in the KV cache: the next token's position."""
        return self._c.position

    @property
    def kv_bytes_per_position(self) -> int:
        """KV cache bytes one position takes, all layers, K and V."""
        return self._c.kv_bytes_per_position

    @property
    def state_bytes(self) -> int:
        """KV cache bytes in use at the current position (what the next token's attention reads)."""
        return self._c.kv_bytes_per_position * self._c.position

    @property
    def kv_bytes_allocated(self) -> int:
        return self._c.kv_bytes_allocated

    def reset(self) -> None:
        """Empty the KV cache: the next token starts a new sequence at position 0."""
        self._c.reset()

    def fill_context(self, n: int, seed: int = 0) -> None:
        """Stand in for a context of n tokens without running it: n positions of seeded synthetic K and
        V entries (~N(0, 1), the magnitude k = Wk u has here) in every layer (kernels/transformer.h)."""
        try:
            self._c.fill_context(int(n), int(seed))
        except (ValueError, OverflowError) as e:
            raise BmbenchError(str(e)) from None

    def kv_cache(self) -> tuple[np.ndarray, np.ndarray]:
        """(K, V) as float32 [n_layers, n_kv_heads, position, head_dim] (K after RoPE)."""
        K = np.stack([self._c.kv_read(i, 0) for i in range(self.weights.config.n_layers)])
        V = np.stack([self._c.kv_read(i, 1) for i in range(self.weights.config.n_layers)])
        return K, V


def engine_for(weights, threads: int = 1, flavour: str | None = None, state: str = "f32",
               kv: str = "f16", max_context: int = 2048):
    """The decode engine of the weights' family: `state` applies to Mamba-2, `kv` and `max_context`
    to the transformer."""
    if getattr(weights.config, "family", None) == "transformer":
        return TransformerEngine(weights, threads=threads, flavour=flavour, kv=kv, max_context=max_context)
    return Engine(weights, threads=threads, flavour=flavour, state=state)
