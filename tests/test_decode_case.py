"""The decode case kind end to end on a tiny model (correctness of the record, not speed)."""
import copy

import pytest

from bmbench import decode_case, hosts


@pytest.fixture(scope="module")
def case():
    spec = dict(case_id="d/x", suite="d", kind="decode", warmup=1, repetitions=3, min_repetitions=3,
                time_budget_s=5,
                params=dict(model="tiny-bitmamba", format="f32", flavour="scalar", threads=1, tokens=12,
                            state="f32", project_to=["raspberry-pi-5", "i3-12100f"], probe_relative=True),
                probe={"dram_read": {"1": {"value": 10.0}}})
    return decode_case.run_case(spec)


@pytest.fixture(scope="module")
def bounded(case):
    """The same record as if its bytes per token exceeded 4x the LLC (a streaming model)."""
    c = copy.deepcopy(case)
    c.roofline["llc_bytes"] = c.roofline["bytes_per_token"] // 8
    decode_case.set_bound(c, {"dram_read": {"1": {"value": 10.0}}})
    return c


def test_metrics_and_memory(case):
    m = case.metrics
    assert len(m["tok_s"].samples) == 3 and m["tok_s"].unit == "tok/s" and m["tok_s"].value > 0
    assert m["latency_p50"].value <= m["latency_p99"].value
    assert case.memory["weight_bytes"] > 0 and case.memory["state_bytes"] > 0
    assert case.memory["backing"].startswith("anonymous")
    assert len(case.extra["tokens"]) == 12 and len(case.extra["token_latencies_ms"]) == 11
    assert len(case.extra["latencies_ms"]) == 3 * 11


def test_pct_of_probe_sets_each_repetition_against_its_own_probe(case):
    """pct_of_probe sample i = tok/s_i x bytes per token / the read probe taken just before it."""
    probe, tok_s = case.extra["probe_gbps"], case.metrics["tok_s"].samples
    assert len(probe) == len(tok_s) == 3 and all(g > 0 for g in probe)
    bpt = case.roofline["bytes_per_token"]
    want = [100 * t * bpt / (g * 1e9) for t, g in zip(tok_s, probe)]
    m = case.metrics["pct_of_probe"]
    assert m.samples == pytest.approx(want, rel=1e-12) and m.unit == "%" and m.provenance == "measured"
    assert "just before each repetition" in m.method


def test_a_model_that_fits_in_cache_gets_no_dram_bound(case):
    assert case.roofline["bytes_per_token"] < 4 * hosts.llc_bytes()
    assert case.roofline["regime"] == "cache-resident" and "no DRAM bound" in case.roofline["regime_note"]
    assert "bound_tok_s" not in case.metrics and "pct_of_bound" not in case.metrics
    assert "projections" not in case.roofline


def test_bound_from_the_probe(bounded):
    m = bounded.metrics
    assert bounded.roofline["regime"] == "DRAM" and m["bound_tok_s"].provenance == "projected"
    assert m["bound_tok_s"].value == pytest.approx(10e9 / bounded.roofline["bytes_per_token"])
    assert m["pct_of_bound"].samples == pytest.approx([100 * t / m["bound_tok_s"].value for t in m["tok_s"].samples])


def test_projections_are_labelled(bounded):
    pr = bounded.roofline["projections"]
    assert [p["host"] for p in pr] == ["raspberry-pi-5", "i3-12100f"]
    assert all(p["provenance"] == "projected" and p["tok_s"] > 0 and p["method"] for p in pr)


def test_energy_is_measured_or_says_why(case):
    e = case.energy
    assert e["provenance"] in ("measured", "unavailable")
    if e["provenance"] == "unavailable":
        assert e["reason"] and e["j_per_token"] is None


def test_same_tokens_across_thread_counts():
    def run(threads):
        spec = dict(case_id="d", suite="d", kind="decode", warmup=0, repetitions=1, min_repetitions=1,
                    time_budget_s=5, params=dict(model="tiny-mamba2", format="f32", flavour="scalar",
                                                 threads=threads, tokens=8))
        return decode_case.run_case(spec).extra["tokens"]
    assert run(1) == run(2)


def test_cpu_clock_detected():
    assert hosts.cpu_mhz() is None or hosts.cpu_mhz() > 100


def _pp_case(prefill, prompt_len=40, threads=2):
    spec = dict(case_id="d/pp", suite="d", kind="decode", warmup=1, repetitions=3, min_repetitions=3,
                time_budget_s=5, params=dict(model="tiny-bitmamba", format="ternary-mad", flavour="scalar",
                                             threads=threads, tokens=6, prompt_len=prompt_len, prefill=prefill,
                                             seed=4))
    return decode_case.run_case(spec)


def test_prefill_metrics_batched_and_token_by_token():
    """pp tok/s = prompt tokens / time to first token, sample by sample; the prompt is seeded random
    tokens of the vocabulary; the compute roof (projected) only for a batched prompt; both modes
    decode the same tokens."""
    b, t = _pp_case("batched"), _pp_case("token")
    for c in (b, t):
        pp, ttft = c.metrics["pp_tok_s"], c.metrics["ttft_ms"]
        assert pp.samples == pytest.approx([40 / (ms * 1e-3) for ms in ttft.samples], rel=1e-12)
        assert pp.provenance == ttft.provenance == "measured" and pp.low <= pp.value <= pp.high
        assert len(c.extra["prompt_tokens"]) == 40 and max(c.extra["prompt_tokens"]) < 256
    assert "batched" in b.metrics["pp_tok_s"].method and "token by token" in t.metrics["pp_tok_s"].method
    assert b.extra["prompt_tokens"] == t.extra["prompt_tokens"] and b.extra["tokens"] == t.extra["tokens"]
    roof = b.metrics["pp_roof_tok_s"]
    assert roof.provenance == "projected" and roof.value > 0 and "lm_head once" in roof.method
    assert b.metrics["pct_of_pp_roof"].samples == pytest.approx(
        [100 * v / roof.value for v in b.metrics["pp_tok_s"].samples])
    assert "pp_roof_tok_s" not in t.metrics and "prefill_ms" not in b.metrics


def test_prompt_len_changes_the_prompt_and_the_case_id():
    from bmbench import suites
    s = suites.load_suite("decode")
    cases = s.cases(overrides={"model": ["bitmamba2-1b"], "format": ["ternary-lut"], "threads": [1],
                               "prompt_len": [32, 512], "prefill": ["batched", "token"]})
    ids = [c.case_id for c in cases]
    assert len(set(ids)) == 4 and any(i.endswith("/pp32/token") for i in ids), ids
