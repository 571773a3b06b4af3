"""NumPy float64 reference forward of the transformer baseline (Llama-shaped): one decode step over
a KV cache and greedy generation.  The oracle the C engine (kernels/transformer.c) is tested
against on tiny configs.

Weights are the format's dequantised values and each projection sees its input as the format's
kernel does (`Format.act_reference`); K and V are rounded into the cache's type (fp16, or q8_0 blocks
as the engine quantises them) when stored, so the only differences to the C engine are float
rounding.  Per token at position pos and layer:

    u = rmsnorm(h) * attn_norm;  q = Wq act(u);  k = Wk act(u);  v = Wv act(u)
    q, k = rope(q, pos), rope(k, pos)        rotate-half pairs (i, i + head_dim/2), angle pos * inv_freq[i]
    K[pos], V[pos] = kv_round(k), kv_round(v)
    per query head h (KV head h // group):  a_h = softmax(q_h K^T / sqrt(head_dim)) V
    h += Wo act(a);  u = rmsnorm(h) * ffn_norm;  h += Wdown act(silu(Wgate act(u)) * (Wup act(u)))
final: logits = Wlm act(rmsnorm(h) * norm_f)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import formats
from ..errors import BmbenchError
from .reference import rmsnorm, silu
from .weights import TRANSFORMER_PROJECTIONS, TransformerWeights

KV_TYPES = ("f16", "q8_0", "f64")


def kv_round(x: np.ndarray, kv_type: str) -> np.ndarray:
    """Rows x [..., head_dim] as a cache of `kv_type` stores them (float64)."""
    x = np.asarray(x)
    if kv_type == "f64":
        return x.astype(np.float64)
    if kv_type == "f16":
        return x.astype(np.float32).astype(np.float16).astype(np.float64)
    if kv_type == "q8_0":
        q8 = formats.get("q8_0")
        rows = x.reshape(-1, x.shape[-1]).astype(np.float32)
        return q8.dequantise(q8.quantise(rows)).reshape(x.shape)
    raise BmbenchError(f"unknown KV cache type {kv_type!r} (known: {', '.join(KV_TYPES)})")


@dataclass
class KVCache:
    """Per layer K and V, float64 [n_kv_heads, positions, head_dim] (values as the cache holds them)."""
    K: list[np.ndarray]
    V: list[np.ndarray]

    @classmethod
    def empty(cls, n_layers: int, n_kv_heads: int, head_dim: int) -> "KVCache":
        z = lambda: np.zeros((n_kv_heads, 0, head_dim))  # noqa: E731
        return cls([z() for _ in range(n_layers)], [z() for _ in range(n_layers)])

    @property
    def position(self) -> int:
        return self.K[0].shape[1]


def rope(x: np.ndarray, pos: int, inv_freq: np.ndarray) -> np.ndarray:
    """Rotate-half RoPE of x [heads, head_dim] at position pos."""
    half = x.shape[-1] // 2
    ang = pos * inv_freq
    c, s = np.cos(ang), np.sin(ang)
    a, b = x[:, :half], x[:, half:]
    return np.concatenate([a * c - b * s, b * c + a * s], axis=1)


@dataclass
class TransformerReference:
    """The float64 reference of TransformerWeights (dequantised once: tiny configs only)."""
    weights: TransformerWeights
    kv_type: str = "f16"
    _mats: list[dict[str, np.ndarray]] = field(init=False, repr=False)

    def __post_init__(self):
        if self.kv_type not in KV_TYPES:
            raise BmbenchError(f"unknown KV cache type {self.kv_type!r} (known: {', '.join(KV_TYPES)})")
        w = self.weights
        self.config = c = w.config
        self.fmt = formats.get(w.format)
        f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
        self._mats = [{k: self.fmt.dequantise(getattr(lw, k)) for k in TRANSFORMER_PROJECTIONS}
                      for lw in w.layers]
        self._norms = [(f64(lw.attn_norm), f64(lw.ffn_norm)) for lw in w.layers]
        self.norm_f = f64(w.norm_f)
        self.W_lm = self.fmt.dequantise(w.lm_head)
        # the engine receives the frequencies as float32
        self.inv_freq = c.rope_inv_freq().astype(np.float32).astype(np.float64)

    def new_cache(self) -> KVCache:
        c = self.config
        return KVCache.empty(c.n_layers, c.n_kv_heads, c.head_dim)

    def _lin(self, W: np.ndarray, x: np.ndarray) -> np.ndarray:
        return W @ self.fmt.act_reference(x, self.config.act_quant)

    def layer_step(self, i: int, h: np.ndarray, cache: KVCache, pos: int) -> np.ndarray:
        c, M = self.config, self._mats[i]
        attn_norm, ffn_norm = self._norms[i]
        hd, g = c.head_dim, c.group
        u = rmsnorm(h, attn_norm, c.eps)
        q = rope(self._lin(M["wq"], u).reshape(c.n_heads, hd), pos, self.inv_freq)
        k = rope(self._lin(M["wk"], u).reshape(c.n_kv_heads, hd), pos, self.inv_freq)
        v = self._lin(M["wv"], u).reshape(c.n_kv_heads, hd)
        cache.K[i] = np.concatenate([cache.K[i], kv_round(k, self.kv_type)[:, None, :]], axis=1)
        cache.V[i] = np.concatenate([cache.V[i], kv_round(v, self.kv_type)[:, None, :]], axis=1)
        K = np.repeat(cache.K[i], g, axis=0)  # [n_heads, pos + 1, hd]: query head j reads KV head j // g
        V = np.repeat(cache.V[i], g, axis=0)
        s = np.einsum("hd,htd->ht", q, K) / np.sqrt(hd)
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        a = np.einsum("ht,htd->hd", p, V).reshape(-1)
        h = h + self._lin(M["wo"], a)
        u = rmsnorm(h, ffn_norm, c.eps)
        return h + self._lin(M["w_down"], silu(self._lin(M["w_gate"], u)) * self._lin(M["w_up"], u))

    def step(self, token: int, cache: KVCache) -> np.ndarray:
        """Logits (float64 [vocab]) after feeding `token` at position cache.position; appends to cache."""
        c = self.config
        if not 0 <= token < c.vocab:
            raise BmbenchError(f"token {token} out of range for vocab {c.vocab}")
        pos = cache.position
        h = self.weights.embedding[token].astype(np.float64)
        for i in range(c.n_layers):
            h = self.layer_step(i, h, cache, pos)
        return self._lin(self.W_lm, rmsnorm(h, self.norm_f, c.eps))

    def generate(self, prompt: list[int], n_new: int, cache: KVCache | None = None) -> "Generation":
        """Feed `prompt`, then generate `n_new` tokens greedily (argmax, lowest id on ties)."""
        if not prompt:
            raise BmbenchError("generate needs a non-empty prompt")
        cache = self.new_cache() if cache is None else cache
        all_logits, logits = [], None
        for t in prompt:
            logits = self.step(int(t), cache)
            all_logits.append(logits)
        tokens = []
        for k in range(n_new):
            tokens.append(int(np.argmax(logits)))
            if k + 1 < n_new:
                logits = self.step(tokens[-1], cache)
                all_logits.append(logits)
        return Generation(tokens=tokens, logits=np.array(all_logits), cache=cache)


@dataclass
class Generation:
    tokens: list[int]
    logits: np.ndarray  # [len(prompt) + n_new - 1, vocab]
    cache: KVCache
