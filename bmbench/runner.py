"""Runs a suite: each case in a fresh worker process, with warmup and repetitions inside the case;
collects run metadata and the cases into one result document."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__, dispatch, hosts, noise, results
from .errors import BmbenchError, Interrupted
from .kinds import KINDS
from .results import CaseResult, RunResult
from .suites import Suite


def build_info() -> dict:
    from . import _kernels
    try:
        from . import _build_info as b
        compiler = dict(compiler=b.COMPILER, cflags=b.CFLAGS, buildtype=b.BUILDTYPE, isa_args=b.ISA_ARGS)
        if b.TEST_HOOKS:  # a result of a build that can inject slowdowns says so, and which one
            compiler.update(test_hooks=True, test_slowdown=os.environ.get("BMBENCH_TEST_SLOWDOWN"))
    except ImportError:  # pragma: no cover - a build without the generated module
        compiler = dict(compiler="unknown")
    choices = dispatch.format_choices(calibrate_now=False)
    return dict(**compiler, flavours=dispatch.status(), chosen_flavour=dispatch.chosen_flavour(),
                flavour_per_format={k: v["flavour"] for k, v in choices["formats"].items()},
                flavour_choice=choices["source"],
                openmp_threads=_kernels.default_threads(),
                kernels_env=os.environ.get(dispatch.ENV_VAR))


def versions() -> dict:
    import numpy
    return dict(bmbench=__version__, python=platform.python_version(), numpy=numpy.__version__,
                implementation=platform.python_implementation())


def git_revision() -> str | None:
    src = Path(__file__).resolve().parent.parent
    if not (src / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(src), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def new_run(suite_name: str, command: list[str] | None = None) -> RunResult:
    host = dict(hosts.detect())
    host.update(hosts.runtime_state())
    return RunResult(suite=suite_name, created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                     command=list(command if command is not None else sys.argv), host=host,
                     build=build_info(), versions=versions(), git_revision=git_revision())


def run_case_in_worker(spec: dict, timeout_s: float) -> CaseResult:
    """One case in a fresh `python -m bmbench.worker` process; any failure becomes a failed case."""
    with tempfile.TemporaryDirectory(prefix="bmbench-case-") as tmp:
        spec_path, out_path = Path(tmp, "spec.json"), Path(tmp, "out.json")
        spec_path.write_text(json.dumps(spec))
        try:
            # cwd outside any source checkout: `-m` must import the installed bmbench
            proc = subprocess.run([sys.executable, "-m", "bmbench.worker", str(spec_path), str(out_path)],
                                  capture_output=True, text=True, timeout=timeout_s, cwd=tmp)
            err = proc.stderr.strip().splitlines()
            if proc.returncode != 0 or not out_path.exists():
                why = err[-1] if err else f"worker exited with status {proc.returncode}"
                return CaseResult(case_id=spec["case_id"], suite=spec["suite"], kind=spec["kind"],
                                  status="failed", error=why, params=spec["params"])
            d = json.loads(out_path.read_text())
        except subprocess.TimeoutExpired:
            return CaseResult(case_id=spec["case_id"], suite=spec["suite"], kind=spec["kind"],
                              status="failed", error=f"timed out after {timeout_s:.0f} s",
                              params=spec["params"])
    run = results.from_dict({"schema": results.SCHEMA, "suite": "", "created": "", "command": [],
                             "host": {}, "build": {}, "versions": {}, "cases": [d]}, where="worker")
    return run.cases[0]


def bandwidth_needs(cases) -> set[tuple[str, int]]:
    """(level, threads) of every probe figure the cases are set against: DRAM for decode and
    streaming GEMVs, the holding cache level for an in-cache GEMV."""
    from .gemv_case import bound_level
    needs = set()
    for c in cases:
        if c.kind == "decode":
            needs.add(("DRAM", int(c.params.get("threads", 1))))
        elif c.kind == "gemv":
            needs.add((bound_level(c.params), int(c.params.get("threads", 1))))
    return needs


def measure_bandwidth(run: RunResult, needs: set[tuple[str, int]], first: int = 10, later: int = 3) -> None:
    """This host's read bandwidth for each (level, threads), measured in this run: run.probe
    dram_read[threads] and cache_read[level][threads], `first` samples the first time, `later`
    after.  Called before every case with its own needs: the samples of every slice are pooled and
    the best is the bound (probe.best_of), so a host whose bandwidth moves between modes (a 2-vCPU VM
    whose vCPUs at times share a core read 35 or 68 GB/s) is probed in the modes its cases ran in;
    one slice per round, taken in the slow mode, once set a case at 147% of its "bound"."""
    from . import probe
    for level, t in sorted(needs):
        slot = (run.probe.setdefault("dram_read", {}) if level == "DRAM"
                else run.probe.setdefault("cache_read", {}).setdefault(level, {}))
        n = later if slot.get(str(t)) else first
        m = probe.dram_read(t, repetitions=n) if level == "DRAM" else probe.cache_read(level, t, repetitions=n)
        slot[str(t)] = probe.pool_slice(slot.get(str(t)), m)


def _on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name, signum)


def _per_round(case, rounds: int) -> dict:
    """A case's spec for one of `rounds` rounds: the repetitions and time budget split evenly."""
    spec = case.spec()
    spec.update(repetitions=-(-case.repetitions // rounds), min_repetitions=-(-case.min_repetitions // rounds),
                time_budget_s=case.time_budget_s / rounds)
    return spec


class _Eta:
    """Time left in a run: the case budgets still to run, scaled by how the finished cases' times
    compared with their budgets (cases mostly end early: a case stops at its budget or its
    repetitions, whichever comes first)."""

    def __init__(self, budget_left: float):
        self.left, self.spent, self.budgeted = budget_left, 0.0, 0.0

    def done(self, budget: float, seconds: float | None) -> None:
        self.left = max(0.0, self.left - budget)
        self.budgeted += budget
        self.spent += seconds or 0.0

    def seconds(self) -> float:
        return self.left * (self.spent / self.budgeted if self.budgeted else 1.0)

    def text(self) -> str:
        s = round(self.seconds())
        return f"~{s // 60}m{s % 60:02d}s left" + ("" if self.budgeted else " (case budgets)")


def _rounds_done(res: CaseResult | None) -> int:
    return len(res.extra.get("rounds_done", [])) if res is not None else 0


def run_suite(suite: Suite, overrides: dict | None = None, output: str | os.PathLike | None = None,
              console: Console | None = None, command: list[str] | None = None,
              params: dict | None = None, rounds: int | None = None,
              resume: RunResult | None = None) -> RunResult:
    """Run every case of `suite` and return the result document (saved to `output` if given).
    `overrides` replace matrix axes, `params` set fixed case parameters.

    Cases run in `rounds` (default: the suite's) one after another, every other round in reverse
    order: each case once per round in a fresh worker, after a short probe slice of the bandwidth it
    is set against; a case's samples pool over its rounds (`extra.sample_rounds` says which round
    each came from), so noise that comes and goes hurts every case alike. On SIGINT / SIGTERM the
    completed cases are saved in a document marked incomplete (`complete: false`, `missing`) and
    Interrupted is raised; `resume` (such a document) runs only what it owes and completes it."""
    console = console or Console(stderr=True, markup=False)
    if resume is not None:
        overrides, params = resume.plan.get("overrides") or {}, resume.plan.get("params") or {}
        rounds = int(resume.plan.get("rounds", 1))
    else:
        rounds = rounds or suite.rounds
    cases = suite.cases(overrides, params)  # first: expanding `auto` may calibrate, which the build records
    if resume is not None:
        run = resume
    else:
        run = new_run(suite.name, command)
        run.plan = dict(suite=suite.path, overrides=overrides or {}, params=params or {}, rounds=rounds)
    if rounds > 1:
        for k in sorted(k for k in {c.kind for c in cases} if KINDS[k].pool is None):
            raise BmbenchError(f"kind {k!r} does not pool rounds: run suite {suite.name!r} with --rounds 1")
    done = {c.case_id: c for c in run.cases}
    old = ({s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
           if threading.current_thread() is threading.main_thread() else {})
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[left]}"))
    eta = _Eta(sum(c.time_budget_s / rounds for r in range(rounds) for c in cases
                   if _rounds_done(done.get(c.case_id)) <= r))
    live = console.is_terminal and not os.environ.get("CI")  # plain lines in CI logs and pipes
    try:
        with Progress(*columns, console=console, transient=True, disable=not live) as bar:
            task = bar.add_task(suite.name, total=len(cases) * rounds, left=eta.text())
            for r in range(rounds):
                todo = [c for c in cases if _rounds_done(done.get(c.case_id)) <= r]
                bar.advance(task, len(cases) - len(todo))
                if not todo:
                    continue
                # every other round in reverse (A B B A): a drift over the run meets the cases it
                # sets side by side alike instead of always favouring the first
                for i, case in enumerate(todo if r % 2 == 0 else todo[::-1], 1):
                    bar.update(task, description=case.case_id)
                    if needs := bandwidth_needs([case]):
                        with console.status(f"{case.case_id}: read bandwidth (probe slice, same run)"):
                            measure_bandwidth(run, needs)
                    spec = _per_round(case, rounds)
                    spec["probe"] = run.probe
                    res = run_case_in_worker(spec, timeout_s=spec["time_budget_s"] * 3 + 120)
                    took = res.duration_s  # this round's (pooling sums the rounds' into res)
                    done[case.case_id] = _pool(done.get(case.case_id), res, r)
                    status = "ok" if res.status == "ok" else f"{res.status}: {res.error}"
                    dur = f"{took:.1f} s" if took else ""
                    at = f"round {r + 1}/{rounds} " if rounds > 1 else ""
                    console.print(f"[{i}/{len(todo)}] {at}{case.case_id} {status} {dur}", highlight=False,
                                  markup=False, style=None if res.status == "ok" else "red")
                    eta.done(spec["time_budget_s"], took)
                    bar.update(task, advance=1, left=eta.text())
    except Interrupted as e:
        _collect(run, cases, done)
        run.complete = False
        run.missing = [c.case_id for c in cases if _rounds_done(done.get(c.case_id)) < rounds]
        if output is not None:
            results.save(run, output)
        raise Interrupted(f"interrupted ({e}): {len(cases) - len(run.missing)} of {len(cases)} cases complete"
                          + (f", saved as incomplete to {output} (finish with bmbench run --resume "
                             f"{output})" if output is not None else ""), e.signum) from None
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    _collect(run, cases, done)
    run.complete, run.missing = True, []
    run.host["noise"] = noise.assess(run)
    if output is not None:
        results.save(run, output)
    return run


def _pool(prev: CaseResult | None, new: CaseResult, round_index: int) -> CaseResult:
    """A case's result after one more round: its samples pooled with the earlier rounds' (the
    kind's pool function), or the new result alone after a failure or in the first round."""
    rounds_done = (prev.extra.get("rounds_done", []) if prev is not None else []) + [round_index]
    earlier = prev is not None and prev.status == "ok" and new.status == "ok"
    if earlier:
        new = KINDS[new.kind].pool_results(prev, new)
    if new.status == "ok":
        n = new.extra.get("repetitions", 0)
        before = prev.extra.get("sample_rounds", []) if earlier else []
        new.extra["sample_rounds"] = before + [round_index] * (n - len(before))
    new.extra["rounds_done"] = rounds_done
    return new


def _collect(run: RunResult, cases, done: dict) -> None:
    """The cases in suite order, their bounds set from the run's final probe figures."""
    run.cases = []
    for c in cases:
        res = done.get(c.case_id)
        if res is None:
            continue
        if res.status == "ok":
            KINDS[res.kind].set_bound(res, run.probe)
        run.cases.append(res)
