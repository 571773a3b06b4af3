"""Roofline accounting for one decode token (BRIEF section 5), bounds, and projections of a
measured result to other host profiles.

Bound tok/s = read bandwidth / bytes per token.  A projection to a host profile is

    tok/s_H = min( BW_H / bytes_per_token x efficiency_here ,  compute_roof_H )

where efficiency_here = measured tok/s / bound tok/s on this host (same run), BW_H is the host's
published read bandwidth (or an assumed fraction of its theoretical peak), and compute_roof_H scales
the cycles per weight measured here in cache (1 thread) by the host's frequency, core count and SIMD
width.  Every projected figure is labelled `projected` and carries this method string.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .hosts import HostProfile

METHOD = ("tok/s_H = min(BW_H / bytes per token x bandwidth efficiency measured here, compute roof "
          "= cores_H x GHz_H / (cycles per weight measured here x SIMD width ratio)); BW_H = the "
          "profile's published read bandwidth, else 0.7 x its theoretical DRAM peak")

# Assumption used only when a profile has no published measured read bandwidth: the fraction of the
# theoretical DRAM peak that a STREAM-like read reaches on desktop/SBC memory systems.
SUSTAINED_FRACTION = 0.7
SIMD_BYTES = {"avx512": 64, "avx2": 32, "neon": 16, "scalar": 8}


def bound_tok_s(read_gbps: float, bytes_per_token: float) -> float:
    return read_gbps * 1e9 / bytes_per_token


def simd_bytes(features) -> int:
    f = {s.lower() for s in features or ()}
    if any(s.startswith("avx512") for s in f):
        return SIMD_BYTES["avx512"]
    if "avx2" in f:
        return SIMD_BYTES["avx2"]
    if f & {"neon", "asimd"}:
        return SIMD_BYTES["neon"]
    return SIMD_BYTES["scalar"]


def host_read_bandwidth(profile: HostProfile, threads: int) -> tuple[float, str]:
    """GB/s a profile reads at `threads`, and where the figure comes from."""
    fig = profile.figures.get("measured_read_bandwidth")
    if fig:
        usable = {int(k): float(v) for k, v in fig.value.items() if int(k) <= threads}
        if usable:
            t = max(usable)
            return usable[t], f"published read bandwidth at {t} thread(s): {fig.source}"
    peak = profile.figures["dram_peak"]
    return (SUSTAINED_FRACTION * float(peak.value),
            f"{SUSTAINED_FRACTION} x theoretical DRAM peak {peak.value} GB/s (assumed sustained "
            f"fraction; peak: {peak.source})")


@dataclass(frozen=True)
class Projection:
    host: str
    threads: int
    tok_s: float
    bandwidth_tok_s: float
    compute_tok_s: float | None
    read_gbps: float
    bound_tok_s: float
    limited_by: str
    method: str
    j_per_token: float | None = None
    energy_method: str | None = None
    provenance: str = "projected"

    def as_dict(self) -> dict:
        return asdict(self)


def project(profile: HostProfile, *, measured_tok_s: float, local_bound_tok_s: float,
            bytes_per_token: float, weights_per_token: float, threads: int, all_threads_here: int,
            cycles_per_weight: float | None = None, local_simd_bytes: int | None = None) -> Projection:
    """Project a measured decode figure to `profile` (see the module docstring for the model)."""
    cores = int(profile.get("cores", 1))
    t_h = cores if threads >= all_threads_here else min(threads, cores)
    bw, bw_src = host_read_bandwidth(profile, t_h)
    eff = measured_tok_s / local_bound_tok_s if local_bound_tok_s else 1.0
    bound = bound_tok_s(bw, bytes_per_token)
    bw_tok = bound * eff
    compute_tok = None
    freq = profile.get("freq_max") or profile.get("freq_base")
    if cycles_per_weight and local_simd_bytes and freq:
        width = simd_bytes(profile.get("simd", []))
        cpw_h = cycles_per_weight * local_simd_bytes / width  # narrower SIMD: more cycles per weight
        compute_tok = t_h * float(freq) * 1e9 / cpw_h / weights_per_token
    tok = min(bw_tok, compute_tok) if compute_tok else bw_tok
    limited = "compute" if compute_tok and compute_tok < bw_tok else "bandwidth"
    method = (f"min(BW_H / bytes_per_token x efficiency measured here ({eff:.2f}), compute roof); "
              f"BW_H = {bw:.1f} GB/s ({bw_src}); compute roof = {t_h} cores x {freq} GHz / "
              f"(cycles per weight measured here in cache x SIMD width ratio)"
              if compute_tok else
              f"BW_H / bytes_per_token x efficiency measured here ({eff:.2f}); BW_H = {bw:.1f} GB/s "
              f"({bw_src}); no compute roof (cycles per weight or frequency unknown)")
    j, jm = None, None
    idle, load = profile.get("power_idle"), profile.get("power_load") or profile.get("tdp")
    dram = profile.get("dram_energy")
    if load and dram:
        from .energy import estimate_j_per_token
        e = estimate_j_per_token(1 / tok, t_h / max(int(profile.get("threads", cores)), 1),
                                 float(idle or 0.0), float(load), bytes_per_token, float(dram))
        j, jm = e["value"], e["method"] + (" (no idle power in profile: 0 W)" if idle is None else "")
    return Projection(host=profile.key, threads=t_h, tok_s=tok, bandwidth_tok_s=bw_tok,
                      compute_tok_s=compute_tok, read_gbps=bw, bound_tok_s=bound, limited_by=limited,
                      method=method, j_per_token=j, energy_method=jm)
