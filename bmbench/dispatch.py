"""Kernel flavour dispatch, introspectable by `bmbench info`: the default flavour (the widest native
one) resolved once per process, and per GEMV format the flavour this host's calibration chose
(bmbench.calibrate: measured once per CPU and build, cached).

BMBENCH_KERNELS=<flavour> (one of FLAVOURS, the library's names) forces one flavour for every kernel.
"""
from __future__ import annotations

import os

from . import _kernels
from .errors import BmbenchError

FLAVOURS: tuple[str, ...] = _kernels.FLAVOURS
ENV_VAR = "BMBENCH_KERNELS"


def flavour_id(name: str) -> int:
    try:
        return FLAVOURS.index(name)
    except ValueError:
        raise BmbenchError(f"unknown kernel flavour {name!r} (known: {', '.join(FLAVOURS)})") from None


def runnable(name: str) -> bool:
    return _kernels.flavour_runnable(flavour_id(name))


def runnable_flavours() -> list[str]:
    return [f for f in FLAVOURS if runnable(f)]


def native_flavours() -> list[str]:
    """The SIMD flavours this CPU runs natively (never SIMDe-emulated code), scalar if none."""
    out = [f for i, f in enumerate(FLAVOURS)
           if f != "scalar" and _kernels.flavour_runnable(i) and not _kernels.flavour_emulated(i)]
    return out or ["scalar"]


def status() -> list[dict]:
    """Per flavour: compiled in, runnable here, emulated (SIMDe), chosen."""
    chosen = chosen_flavour()
    return [dict(flavour=f, compiled=_kernels.flavour_compiled(i), runnable=_kernels.flavour_runnable(i),
                 emulated=_kernels.flavour_emulated(i), chosen=f == chosen)
            for i, f in enumerate(FLAVOURS)]


def resolve(requested: str | None) -> str:
    """The flavour to use: `requested` (or $BMBENCH_KERNELS) if given and runnable, else the best."""
    if requested:
        fid = flavour_id(requested)
        if not _kernels.flavour_compiled(fid):
            raise BmbenchError(f"kernel flavour {requested!r} is not compiled into this build")
        if not _kernels.flavour_runnable(fid):
            raise BmbenchError(f"kernel flavour {requested!r} cannot run on this CPU "
                               f"(features: {' '.join(_kernels.cpu_features()) or 'none'})")
        return requested
    return FLAVOURS[_kernels.best_flavour()]


_chosen: str | None = None


def chosen_flavour() -> str:
    """The flavour chosen once per process, honouring $BMBENCH_KERNELS (an invalid value raises)."""
    global _chosen
    if _chosen is None:
        _chosen = resolve(os.environ.get(ENV_VAR, "").strip() or None)
    return _chosen


_choices: dict | None = None


def format_choices(calibrate_now: bool = True) -> dict:
    """Per GEMV format the flavour to use and where the choice comes from (`source`): forced by
    BMBENCH_KERNELS, this host's cached calibration, a calibration run now (the first time a choice
    is needed and the cache is on; not with calibrate_now=False), or the default flavour for every
    format."""
    global _choices
    if _choices is not None:
        return _choices
    from . import calibrate
    forced = os.environ.get(ENV_VAR, "").strip()
    doc = None if forced else calibrate.cached()
    if forced:
        doc = dict(formats={}, source=f"{ENV_VAR}={chosen_flavour()} (forced, every format)")
    elif doc is not None:
        doc["source"] = f"calibration of {doc.get('created')} cached in {doc['file']}"
    elif not calibrate_now:  # not kept: the next call that may calibrate does
        return dict(formats={}, source="not calibrated yet: the first run that needs a choice calibrates "
                                       "(or bmbench calibrate)")
    elif calibrate.auto_allowed() and calibrate.cache_file() is not None:
        doc = calibrate.calibrate()
        doc["source"] = "calibrated now" + (f", cached in {doc['file']}" if doc.get("file") else "")
    else:
        why = "BMBENCH_CALIBRATE=off" if not calibrate.auto_allowed() else "cache off"
        doc = dict(formats={}, source=f"default flavour for every format ({why}: not calibrated)")
    _choices = doc
    return doc


def flavour_for(fmt: str | None) -> str:
    """The flavour for one GEMV format's kernels (and the rest of a model in that format)."""
    if fmt is None:
        return chosen_flavour()
    return format_choices()["formats"].get(fmt, {}).get("flavour") or chosen_flavour()


def forget_choices() -> None:
    """Drop the per-format choices of this process (after `bmbench calibrate` wrote new ones)."""
    global _choices
    _choices = None
