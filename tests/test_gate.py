"""The gate's decisions: a confirmed regression fails, noise or a regression that does not
reproduce on re-run passes, a broken case fails, other hardware classes are not compared (exit 3),
bad input exits 2."""
import dataclasses
import json
import subprocess
import sys
import tempfile

import pytest

from bmbench import compare, gate, results, runner
from bmbench.gate import run_gate
from bmbench.results import Metric
from bmbench.suites import load_suite

# subprocesses run outside the checkout, so `-m`/`-c` import the installed bmbench
OUTSIDE = tempfile.gettempdir()

SUITE = """name: tgate
kind: gemv
warmup: 0
repetitions: 5
min_repetitions: 5
params: {regime: cache, threads: 1, rows: 64, cols: 512}
matrix:
  format: [f32]
  flavour: [auto]
"""


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    d = tmp_path_factory.mktemp("gate")
    (d / "tgate.yaml").write_text(SUITE)
    suite = load_suite(d / "tgate.yaml")
    out = d / "r.json"
    assert run_gate(d / "base.json", suite=suite, update_baseline=True, output=out) == 0
    return d, suite, results.load(d / "base.json")


def _scaled(run, factor, path):
    """A copy of `run` whose speedup_vs_scalar samples are multiplied by `factor`."""
    c = run.cases[0]
    m = c.metrics["speedup_vs_scalar"]
    new = Metric.from_samples([v * factor for v in m.samples], m.unit)
    case = dataclasses.replace(c, metrics={**c.metrics, "speedup_vs_scalar": new})
    results.save(dataclasses.replace(run, cases=[case]), path)
    return path


def test_unchanged_result_passes(measured):
    d, suite, base = measured
    assert run_gate(d / "base.json", suite=suite, result_path=d / "base.json") == 0


def test_confirmed_regression_fails(measured, tmp_path):
    # a baseline 10x faster than this machine: the re-runs reproduce the "slowdown"
    d, suite, base = measured
    fast = _scaled(base, 10.0, tmp_path / "fast.json")
    md, js = tmp_path / "gate.md", tmp_path / "gate.json"
    assert run_gate(fast, suite=suite, result_path=d / "base.json", markdown=md, json_out=js) == 1
    assert "FAILED" in md.read_text() and "**slower**" in md.read_text()
    decision = json.loads(js.read_text())
    assert decision["exit_code"] == 1 and decision["hardware_class"] == gate.hardware_class(base)
    assert [(c["metric"], c["verdict"], c["confirmed"]) for c in decision["comparisons"]] == [
        ("speedup_vs_scalar", "slower", True)]


def test_regression_not_reproduced_on_rerun_passes(measured, tmp_path):
    # the result under test looks 10x slower, but re-running the case does not reproduce it
    d, suite, base = measured
    slow = _scaled(base, 0.1, tmp_path / "slow.json")
    js = tmp_path / "gate.json"
    assert run_gate(d / "base.json", suite=suite, result_path=slow, json_out=js) == 0
    decision = json.loads(js.read_text())
    assert decision["exit_code"] == 0 and not any(c["confirmed"] for c in decision["comparisons"])


def test_other_hardware_is_not_compared(measured, tmp_path, capsys):
    d, suite, base = measured
    other_class = dataclasses.replace(base, build={**base.build, "chosen_flavour": "neon"})
    results.save(other_class, tmp_path / "class.json")
    assert run_gate(tmp_path / "class.json", suite=suite, result_path=d / "base.json") == 3
    assert "nothing comparable" in capsys.readouterr().out
    # same class, another CPU model: clock-derived ratios are not compared (this suite has no counts)
    other_model = dataclasses.replace(base, host={**base.host, "cpu_model": "Other CPU"})
    results.save(other_model, tmp_path / "model.json")
    assert run_gate(tmp_path / "model.json", suite=suite, result_path=d / "base.json") == 3


def test_baselines_per_hardware_class(measured, tmp_path, capsys):
    d, suite, base = measured
    assert run_gate(tmp_path, suite=suite, result_path=d / "base.json", update_baseline=True) == 0
    want = tmp_path / f"tgate-{gate.hardware_class(base)}.json"
    assert want.is_file() and gate.hardware_class(base).count("-") == 2
    assert run_gate(tmp_path, suite=suite, result_path=d / "base.json") == 0
    assert run_gate(tmp_path / "empty-dir-none", suite=suite, result_path=d / "base.json") == 3
    assert "no baseline for suite" in capsys.readouterr().out


def test_a_broken_case_fails(measured, tmp_path, capsys):
    d, suite, base = measured
    c = base.cases[0]
    failed = dataclasses.replace(base, cases=[dataclasses.replace(c, status="failed", error="SIGSEGV", metrics={})])
    results.save(failed, tmp_path / "failed.json")
    assert run_gate(d / "base.json", suite=suite, result_path=tmp_path / "failed.json") == 1
    assert "broken" in capsys.readouterr().out
    no_metric = dataclasses.replace(base, cases=[dataclasses.replace(
        c, metrics={k: v for k, v in c.metrics.items() if k != "speedup_vs_scalar"})])
    results.save(no_metric, tmp_path / "nometric.json")
    assert run_gate(d / "base.json", suite=suite, result_path=tmp_path / "nometric.json") == 1
    assert "gated metric speedup_vs_scalar missing" in capsys.readouterr().out


def test_a_suspect_that_crashes_on_rerun_fails(measured, tmp_path, monkeypatch, capsys):
    d, suite, base = measured
    fast = _scaled(base, 10.0, tmp_path / "fast.json")
    crashed = dataclasses.replace(base.cases[0], status="failed", error="worker killed by SIGSEGV")
    monkeypatch.setattr(runner, "run_case_in_worker", lambda spec, timeout_s: crashed)
    assert run_gate(fast, suite=suite, result_path=d / "base.json") == 1
    assert "re-run failed" in capsys.readouterr().out


def test_too_few_samples_are_inconclusive_never_unchanged():
    a = Metric.from_samples([10.0, 10.1, 9.9], "tok/s")
    b = Metric.from_samples([5.0, 5.1, 4.9], "tok/s")  # half as fast, 3 vs 3 samples
    r = compare.compare_metric("c", "tok_s", a, b, alpha=0.01)
    assert r.verdict == "inconclusive" and "smallest attainable p 0.1" in r.note
    assert compare.smallest_p(3, 3) == pytest.approx(0.1) and compare.smallest_p(5, 5) < 0.01
    a5, b5 = (Metric.from_samples([v + 0.01 * i for i in range(5)], "tok/s") for v in (10.0, 5.0))
    assert compare.compare_metric("c", "tok_s", a5, b5, alpha=0.01).verdict == "slower"


def test_repeatable_counts_use_the_threshold_alone():
    from bmbench.compare import compare_metric
    a = Metric(value=1.00, unit="instr/weight", better="lower", repeatable=True)
    assert compare_metric("c", "i", a, dataclasses.replace(a, value=1.03)).verdict == "unchanged"
    assert compare_metric("c", "i", a, dataclasses.replace(a, value=1.08)).verdict == "slower"
    assert compare_metric("c", "i", a, dataclasses.replace(a, value=0.5)).verdict == "faster"


def test_bad_input_exits_2(tmp_path):
    p = subprocess.run([sys.executable, "-m", "bmbench.cli", "gate", "--baseline", str(tmp_path / "none.json")],
                       capture_output=True, text=True, cwd=OUTSIDE)
    assert p.returncode == 2 and "baseline not found" in p.stderr
    p = subprocess.run([sys.executable, "-m", "bmbench.cli", "compare", "a.json", "b.json", "--threshold", "x"],
                       capture_output=True, text=True, cwd=OUTSIDE)
    assert p.returncode == 2 and p.stderr.count("\n") == 1


def test_a_changed_output_fails_whatever_the_speed(measured, tmp_path, capsys):
    """A decode case whose greedy tokens left the float64 reference's fails the gate, even without a
    baseline of this class (check_reference is absolute)."""
    from bmbench import decode_case
    spec = dict(case_id="ci/decode/x", suite="tgate", kind="decode", warmup=0, repetitions=1, min_repetitions=1,
                time_budget_s=10, params=dict(model="tiny-bitmamba", format="ternary-mad", flavour="scalar",
                                              threads=1, tokens=6, check_reference=True))
    ok = decode_case.run_case(spec)
    chk = ok.extra["reference_check"]
    assert chk["match"] is True and chk["reference_tokens"] == ok.extra["tokens"]
    d, suite, base = measured
    bad = dataclasses.replace(ok, extra={**ok.extra, "reference_check": {**chk, "match": False, "first_difference": 2}})
    results.save(dataclasses.replace(base, cases=base.cases + [bad]), tmp_path / "bad.json")
    assert run_gate(tmp_path / "no-baselines", suite=suite, result_path=tmp_path / "bad.json") == 1
    assert "differ from the float64 reference from step 2" in capsys.readouterr().out


@pytest.mark.skipif(__import__("shutil").which("valgrind") is None, reason="needs valgrind (Debian: valgrind)")
def test_instruction_counts_repeat_exactly():
    """callgrind's counts are the gate's class-wide metrics: the same count twice, more work more
    instructions.  AVX2 or scalar (valgrind 3.19 cannot run AVX-512 code)."""
    from bmbench import dispatch, instructions
    fl = "avx2" if "avx2" in dispatch.runnable_flavours() else "scalar"
    a = instructions.per_token("tiny-bitmamba", "ternary-mad", fl, [1, 2], 3)
    assert a > 0 and a == instructions.per_token("tiny-bitmamba", "ternary-mad", fl, [1, 2], 3)
    assert instructions.per_weight("ternary-mad", 64, 256, fl) > 0


def test_slowdown_hooks_exist_only_in_test_builds(tmp_path):
    """A release build carries no injection code (BMBENCH_TEST_SLOWDOWN means nothing to it); the
    test-build file compiles (the gate's evidence script builds it with meson -Dtest_hooks=true)."""
    import shutil
    from pathlib import Path

    from bmbench import _build_info, _kernels
    assert _build_info.TEST_HOOKS is False
    assert b"bmk_test_slowdown" not in Path(_kernels.__file__).read_bytes()
    kernels = Path(__file__).resolve().parent.parent / "kernels"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not (kernels / "test_hooks.c").exists():
        pytest.skip("no C compiler or no source tree: the test-hooks file is not compiled here")
    p = subprocess.run([cc, "-fsyntax-only", "-Wall", "-Werror", "-DBMK_TEST_HOOKS=1", f"-I{kernels}",
                        str(kernels / "test_hooks.c")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
