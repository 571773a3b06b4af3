"""Bandwidth probe: STREAM-style read (sum), copy and triad C kernels over working sets from 16 KiB to
beyond 4x the last-level cache, per flavour and thread count; plateaus per cache level and DRAM.

Bytes are counted the STREAM way: read = 8 B, copy = 16 B, triad = 24 B per element and repetition
(write-allocate traffic is not counted).  Arrays are first touched by the threads that read them.
The bound that decode and GEMV cases are set against is the best sample (STREAM's rule: noise only
ever slows a pass down); the median, interval and spread stay in the metric."""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from . import _kernels, arena, hosts
from .dispatch import flavour_id, native_flavours
from .results import Metric

KERNELS = {"read": (0, 1), "copy": (1, 2), "triad": (2, 3)}  # name -> (C kind, arrays)
MIN_BYTES = 16 * 1024
MIN_DRAM_BYTES = 512 * 1024 * 1024
LEVELS = ("L1", "L2", "L3", "DRAM")


def working_sets(max_bytes: int | None = None, min_bytes: int = MIN_BYTES) -> list[int]:
    """Powers of two from 16 KiB to at least 4x the LLC and at least 512 MiB."""
    top = max_bytes or max(4 * hosts.llc_bytes(), MIN_DRAM_BYTES)
    sizes, s = [], min_bytes
    while s < top:
        sizes.append(s)
        s *= 2
    sizes.append(s)
    return sizes


class _Arrays:
    """Arrays for one kernel, allocated once at the largest size and first touched by the threads
    that stream them (bmk_probe_fill: the same slices as the kernels at that size)."""

    def __init__(self, kernel: str, max_bytes: int, threads: int):
        self.kind, self.narrays = KERNELS[kernel]
        n = max_bytes // (8 * self.narrays)
        self.arrays = []
        for i in range(3 if self.narrays == 3 else self.narrays):
            a = arena.allocate(8 * n).view(np.float64)  # untouched until probe_fill
            _kernels.probe_fill(a, 1.0 + i, threads)
            self.arrays.append(a)
        while len(self.arrays) < 3:
            self.arrays.append(self.arrays[-1])

    def run(self, fid: int, ws_bytes: int, reps: int, threads: int) -> float:
        """Seconds for `reps` passes over a working set of ws_bytes (all arrays together)."""
        n = ws_bytes // (8 * self.narrays)
        a, b, c = (x[:n] for x in self.arrays)
        t0 = time.perf_counter_ns()
        _kernels.probe_run(self.kind, fid, a, b, c, reps, threads)
        return (time.perf_counter_ns() - t0) * 1e-9


def measure_point(arrays: _Arrays, fid: int, ws_bytes: int, threads: int, repetitions: int = 5,
                  warmup: int = 1, target_s: float = 0.02) -> list[float]:
    """GB/s samples for one working-set size; each sample runs enough passes to last ~target_s."""
    t1 = arrays.run(fid, ws_bytes, 1, threads)
    reps = max(1, int(target_s / max(t1, 1e-7)))
    for _ in range(warmup):
        arrays.run(fid, ws_bytes, reps, threads)
    nbytes = (ws_bytes // (8 * arrays.narrays)) * 8 * arrays.narrays * reps
    return [nbytes / arrays.run(fid, ws_bytes, reps, threads) / 1e9 for _ in range(repetitions)]


def _cache_bytes(caches: dict) -> tuple[int, int, int]:
    """(L1d, L2, one L3 slice) in bytes from host.caches, with defaults where /sys said nothing."""
    return (caches.get("l1d_kib", 32) * 1024, caches.get("l2_kib", 512) * 1024,
            caches.get("l3_kib", 8192) * 1024)


def level_of(ws_bytes: int, threads: int, caches: dict) -> str | None:
    """Which plateau a working set measures (None in the transitions between levels).
    L1/L2 are per core (each thread streams its own slice); L3 is shared."""
    per_thread = ws_bytes / threads
    l1, l2, l3 = _cache_bytes(caches)
    if per_thread <= l1 / 2:
        return "L1"
    if 2 * l1 <= per_thread <= l2 / 2:
        return "L2"
    if per_thread >= 2 * l2 and ws_bytes <= l3 / 2:
        return "L3"
    if ws_bytes >= 4 * l3:
        return "DRAM"
    return None


def sweep(kernel: str, flavour: str, threads: int, sizes: list[int], repetitions: int = 5,
          warmup: int = 1, progress=None) -> dict:
    """The bandwidth curve and its plateaus for one kernel x flavour x thread count."""
    fid = flavour_id(flavour)
    arrays = _Arrays(kernel, max(sizes), threads)
    caches = hosts.detect()["caches"]
    curve, pooled = [], {lv: [] for lv in LEVELS}
    for ws in sizes:
        samples = measure_point(arrays, fid, ws, threads, repetitions, warmup)
        level = level_of(ws, threads, caches)
        curve.append(dict(bytes=ws, level=level, gbps=float(np.median(samples)), samples=samples))
        if level:
            pooled[level].extend(samples)
        if progress:
            progress(ws)
    metrics = {f"{lv}_{kernel}": Metric.from_samples(pooled[lv], "GB/s")
               for lv in LEVELS if pooled[lv]}
    return dict(curve=curve, metrics=metrics)


_BEST = "; value: best of"


def best_of(samples: list[float], unit: str, method: str) -> Metric:
    """A bandwidth from repeated passes: the best sample as the value (STREAM's rule), the median's
    interval and the CV of the samples beside it."""
    m = Metric.from_samples(samples, unit)
    return dataclasses.replace(m, value=float(max(samples)), method=(
        f"{method}{_BEST} {len(samples)} samples (STREAM's rule), median {m.value:.2f}, "
        f"interval and CV of the median"))


def pool_slice(entry: dict | None, m: Metric) -> dict:
    """A run's probe figure (run.probe layout) after one more slice `m`: every slice's samples pooled,
    the best of them the bound, each slice's own best kept in `slice_best` (noise.assess)."""
    samples = (list(entry["samples"]) if entry else []) + list(m.samples)
    pooled = best_of(samples, m.unit, m.method.split(_BEST)[0])
    return dict(dataclasses.asdict(pooled), slice_best=(entry or {}).get("slice_best", []) + [m.value])


_FASTEST: dict[tuple, str] = {}


def _fastest(arrays: _Arrays, ws: int, threads: int, flavours: list[str], target_s: float) -> str:
    """The flavour of `flavours` that reads fastest (3 trial samples each): the read bound is the
    memory system's, not a vector width's (on Zen 4, 256-bit loads read DRAM ~8% faster than
    512-bit ones).  Tried once per process and working set, so a run's short slices before each
    case cost their samples only."""
    if len(flavours) == 1:
        return flavours[0]
    key = (ws, threads, tuple(flavours))
    if key not in _FASTEST:
        trial = {fl: max(measure_point(arrays, flavour_id(fl), ws, threads, 3, warmup=1, target_s=target_s))
                 for fl in flavours}
        _FASTEST[key] = max(trial, key=trial.get)
    return _FASTEST[key]


def _read_samples(ws: int, threads: int, flavours: list[str], repetitions: int, target_s: float):
    """Read-sum samples over one array with the fastest of `flavours`.  Returns (samples, flavour)."""
    arrays = _Arrays("read", ws, threads)
    top = _fastest(arrays, ws, threads, flavours, target_s)
    return measure_point(arrays, flavour_id(top), ws, threads, repetitions, warmup=0, target_s=target_s), top


def read_sampler(ws: int, threads: int, target_s: float = 0.005):
    """(sample, flavour): `sample()` gives one read-sum GB/s figure over ws bytes with the fastest
    native flavour, for a metric whose samples are each set against a probe taken just before
    them in the same process."""
    arrays = _Arrays("read", ws, threads)
    top = _fastest(arrays, ws, threads, native_flavours(), target_s)
    return (lambda: measure_point(arrays, flavour_id(top), ws, threads, 1, warmup=0, target_s=target_s)[0]), top


def dram_read(threads: int, flavour: str | None = None, repetitions: int = 10) -> Metric:
    """Sustained DRAM read bandwidth (read-sum kernel, working set 4x the aggregate LLC, at least
    256 MiB, one pass per sample as STREAM times each of its NTIMES = 10) with `flavour`, or with
    every native flavour (pooled): the bound used by the kernel and decode suites, measured in the
    same run."""
    ws = max(4 * hosts.llc_bytes(), 256 * 1024 * 1024)
    samples, top = _read_samples(ws, threads, [flavour] if flavour else native_flavours(), repetitions, 0.001)
    return best_of(samples, "GB/s", f"read-sum, {ws >> 20} MiB, one pass per sample, best with {top}")


def plateau_bytes(level: str, threads: int, caches: dict) -> int:
    """A working set in the middle of a cache level's plateau (as level_of classifies them)."""
    l1, l2, l3 = _cache_bytes(caches)
    return {"L1": threads * l1 // 4, "L2": threads * l2 // 4, "L3": max(l3 // 4, 2 * threads * l2)}[level]


def cache_level(nbytes: int, threads: int, caches: dict) -> str:
    """The smallest level that holds a working set of nbytes split across threads (per-core L1/L2,
    shared L3), DRAM if none does."""
    per_thread = nbytes / threads
    l1, l2, l3 = _cache_bytes(caches)
    if per_thread <= l1 / 2:
        return "L1"
    if per_thread <= l2 / 2:
        return "L2"
    if nbytes <= l3 * caches.get("llc_domains", 1) / 2:  # the aggregate LLC, as hosts.llc_bytes
        return "L3"
    return "DRAM"


def cache_read(level: str, threads: int, flavour: str | None = None, repetitions: int = 5) -> Metric:
    """Read bandwidth on one cache level's plateau (read-sum kernel, every native flavour unless one
    is given): the bound of an in-cache GEMV."""
    ws = plateau_bytes(level, threads, hosts.detect()["caches"])
    samples, top = _read_samples(ws, threads, [flavour] if flavour else native_flavours(), repetitions, 0.02)
    return best_of(samples, "GB/s", f"read-sum, {ws >> 10} KiB ({level} plateau), best with {top}")
