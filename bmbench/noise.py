"""Was the machine quiet while a run measured?  Four signs, three against a threshold (pyperf warns
about unstable benchmarks the same way): the spread of the bandwidth probe over the run (the best
samples of its slices, one before each case, max / min: a neighbour that came or went, or a host
whose bandwidth moves between modes; a single slice: its best over its median), the largest
coefficient of variation of a case's headline metric, the load average per core when the run
started, and any case that read faster than the run's best probe sample (above 100% of its bound:
the probe never saw the bandwidth that case had, so no bound of this run is an upper bound).  The
verdict and the measures go into the result (`host.noise`), the summary and the report."""
from __future__ import annotations

import numpy as np

THRESHOLDS = {"probe_spread": 1.10, "case_cv": 0.05, "load_per_core": 0.5}


def _probe_entries(probe: dict):
    yield from (probe.get("dram_read") or {}).values()
    for per_threads in (probe.get("cache_read") or {}).values():
        yield from per_threads.values()


def assess(run) -> dict:
    from .headlines import headline
    spreads = []
    for e in _probe_entries(run.probe):
        bests = e.get("slice_best") or []
        if len(bests) > 1 and min(bests) > 0:
            spreads.append(max(bests) / min(bests))
        elif e.get("samples") and min(e["samples"]) > 0:
            spreads.append(max(e["samples"]) / float(np.median(e["samples"])))
    worst_cv, worst_case = None, None
    for c in run.ok_cases():
        for name in headline(c.kind):
            m = c.metrics.get(name)
            if m is not None and m.cv is not None:
                if worst_cv is None or m.cv > worst_cv:
                    worst_cv, worst_case = m.cv, f"{c.case_id} {name}"
                break
    above = sorted((c.metrics["pct_of_bound"].value, c.case_id) for c in run.ok_cases()
                   if "pct_of_bound" in c.metrics and c.metrics["pct_of_bound"].value > 100)
    la = (run.host.get("load_average") or [None])[0]
    cpus = run.host.get("cpus_allowed") or run.host.get("cores_logical") or 1
    out = dict(probe_spread=max(spreads) if spreads else None, worst_case_cv=worst_cv, worst_case=worst_case,
               load_per_core_at_start=None if la is None else la / cpus, thresholds=dict(THRESHOLDS),
               above_bound=[case for _, case in above])
    reasons = []
    if out["probe_spread"] is not None and out["probe_spread"] > THRESHOLDS["probe_spread"]:
        reasons.append(f"bandwidth probe spread {out['probe_spread']:.2f}x > {THRESHOLDS['probe_spread']:.2f}x")
    if worst_cv is not None and worst_cv > THRESHOLDS["case_cv"]:
        reasons.append(f"CV {100 * worst_cv:.1f}% > {100 * THRESHOLDS['case_cv']:.0f}% ({worst_case})")
    lpc = out["load_per_core_at_start"]
    if lpc is not None and lpc > THRESHOLDS["load_per_core"]:
        reasons.append(f"load average {la:.2f} on {cpus} cores at start > {THRESHOLDS['load_per_core']} per core")
    if above:
        pct, case = above[-1]
        reasons.append(f"{len(above)} case(s) above 100% of the bound, up to {pct:.0f}% ({case}): "
                       f"the probe missed bandwidth the host had, so % of bound is not quotable")
    out.update(verdict="noisy" if reasons else "quiet", reasons=reasons)
    return out


def summary(noise: dict | None) -> str | None:
    """One line for a noisy run (None for a quiet or unassessed one)."""
    if not noise or noise.get("verdict") != "noisy":
        return None
    return ("warning: noisy machine, figures may move between runs: " + "; ".join(noise["reasons"])
            + " (compare only figures taken in one run)")
