"""Per-format kernel flavour choice: a short calibration times every native flavour of every GEMV
format on this host and keeps the fastest, cached by CPU identity.

Why: the widest vector unit is not the fastest for every format.  On a Zen 4 VM the AVX-512
flavour decodes q4_0 and ternary-mad slower than the AVX2 one while its q8_0 is twice as fast, so
one flavour for every format leaves speed on the table.

How: prep + GEMV of the BitMamba-2 1B in_proj shape at 1 thread, streaming from DRAM (a rotating
set of 4x the LLC, decode's regime) and in cache; the flavours timed in turn within every
repetition (A B A B), and each flavour scored by the sum of its two medians.  Streaming alone
could not tell flavours apart whose single thread waits on memory alike (ternary-mad's three on a
Zen 4 VM within noise of each other), while with more threads per memory channel, and in the
prompt's batched GEMMs, the one that computes faster decodes faster; the in-cache time says which.
A flavour other than the default (the widest native one) is chosen only when its score is better
by more than MARGIN, so a near tie does not flip from one calibration to the next.  The cache file
is keyed by CPU model, kernel features and this build (bmbench version + compiler): another CPU or
another build calibrates again.
BMBENCH_KERNELS still forces one flavour for everything; BMBENCH_CALIBRATE=off never calibrates
automatically (the default flavour then stands for every format)."""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from . import _kernels, dispatch, formats, hosts
from .errors import BmbenchError

SHAPE = "1b.in_proj"
MARGIN = 0.03
REGIMES = ("stream", "cache")
ENV_VAR = "BMBENCH_CALIBRATE"


@functools.cache
def _build_id() -> str:
    """bmbench version, compiler and flags, and a digest of the kernel library itself: a rebuilt
    kernel (same version, new code) calibrates again."""
    from . import __version__
    digest = hashlib.sha1(Path(_kernels.__file__).read_bytes()).hexdigest()[:12]
    try:
        from . import _build_info as b
        return f"{__version__} {b.COMPILER} {b.CFLAGS} {b.BUILDTYPE} kernels {digest}"
    except ImportError:  # pragma: no cover
        return f"{__version__} kernels {digest}"


def cpu_key() -> str:
    """What makes a calibration valid: this CPU model, its kernel features and this build."""
    d = hosts.detect()
    text = f"{d['cpu_model']}|{' '.join(sorted(_kernels.cpu_features()))}|{_build_id()}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def cache_file() -> Path | None:
    from .models.cache import cache_dir
    d = cache_dir()
    return None if d is None else d / f"calibration-{cpu_key()}.json"


def candidates(fmt: formats.Format) -> list[str]:
    """Native runnable flavours of a format (never SIMDe-emulated code), widest first."""
    native = [f for f in dispatch.native_flavours() if f in fmt.flavours]
    return sorted(native, key=lambda f: f != dispatch.chosen_flavour()) or ["scalar"]


def measure(fmt: formats.Format, flavours: list[str], rows: int, cols: int, regime: str = "stream",
            repetitions: int = 5, threads: int = 1) -> dict[str, float]:
    """Median seconds per prep + GEMV call per flavour, interleaved."""
    from .gemv_case import operands, time_interleaved
    packed, datas, x = operands(fmt, rows, cols, regime)
    fids = [dispatch.flavour_id(f) for f in flavours]
    timed = time_interleaved(fmt, fids, datas, rows, cols, packed.scale, x, threads, repetitions, 1,
                             target_s=0.03)
    return {f: float(np.median(t)) for f, t in zip(flavours, timed)}


def choose(timings: dict[str, float], default: str) -> str:
    """The fastest flavour, unless the default is within MARGIN of it."""
    best = min(timings, key=timings.get)
    if default in timings and timings[default] <= timings[best] * (1 + MARGIN):
        return default
    return best


def calibrate(shape: str = SHAPE, save: bool = True, progress=None) -> dict:
    """Time every format's native flavours, choose per format, cache the result (unless save is
    False or the cache is off).  Returns the calibration document."""
    from .gemv_case import SHAPES
    rows, cols = SHAPES[shape]
    doc = dict(cpu_key=cpu_key(), cpu_model=hosts.detect()["cpu_model"], build=_build_id(),
               created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               method=(f"prep + GEMV of {shape} ({rows}x{cols}), 1 thread, streaming from DRAM and in cache, "
                       f"flavours timed in turn (A B A B), median of 5 each, scored by their sum; a non-default "
                       f"flavour only when > {MARGIN:.0%} faster"),
               default=dispatch.chosen_flavour(), formats={})
    for fmt in formats.FORMATS.values():
        flavours = candidates(fmt)
        if len(flavours) == 1:
            doc["formats"][fmt.name] = dict(flavour=flavours[0], seconds={})
            continue
        if progress:
            progress(f"calibrating {fmt.name}: {', '.join(flavours)}")
        by_regime = {r: measure(fmt, flavours, rows, cols, regime=r) for r in REGIMES}
        t = {f: sum(by_regime[r][f] for r in REGIMES) for f in flavours}
        doc["formats"][fmt.name] = dict(flavour=choose(t, flavours[0]), seconds=t, seconds_by_regime=by_regime)
    path = cache_file() if save else None
    if path is not None:
        from .results import atomic_write_text
        try:
            atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
            doc["file"] = str(path)
        except BmbenchError:
            pass  # an unwritable cache is no error: the choice holds for this process
    return doc


def cached() -> dict | None:
    """This host's and build's calibration, if one was saved and is readable."""
    path = cache_file()
    if path is None or not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        if doc.get("cpu_key") != cpu_key() or not isinstance(doc.get("formats"), dict):
            return None
        return doc | {"file": str(path)}
    except (OSError, ValueError):
        return None  # a damaged cache file is recalibrated, not trusted


def auto_allowed() -> bool:
    return os.environ.get(ENV_VAR, "").strip().lower() not in ("off", "0", "no")
