"""The comparison statistics on synthetic samples with known answers."""
import numpy as np
import pytest

from bmbench import compare
from bmbench.results import CaseResult, Metric, RunResult


def M(samples, unit="tok/s", better="higher", provenance="measured"):
    return Metric.from_samples(samples, unit, better=better, provenance=provenance) if provenance == "measured" \
        else Metric(value=float(np.median(samples)), unit=unit, provenance=provenance, samples=tuple(samples))


rng = np.random.default_rng(0)
BASE = 100 + rng.normal(0, 1, 10)


def test_clear_slowdown_is_slower():
    r = compare.compare_metric("c", "tok_s", M(BASE), M(BASE * 0.8))
    assert r.verdict == "slower" and r.p_value < 0.01
    assert r.ratio == pytest.approx(0.8, rel=0.02) and r.low < r.ratio < r.high


def test_clear_speedup_is_faster():
    assert compare.compare_metric("c", "tok_s", M(BASE), M(BASE * 1.3)).verdict == "faster"


def test_large_effect_from_too_few_samples_says_so():
    """3 vs 3 samples cannot reach p < 0.01 (Mann-Whitney's smallest two-sided p is 0.1): the verdict
    is inconclusive, never unchanged, and says why.  Enough samples whose test misses alpha: unchanged,
    and the note says that the change was not confirmed."""
    r = compare.compare_metric("c", "tok_s", M([10.0, 10.1, 10.2]), M([20.0, 20.2, 20.4]))
    assert r.verdict == "inconclusive" and r.p_value == pytest.approx(0.1)
    assert "3 vs 3 samples cannot reach p < 0.01" in r.note
    mixed = compare.compare_metric("c", "tok_s", M([10.0, 10.2, 10.1, 10.3, 30.0, 10.05]),
                                   M([20.0, 20.2, 9.9, 20.4, 10.0, 20.1]))
    assert mixed.verdict == "unchanged" and "change not significant" in mixed.note and "6 vs 6" in mixed.note
    assert compare.compare_metric("c", "tok_s", M(BASE), M(BASE * 1.001)).note == ""


def test_lower_is_better_metrics_are_oriented():
    r = compare.compare_metric("c", "time", M(BASE, "us", "lower"), M(BASE * 1.25, "us", "lower"))
    assert r.verdict == "slower" and r.change == pytest.approx(-0.2, abs=0.02)


def test_small_but_significant_change_is_unchanged():
    # 2% shift with tiny noise: significant, but under the 5% minimum effect
    a = 100 + rng.normal(0, 0.1, 10)
    r = compare.compare_metric("c", "tok_s", M(a), M(a * 1.02))
    assert r.p_value < 0.01 and r.verdict == "unchanged"


def test_large_but_noisy_change_is_unchanged():
    # same distribution: any difference is noise
    a, b = rng.normal(100, 30, 5), rng.normal(100, 30, 5)
    assert compare.compare_metric("c", "tok_s", M(np.abs(a)), M(np.abs(b))).verdict == "unchanged"


def test_not_comparable_cases():
    assert compare.compare_metric("c", "x", M(BASE, "us"), M(BASE, "ms")).verdict == "not comparable"
    assert compare.compare_metric("c", "x", M(BASE[:2]), M(BASE[:2])).verdict == "not comparable"
    proj = M(BASE, provenance="projected")
    assert compare.compare_metric("c", "x", proj, M(BASE)).verdict == "not comparable"


def _run(samples):
    c = CaseResult(case_id="s/a", suite="s", kind="gemv", metrics={"weight_gbps": M(samples, "GB/s")})
    return RunResult(suite="s", created="", command=[], host={}, build={}, versions={}, cases=[c])


def test_compare_runs_and_printers():
    rows = compare.compare_runs(_run(BASE), _run(BASE * 0.5))
    assert [r.verdict for r in rows] == ["slower"]
    md = compare.to_markdown(rows)
    assert "**slower**" in md and md.startswith("| case |")
    assert '"verdict": "slower"' in compare.to_json(rows)
