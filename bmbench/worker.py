"""Runs one case in a fresh process: `python -m bmbench.worker SPEC.json OUT.json`.

A fresh process gives each case its own peak resident memory (memstat: VmHWM reset once the
interpreter is loaded) and confines a crash to one case."""
from __future__ import annotations

import json
import sys
import time
import traceback

from . import memstat, results
from .kinds import KINDS


def _memory(base: dict | None, reset: bool) -> dict:
    """The case's memory figures: peak and baseline resident bytes of this process (None where the
    platform gives no per-process peak, and why)."""
    end = memstat.read()
    if base is None or end is None or not reset:
        return dict(peak_rss_bytes=None, baseline_rss_bytes=None,
                    peak_method="unavailable: no /proc/self/status VmHWM or clear_refs on this platform")
    return dict(peak_rss_bytes=end["peak_bytes"], baseline_rss_bytes=base["rss_bytes"],
                baseline_anon_bytes=base["anon_bytes"], baseline_file_bytes=base["file_bytes"],
                peak_method="VmHWM of the case's own worker, reset (clear_refs) after the interpreter "
                            "loaded; baseline = VmRSS then")


def main(argv: list[str]) -> int:
    spec_path, out_path = argv
    with open(spec_path) as f:
        spec = json.load(f)
    reset = memstat.reset_peak()
    baseline = memstat.read()  # interpreter + NumPy + bmbench, before the case allocates anything
    t0 = time.perf_counter()
    try:
        case = KINDS[spec["kind"]].run(spec)
    except Exception as e:  # recorded as a failed case, never as numbers
        traceback.print_exc()
        case = results.CaseResult(case_id=spec["case_id"], suite=spec["suite"], kind=spec["kind"],
                                  status="failed", error=f"{type(e).__name__}: {e}",
                                  params=spec["params"])
    case.duration_s = time.perf_counter() - t0
    for k, v in _memory(baseline, reset).items():
        case.memory.setdefault(k, v)
    d = results.to_dict(results.RunResult(suite="", created="", command=[], host={}, build={},
                                          versions={}, cases=[case]))["cases"][0]
    results.atomic_write_text(out_path, json.dumps(d))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
