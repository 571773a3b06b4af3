"""The runner's figures a user quotes: each case's own peak memory, rounds that pool samples, the noise
verdict, interrupted runs that keep their data and resume, and result files with ordinary modes."""
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from rich.console import Console

from bmbench import noise, results, runner
from bmbench.results import CaseResult, Metric, RunResult
from bmbench.suites import load_suite

LINUX_PROC = os.path.exists("/proc/self/clear_refs")
TINY_DECODE = """name: tiny
kind: decode
warmup: 0
repetitions: 4
min_repetitions: 4
time_budget_s: 30
rounds: {rounds}
params: {{tokens: 4, flavour: scalar}}
matrix:
  model: [tiny-bitmamba, tiny-mamba2]
  format: [f32, ternary-mad]
"""


def _tiny_suite(tmp_path, rounds=1):
    path = tmp_path / f"tiny{rounds}.yaml"
    path.write_text(TINY_DECODE.format(rounds=rounds))
    return path


def _decode_spec(model="tiny-bitmamba", fmt="f32"):
    return dict(case_id=f"d/{model}", suite="d", kind="decode", warmup=0, repetitions=1, min_repetitions=1,
                time_budget_s=10, params=dict(model=model, format=fmt, flavour="scalar", threads=1, tokens=4))


# ------------------------------------------------------------------------------------------- memory
@pytest.mark.skipif(not LINUX_PROC, reason="needs Linux /proc/self/clear_refs and VmHWM")
def test_a_case_reports_its_own_peak_not_its_parents():
    """A worker started from a parent holding 500 MB reports less for a tiny model (getrusage's
    ru_maxrss of an exec'd child starts at the parent's high-water mark)."""
    ballast = np.ones(500 * 2**20 // 8)  # touched: 500 MB resident in this (the parent) process
    case = runner.run_case_in_worker(_decode_spec(), timeout_s=120)
    assert case.status == "ok", case.error
    assert ballast.sum() > 0
    m = case.memory
    assert m["peak_rss_bytes"] < 300 * 2**20, m
    assert m["peak_rss_bytes"] >= m["baseline_rss_bytes"] > 0 and "VmHWM" in m["peak_method"]
    res = m["resident_after_warmup"]
    assert res["rss_bytes"] >= res["anon_bytes"] > 0 and res["file_bytes"] > 0
    assert 0 <= res["huge_page_bytes"] <= res["rss_bytes"]


@pytest.mark.skipif(not LINUX_PROC, reason="needs Linux /proc/self/clear_refs and VmHWM")
def test_a_case_that_allocates_n_mb_reports_at_least_n():
    n = 200 * 2**20  # the probe case first-touches its arrays: max_bytes of them
    spec = dict(case_id="p/read", suite="p", kind="probe", warmup=0, repetitions=1, min_repetitions=1,
                time_budget_s=30, params=dict(kernel="read", flavour="scalar", threads=1, max_bytes=n,
                                              min_bytes=n // 2))
    case = runner.run_case_in_worker(spec, timeout_s=120)
    assert case.status == "ok", case.error
    assert case.memory["peak_rss_bytes"] - case.memory["baseline_rss_bytes"] >= n


@pytest.mark.skipif(not LINUX_PROC, reason="needs Linux /proc/self/status")
def test_resident_memory_does_not_depend_on_the_weight_cache(tmp_path, monkeypatch):
    """Weights just generated and weights read back from the cache sit in the same (anonymous)
    memory: the decode case's resident figures agree, and no weight is a file mapping."""
    monkeypatch.setenv("BMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    spec = _decode_spec("tiny-mamba2", "q8_0")
    miss, hit = (runner.run_case_in_worker(spec, timeout_s=120) for _ in range(2))
    assert "generated" in miss.extra["weights_source"] and "cache" in hit.extra["weights_source"]
    a, b = miss.memory["resident_after_warmup"], hit.memory["resident_after_warmup"]
    assert abs(a["anon_bytes"] - b["anon_bytes"]) < 8 * 2**20
    assert abs(a["file_bytes"] - b["file_bytes"]) < 8 * 2**20
    assert miss.memory["backing"] == hit.memory["backing"]


# ------------------------------------------------------------------------------------------- rounds
def test_rounds_pool_samples_and_keep_their_round(tmp_path):
    suite = load_suite(_tiny_suite(tmp_path, rounds=2))
    buf = io.StringIO()
    run = runner.run_suite(suite, output=tmp_path / "r.json", console=Console(file=buf, width=200))
    assert run.complete and run.plan["rounds"] == 2 and len(run.cases) == 4
    # each round's line gives that round's time; the case's duration is their sum
    said, order = {}, {"1": [], "2": []}
    for m in re.finditer(r"round (\d)/2 (\S+) ok ([\d.]+) s", buf.getvalue()):
        said.setdefault(m.group(2), []).append(float(m.group(3)))
        order[m.group(1)].append(m.group(2))
    # the second round runs the cases in reverse (A B B A), the result keeps the suite's order
    assert order["1"] == [c.case_id for c in run.cases] and order["2"] == order["1"][::-1]
    for c in run.cases:
        assert len(said[c.case_id]) == 2 and sum(said[c.case_id]) == pytest.approx(c.duration_s, abs=0.11)
    for c in run.cases:
        assert c.status == "ok", c.error
        assert len(c.metrics["tok_s"].samples) == 4 and c.extra["repetitions"] == 4  # 2 per round
        assert c.extra["sample_rounds"] == [0, 0, 1, 1] and c.extra["rounds_done"] == [0, 1]
        assert len(c.extra["latencies_ms"]) == 4 * 3
        assert c.metrics["latency_p50"].value == pytest.approx(np.percentile(c.extra["latencies_ms"], 50))
    dram = run.probe["dram_read"]["1"]
    # a slice before every case of every round (4 x 2), 10 samples the first time, 3 after, pooled
    assert len(dram["samples"]) == 10 + 7 * 3 and len(dram["slice_best"]) == 8
    assert dram["value"] == max(dram["samples"])  # the bound: the best sample
    assert run.host["noise"]["verdict"] in ("quiet", "noisy")
    assert results.load(tmp_path / "r.json").cases[0].extra["sample_rounds"] == [0, 0, 1, 1]


def test_kinds_that_cannot_pool_refuse_rounds():
    with pytest.raises(Exception, match="does not pool rounds"):
        runner.run_suite(load_suite("probe"), rounds=2)


# -------------------------------------------------------------------------------------------- noise
def _run_with(bests, cvs, load, pcts=()):
    cases = [CaseResult(case_id=f"c{i}", suite="s", kind="decode",
                        metrics={"tok_s": Metric(value=1, unit="tok/s", cv=cv, samples=(1.0, 1.0))})
             for i, cv in enumerate(cvs)]
    for c, pct in zip(cases, pcts):
        c.metrics["pct_of_bound"] = Metric(value=pct, unit="%")
    return RunResult(suite="s", created="", command=[], build={}, versions={}, cases=cases,
                     host={"load_average": [load, 0, 0], "cpus_allowed": 2},
                     probe={"dram_read": {"1": {"value": max(bests), "samples": bests, "slice_best": bests}}})


def test_noise_verdict_names_each_sign():
    quiet = noise.assess(_run_with([20.0, 21.0], [0.01, 0.02], 0.2))
    assert quiet["verdict"] == "quiet" and noise.summary(quiet) is None
    loud = noise.assess(_run_with([20.0, 24.0], [0.01, 0.08], 1.6))
    assert loud["verdict"] == "noisy" and loud["probe_spread"] == pytest.approx(1.2)
    one_slice = noise.assess(_run_with([20.0], [0.01], 0.2))
    assert one_slice["probe_spread"] == 1.0
    assert loud["worst_case"] == "c1 tok_s" and loud["load_per_core_at_start"] == pytest.approx(0.8)
    assert len(loud["reasons"]) == 3 and "noisy" in noise.summary(loud)


def test_a_case_above_its_bound_makes_the_run_noisy_and_is_named():
    """A case that read faster than the run's best probe sample shows the probe missed bandwidth
    the host had: % of bound is then not quotable, and the run says so."""
    ok = noise.assess(_run_with([20.0, 20.5], [0.01, 0.01], 0.2, pcts=[99.0, 80.0]))
    assert ok["verdict"] == "quiet" and ok["above_bound"] == []
    over = noise.assess(_run_with([20.0, 20.5], [0.01, 0.01, 0.01], 0.2, pcts=[104.0, 80.0, 147.0]))
    assert over["verdict"] == "noisy" and over["above_bound"] == ["c0", "c2"]
    assert len(over["reasons"]) == 1 and "147% (c2)" in over["reasons"][0] and "not quotable" in over["reasons"][0]


# ------------------------------------------------------------------------------- interrupted runs
def _start(args, tmp_path):
    return subprocess.Popen([sys.executable, "-m", "bmbench.cli", "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_run_keeps_its_cases_and_resumes(tmp_path, sig, code):
    suite, out = _tiny_suite(tmp_path), tmp_path / "r.json"
    p = _start(["--suite", str(suite), "-o", str(out), "--no-report"], tmp_path)
    deadline = time.time() + 120
    for line in p.stderr:  # the first case is done: interrupt the second
        if line.startswith("[1/4]") or time.time() > deadline:
            break
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    assert "incomplete" in err and "--resume" in err
    doc = json.loads(out.read_text())
    assert doc["complete"] is False and 1 <= len(doc["cases"]) < 4
    assert len(doc["missing"]) == 4 - len(doc["cases"])
    assert all(c["status"] == "ok" for c in doc["cases"])  # no half-written case
    done = [c["case_id"] for c in doc["cases"]]
    r = subprocess.run([sys.executable, "-m", "bmbench.cli", "run", "--resume", str(out), "--no-report"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    run = results.load(out)
    assert run.complete and not run.missing and len(run.cases) == 4
    assert set(done) <= {c.case_id for c in run.cases}
    assert sum(f"] {cid} " in r.stderr for cid in done) == 0  # resumed: the done cases did not run again


def test_resume_refuses_complete_runs_and_other_settings(tmp_path):
    out = tmp_path / "r.json"
    runner.run_suite(load_suite(_tiny_suite(tmp_path)), output=out, overrides={"model": ["tiny-mamba2"],
                                                                              "format": ["f32"]})
    for args, msg in ((["--resume", str(out)], "complete"),
                      (["--resume", str(out), "--threads", "2"], "drop --threads")):
        r = subprocess.run([sys.executable, "-m", "bmbench.cli", "run", *args], capture_output=True,
                           text=True, cwd=tmp_path, timeout=120)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr


# ------------------------------------------------------------------------------------- file modes
def test_result_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = results.save(RunResult(suite="s", created="", command=[], host={}, build={}, versions={}),
                            tmp_path / "r.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_time_left_scales_the_budgets_left_by_how_finished_cases_used_theirs():
    eta = runner._Eta(10 * 8.0)
    assert eta.seconds() == 80 and eta.text() == "~1m20s left (case budgets)"
    eta.done(8.0, 4.0)
    eta.done(8.0, 4.0)  # cases end at half their budget: 8 left x 8 s x 0.5
    assert eta.seconds() == pytest.approx(32.0) and eta.text() == "~0m32s left"
