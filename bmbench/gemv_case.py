"""The `gemv` case kind: one weight format x flavour x thread count x shape x regime.

Regimes: `cache` repeats one matrix (it stays in cache when it fits); `stream` rotates over distinct
matrices totalling at least 4x the last-level cache, as a decode step sees its weights.  Each timed
call prepares the activations (quantisation / table build) and runs the GEMV, in C."""
from __future__ import annotations

import time

import numpy as np

from . import _kernels, arena, formats, hosts
from .dispatch import flavour_id
from .results import CaseResult, Metric

# The projection shapes of the BitMamba-2 models (rows = outputs, cols = inputs).
SHAPES: dict[str, tuple[int, int]] = {
    "255m.in_proj": (4144, 1024), "255m.out_proj": (1024, 2048), "255m.lm_head": (50257, 1024),
    "1b.in_proj": (8288, 2048), "1b.out_proj": (2048, 4096), "1b.lm_head": (50257, 2048),
}


def shape_of(params: dict) -> tuple[str, int, int]:
    if params.get("shape"):
        if params["shape"] not in SHAPES:
            raise ValueError(f"unknown shape {params['shape']!r} (known: {', '.join(SHAPES)})")
        return (params["shape"], *SHAPES[params["shape"]])
    rows, cols = int(params.get("rows", 1024)), int(params.get("cols", 1024))
    return f"{rows}x{cols}", rows, cols


def bound_level(params: dict) -> str:
    """Which probe figure bounds this case: DRAM for the stream regime, else the cache level that
    holds the matrix (DRAM if none does)."""
    if params.get("regime") != "cache":
        return "DRAM"
    from .probe import cache_level
    _, rows, cols = shape_of(params)
    return cache_level(formats.get(params["format"]).data_bytes(rows, cols), int(params["threads"]),
                       hosts.detect()["caches"])


def stream_count(nbytes: int) -> int:
    """Distinct matrices needed for the rotating set to exceed 4x the last-level cache."""
    return max(2, -(-4 * hosts.llc_bytes() // nbytes))


def operands(fmt, rows: int, cols: int, regime: str | None):
    """(packed, datas, x) of a timed GEMV: seeded synthetic weights, the matrices it cycles through
    (one in cache, a rotating set of >= 4x the LLC when streaming) and seeded activations."""
    packed = fmt.synthetic(np.random.default_rng(0), rows, cols)
    datas = arena.copies(packed.data, stream_count(packed.nbytes)) if regime == "stream" else [packed.data]
    return packed, datas, np.random.default_rng(1).standard_normal(cols).astype(np.float32)


def time_calls(fmt, fid: int, datas: list, rows: int, cols: int, scale: float, x, threads: int,
               repetitions: int, warmup: int, target_s: float = 0.05) -> list[float]:
    """Seconds per call (prep + GEMV), one sample per repetition of >= target_s."""
    return time_interleaved(fmt, [fid], datas, rows, cols, scale, x, threads, repetitions, warmup, target_s)[0]


def time_interleaved(fmt, fids: list[int], datas: list, rows: int, cols: int, scale: float, x,
                     threads: int, repetitions: int, warmup: int, target_s: float = 0.05) -> list[list[float]]:
    """Seconds per call (prep + GEMV) for each flavour of `fids`, one sample per repetition of
    >= target_s each, the flavours taken in turn within every repetition (A B A B): a change of
    machine load hits the samples of one repetition alike, so their ratio keeps still."""
    act = formats.aligned_empty(fmt.act_bytes(cols))
    y = np.empty(rows, dtype=np.float32)

    def run(fid, calls):
        t0 = time.perf_counter_ns()
        _kernels.gemv_loop(fmt.id, fid, datas, rows, cols, scale, x, act, y, calls, threads)
        return (time.perf_counter_ns() - t0) * 1e-9

    counts = []
    for fid in fids:
        t1 = run(fid, len(datas))
        calls = max(len(datas), int(target_s / max(t1 / len(datas), 1e-7)))
        counts.append(-(-calls // len(datas)) * len(datas))  # whole turns of the rotating set
        for _ in range(warmup):
            run(fid, counts[-1])
    out = [[] for _ in fids]
    for _ in range(repetitions):
        for i, fid in enumerate(fids):
            out[i].append(run(fid, counts[i]) / counts[i])
    return out


def quantisation_error(fmt, cols: int, rows: int = 256, seed: int = 1) -> float:
    """Relative RMS error of this format's GEMV output against float64, Gaussian W and x."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols)) / np.sqrt(cols)
    x = rng.standard_normal(cols).astype(np.float32)
    y = formats.gemv(fmt.quantise(w), x, flavour="scalar").astype(np.float64)
    ref = w @ x.astype(np.float64)
    return float(np.sqrt(np.mean((y - ref) ** 2) / np.mean(ref ** 2)))


def bandwidth_of(probe: dict, level: str, threads: int) -> dict | None:
    """The run's probe figure for a level and thread count (run.probe layout), None if unmeasured."""
    if level == "DRAM":
        return probe.get("dram_read", {}).get(str(threads))
    return probe.get("cache_read", {}).get(level, {}).get(str(threads))


def run_case(spec: dict) -> CaseResult:
    p = spec["params"]
    fmt = formats.get(p["format"])
    name, rows, cols = shape_of(p)
    threads, flavour = int(p["threads"]), p["flavour"]
    packed, datas, x = operands(fmt, rows, cols, p.get("regime"))
    reps, warm = spec["repetitions"], spec["warmup"]
    extra_notes: list[str] = []
    # a SIMD flavour is timed with the scalar one, repetition by repetition: the speedup over scalar
    # is a ratio of two times taken moments apart in one process, which machine load barely moves
    fids = [flavour_id(flavour)] + ([flavour_id("scalar")] if flavour != "scalar" else [])
    timed = time_interleaved(fmt, fids, datas, rows, cols, packed.scale, x, threads, reps, warm)
    samples = timed[0]
    wbytes = packed.nbytes
    gbps = [wbytes / s / 1e9 for s in samples]
    metrics = {
        "time_per_call": Metric.from_samples([s * 1e6 for s in samples], "us", better="lower"),
        "weight_gbps": Metric.from_samples(gbps, "GB/s"),
    }
    if flavour != "scalar":
        metrics["speedup_vs_scalar"] = Metric.from_samples(
            [r / s for r, s in zip(timed[1], samples)], "x",
            method="scalar / this flavour, timed in turn within each repetition, same process")
    if p.get("instructions"):
        from . import instructions
        try:
            ipw = instructions.per_weight(fmt.name, min(rows, 1024), cols, flavour)
            metrics["instructions_per_weight"] = Metric(
                value=ipw, unit="instr/weight", better="lower", repeatable=True,
                method=f"valgrind callgrind, prep + GEMV of {min(rows, 1024)}x{cols}, 1 thread")
        except instructions.Unavailable as e:
            extra_notes.append(f"instructions_per_weight skipped: {e}")
    metrics["rel_rms_error"] = Metric(value=quantisation_error(fmt, cols), unit="ratio", better="lower",
                                      repeatable=True,
                                      method="Gaussian W (256 rows) and x vs float64, scalar kernel")
    case = CaseResult(case_id=spec["case_id"], suite=spec["suite"], kind="gemv", format=fmt.name,
                      flavour=flavour, threads=threads, params=p, metrics=metrics,
                      memory={"weight_bytes": wbytes, "stream_set_bytes": wbytes * len(datas)},
                      extra={"shape": name, "rows": rows, "cols": cols, "regime": p.get("regime"),
                             "bound_level": bound_level(p), "repetitions": len(samples),
                             "bpw": 8 * wbytes / (rows * cols), "nominal_bpw": fmt.bpw,
                             "matrices": len(datas), "notes": extra_notes})
    set_bound(case, spec.get("probe") or {})
    return case


def set_bound(case: CaseResult, probe: dict) -> None:
    """A streaming GEMV against the run's DRAM read bandwidth, an in-cache one against the plateau of
    the cache level that holds it (best probe samples, same run): pct_of_dram_read or
    pct_of_cache_read."""
    for k in ("pct_of_dram_read", "pct_of_cache_read"):
        case.metrics.pop(k, None)
    level = case.extra["bound_level"]
    entry = bandwidth_of(probe, level, case.threads)
    if entry:
        name = "pct_of_dram_read" if level == "DRAM" else "pct_of_cache_read"
        case.metrics[name] = Metric.from_samples(
            [100 * g / entry["value"] for g in case.metrics["weight_gbps"].samples], "%",
            method=f"weight GB/s / {level} read {entry['value']:.1f} GB/s (probe best sample, same run)")
