"""The metrics each kind of case shows first: what `show`, the frames and the report put up front.
Plain data about result documents, so a reader of results needs no part of the harness."""
from __future__ import annotations

# metric names; a trailing _ is a prefix (the probe's L1_read_gbps, ...)
HEADLINE: dict[str, tuple[str, ...]] = {
    "probe": ("L1_", "L2_", "L3_", "DRAM_"),
    "gemv": ("time_per_call", "weight_gbps", "pct_of_dram_read", "pct_of_cache_read", "speedup_vs_scalar",
             "rel_rms_error", "instructions_per_weight"),
    "decode": ("tok_s", "latency_p50", "latency_p99", "pp_tok_s", "ttft_ms", "bound_tok_s", "pct_of_bound",
               "pct_of_pp_roof", "pct_of_probe"),
}
# the one-row-per-case summary (default: the headline)
SUMMARY: dict[str, tuple[str, ...]] = {
    "gemv": ("time_per_call", "weight_gbps", "pct_of_dram_read", "pct_of_cache_read", "speedup_vs_scalar"),
    "decode": ("tok_s", "pp_tok_s", "latency_p50", "latency_p99", "ttft_ms", "pct_of_bound", "pct_of_pp_roof",
               "pct_of_probe"),
}


def headline(kind: str) -> tuple[str, ...]:
    return HEADLINE.get(kind, ())


def summary(kind: str) -> tuple[str, ...]:
    return SUMMARY.get(kind) or headline(kind)
