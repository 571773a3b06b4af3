"""The transformer baseline's C decode engine (kernels/transformer.c) against the NumPy float64
reference (bmbench.models.transformer_reference) on tiny configs: logits per step within a tolerance
per format and identical greedy tokens over 16 steps, for every weight format x flavour x threads x
KV cache type; the synthetic context (fill_context), the cache contents, limits and errors; and the
Mamba engine's synthetic state."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bmbench import formats
from bmbench.engine import Engine, TransformerEngine, engine_for
from bmbench.errors import BmbenchError
from bmbench.models import config, weights
from bmbench.models.transformer_reference import KVCache, TransformerReference, kv_round

TINY = config.get_config("tiny-llama")
CONFIGS = {
    "tied": TINY,  # lm_head = the embedding (greedy tends to repeat the token: logits are the test)
    "untied": dataclasses.replace(TINY, name="tiny-llama-untied", tie_embeddings=False),
    # odd sizes everywhere (SIMD tails), 3 query heads per KV head, plain RoPE
    "odd": config.TransformerConfig("tiny-odd", n_layers=1, d_model=37, n_heads=6, n_kv_heads=2, head_dim=10,
                                    d_ff=53, vocab=53, rope_theta=100.0, tie_embeddings=False),
    # Llama 3's RoPE scaling on a tiny shape
    "llama3-rope": dataclasses.replace(TINY, name="tiny-llama3-rope", rope_theta=500000.0,
                                       rope_scaling=(32.0, 1.0, 4.0, 64)),
}
PROMPT = [3, 1, 4, 1, 5]
N_NEW = 16

_weights: dict = {}


def get_weights(cfg_name: str, fmt: str):
    if (cfg_name, fmt) not in _weights:
        _weights[cfg_name, fmt] = weights.synthetic_weights(CONFIGS[cfg_name], fmt, seed=1)
    return _weights[cfg_name, fmt]


def _tolerance(fmt, kv):
    """Of the logits' range: measured ~1e-7 at most steps for every format; an fp16 cache entry that
    rounded one ulp apart (below) stays in the cache and keeps later logits ~1e-5 apart, as the Mamba
    engine's fp16 state does (tests/test_decode.py allows 1e-4 there too)."""
    return 1e-4 if fmt.name in ("f32", "f16") and kv == "f16" else 3e-4


# Rounding at boundaries: int8 activations (per tensor for ternary, per block otherwise), a q8_0 or
# fp16 cache entry.  The engine computes in float32 and the reference in float64, so one element can
# land one step apart; for that token the logits move by up to ~2e-3 of their range with int8 steps
# (~3e-5 with an fp16 K entry), and the next tokens are back at ~1e-7.  A few such steps are allowed,
# within flip_tol (1e-3 for float weights, 1e-2 otherwise); every other step within the tolerance.
MAX_FLIPS = 2


class Checker:
    def __init__(self, tol):
        self.tol, self.flips, self.exact = tol, 0, 0
        self.flip_tol = 1e-3 if tol <= 1e-4 else 1e-2

    def __call__(self, logits, ref, token):
        scale = np.max(np.abs(ref))
        err = np.max(np.abs(logits - ref)) / scale
        if err > self.tol:
            self.flips += 1
            assert err <= self.flip_tol and self.flips <= MAX_FLIPS, \
                f"logits differ by {err:.2e} of their range (tolerance {self.tol:.0e}, flips {self.flips})"
        # greedy: the reference's argmax, unless the reference has a near-tie within this step's error
        assert ref[token] >= np.max(ref) - 2 * max(err, self.tol) * scale, (token, int(np.argmax(ref)))
        self.exact += token == int(np.argmax(ref))


@pytest.mark.parametrize("kv", ["f16", "q8_0"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("fmt_name", list(formats.FORMATS))
@pytest.mark.parametrize("cfg_name", ["tied", "untied", "odd"])
def test_decode_matches_reference(cfg_name, fmt_name, threads, kv, flavour):
    fmt = formats.get(fmt_name)
    if flavour not in fmt.flavours:
        pytest.skip(f"{fmt_name} has no {flavour} kernel")
    if kv == "q8_0" and CONFIGS[cfg_name].head_dim % 32:
        pytest.skip("q8_0 KV cache needs head_dim a multiple of 32")
    w = get_weights(cfg_name, fmt_name)
    eng = TransformerEngine(w, threads=threads, flavour=flavour, kv=kv, max_context=64)
    ref, cache = TransformerReference(w, kv_type=kv), KVCache.empty(w.config.n_layers, w.config.n_kv_heads,
                                                                    w.config.head_dim)
    tol = _tolerance(fmt, kv)
    check = Checker(tol)
    generated = []
    for t in PROMPT:
        tok = eng.step(t)
        check(eng.logits(), ref.step(t, cache), tok)
    generated.append(tok)
    for _ in range(N_NEW - 1):
        tok = eng.step(generated[-1])
        check(eng.logits(), ref.step(generated[-1], cache), tok)
        generated.append(tok)
    if fmt.name == "f32" and kv == "f16":  # no near-ties at this precision
        assert check.exact == len(PROMPT) + N_NEW - 1
    assert eng.position == len(PROMPT) + N_NEW - 1
    # the cache holds what the reference stored (K after RoPE), position by position
    K, V = eng.kv_cache()
    for i in range(w.config.n_layers):
        for got, want in ((K[i], cache.K[i]), (V[i], cache.V[i])):
            step = np.abs(want).max() * (2 ** -10 if kv == "f16" else 1 / 127)
            assert np.max(np.abs(got - want)) <= 30 * tol * np.abs(want).max() + step
    last = eng.logits()
    eng.reset()  # the C loop from an empty cache: the same tokens and last logits, bit for bit
    run = eng.decode(PROMPT, N_NEW)
    assert run.tokens.tolist() == generated
    np.testing.assert_array_equal(eng.logits(), last)


def test_llama3_rope_scaling_matches_reference(flavour):
    w = get_weights("llama3-rope", "f32")
    inv = w.config.rope_inv_freq()
    plain = dataclasses.replace(w.config, rope_scaling=None).rope_inv_freq()
    assert inv[0] == plain[0] and inv[-1] == pytest.approx(plain[-1] / 32)  # high freq kept, low scaled
    eng, ref = TransformerEngine(w, flavour=flavour, max_context=32), TransformerReference(w)
    cache, check = ref.new_cache(), Checker(1e-4)
    for t in PROMPT * 2:
        tok = eng.step(t)
        check(eng.logits(), ref.step(t, cache), tok)


@pytest.mark.parametrize("kv", ["f16", "q8_0"])
def test_fill_context_then_decode_matches_reference(kv, flavour):
    w = get_weights("untied", "q8_0")
    eng = TransformerEngine(w, threads=2, flavour=flavour, kv=kv, max_context=300)
    eng.fill_context(257, seed=7)
    assert eng.position == 257 and eng.state_bytes == 257 * eng.kv_bytes_per_position
    K, V = eng.kv_cache()
    assert K.shape == (w.config.n_layers, w.config.n_kv_heads, 257, w.config.head_dim)
    for a in (K, V):  # realistic magnitude: ~N(0, 1), not zero, not degenerate
        assert abs(float(a.mean())) < 0.05 and 0.9 < float(a.std()) < 1.1 and np.all(np.isfinite(a))
    assert not np.array_equal(K, V)
    np.testing.assert_array_equal(kv_round(K, kv), K)  # what the cache type can hold
    # the reference continues from the same cache: identical logits and tokens
    ref = TransformerReference(w, kv_type=kv)
    cache = KVCache([k.astype(np.float64) for k in K], [v.astype(np.float64) for v in V])
    check = Checker(_tolerance(formats.get("q8_0"), kv))
    for t in PROMPT:
        tok = eng.step(t)
        check(eng.logits(), ref.step(t, cache), tok)
    # seeded: the same seed gives the same cache whatever the thread count, another seed another
    one = TransformerEngine(w, threads=1, flavour=flavour, kv=kv, max_context=300)
    one.fill_context(257, seed=7)
    np.testing.assert_array_equal(one.kv_cache()[0], K)
    one.fill_context(257, seed=8)
    assert not np.array_equal(one.kv_cache()[0], K)


def test_context_limits_and_reset(flavour):
    w = get_weights("tied", "f32")
    eng = TransformerEngine(w, flavour=flavour, max_context=8)
    with pytest.raises(BmbenchError, match="max_context"):
        eng.fill_context(9)
    eng.fill_context(6)
    with pytest.raises(BmbenchError, match="KV cache too small"):
        eng.decode([1, 2], 3)  # needs positions 6, 7, 8, 9: more than 8
    assert eng.position == 6  # nothing ran
    run = eng.decode([1], 2)  # positions 6 and 7: fits exactly
    assert run.tokens.shape == (2,) and eng.position == 8
    with pytest.raises(BmbenchError, match="full"):
        eng.step(1)
    eng.reset()
    assert eng.position == 0 and eng.state_bytes == 0
    a = eng.decode(PROMPT, 3)
    eng.fill_context(0)
    b = eng.decode(PROMPT, 3)
    np.testing.assert_array_equal(a.tokens, b.tokens)


@pytest.mark.parametrize("kv_heads", [1, 2])
def test_threads_bitwise_equal_and_timestamps(kv_heads, flavour):
    """A token is one parallel region (team.h): 2 and 3 threads give the 1-thread tokens and logits
    bit for bit, with the attention shared across the team (a context long enough) over 1 or 2 KV
    heads."""
    w = weights.synthetic_weights(dataclasses.replace(TINY, name=f"tiny-llama-{kv_heads}kv", n_kv_heads=kv_heads),
                                  "q4_0", seed=1) if kv_heads != 1 else get_weights("untied", "q4_0")
    runs = []
    for threads in (1, 2, 3):
        eng = TransformerEngine(w, threads=threads, flavour=flavour, max_context=600)
        eng.fill_context(520)  # n x kv_dim >= 2^14 cached values: attention split across threads
        runs.append((eng.decode(PROMPT, 8), eng.logits()))
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0][0].tokens, other[0].tokens)
        np.testing.assert_array_equal(runs[0][1], other[1])
    run = runs[0][0]
    assert run.t_ns.shape == (len(PROMPT) + 8,) and np.all(np.diff(run.t_ns) >= 0)
    assert run.prefill_ns > 0 and run.token_ns.shape == (7,) and np.all(run.token_ns > 0)


def test_engine_for_and_bad_inputs():
    w = get_weights("tied", "f32")
    assert isinstance(engine_for(w, max_context=4), TransformerEngine)
    assert isinstance(engine_for(weights.synthetic_weights(config.get_config("tiny-mamba2"), "f32")), Engine)
    eng = TransformerEngine(w, max_context=16)
    assert eng.kv_bytes_per_position == 2 * TINY.n_layers * TINY.n_kv_heads * TINY.head_dim * 2
    assert eng.kv_bytes_allocated == 16 * eng.kv_bytes_per_position
    assert TransformerEngine(w, kv="q8_0", max_context=1).kv_bytes_per_position == \
        2 * TINY.n_layers * TINY.n_kv_heads * 34
    with pytest.raises(BmbenchError, match="vocabulary"):
        eng.step(TINY.vocab)
    with pytest.raises(BmbenchError):
        eng.decode([], 2)
    with pytest.raises(BmbenchError, match="KV cache type"):
        TransformerEngine(w, kv="q4_0")
    with pytest.raises(BmbenchError, match="multiple of 32"):
        TransformerEngine(get_weights("odd", "f32"), kv="q8_0")
    with pytest.raises(BmbenchError, match="max_context"):
        TransformerEngine(w, max_context=0)
    bad = dataclasses.replace(w, layers=list(w.layers))
    bad.layers[0] = dataclasses.replace(bad.layers[0], wo=bad.layers[0].wq.__class__(
        "f32", 3, 3, np.zeros(36, np.uint8)))
    with pytest.raises(BmbenchError, match="shape"):
        TransformerEngine(bad)


# ------------------------------------------------------------------------- Mamba synthetic state
@pytest.mark.parametrize("state", ["f32", "f16"])
@pytest.mark.parametrize("model", ["tiny-mamba2", "tiny-bitmamba"])
def test_mamba_fill_context_gives_a_seeded_nonzero_state(model, state, flavour):
    w = weights.synthetic_weights(config.get_config(model), "f32")
    eng = Engine(w, flavour=flavour, state=state)
    fresh = eng.decode(PROMPT, 4)
    l_fresh = eng.logits()
    eng.fill_context(1000, seed=3)
    a = eng.decode(PROMPT, 4)
    la = eng.logits()
    assert np.all(np.isfinite(la)) and not np.array_equal(la, l_fresh)
    eng.fill_context(5, seed=3)  # the same seed: the same state, whatever the length
    eng.decode(PROMPT, 4)
    np.testing.assert_array_equal(eng.logits(), la)
    eng.fill_context(1000, seed=4)
    eng.decode(PROMPT, 4)
    assert not np.array_equal(eng.logits(), la)
    eng.fill_context(0)  # no context: the zero state
    np.testing.assert_array_equal(eng.decode(PROMPT, 4).tokens, fresh.tokens)
    two = Engine(w, flavour=flavour, state=state, threads=2)
    two.fill_context(1000, seed=3)
    np.testing.assert_array_equal(two.decode(PROMPT, 4).tokens, a.tokens)
    with pytest.raises(BmbenchError):
        eng.fill_context(-1)
