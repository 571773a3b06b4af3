"""Batched prefill: the GEMM driver (bmk_gemm) against the GEMV kernels it runs, every format x
flavour x threads, with the scalar GEMV as the reference; both decode engines' batched prompt
against the same prompt token by token: the state (SSM + conv, or the KV cache) and the logits
after it bit for bit, across batch boundaries, every format x flavour x threads."""
from __future__ import annotations

import numpy as np
import pytest

from bmbench import _kernels, formats
from bmbench.dispatch import flavour_id
from bmbench.engine import Engine, TransformerEngine
from bmbench.models import config, weights
from bmbench.models.config import MambaConfig

BATCH = _kernels.BATCH  # tokens per batched pass (kernels/decode.h BMK_BATCH)
# crosses a batch boundary with a partial last batch
PROMPT = np.random.default_rng(5).integers(0, 53, BATCH + 6).tolist()


def _prepared(fmt, flavour: str, xs: np.ndarray) -> np.ndarray:
    stride = -(-fmt.act_bytes(xs.shape[1]) // 64) * 64
    acts = formats.aligned_empty(len(xs) * stride).reshape(len(xs), stride)
    for j, x in enumerate(xs):
        _kernels.prep(fmt.id, x, acts[j], 0, flavour_id(flavour))
    return acts


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("fmt_name", list(formats.FORMATS))
def test_gemm_is_the_gemv_of_every_vector(fmt_name, threads, flavour):
    """Rows over several GEMM blocks (kernels/bmk.h BMK_GEMM_BLOCK_BYTES) and a partial row tile,
    n = 1 (the GEMV path), 5 and 64 vectors: each output row is its flavour's GEMV bit for bit and
    the scalar GEMV's (bitwise for the integer formats, within float rounding otherwise)."""
    fmt = formats.get(fmt_name)
    if flavour not in fmt.flavours:
        pytest.skip(f"{fmt_name} has no {flavour} kernel")
    rng = np.random.default_rng(1)
    cols = 256
    rows = int(3.5 * 128 * 1024 * 8 / (fmt.bpw * cols)) // fmt.row_tile * fmt.row_tile + 5
    packed = fmt.synthetic(rng, rows, cols)
    for n in (1, 5, 64):
        xs = rng.standard_normal((n, cols)).astype(np.float32)
        acts = _prepared(fmt, flavour, xs)
        y = np.full((n, rows), np.nan, dtype=np.float32)
        _kernels.gemm(fmt.id, flavour_id(flavour), packed.data, rows, cols, packed.scale, acts, y, threads)
        ref_acts = _prepared(fmt, "scalar", xs)
        for j in range(n):
            want = np.empty(rows, dtype=np.float32)
            _kernels.gemv(fmt.id, flavour_id(flavour), packed.data, rows, cols, packed.scale, acts[j], want, 1)
            np.testing.assert_array_equal(y[j], want)
            scalar = np.empty(rows, dtype=np.float32)
            _kernels.gemv(fmt.id, 0, packed.data, rows, cols, packed.scale, ref_acts[j], scalar, 1)
            if fmt.exact:
                np.testing.assert_array_equal(y[j], scalar)
            else:
                np.testing.assert_allclose(y[j], scalar, rtol=1e-4, atol=1e-4 * np.max(np.abs(scalar)))


MAMBA = {
    "bitmamba": MambaConfig("tiny-bitmamba", 2, 64, 128, 4, 32, 1, 4, 4, 53, False, True, family="bitmamba2"),
    "mamba2": MambaConfig("tiny-mamba2", 2, 64, 128, 4, 32, 16, 1, 4, 53, True, False),
    # a state the decode team shares (decode.c BMK_SSM_PAR_MIN)
    "wide-state": MambaConfig("tiny-wide-state", 1, 64, 512, 8, 64, 128, 1, 4, 53, True, False),
}


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("fmt_name", list(formats.FORMATS))
@pytest.mark.parametrize("cfg_name", list(MAMBA))
def test_mamba_batched_prompt_is_token_by_token(cfg_name, fmt_name, threads, flavour):
    if flavour not in formats.get(fmt_name).flavours:
        pytest.skip(f"{fmt_name} has no {flavour} kernel")
    eng = Engine(weights.synthetic_weights(MAMBA[cfg_name], fmt_name, seed=3), threads=threads, flavour=flavour,
                 state="f16" if cfg_name == "mamba2" else "f32")
    want = eng.decode(PROMPT, 4, batch=1)
    state, logits = eng.read_state(), eng.logits()
    assert state.any()
    for batch in (0, 7):  # whole prompt (batches of 64 inside), and batches of 7
        eng.reset()
        got = eng.decode(PROMPT, 4, batch=batch)
        assert got.tokens.tolist() == want.tokens.tolist()
        np.testing.assert_array_equal(eng.logits(), logits)
        eng.reset()
        eng.decode(PROMPT, 1, batch=batch)  # the state right after the prompt ...
        after_prompt = eng.read_state()
        eng.reset()
        eng.decode(PROMPT, 1, batch=1)      # ... is the token-by-token one
        np.testing.assert_array_equal(after_prompt, eng.read_state())
    # the next decode steps read that state: continuing gives the same tokens
    eng.reset()
    eng.decode(PROMPT, 1)
    np.testing.assert_array_equal(eng.decode([7], 3, batch=1).tokens, Engine(
        eng.weights, threads=1, flavour=flavour, state=eng.state).decode(PROMPT + [7], 3, batch=1).tokens[-3:])


TRANSFORMERS = {
    "tiny-llama": config.get_config("tiny-llama"),
    "odd": config.TransformerConfig("tiny-odd", n_layers=1, d_model=37, n_heads=6, n_kv_heads=2, head_dim=10,
                                    d_ff=53, vocab=53, rope_theta=100.0, tie_embeddings=False),
}


@pytest.mark.parametrize("kv", ["f16", "q8_0"])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("fmt_name", list(formats.FORMATS))
@pytest.mark.parametrize("cfg_name", list(TRANSFORMERS))
def test_transformer_batched_prompt_is_token_by_token(cfg_name, fmt_name, threads, kv, flavour):
    cfg = TRANSFORMERS[cfg_name]
    if flavour not in formats.get(fmt_name).flavours:
        pytest.skip(f"{fmt_name} has no {flavour} kernel")
    if kv == "q8_0" and cfg.head_dim % 32:
        pytest.skip("q8_0 KV cache needs head_dim a multiple of 32")
    prompt = [t % cfg.vocab for t in PROMPT]
    eng = TransformerEngine(weights.synthetic_weights(cfg, fmt_name, seed=3), threads=threads, flavour=flavour,
                            kv=kv, max_context=len(prompt) + 8)
    want = eng.decode(prompt, 4, batch=1)
    logits = eng.logits()
    eng.reset()
    eng.decode(prompt, 1, batch=1)
    K, V = eng.kv_cache()
    for batch in (0, 7):
        eng.reset()
        eng.decode(prompt, 1, batch=batch)
        K2, V2 = eng.kv_cache()  # causal: every position's keys and values as token by token
        np.testing.assert_array_equal(K2, K)
        np.testing.assert_array_equal(V2, V)
        eng.reset()
        got = eng.decode(prompt, 4, batch=batch)
        assert got.tokens.tolist() == want.tokens.tolist()
        np.testing.assert_array_equal(eng.logits(), logits)


def test_batched_timestamps_mark_each_batch():
    eng = Engine(weights.synthetic_weights(MAMBA["bitmamba"], "f32", seed=3))
    run = eng.decode(PROMPT, 3, batch=7)
    n = len(PROMPT)
    stamps = run.t_ns[1:n + 1]
    assert all(len(set(stamps[j:j + 7])) == 1 for j in range(0, n, 7))  # one stamp per batch
    assert np.all(np.diff(run.t_ns) >= 0) and len(set(stamps)) == -(-n // 7)
    assert run.prefill_ns == run.t_ns[n] - run.t_ns[0] > 0
