"""The CI regression gate: compare a result with the baseline of this machine's hardware class on
noise-robust metrics, re-run every suspect case before failing.

Exit codes: 0 passed; 1 a confirmed regression, or a broken case (failed in the new run, crashed on
its re-run, a gated metric missing, greedy tokens other than the float64 reference's: this last one
whatever the baseline), with the reason; 2 bad input; 3 nothing comparable (no baseline of this
hardware class, no case or metric in common).

Baselines are kept per hardware class (arch, chosen kernel flavour, compiler family and major
version): `--baseline DIR` holds one file per suite and class, `SUITE-CLASS.json`, and
`--update-baseline` writes this machine's.  Instruction counts are the same on every CPU of a class
and are compared across CPU models, at --threshold (5%); ratios measured with a clock (speedup over
scalar, pct_of_probe) only on the same CPU model, at --clock-threshold (15%: on a shared VM they
swing by 10-17% between runs).  What the gate catches and how often it cries wolf is measured by
benchmarks/gate_evidence.py (README: "The regression gate's evidence")."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from rich.console import Console

from . import compare, results, runner
from .errors import BmbenchError
from .results import RunResult, hardware_class
from .suites import Suite, load_suite

# in-process ratios and repeatable counts: they move little with the load of a shared runner
GATE_METRICS = ("speedup_vs_scalar", "pct_of_probe", "instructions_per_weight", "instructions_per_token")
COUNTS = ("instructions_per_weight", "instructions_per_token")  # the same on every CPU of a class
CLOCK_RATIOS = tuple(m for m in GATE_METRICS if m not in COUNTS)  # only on the same CPU
EXIT_PASSED, EXIT_FAILED, EXIT_NOTHING_COMPARABLE = 0, 1, 3


def baseline_path(baseline: str | Path, suite_name: str, run: RunResult) -> Path:
    """The baseline file: `baseline` itself, or in a directory the file of this suite and class."""
    baseline = Path(baseline)
    if baseline.is_dir() or not baseline.suffix:
        return baseline / f"{suite_name}-{hardware_class(run)}.json"
    return baseline


def _cpu(run: RunResult) -> tuple:
    return run.host.get("cpu_model"), run.host.get("cpu_id")


def _metrics_to_compare(base: RunResult, run: RunResult) -> tuple[list[str], str]:
    """Gated metrics comparable between the two runs, and a note on those left out: clock-derived
    ratios only on the same CPU (model name and family/model/stepping; a baseline without the
    latter is not known to be the same CPU)."""
    if _cpu(base) == _cpu(run) and base.host.get("cpu_id"):
        return list(GATE_METRICS), ""
    return list(COUNTS), (f"clock-derived ratios ({', '.join(CLOCK_RATIOS)}) compared only on the same CPU "
                          f"(baseline: {_cpu(base)}, here: {_cpu(run)})")


def wrong_output(run: RunResult) -> list[str]:
    """Cases whose greedy tokens differ from the float64 reference's (decode's check_reference)."""
    out = []
    for c in run.ok_cases():
        chk = c.extra.get("reference_check") or {}
        if chk.get("match") is False:
            out.append(f"{c.case_id}: greedy tokens differ from the float64 reference from step "
                       f"{chk.get('first_difference')} on")
    return out


def _broken(base: RunResult, run: RunResult, metrics: list[str]) -> list[str]:
    """Cases the new run broke: failed or skipped where the baseline was ok, or without a gated
    metric the baseline has."""
    old = {c.case_id: c for c in base.cases}
    out = []
    for c in run.cases:
        b = old.get(c.case_id)
        if b is None or b.status != "ok":
            continue
        if c.status != "ok":
            out.append(f"{c.case_id}: {c.status} ({c.error})")
            continue
        for name in metrics:
            if name in b.metrics and name not in c.metrics:
                why = "; ".join(n for n in c.extra.get("notes", []) if name in n)
                out.append(f"{c.case_id}: gated metric {name} missing" + (f" ({why})" if why else ""))
    return out


def _as_baseline(run: RunResult) -> RunResult:
    """The run as a committed baseline: every metric and its samples, without the per-token
    latency lists (thousands of numbers per decode case that no gate reads)."""
    cases = [dataclasses.replace(c, extra={k: v for k, v in c.extra.items()
                                           if k not in ("latencies_ms", "token_latencies_ms")})
             for c in run.cases]
    return dataclasses.replace(run, cases=cases)


def run_gate(baseline_path_or_dir: str | Path, suite: Suite | None = None, result_path: str | Path | None = None,
             threshold: float = 0.05, alpha: float = compare.DEFAULT_ALPHA, reruns: int = 2,
             clock_threshold: float = 0.15,
             update_baseline: bool = False, markdown: str | Path | None = None,
             json_out: str | Path | None = None, output: str | Path | None = None,
             console: Console | None = None) -> int:
    """Run (or load) the suite, compare it with the baseline of its hardware class, return the exit
    code; `markdown` and `json_out` also write the decision to files."""
    def decided(code: int, reason: str, rows=(), confirmed=(), broken=()) -> int:
        if json_out:
            results.atomic_write_text(json_out, json.dumps(dict(
                exit_code=code, reason=reason, hardware_class=hardware_class(run), broken=list(broken),
                comparisons=[dataclasses.asdict(r) | {"confirmed": (r.case_id, r.metric) in confirmed}
                             for r in rows]), indent=1) + "\n")
        return code

    console = console or Console(markup=False)
    if result_path:
        run = results.load(result_path)
        if suite is None:
            suite = load_suite(run.suite)
    else:
        if suite is None:
            raise BmbenchError("gate needs --suite or --result")
        run = runner.run_suite(suite, output=output, console=Console(stderr=True, markup=False))
    path = baseline_path(baseline_path_or_dir, suite.name, run)
    wrong = wrong_output(run)
    if wrong:  # a change that breaks the output fails whatever its speed, with or without a baseline
        for line in wrong:
            console.print(f"gate: broken: {line}", soft_wrap=True)
        console.print(f"gate: FAILED, {len(wrong)} case(s) decode other tokens than the float64 reference")
        return decided(EXIT_FAILED, "wrong output", broken=wrong)
    if update_baseline:
        if run.build.get("test_slowdown"):
            raise BmbenchError("refusing to record a baseline with an injected slowdown (BMBENCH_TEST_SLOWDOWN)")
        results.save(_as_baseline(run), path)
        console.print(f"baseline updated: {path} ({len(run.cases)} cases, class {hardware_class(run)})")
        return EXIT_PASSED
    if not path.is_file():
        console.print(f"gate: nothing comparable: no baseline for suite {suite.name!r} and hardware class "
                      f"{hardware_class(run)} ({path}); record one with --update-baseline")
        return decided(EXIT_NOTHING_COMPARABLE, "no baseline of this hardware class")
    base = results.load(path)
    if hardware_class(base) != hardware_class(run):
        console.print(f"gate: nothing comparable: baseline {path} is of class {hardware_class(base)}, this "
                      f"machine is {hardware_class(run)}")
        return decided(EXIT_NOTHING_COMPARABLE, "baseline of another hardware class")
    metrics, left_out = _metrics_to_compare(base, run)
    broken = _broken(base, run, metrics)
    # counts repeat exactly; clock-derived ratios swing on a shared VM: each has its own threshold
    limits = {m: threshold if m in COUNTS else clock_threshold for m in metrics}
    rows = [r for r in compare.compare_runs(base, run, threshold, alpha, metrics, limits) if r.metric != "*"]
    if not rows and not broken:
        console.print("gate: nothing comparable: no case and gated metric in common with the baseline")
        return decided(EXIT_NOTHING_COMPARABLE, "no case and gated metric in common")
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
            if again.status != "ok" or r.metric not in again.metrics:  # a crash is no all-clear
                broken.append(f"{r.case_id}: re-run {again.status}"
                              + (f" ({again.error})" if again.error else f", {r.metric} missing"))
                still = False
                break
            if compare.compare_metric(r.case_id, r.metric, old[r.case_id].metrics[r.metric],
                                      again.metrics[r.metric], limits[r.metric], alpha).verdict != "slower":
                still = False
                break
        if still:
            confirmed.add((r.case_id, r.metric))
    notes = {(r.case_id, r.metric): "(confirmed)" if (r.case_id, r.metric) in confirmed
             else "(not confirmed on re-run)" for r in rows if r.verdict == "slower"}
    console.print(compare.to_table(rows, f"bmbench gate ({hardware_class(run)})", notes))
    for line in ([left_out] if left_out else []) + [f"broken: {b}" for b in broken]:
        console.print(f"gate: {line}", soft_wrap=True)
    failed = bool(confirmed or broken)
    if markdown:
        head = (f"**bmbench gate: {'FAILED' if failed else 'passed'}** (class {hardware_class(run)}, threshold "
                f"{threshold:.0%} for counts, {clock_threshold:.0%} for clock ratios, alpha {alpha}, {reruns} "
                f"re-run(s) per suspect)\n\n"
                + "".join(f"- broken: {b}\n" for b in broken) + (f"- {left_out}\n" if left_out else "")
                + ("\n" if broken or left_out else ""))
        results.atomic_write_text(markdown, head + compare.to_markdown(rows))
    if failed:
        console.print(f"gate: FAILED, {len(confirmed)} confirmed regression(s), {len(broken)} broken case(s)")
        return decided(EXIT_FAILED, "confirmed regression or broken case", rows, confirmed, broken)
    console.print(f"gate: passed ({len(rows)} comparisons, threshold {threshold:.0%} for counts, "
                  f"{clock_threshold:.0%} for clock ratios, alpha {alpha})")
    return decided(EXIT_PASSED, "passed", rows, confirmed, broken)
