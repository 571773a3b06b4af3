"""The transformer baseline's config and accounting (KV cache bytes per position and per context),
its weights in the disk cache, the decode case with a `context` (synthetic fill, bytes per token at
that context, the memory guard), and the context / decode-transformer suites end to end on tiny
models."""
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from bmbench import decode_case, formats, results
from bmbench.engine import TransformerEngine
from bmbench.errors import BmbenchError
from bmbench.models import account, cache, get_config, list_configs
from bmbench.models.accounting import kv_bytes_per_position
from bmbench.models.config import TransformerConfig
from bmbench.suites import load_suite

# subprocesses run outside the checkout, so `-m`/`-c` import the installed bmbench
OUTSIDE = tempfile.gettempdir()


# ------------------------------------------------------------------------------- config, accounting
def test_llama_1b_shape_and_parameters():
    c = get_config("llama-1b")
    assert "llama-1b" in list_configs() and "tiny-llama" in list_configs()
    assert (c.n_layers, c.d_model, c.n_heads, c.n_kv_heads, c.head_dim, c.d_ff, c.vocab) == \
        (16, 2048, 32, 8, 64, 8192, 128256)
    assert c.tie_embeddings and c.rope_theta == 500000.0 and c.eps == 1e-5 and c.group == 4
    assert c.n_params == 1_235_814_400  # Llama-3.2-1B: 1.24 B parameters, tied embedding counted once
    # KV cache per position: 2 x 16 x 8 x 64 values, 32 KiB at fp16 (BRIEF section 2)
    assert c.kv_elems_per_position() == 2 * 16 * 8 * 64
    assert kv_bytes_per_position(c, "f16") == 32 * 1024
    assert kv_bytes_per_position(c, "q8_0") == 2 * 16 * 8 * 2 * 34


def test_transformer_config_validation():
    with pytest.raises(BmbenchError, match="multiple of n_kv_heads"):
        TransformerConfig("x", 1, 8, 3, 2, 4, 8, 10)
    with pytest.raises(BmbenchError, match="even"):
        TransformerConfig("x", 1, 8, 2, 1, 5, 8, 10)
    with pytest.raises(BmbenchError, match="positive"):
        TransformerConfig("x", 0, 8, 2, 1, 4, 8, 10)


@pytest.mark.parametrize("fmt", ["q4_0", "ternary-lut"])
def test_transformer_bytes_per_token_grow_with_the_context(fmt):
    c, f = get_config("llama-1b"), formats.get(fmt)
    a0 = account(c, fmt)
    proj = c.n_layers * sum(f.data_bytes(r, col) for r, col in c.projection_shapes().values())
    assert a0.projection_bytes == proj and a0.lm_head_bytes == f.data_bytes(c.vocab, c.d_model)
    assert a0.embedding_row_bytes == 2048 * 4 and a0.vector_bytes == (2 * 16 + 1) * 2048 * 4
    assert a0.weight_bytes == proj + a0.lm_head_bytes + c.vocab * 2048 * 4 + a0.vector_bytes
    assert a0.notes and "tied" in a0.notes[0] and "packed" in a0.notes[0]
    for n in (128, 512, 2048, 8192):
        a = account(c, fmt, context=n)
        assert a.bytes_per_token - a0.bytes_per_token == n * 32 * 1024
        assert a.bytes_per_token_breakdown()["kv_cache"] == n * 32 * 1024 == a.state_bytes
        assert a.memory_bytes == a.weight_bytes + n * 32 * 1024
    q8 = account(c, fmt, context=1000, kv_dtype="q8_0")
    assert q8.kv_cache_bytes == 1000 * 2 * 16 * 8 * 68
    with pytest.raises(BmbenchError, match="KV cache type"):
        account(c, fmt, kv_dtype="f32")
    with pytest.raises(BmbenchError, match="context"):
        account(c, fmt, context=-1)


def test_mamba_bytes_per_token_do_not_depend_on_the_context():
    for m in ("bitmamba2-1b", "mamba2-2.7b"):
        a, b = account(m, "q8_0"), account(m, "q8_0", context=8192)
        assert a.bytes_per_token == b.bytes_per_token and a.state_bytes == b.state_bytes
        assert "kv_cache" not in b.bytes_per_token_breakdown()


def test_models_command_lists_the_transformer():
    p = subprocess.run([sys.executable, "-m", "bmbench.cli", "models", "--model", "llama-1b,bitmamba2-1b",
                        "--format", "q4_0", "--context", "2048"], capture_output=True, text=True, timeout=120, cwd=OUTSIDE)
    assert p.returncode == 0, p.stderr
    assert "llama-1b" in p.stdout and "transformer" in p.stdout and "32 KiB per position" in p.stdout
    assert "tied" in p.stdout


# ------------------------------------------------------------------------------------ weights cache
def test_transformer_weights_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("BMBENCH_CACHE_DIR", str(tmp_path))
    c = get_config("tiny-llama")
    w1, o1 = cache.synthetic_weights(c, "q4_0", seed=2)
    w2, o2 = cache.synthetic_weights(c, "q4_0", seed=2)
    assert o1 == "generated" and o2.startswith("cache")
    assert type(w1) is type(w2) and w1.nbytes == w2.nbytes
    np.testing.assert_array_equal(w1.lm_head.data, w2.lm_head.data)
    np.testing.assert_array_equal(w1.layers[1].w_down.data, w2.layers[1].w_down.data)
    np.testing.assert_array_equal(w1.layers[0].ffn_norm, w2.layers[0].ffn_norm)
    # the tied lm_head is the embedding packed in the projection format
    np.testing.assert_array_equal(w1.lm_head.data, formats.get("q4_0").quantise(w1.embedding).data)
    runs = [TransformerEngine(w, flavour="scalar", max_context=16).decode([1, 2], 6) for w in (w1, w2)]
    assert runs[0].tokens.tolist() == runs[1].tokens.tolist()
    assert len(list(tmp_path.iterdir())) == 1


# ---------------------------------------------------------------------------------------- decode case
def _spec(model, context, fmt="f32", threads=1, tokens=6, **params):
    return dict(case_id=f"c/{model}/{context}", suite="c", kind="decode", warmup=1, repetitions=2,
                min_repetitions=2, time_budget_s=5,
                params=dict(model=model, format=fmt, flavour="scalar", threads=threads, tokens=tokens,
                            context=context, **params),
                probe={"dram_read": {str(threads): {"value": 10.0}}})


def test_decode_case_transformer_at_a_context():
    r = decode_case.run_case(_spec("tiny-llama", 40, fmt="q8_0", kv="q8_0"))
    assert r.status == "ok" and r.context == 40 and r.model == "tiny-llama"
    assert r.extra["context_fill"] == "synthetic KV cache" and len(r.extra["context_fill_ms"]) == 2
    positions = 40 + 5 + 6 / 2  # context + prompt + tokens / 2: the mean attended by the timed tokens
    assert r.roofline["kv_positions"] == positions
    want = account("tiny-llama", "q8_0", context=round(positions), kv_dtype="q8_0")
    assert r.roofline["bytes_per_token"] == want.bytes_per_token
    assert r.roofline["breakdown"]["kv_cache"] == want.kv_cache_bytes > 0
    assert r.roofline["regime"] == "cache-resident"  # a tiny model: no DRAM bound here
    r.roofline["llc_bytes"] = 1  # as if it streamed from DRAM
    decode_case.set_bound(r, {"dram_read": {"1": {"value": 10.0}}})
    assert r.metrics["bound_tok_s"].value == pytest.approx(10e9 / want.bytes_per_token)
    assert r.memory["kv_cache_bytes_allocated"] == (40 + 5 + 6) * want.kv_bytes_per_position
    assert len(r.extra["tokens"]) == 6 and r.metrics["tok_s"].value > 0


def test_decode_case_context_changes_the_transformer_bound_not_mamba():
    t = [decode_case.run_case(_spec("tiny-llama", n)) for n in (8, 200)]
    m = [decode_case.run_case(_spec("tiny-mamba2", n)) for n in (8, 200)]
    assert t[1].roofline["bytes_per_token"] > t[0].roofline["bytes_per_token"]
    assert m[1].roofline["bytes_per_token"] == m[0].roofline["bytes_per_token"]
    assert [c.context for c in m] == [8, 200]
    assert m[0].extra["context_fill"] == "synthetic SSM/conv state"
    plain = decode_case.run_case(_spec("tiny-llama", 0))  # no context: the prompt alone, as before
    assert plain.context == 5 and "context_fill" not in plain.extra


def test_memory_guard_skips_before_building_weights(monkeypatch):
    monkeypatch.setattr(decode_case, "_available_memory", lambda: 64 << 20)

    def no_weights(p):
        raise AssertionError("weights built despite the memory guard")
    monkeypatch.setattr(decode_case, "load_weights", no_weights)
    r = decode_case.run_case(_spec("llama-1b", 8192, fmt="q4_0"))
    assert r.status == "skipped" and r.context == 8192 and r.model == "llama-1b"
    assert "not enough memory" in r.error and "KV cache" in r.error and "GiB available" in r.error
    est = r.memory["estimate"]
    assert est["state_bytes"] == (8192 + 5 + 6) * 32 * 1024
    assert est["total_bytes"] > est["weight_bytes"] + est["state_bytes"]
    # a result document keeps it as a skipped case
    run = results.RunResult(suite="c", created="", command=[], host={}, build={}, versions={}, cases=[r])
    assert results.from_dict(results.to_dict(run), where="t").cases[0].status == "skipped"


# ------------------------------------------------------------------------------------------ suites
def test_context_suite_cases():
    cases = load_suite("context").cases()
    got = {(c.params["model"], c.params["format"], c.params["context"]) for c in cases}
    want = {(m, f, n) for m, f in (("bitmamba2-1b", "ternary-lut"), ("mamba2-2.7b", "q8_0"),
                                   ("llama-1b", "q4_0")) for n in (128, 512, 2048, 8192)}
    assert got == want and len(cases) == 12 and len({c.case_id for c in cases}) == 12
    assert all(c.params["tokens"] == 32 and c.repetitions == 5 for c in cases)
    from bmbench.suites import all_threads
    assert all(c.params["threads"] == all_threads() for c in cases)


def test_decode_transformer_suite_and_decode_suite_untouched():
    cases = load_suite("decode-transformer").cases()
    assert {(c.params["model"], c.params["format"]) for c in cases} == {("llama-1b", "q4_0")}
    assert len(cases) == 2 and {c.params["threads"] for c in cases} >= {1}
    assert all(c.params["model"].startswith("bitmamba2") for c in load_suite("decode").cases())


def test_context_suite_end_to_end_on_tiny_models(tmp_path):
    from bmbench.report.figures import context_groups
    out = tmp_path / "ctx.json"
    p = subprocess.run([sys.executable, "-m", "bmbench.cli", "run", "--suite", "context", "--model",
                        "tiny-llama,tiny-mamba2", "--format", "f32", "--context", "16,64", "--tokens", "4",
                        "--threads", "1", "--no-report", "-o", str(out)], capture_output=True, text=True,
                       timeout=300, cwd=OUTSIDE)
    assert p.returncode == 0, p.stderr
    run = results.load(out)
    assert len(run.cases) == 4 and all(c.status == "ok" for c in run.cases)
    assert len({c.case_id for c in run.cases}) == 4  # the overridden groups collapse into one matrix
    assert {(c.model, c.context) for c in run.cases} == {(m, n) for m in ("tiny-llama", "tiny-mamba2")
                                                         for n in (16, 64)}
    groups = context_groups(run)  # the report's context figure has lines to draw
    assert {k[0] for k in groups} == {"tiny-llama", "tiny-mamba2"}
