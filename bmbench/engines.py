"""Decode engines by name.  bmbench's own C engine is built in; other engines register under the
entry-point group `bmbench.engines` (this package registers llama.cpp's in pyproject.toml), so the
core lists them without importing them and a case loads only the engine it runs.

An entry point names an `Engine`: how to set a decode case up on it, how to normalise a case's
params for it, the weight types it reads beyond bmbench's formats, whether it can run here, and how
`bmbench info` describes it."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Callable

from .errors import BmbenchError

BUILTIN = "bmbench"
GROUP = "bmbench.engines"


@dataclass(frozen=True)
class Engine:
    name: str
    # (params, max_context, case spec) -> Setup, or a skipped CaseResult (memory_guard.skipped)
    setup: Callable
    # params -> final params (a format mapped to the engine's type, options it has no use for refused)
    normalise: Callable
    types: tuple[str, ...] = ()  # weight types it reads that are not bmbench formats
    # raises a one-line BmbenchError (naming the install) when the engine cannot run here
    require: Callable[[], object] = lambda: None
    # bmbench info's line: its version and what it runs on here, or how to install it
    describe: Callable[[], str] = lambda: "built in"


@dataclass
class Setup:
    """What an engine hands the decode case's shared measurement: the engine object and its accounting."""
    eng: object
    model: str
    family: str
    origin: str
    load_s: float
    bytes_per_token: Callable[[int], dict]   # KV positions -> bytes per term
    memory: dict
    engine_info: dict
    flavour: str
    notes: list = field(default_factory=list)
    config: object = None                    # the bmbench config (projections), None for a GGUF
    method_note: str = ""


def _registered() -> dict:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> tuple[str, ...]:
    return (BUILTIN,) + tuple(sorted(_registered()))


@cache
def get(name: str) -> Engine:
    if name == BUILTIN:
        from .decode_case import BMBENCH
        return BMBENCH
    ep = _registered().get(name)
    if ep is None:
        raise BmbenchError(f"unknown engine {name!r} (known: {', '.join(names())})")
    return ep.load()


def owner_of_type(fmt: str) -> str | None:
    """The registered engine that reads a weight type bmbench's own formats do not have."""
    return next((n for n in names()[1:] if fmt in get(n).types), None)
