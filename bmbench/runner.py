"""Runs a suite: each case in a fresh worker process, with warmup and repetitions inside the case;
collects run metadata and the cases into one result document."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__, dispatch, hosts, results
from .kinds import KINDS
from .results import CaseResult, RunResult
from .suites import Suite


def build_info() -> dict:
    from . import _kernels
    try:
        from . import _build_info as b
        compiler = dict(compiler=b.COMPILER, cflags=b.CFLAGS, buildtype=b.BUILDTYPE, isa_args=b.ISA_ARGS)
    except ImportError:  # pragma: no cover - a build without the generated module
        compiler = dict(compiler="unknown")
    return dict(**compiler, flavours=dispatch.status(), chosen_flavour=dispatch.chosen_flavour(),
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


def measure_bandwidth(run: RunResult, threads: set[int], flavour: str) -> None:
    """The DRAM read bandwidth of this host, measured in this run, for every thread count the cases
    use: the bound that kernel and decode results are set against."""
    from . import probe
    bw = run.probe.setdefault("dram_read", {})
    for t in sorted(threads):
        bw[str(t)] = results.asdict(probe.dram_read(t, flavour))


def run_suite(suite: Suite, overrides: dict | None = None, output: str | os.PathLike | None = None,
              console: Console | None = None, command: list[str] | None = None,
              params: dict | None = None) -> RunResult:
    """Run every case of `suite` and return the result document (saved to `output` if given).
    `overrides` replace matrix axes, `params` set fixed case parameters."""
    console = console or Console(stderr=True)
    cases = suite.cases(overrides, params)
    run = new_run(suite.name, command)
    if any(KINDS[c.kind].name in ("gemv", "decode") for c in cases):
        with console.status("measuring DRAM read bandwidth (probe, same run)"):
            measure_bandwidth(run, {c.params.get("threads", 1) for c in cases}, dispatch.chosen_flavour())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(suite.name, total=len(cases))
        for i, case in enumerate(cases, 1):
            bar.update(task, description=f"{case.case_id}")
            spec = case.spec()
            spec["probe"] = run.probe
            res = run_case_in_worker(spec, timeout_s=case.time_budget_s * 3 + 120)
            run.cases.append(res)
            status = "ok" if res.status == "ok" else f"[red]{res.status}: {res.error}[/]"
            dur = f"{res.duration_s:.1f} s" if res.duration_s else ""
            console.print(f"[{i}/{len(cases)}] {case.case_id} {status} {dur}", highlight=False)
            bar.advance(task)
    if output is not None:
        results.save(run, output)
    return run
