"""The decode case's measured metrics from its timings (per-token latency percentiles, prompt
processing), the pooling of two rounds, and its roofline bound from the run's DRAM probe."""
from __future__ import annotations

import numpy as np

from . import hosts, roofline
from .results import CaseResult, Metric


def prefill_metrics(prompt: list[int], prefill_ms: list[float], batch: int, context: int, note: str) -> dict:
    how = (f"{len(prompt)} prompt tokens " + ("token by token" if batch == 1 else "batched")
           + (f", after a context of {context}" if context else "") + note)
    return {
        "pp_tok_s": Metric.from_samples([len(prompt) / (ms * 1e-3) for ms in prefill_ms], "tok/s", method=(
            "prompt tokens / wall time until the first new token is known (prefill + its logits); " + how)),
        "ttft_ms": Metric.from_samples(prefill_ms, "ms", better="lower", method=(
            "time to first token: the prompt and the first new token's logits; " + how)),
    }


def latencies(lat_ms: list[float], method: str | None) -> dict[str, Metric]:
    lat = np.asarray(lat_ms)
    return {f"latency_p{q}": Metric(value=float(np.percentile(lat, q)), unit="ms", better="lower", method=method)
            for q in (50, 99)}


def pool(prev: CaseResult, new: CaseResult) -> CaseResult:
    """Two rounds of one decode case: samples pooled, latency percentiles over every token of both."""
    from .pooling import pool as pool_samples
    lat = list(prev.extra.get("latencies_ms", [])) + list(new.extra.get("latencies_ms", []))
    new = pool_samples(prev, new)
    if lat:
        new.metrics.update(latencies(lat, new.metrics["latency_p50"].method))
        new.extra["latencies_ms"] = lat
    return new


def set_bound(case: CaseResult, probe: dict) -> None:
    """The case's roofline bound from the run's DRAM read bandwidth (its best sample): bound_tok_s,
    pct_of_bound, efficiency and the host projections; none for a case whose bytes per token fit
    in 4x the aggregate last-level cache (labelled cache-resident: its weights need not come from
    DRAM, so a DRAM bound would be no bound)."""
    roof, p = case.roofline, case.params
    for k in ("bound_tok_s", "pct_of_bound"):
        case.metrics.pop(k, None)
    for k in ("dram_read_gbps", "bound_tok_s", "efficiency", "projections", "regime_note"):
        roof.pop(k, None)
    bpt, llc = roof["bytes_per_token"], roof.get("llc_bytes") or hosts.llc_bytes()
    if bpt < 4 * llc:
        roof.update(regime="cache-resident", regime_note=(
            f"{bpt / 2**20:.0f} MiB per token < 4x the aggregate last-level cache ({4 * llc / 2**20:.0f} MiB): "
            f"no DRAM bound"))
        return
    roof["regime"] = "DRAM"
    entry = (probe.get("dram_read") or {}).get(str(case.threads))
    if not entry:
        return
    tok_s = case.metrics["tok_s"]
    bound = roofline.bound_tok_s(entry["value"], bpt)
    roof.update(dram_read_gbps=entry["value"], bound_tok_s=bound, efficiency=tok_s.value / bound)
    case.metrics["bound_tok_s"] = Metric(value=bound, unit="tok/s", provenance="projected", method=(
        "roofline: DRAM read GB/s (probe best sample, same run) / bytes per token"))
    case.metrics["pct_of_bound"] = Metric.from_samples([100 * t / bound for t in tok_s.samples], "%",
                                                       method="measured tok/s / roofline bound")
    if "weights_per_token" in roof:
        from .suites import all_threads
        profiles = hosts.load_profiles(p.get("hosts_file"))
        cpw = roof.get("cycles_per_weight_in_cache")
        roof["projections"] = [roofline.project(
            profiles[h], measured_tok_s=tok_s.value, local_bound_tok_s=bound, bytes_per_token=bpt,
            weights_per_token=roof["weights_per_token"], threads=case.threads, all_threads_here=all_threads(),
            cycles_per_weight=cpw, local_simd_bytes=roofline.SIMD_BYTES.get(case.flavour, 8)).as_dict()
            for h in p.get("project_to") or list(profiles)]
