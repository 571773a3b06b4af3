"""Runs one case in a fresh process: `python -m bmbench.worker SPEC.json OUT.json`.

A fresh process gives each case its own peak RSS and confines a crash to one case."""
from __future__ import annotations

import json
import resource
import sys
import time
import traceback

from . import results
from .kinds import KINDS


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main(argv: list[str]) -> int:
    spec_path, out_path = argv
    with open(spec_path) as f:
        spec = json.load(f)
    baseline = _rss_bytes()  # interpreter + NumPy + bmbench, before the case allocates anything
    t0 = time.perf_counter()
    try:
        case = KINDS[spec["kind"]].run(spec)
    except Exception as e:  # recorded as a failed case, never as numbers
        traceback.print_exc()
        case = results.CaseResult(case_id=spec["case_id"], suite=spec["suite"], kind=spec["kind"],
                                  status="failed", error=f"{type(e).__name__}: {e}",
                                  params=spec["params"])
    case.duration_s = time.perf_counter() - t0
    case.memory.setdefault("peak_rss_bytes", _rss_bytes())
    case.memory.setdefault("baseline_rss_bytes", baseline)
    d = results.to_dict(results.RunResult(suite="", created="", command=[], host={}, build={},
                                          versions={}, cases=[case]))["cases"][0]
    results.atomic_write_text(out_path, json.dumps(d))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
