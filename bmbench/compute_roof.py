"""The compute side of the roofline, measured on this host: what one thread's kernels multiply per
second on a matrix that fits in L2 (the GEMV's cycles per weight for decode's host projections, the
batched GEMM's rate for prefill's roof).  Used by the decode case and `bmbench roofline`."""
from __future__ import annotations

import time

import numpy as np

from . import formats, hosts
from .results import Metric


def _l2_matrix(fmt_name: str, rows: int, cols: int):
    """(format, rows, packed synthetic weights) of the compute measurements: the model's shape cut
    to whole row tiles within 256 KiB, so it stays in L2."""
    fmt = formats.get(fmt_name)
    rows = max(fmt.row_tile, min(rows, (256 * 1024 * 8) // int(fmt.bpw * cols) // fmt.row_tile * fmt.row_tile))
    return fmt, rows, fmt.synthetic(np.random.default_rng(2), rows, cols)


def gemm_weights_per_s_in_cache(fmt_name: str, cols: int, rows: int, flavour: str, n: int) -> float:
    """Compute side of prefill: weights per second one thread multiplies with the batched GEMM
    (bmk_gemm, n vectors, the activations prepared beforehand) on a matrix that fits in L2, the
    fastest of >= 0.1 s of calls."""
    from . import _kernels
    from .dispatch import flavour_id
    fmt, rows, packed = _l2_matrix(fmt_name, rows, cols)
    fl = flavour_id(flavour)
    stride = -(-fmt.act_bytes(cols) // 64) * 64
    acts = formats.aligned_empty(n * stride).reshape(n, stride)
    for j, x in enumerate(np.random.default_rng(3).standard_normal((n, cols)).astype(np.float32)):
        _kernels.prep(fmt.id, x, acts[j], 0, fl)
    y = np.empty((n, rows), dtype=np.float32)
    times, end = [], time.perf_counter() + 0.1
    while len(times) < 10 or time.perf_counter() < end:  # a roof: the best of >= 0.1 s of calls
        t = time.perf_counter()
        _kernels.gemm(fmt.id, fl, packed.data, rows, cols, packed.scale, acts, y, 1)
        times.append(time.perf_counter() - t)
    return n * rows * cols / min(times)


def cycles_per_weight_in_cache(fmt_name: str, cols: int, rows: int, flavour: str) -> float | None:
    """Compute side of the roofline: cycles per weight of one GEMV that fits in L2, 1 thread."""
    from .gemv_case import time_calls
    from .dispatch import flavour_id
    mhz = hosts.cpu_mhz()
    if not mhz:
        return None
    fmt, rows, packed = _l2_matrix(fmt_name, rows, cols)
    x = np.random.default_rng(3).standard_normal(cols).astype(np.float32)
    t = np.median(time_calls(fmt, flavour_id(flavour), [packed.data], rows, cols, packed.scale, x, 1,
                             repetitions=5, warmup=1, target_s=0.01))
    return t * mhz * 1e6 / (rows * cols)


def prefill_roof(metrics: dict, roof: dict, fmt: str, cols: int, rows: int, flavour: str, threads: int,
                  n_prompt: int, weights_per_token: float) -> None:
    """pp_roof_tok_s (projected): the batched GEMM's in-cache rate x threads / weights per prompt
    token, and pp's % of it."""
    from ._kernels import BATCH
    n = min(n_prompt, BATCH)  # the engine's GEMMs take at most BATCH tokens
    rate = gemm_weights_per_s_in_cache(fmt, cols, rows, flavour, n)
    bound = threads * rate / weights_per_token
    roof.update(gemm_weights_per_s_in_cache=rate, pp_roof_tok_s=bound, pp_weights_per_token=weights_per_token)
    metrics["pp_roof_tok_s"] = Metric(value=bound, unit="tok/s", provenance="projected", method=(
        f"compute roof: batched GEMM of {n} vectors in L2 ({fmt}, {flavour}, 1 thread, "
        f"{rate / 1e9:.1f} Gweights/s, measured here) x {threads} thread(s) / {weights_per_token / 1e6:.0f}M "
        "weights per prompt token (the lm_head once per prompt); norms, conv, state update, attention not counted"))
    metrics["pct_of_pp_roof"] = Metric.from_samples(
        [100 * v / bound for v in metrics["pp_tok_s"].samples], "%", method="measured pp tok/s / compute roof")
