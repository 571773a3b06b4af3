"""llama.cpp as an engine: GGUF writing checked against bmbench's weights, llama.cpp's forward against
the float64 reference, the decode case and CLI end to end on tiny models.  Everything past the
missing-extra checks needs the llamacpp extra (`pip install '.[llamacpp]'`) and skips visibly without."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from bmbench import cli, results
from bmbench.errors import BmbenchError
from bmbench.llamacpp import GGUF_TYPES, available, gguf_type_for, require, weight_class
from bmbench.models import config, reference, weights as W

needs_extra = pytest.mark.skipif(not available(), reason="llamacpp extra not installed "
                                 "(pip install '.[llamacpp]')")

# a BitMamba-2 and a Mamba-2 shape whose rows are whole 256-weight blocks (TQ1_0 / TQ2_0)
TINY_BIT = config.bitmamba2_config("tiny-bit256", n_layers=2, d_model=256, n_heads=4, vocab=320)
TINY_M2 = config.mamba2_config("tiny-m2-256", n_layers=2, d_model=256, vocab=320, head_dim=64, d_state=16,
                               tie_embeddings=False)


def one_line_error(capsys, argv, fragment):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bmbench: error:") and fragment in err[0], err


# ------------------------------------------------------------------------------ without the extra
def test_missing_extra_is_one_line_naming_the_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp now fails
    with pytest.raises(BmbenchError, match=r"pip install 'bmbench\[llamacpp\]'"):
        require()
    one_line_error(capsys, ["run", "--suite", "decode", "--engine", "llamacpp", "--no-report"],
                   "pip install 'bmbench[llamacpp]'")


def test_format_mapping_and_bad_combinations(capsys):
    assert gguf_type_for("ternary-lut").name == gguf_type_for("ternary-mad").name == "tq2_0"
    assert gguf_type_for("q4_0").name == "q4_0" and gguf_type_for("tq1_0").name == "tq1_0"
    assert weight_class("tq1_0") == weight_class("ternary-lut") == "ternary"
    assert all(t.source in ("ternary-mad", "q8_0", "q4_0", "f16", "f32") for t in GGUF_TYPES.values())
    with pytest.raises(BmbenchError, match="no llama.cpp counterpart"):
        gguf_type_for("nonsense")
    # a llama.cpp-only type on the bmbench engine: refused before anything runs
    one_line_error(capsys, ["run", "--suite", "decode", "--format", "tq2_0", "--no-report"],
                   "--engine llamacpp")


def test_engine_joins_the_case_id():
    from bmbench.suites import load_suite
    s = load_suite("llamacpp")
    ids = [c.case_id for c in s.cases()]
    assert len(ids) == len(set(ids))
    assert "llamacpp/decode/llamacpp/bitmamba2-1b/tq2_0/t1/pp128" in ids
    assert "llamacpp/decode/bmbench/bitmamba2-1b/ternary-lut/t1/pp128" in ids
    dec = load_suite("decode").cases(params={"engine": "llamacpp"})
    # ternary-lut and ternary-mad both mean TQ2_0 there: one case each, engine in the id
    assert sorted({c.params["format"] for c in dec}) == ["q4_0", "q8_0", "tq2_0"]
    assert all(c.case_id.startswith("decode/llamacpp/") for c in dec)
    assert load_suite("decode").cases()[0].case_id.startswith("decode/bitmamba2")


# ------------------------------------------------------------------------------ with the extra
@pytest.fixture(scope="module")
def gguf_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("gguf")


def write(weights, gtype, d) -> Path:
    from bmbench.llamacpp import gguf_model
    return gguf_model.write_gguf(weights, gtype, d / f"{weights.config.name}-{gtype}.gguf")


@needs_extra
@pytest.mark.parametrize("gtype", ["tq2_0", "tq1_0", "q8_0", "q4_0", "f16"])
def test_gguf_holds_bmbench_weights(gtype, gguf_dir):
    """Every projection in the GGUF dequantises to bmbench's own weights of the source format (the
    two engines decode the same model); tensor sizes are the type's hand-computed block sizes."""
    import gguf
    from bmbench.llamacpp import gguf_model
    t = GGUF_TYPES[gtype]
    w = W.synthetic_weights(TINY_BIT, t.source, seed=3)
    path = write(w, gtype, gguf_dir)
    info = gguf_model.read_info(path)
    assert info.arch == "mamba2" and info.weight_type == gtype and info.vocab == TINY_BIT.vocab
    r = gguf.GGUFReader(str(path))
    tensors = {x.name: x for x in r.tensors}
    bytes_per_256 = {"tq2_0": 66, "tq1_0": 54, "q8_0": 8 * 34, "q4_0": 8 * 18, "f16": 512}[gtype]
    c = TINY_BIT
    assert tensors["blk.0.ssm_in.weight"].n_bytes == c.d_in_proj * c.d_model // 256 * bytes_per_256
    for name, packed in (("blk.1.ssm_in.weight", w.layers[1].in_proj), ("blk.0.ssm_out.weight", w.layers[0].out_proj),
                         ("output.weight", w.lm_head)):
        x = tensors[name]
        got = gguf.quants.dequantize(x.data, x.tensor_type).reshape(packed.rows, packed.cols)
        want = __import__("bmbench.formats", fromlist=["get"]).get(packed.format).dequantise(packed)
        # exact up to the fp16 rounding of the block scale
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-3 * np.abs(want).max())
    # the conv over x|B|C: bmbench's x taps, identity taps on B and C
    conv = tensors["blk.0.ssm_conv1d.weight"].data.reshape(c.d_inner + 2 * c.d_bc, c.d_conv)
    np.testing.assert_array_equal(conv[:c.d_inner], w.layers[0].conv_w)
    assert (conv[c.d_inner:, -1] == 1).all() and (conv[c.d_inner:, :-1] == 0).all()
    a = tensors["blk.0.ssm_a"].data.reshape(-1)
    np.testing.assert_allclose(a, -np.exp(w.layers[0].A_log.astype(np.float64)), rtol=1e-6)


@needs_extra
@pytest.mark.parametrize("model,fmt,rtol", [
    ("tiny-mamba2", "f32", 1e-4),     # llama.cpp's Mamba-2 graph is bmbench's, exactly
    (TINY_M2, "q8_0", 2e-2),          # both quantise activations into 32-blocks (Q8_0)
])
def test_llamacpp_forward_matches_the_float64_reference(model, fmt, rtol, gguf_dir):
    from bmbench.llamacpp.engine import LlamaCppEngine
    c = config.get_config(model) if isinstance(model, str) else model
    w = W.synthetic_weights(c, fmt, seed=1)
    eng = LlamaCppEngine(write(w, fmt, gguf_dir), threads=1, n_ctx=64)
    ref = reference.Reference(w)
    state = ref.new_state()
    for tok in (1, 7, 42, 3, 99):
        eng.step(tok)
        want = ref.step(tok, state)
        got = eng.logits()
        assert np.max(np.abs(got - want)) <= rtol * np.max(np.abs(want)), tok
    if fmt == "f32":  # identical greedy continuations
        eng.reset()
        assert eng.decode([1, 7, 42], 10).tokens.tolist() == ref.generate([1, 7, 42], 10).tokens


@needs_extra
def test_llamacpp_decodes_a_ternary_model(gguf_dir):
    """TQ2_0 through llama.cpp's ternary kernels: logits follow the reference of the same ternary
    weights (llama.cpp quantises activations per 256-block, bmbench's reference per tensor)."""
    from bmbench.llamacpp.engine import LlamaCppEngine
    w = W.synthetic_weights(TINY_M2, "ternary-mad", seed=2)
    eng = LlamaCppEngine(write(w, "tq2_0", gguf_dir), threads=2, n_ctx=64)
    ref = reference.Reference(w)
    state = ref.new_state()
    for tok in (5, 17, 300):
        eng.step(tok)
        want, got = ref.step(tok, state), eng.logits()
        assert np.corrcoef(want, got)[0, 1] > 0.99
    run = eng.decode([5, 6], 6)  # the prompt as one batch: both its tokens stamped at its end
    assert len(run.tokens) == 6 and all(0 <= t < TINY_M2.vocab for t in run.tokens)
    assert run.t_ns[1] == run.t_ns[2] and (np.diff(run.t_ns[2:]) > 0).all() and run.t_ns[1] > run.t_ns[0]
    eng.reset()
    by_token = eng.decode([5, 6], 6, batch=1)
    assert (np.diff(by_token.t_ns) > 0).all()
    assert by_token.tokens.tolist() == run.tokens.tolist()


TINY_SUITE = """
name: tinyl
warmup: 1
repetitions: 3
min_repetitions: 3
time_budget_s: 2
groups:
  - kind: decode
    params: {tokens: 8}
    matrix:
      engine: [bmbench, llamacpp]
      model: [tiny-mamba2, tiny-llama]
      format: [q8_0]
      threads: [1]
"""


@needs_extra
def test_suite_runs_both_engines_into_one_document(tmp_path, capsys):
    (tmp_path / "tiny.yaml").write_text(TINY_SUITE)
    out = tmp_path / "r.json"
    assert cli.main(["run", "--suite", str(tmp_path / "tiny.yaml"), "-o", str(out), "--no-report"]) == 0
    run = results.load(out)
    assert json.loads(out.read_text())["schema"] == results.SCHEMA
    by_engine = {}
    for c in run.cases:
        assert c.status == "ok", c.error
        by_engine.setdefault(c.engine["name"], []).append(c)
        assert c.metrics["tok_s"].provenance == "measured" and len(c.metrics["tok_s"].samples) == 3
        # tiny models fit in the cache: labelled so, no DRAM bound (decode_case.set_bound)
        assert c.roofline["regime"] == "cache-resident" and "bound_tok_s" not in c.metrics
        assert len(c.extra["tokens"]) == 8
    assert sorted(by_engine) == ["bmbench", "llama.cpp"]
    lc = by_engine["llama.cpp"][0]
    assert lc.engine["version"].startswith("llama-cpp-python") and lc.engine["system_info"]
    assert lc.flavour.startswith("ggml-") and Path(lc.engine["model_file"]).exists()
    assert "projections" not in lc.roofline  # the projection model is bmbench's kernels'
    # same model, same bytes per token on both engines up to layout (GGUF vs bmbench packing)
    bm = {c.model: c for c in by_engine["bmbench"]}
    for c in by_engine["llama.cpp"]:
        assert c.roofline["bytes_per_token"] == pytest.approx(bm[c.model].roofline["bytes_per_token"], rel=0.15)


@needs_extra
def test_users_gguf_and_bad_files(tmp_path, capsys):
    w = W.synthetic_weights(config.get_config("tiny-mamba2"), "q4_0", seed=0)
    path = write(w, "q4_0", tmp_path)
    out = tmp_path / "g.json"
    assert cli.main(["run", "--suite", "decode", "--gguf", str(path), "--threads", "1", "--tokens", "4",
                     "-o", str(out), "--no-report"]) == 0
    capsys.readouterr()
    (case,) = results.load(out).cases
    assert case.status == "ok" and case.format == "q4_0" and case.model == path.stem
    assert case.engine["name"] == "llama.cpp" and case.extra["weights_source"].startswith("GGUF file")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(path.read_bytes()[:1000])  # truncated
    one_line_error(capsys, ["run", "--suite", "decode", "--gguf", str(bad), "--no-report"], "bad.gguf")
    one_line_error(capsys, ["run", "--suite", "decode", "--gguf", str(tmp_path / "none.gguf")], "not found")
    one_line_error(capsys, ["run", "--suite", "decode", "--engine", "llamacpp", "--state", "f16",
                            "--no-report"], "f32")
    assert not list(tmp_path.glob("*.json.*tmp"))
