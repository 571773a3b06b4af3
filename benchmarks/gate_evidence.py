"""How often the regression gate catches a known slowdown, and how often it cries wolf (a benchmark
script, not part of the test run; ~45 min on 2 cores):

    python benchmarks/gate_evidence.py [--trials 10] [--levels 0.02,0.05,0.10,0.25] [-o DIR]

(BMBENCH_KERNELS=avx2 in front on an AVX-512 host: valgrind runs no AVX-512 code, so the
instruction-count metrics need the AVX2 flavour there.)

It installs a test build of this checkout (meson -Dtest_hooks=true: kernels/test_hooks.c, never in
a release) into its own virtual environment, records a baseline of the gate's suite there, then runs
`bmbench gate` `--trials` times with nothing injected and `--trials` times per level and site with a
known slowdown injected through BMBENCH_TEST_SLOWDOWN:

    kernel  every SIMD ternary-lut GEMV recomputes FRACTION of its rows (the scalar one untouched)
    decode  every linear layer of the Mamba-2 decode loop recomputes FRACTION of its rows

The suite is the ci suite's ternary-lut cases (the 255M in_proj GEMV and the tiny BitMamba-2 decode),
gated as in CI.  A catch is a run that fails with the regression confirmed on re-run; a false alarm
is a failing run with nothing injected.  Prints a markdown table (the README's) and writes every
gate decision to DIR/evidence.json."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("instructions_per_weight", "speedup_vs_scalar", "instructions_per_token", "pct_of_probe")


def test_build(venv: Path) -> Path:
    """A virtual environment (no system site packages: an editable bmbench there would shadow this
    one) with this checkout installed as a test build, reinstalled every time so that it is this
    checkout; returns its bmbench executable."""
    pip = [str(venv / "bin" / "pip"), "install", "-q", "-Csetup-args=-Dtest_hooks=true"]
    if not (venv / "bin" / "bmbench").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(pip + [str(ROOT)], check=True)
    else:
        subprocess.run(pip + ["--no-deps", "--force-reinstall", str(ROOT)], check=True)
    check = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "from bmbench import _build_info as b; print(b.TEST_HOOKS)"],
                           capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    if check.stdout.strip() != "True":
        sys.exit(f"{venv} holds no test build (delete it to rebuild)")
    return venv / "bin" / "bmbench"


def evidence_suite(path: Path) -> None:
    """The ci suite's ternary-lut cases: one GEMV and one decode case."""
    ci = yaml.safe_load((ROOT / "suites" / "ci.yaml").read_text())
    for g in ci["groups"]:
        g["matrix"]["format"] = ["ternary-lut"]
        if "model" in g["matrix"]:
            g["matrix"]["model"] = ["tiny-bitmamba"]
    ci["name"] = "gate-evidence"
    path.write_text(yaml.safe_dump(ci, sort_keys=False))


def gate(exe: Path, suite: Path, baselines: Path, work: Path, slowdown: str | None) -> dict:
    env = dict(os.environ)
    env.pop("BMBENCH_TEST_SLOWDOWN", None)
    if slowdown:
        env["BMBENCH_TEST_SLOWDOWN"] = slowdown
    out = work / "decision.json"
    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    p = subprocess.run([str(exe), "gate", "--suite", str(suite), "--baseline", str(baselines),
                        "--json", str(out), "-o", str(work / "run.json")],
                       cwd=work, env=env, capture_output=True, text=True)
    d = json.loads(out.read_text()) if out.exists() else dict(exit_code=p.returncode, comparisons=[])
    d.update(slowdown=slowdown, seconds=time.perf_counter() - t0, exit_code=p.returncode)
    if p.returncode not in (0, 1):
        d["stderr"] = p.stderr[-2000:]
    return d


def table(decisions: list[dict]) -> str:
    """One row per (site, level): failed runs and, per gated metric, confirmed catches and the
    median change the gate measured."""
    import numpy as np
    rows = ["| injected | gate failed | " + " | ".join(f"{m}: caught (median change)" for m in METRICS) + " |",
            "|---|---|" + "---|" * len(METRICS)]
    for key in dict.fromkeys(d["label"] for d in decisions):
        ds = [d for d in decisions if d["label"] == key]
        cells = [f"{sum(d['exit_code'] == 1 for d in ds)}/{len(ds)}"]
        for m in METRICS:
            cs = [c for d in ds for c in d["comparisons"] if c["metric"] == m]
            caught = sum(any(c["confirmed"] for c in d["comparisons"] if c["metric"] == m) for d in ds)
            changes = [c["change"] for c in cs if c.get("change") is not None]
            cells.append(f"{caught}/{len(ds)} ({np.median(changes):+.1%})" if changes else "n/a")
        rows.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--levels", default="0.02,0.05,0.10,0.25")
    ap.add_argument("--sites", default="kernel,decode")
    ap.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "bmbench-gate-evidence-venv")
    ap.add_argument("-o", "--output", type=Path, default=Path("gate-evidence"))
    a = ap.parse_args(argv)
    a.output.mkdir(parents=True, exist_ok=True)
    exe = test_build(a.venv)
    work = a.output.resolve()
    suite, baselines = work / "gate-evidence.yaml", work / "baselines"
    evidence_suite(suite)
    baselines.mkdir(exist_ok=True)
    subprocess.run([str(exe), "gate", "--suite", str(suite), "--baseline", str(baselines), "--update-baseline",
                    "-o", str(work / "baseline-run.json")], cwd=work, check=True, env={
                        k: v for k, v in os.environ.items() if k != "BMBENCH_TEST_SLOWDOWN"})
    lut = subprocess.run([str(a.venv / "bin" / "python"), "-c",
                          "from bmbench import formats; print(formats.get('ternary-lut').id)"],
                         capture_output=True, text=True, check=True, cwd=tempfile.gettempdir()).stdout.strip()
    plan = [("nothing", None)] + [
        (f"{site} +{float(lv):.0%}", f"kernel:{lut}:{lv}" if site == "kernel" else f"decode:{lv}")
        for site in a.sites.split(",") for lv in a.levels.split(",")]
    decisions = []
    # trials interleaved over the plan (all levels once, then again): a slow hour of the machine
    # spreads over every level instead of landing on one
    for t in range(a.trials):
        for label, slowdown in plan:
            d = gate(exe, suite, baselines, work, slowdown) | {"label": label, "trial": t}
            decisions.append(d)
            print(f"trial {t + 1}/{a.trials} {label}: exit {d['exit_code']} ({d['seconds']:.0f} s)", flush=True)
            (work / "evidence.json").write_text(json.dumps(decisions, indent=1) + "\n")
    print(table(decisions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
