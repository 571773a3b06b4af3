"""The CI regression gate: compare a result with a baseline on noise-robust metrics, re-run every
suspect case before failing, and exit 1 only on a confirmed regression (0 otherwise, 2 on bad
input).  A baseline from a different CPU is not comparable: the gate says so and passes."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from . import compare, results, runner
from .errors import BmbenchError
from .results import RunResult
from .suites import Suite, load_suite

# in-process ratios and repeatable counts: they do not move with the load of a shared runner
GATE_METRICS = ("speedup_vs_scalar", "instructions_per_weight")


def same_hardware(a: RunResult, b: RunResult) -> str | None:
    """None if the two runs come from the same kind of CPU, else why not."""
    for key in ("cpu_model", "kernel_features", "arch"):
        if a.host.get(key) != b.host.get(key):
            return f"{key} differs: {a.host.get(key)!r} (baseline) vs {b.host.get(key)!r}"
    return None


def run_gate(baseline_path: str | Path, suite: Suite | None = None, result_path: str | Path | None = None,
             threshold: float = 0.05, alpha: float = 0.01, reruns: int = 2,
             update_baseline: bool = False, markdown: str | Path | None = None,
             output: str | Path | None = None, console: Console | None = None) -> int:
    console = console or Console()
    baseline_path = Path(baseline_path)
    if result_path:
        run = results.load(result_path)
        if suite is None:
            suite = load_suite(run.suite)
    else:
        if suite is None:
            raise BmbenchError("gate needs --suite or --result")
        run = runner.run_suite(suite, output=output, console=Console(stderr=True))
    if update_baseline:
        results.save(run, baseline_path)
        console.print(f"baseline updated: {baseline_path} ({len(run.cases)} cases)")
        return 0
    base = results.load(baseline_path)
    why = same_hardware(base, run)
    if why:
        console.print(f"gate: baseline not comparable ({why}); nothing gated. Record a baseline on "
                      f"this hardware with --update-baseline.")
        return 0
    rows = compare.compare_runs(base, run, threshold, alpha, metrics=list(GATE_METRICS))
    if not rows:
        raise BmbenchError("gate: no case and metric in common between the result and the baseline")
    confirmed = set()
    by_id = {c.case_id: c for c in suite.cases()}
    old = {c.case_id: c for c in base.cases}
    for r in [r for r in rows if r.verdict == "slower"]:
        case = by_id.get(r.case_id)
        if case is None:
            confirmed.add((r.case_id, r.metric))  # cannot re-run: the first verdict stands
            continue
        still = True
        for i in range(reruns):  # a regression must reproduce before the gate fails
            console.print(f"gate: re-running suspect {r.case_id} ({r.metric}), {i + 1}/{reruns}")
            again = runner.run_case_in_worker(case.spec() | {"probe": run.probe},
                                              timeout_s=case.time_budget_s * 3 + 120)
            m = again.metrics.get(r.metric)
            if again.status != "ok" or m is None or compare.compare_metric(
                    r.case_id, r.metric, old[r.case_id].metrics[r.metric], m, threshold,
                    alpha).verdict != "slower":
                still = False
                break
        if still:
            confirmed.add((r.case_id, r.metric))
    notes = {(r.case_id, r.metric): "(confirmed)" if (r.case_id, r.metric) in confirmed
             else "(not confirmed on re-run)" for r in rows if r.verdict == "slower"}
    console.print(compare.to_table(rows, "bmbench gate", notes))
    if markdown:
        head = (f"**bmbench gate: {'FAILED' if confirmed else 'passed'}** (threshold {threshold:.0%}, "
                f"alpha {alpha}, {reruns} re-run(s) per suspect)\n\n")
        results.atomic_write_text(markdown, head + compare.to_markdown(rows))
    if confirmed:
        console.print(f"gate: FAILED, {len(confirmed)} confirmed regression(s)")
        return 1
    console.print(f"gate: passed ({len(rows)} comparisons, threshold {threshold:.0%}, alpha {alpha})")
    return 0
