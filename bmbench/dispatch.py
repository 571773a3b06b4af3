"""Kernel flavour dispatch, resolved once at import (as NumPy does), introspectable by `bmbench info`.

BMBENCH_KERNELS=scalar|avx2|avx512|neon forces one flavour for every kernel.
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
