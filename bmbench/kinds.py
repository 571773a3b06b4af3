"""Case kinds: what a suite's cases measure.  Each kind names the function that runs one case in a
worker process and the parameters it accepts (with their types); the metrics each kind shows
first are in bmbench.headlines (data a reader of results needs without the harness)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field



@dataclass(frozen=True)
class Kind:
    name: str
    runner: str                          # "module:function" taking a case spec, returning a CaseResult
    params: dict[str, object]            # key -> validator spec (see suites._check_value)
    defaults: dict[str, object] = field(default_factory=dict)
    # "module:function" mapping one expanded case's params to their final form (or raising
    # BmbenchError), before the case id is made; None: the params are final
    normalise: str | None = None
    # params that join the case id whenever they differ from their default, even outside the
    # matrix (a case on another engine, or with another prompt, is another case): id_params before
    # the matrix's values, id_suffix after them (decode/bitmamba2-1b/ternary-lut/t1/pp128)
    id_params: tuple[str, ...] = ()
    id_suffix: tuple[str, ...] = ()
    # "module:function(prev, new) -> CaseResult": one case's results of two rounds pooled; None:
    # the kind runs in one round only
    pool: str | None = None
    # "module:function(case, probe)": sets the case's bound metrics from the run's probe figures
    # (after the last round: the best sample of the probe slices taken before every case)
    bound: str | None = None

    def run(self, spec: dict):
        return _resolve(self.runner)(spec)

    def pool_results(self, prev, new):
        return _resolve(self.pool)(prev, new)

    def set_bound(self, case, probe: dict) -> None:
        if self.bound:
            _resolve(self.bound)(case, probe)

    def finish_params(self, p: dict) -> dict:
        return _resolve(self.normalise)(p) if self.normalise else p


def _resolve(ref: str):
    module, func = ref.split(":")
    return getattr(importlib.import_module(module), func)


# validator specs: a type, a tuple of allowed strings, "flavour", "threads", "format", "model",
# "decode_format" (a bmbench format or a type a registered engine reads), "engine" (bmbench.engines)
KINDS: dict[str, Kind] = {
    "probe": Kind(
        name="probe", runner="bmbench.probe_case:run_case",
        params={"kernel": ("read", "copy", "triad"), "flavour": "flavour", "threads": "threads",
                "max_bytes": int, "min_bytes": int},
        defaults={"kernel": "read", "flavour": "auto", "threads": 1}),
    "gemv": Kind(
        name="gemv", runner="bmbench.gemv_case:run_case",
        params={"format": "format", "flavour": "flavour", "threads": "threads", "rows": int,
                "cols": int, "shape": str, "regime": ("cache", "stream"), "instructions": bool},
        defaults={"format": "f32", "flavour": "auto", "threads": 1, "regime": "cache"},
        pool="bmbench.pooling:pool", bound="bmbench.gemv_case:set_bound"),
    "decode": Kind(
        name="decode", runner="bmbench.decode_case:run_case",
        params={"model": "model", "format": "decode_format", "flavour": "flavour", "threads": "threads",
                "tokens": int, "prompt_tokens": list, "prompt_len": int, "prefill": ("batched", "token"),
                "weights": str, "seed": int,
                "state": ("f32", "f16"), "kv": ("f16", "q8_0"), "context": int, "project_to": list,
                "hosts_file": str, "engine": "engine", "gguf": str, "instructions": bool,
                "check_reference": bool, "probe_relative": bool},
        defaults={"flavour": "auto", "threads": 1, "tokens": 128, "state": "f32", "engine": "bmbench",
                  "prefill": "batched"},
        normalise="bmbench.decode_case:normalise_params", id_params=("engine",),
        id_suffix=("prompt_len", "prefill"),
        pool="bmbench.decode_metrics:pool", bound="bmbench.decode_metrics:set_bound"),
}


def get(name: str) -> Kind:
    return KINDS[name]
