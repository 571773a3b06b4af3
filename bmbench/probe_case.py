"""The `probe` case kind: one kernel x flavour x thread count swept over working-set sizes."""
from __future__ import annotations

from . import probe
from .results import CaseResult


def run_case(spec: dict) -> CaseResult:
    p = spec["params"]
    sizes = probe.working_sets(p.get("max_bytes"), p.get("min_bytes", probe.MIN_BYTES))
    r = probe.sweep(p["kernel"], p["flavour"], p["threads"], sizes,
                    repetitions=spec["repetitions"], warmup=spec["warmup"])
    return CaseResult(case_id=spec["case_id"], suite=spec["suite"], kind="probe",
                      flavour=p["flavour"], threads=p["threads"], params=p, metrics=r["metrics"],
                      extra={"curve": r["curve"], "bytes_counted": "STREAM convention"})
