"""Bandwidth probe: STREAM-style read (sum), copy and triad C kernels over working sets from 16 KiB to
beyond 4x the last-level cache, per flavour and thread count; plateaus per cache level and DRAM.

Bytes are counted the STREAM way: read = 8 B, copy = 16 B, triad = 24 B per element and repetition
(write-allocate traffic is not counted)."""
from __future__ import annotations

import time

import numpy as np

from . import _kernels, hosts
from .dispatch import flavour_id
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
    """Arrays for one kernel, allocated once at the largest size and touched (first-touch)."""

    def __init__(self, kernel: str, max_bytes: int):
        self.kind, self.narrays = KERNELS[kernel]
        n = max_bytes // (8 * self.narrays)
        self.arrays = [np.full(n, 1.0 + i) for i in range(3 if self.narrays == 3 else self.narrays)]
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


def level_of(ws_bytes: int, threads: int, caches: dict) -> str | None:
    """Which plateau a working set measures (None in the transitions between levels).
    L1/L2 are per core (each thread streams its own slice); L3 is shared."""
    per_thread = ws_bytes / threads
    l1, l2 = caches.get("l1d_kib", 32) * 1024, caches.get("l2_kib", 512) * 1024
    l3 = caches.get("l3_kib", 8192) * 1024
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
    arrays = _Arrays(kernel, max(sizes))
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


def dram_read(threads: int, flavour: str, repetitions: int = 5) -> Metric:
    """Sustained DRAM read bandwidth (read-sum kernel, working set 4x LLC, at least 256 MiB): the
    bound used by the kernel and decode suites, measured in the same run."""
    ws = max(4 * hosts.llc_bytes(), 256 * 1024 * 1024)
    arrays = _Arrays("read", ws)
    samples = measure_point(arrays, flavour_id(flavour), ws, threads, repetitions, warmup=1,
                            target_s=0.1)
    return Metric.from_samples(samples, "GB/s", method=f"read-sum, {ws >> 20} MiB, {flavour}")
