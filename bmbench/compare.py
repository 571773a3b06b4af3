"""Comparison of two result documents: per matching case and metric, the ratio of medians with a
bootstrap interval, a Mann-Whitney U test, and a verdict that needs both significance and a minimum
effect (asv's idea: a factor and a test), so noise alone never makes a verdict.  Samples too few for
the test to ever reach the requested alpha give `inconclusive`, never `unchanged`."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import mannwhitneyu

from .results import Metric, RunResult

VERDICTS = ("faster", "slower", "unchanged", "inconclusive", "not comparable")
DEFAULT_ALPHA = 0.01


@dataclass(frozen=True)
class Comparison:
    case_id: str
    metric: str
    unit: str
    base: float | None
    new: float | None
    ratio: float | None          # new / base medians
    low: float | None            # bootstrap interval of the ratio
    high: float | None
    p_value: float | None
    change: float | None         # oriented: > 0 is an improvement (for `better` = lower, base/new - 1)
    verdict: str
    note: str = ""


def _ratio_interval(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    ma = np.median(a[rng.integers(0, a.size, (n_boot, a.size))], axis=1)
    mb = np.median(b[rng.integers(0, b.size, (n_boot, b.size))], axis=1)
    r = mb / ma
    return float(np.quantile(r, 0.025)), float(np.quantile(r, 0.975))


def smallest_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value a Mann-Whitney U test of n1 vs n2 samples can give (every
    sample of one side beyond every sample of the other): 2 / C(n1 + n2, n1); 3 vs 3 gives 0.1."""
    return min(1.0, 2 / math.comb(n1 + n2, n1))


# the fewest samples per side with which DEFAULT_ALPHA is reachable (5: 5 vs 5 gives 0.008, 4 vs 4
# 0.029): the suites' default minimum, so that comparing two runs of a suite can say "slower"
MIN_SAMPLES = next(n for n in range(2, 100) if smallest_p(n, n) < DEFAULT_ALPHA)


def compare_metric(case_id: str, name: str, a: Metric, b: Metric, threshold: float = 0.05,
                   alpha: float = DEFAULT_ALPHA, min_samples: int = 3) -> Comparison:
    def nc(note):
        return Comparison(case_id, name, b.unit, a.value, b.value, None, None, None, None, None,
                          "not comparable", note)

    if a.unit != b.unit:
        return nc(f"units differ: {a.unit} vs {b.unit}")
    if a.provenance != "measured" or b.provenance != "measured":
        return nc("only measured figures are compared")
    if a.repeatable and b.repeatable:  # counts: the minimum effect alone decides
        if not a.value or not b.value:
            return nc("zero count")
        ratio = b.value / a.value
        change = ratio - 1 if a.better == "higher" else 1 / ratio - 1
        verdict = "unchanged" if abs(change) < threshold else ("faster" if change > 0 else "slower")
        return Comparison(case_id, name, b.unit, a.value, b.value, ratio, ratio, ratio, None, change,
                          verdict, "repeatable count")
    if len(a.samples) < min_samples or len(b.samples) < min_samples:
        return nc(f"fewer than {min_samples} samples")
    sa, sb = np.asarray(a.samples, float), np.asarray(b.samples, float)
    ma, mb = float(np.median(sa)), float(np.median(sb))
    if ma == 0 or mb == 0:
        return nc("zero median")
    ratio = mb / ma
    low, high = _ratio_interval(sa, sb)
    if np.array_equal(np.unique(sa), np.unique(sb)) and np.unique(sa).size == 1:
        p = 1.0
    else:
        p = float(mannwhitneyu(sa, sb, alternative="two-sided").pvalue)
    change = ratio - 1 if a.better == "higher" else 1 / ratio - 1
    note = ""
    floor = smallest_p(len(sa), len(sb))
    if floor >= alpha:  # no outcome of these samples could be significant: say so, never "unchanged"
        return Comparison(case_id, name, b.unit, ma, mb, ratio, low, high, p, change, "inconclusive",
                          f"{len(sa)} vs {len(sb)} samples cannot reach p < {alpha:g} (smallest "
                          f"attainable p {floor:.2g})")
    if p < alpha and abs(change) >= threshold:
        verdict = "faster" if change > 0 else "slower"
    else:
        verdict = "unchanged"
        if abs(change) >= threshold:  # a large effect that the samples cannot confirm: say so
            note = (f"{abs(change):.0%} change not significant: p {p:.2g} >= {alpha:g} with "
                    f"{len(sa)} vs {len(sb)} samples")
    return Comparison(case_id, name, b.unit, ma, mb, ratio, low, high, p, change, verdict, note)


def compare_runs(base: RunResult, new: RunResult, threshold: float = 0.05, alpha: float = DEFAULT_ALPHA,
                 metrics: list[str] | None = None,
                 thresholds: dict[str, float] | None = None) -> list[Comparison]:
    """Every metric of every case present in both runs (matched by case id); `thresholds` gives
    chosen metrics their own minimum effect."""
    old = {c.case_id: c for c in base.cases}
    out = []
    for c in new.cases:
        b = old.get(c.case_id)
        if b is None:
            continue
        if c.status != "ok" or b.status != "ok" or c.flavour != b.flavour:
            why = (f"status {b.status} -> {c.status}" if c.status != "ok" or b.status != "ok"
                   else f"kernel flavour {b.flavour} -> {c.flavour}")
            out.append(Comparison(c.case_id, "*", "", None, None, None, None, None, None, None,
                                  "not comparable", why))
            continue
        for name, m in c.metrics.items():
            if metrics and name not in metrics:
                continue
            if name in b.metrics:
                out.append(compare_metric(c.case_id, name, b.metrics[name], m,
                                          (thresholds or {}).get(name, threshold), alpha))
    return out


def _f(v, fmt="{:.4g}"):
    return "" if v is None else fmt.format(v)


def to_markdown(rows: list[Comparison]) -> str:
    lines = ["| case | metric | base | new | unit | ratio (95% CI) | p | change | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = f"{_f(r.ratio)} ({_f(r.low)}-{_f(r.high)})" if r.ratio is not None else ""
        verdict = f"**{r.verdict}**" if r.verdict in ("faster", "slower") else r.verdict
        lines.append(f"| {r.case_id} | {r.metric} | {_f(r.base)} | {_f(r.new)} | {r.unit} | {ci} | "
                     f"{_f(r.p_value, '{:.3g}')} | {_f(r.change, '{:+.1%}')} | {verdict}"
                     f"{(' (' + r.note + ')') if r.note else ''} |")
    return "\n".join(lines) + "\n"


def to_table(rows: list[Comparison], title: str, notes: dict | None = None):
    """A rich table of comparisons; `notes` adds a word to chosen rows' verdicts (the gate's
    "confirmed")."""
    from rich.table import Table
    t = Table(title=title)
    for c in ("case", "metric", "base", "new", "unit", "ratio (95% CI)", "p", "change", "verdict"):
        t.add_column(c)
    for r in rows:
        extra = (notes or {}).get((r.case_id, r.metric)) or (f"({r.note})" if r.note else "")
        ci = f"{_f(r.ratio)} ({_f(r.low)}-{_f(r.high)})" if r.ratio is not None else ""
        t.add_row(r.case_id, r.metric, _f(r.base), _f(r.new), r.unit, ci, _f(r.p_value, "{:.3g}"),
                  _f(r.change, "{:+.1%}"), f"{r.verdict} {extra}".strip())
    return t


def to_json(rows: list[Comparison]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=1) + "\n"
