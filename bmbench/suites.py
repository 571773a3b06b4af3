"""Suites: YAML files that define a case matrix (validated, errors name the key and the line).

    name: probe
    description: ...
    kind: probe                      # a key of bmbench.kinds.KINDS (or `groups:`, a list of
                                     # {kind, params, matrix} mappings, for a suite of several kinds)
    warmup: 1                        # untimed runs before the samples
    repetitions: 5                   # samples per case
    min_repetitions: 5               # never fewer, even when the time budget runs out (default 5:
                                     # the fewest with which compare's alpha 0.01 is reachable)
    time_budget_s: 60                # per case
    rounds: 2                        # every case once per round, samples pooled; repetitions and
                                     # time budget split across the rounds (default 1)
    params: {max_bytes: 67108864}    # fixed for every case
    matrix:                          # the cartesian product of these lists makes the cases
      kernel: [read, copy, triad]
      flavour: [all]                 # all runnable flavours; auto = the dispatch's choice
      threads: [1, all]              # all = every core this process may use
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import dispatch, paths, yamlfile
from .compare import MIN_SAMPLES
from .errors import BmbenchError
from .kinds import KINDS

TOP_KEYS = {"name": str, "description": str, "kind": str, "warmup": int, "repetitions": int,
            "min_repetitions": int, "time_budget_s": (int, float), "rounds": int, "params": dict,
            "matrix": dict, "groups": list}
GROUP_KEYS = {"kind": str, "params": dict, "matrix": dict}


@dataclass(frozen=True)
class Case:
    case_id: str
    suite: str
    kind: str
    params: dict[str, Any]
    warmup: int
    repetitions: int
    min_repetitions: int
    time_budget_s: float

    def spec(self) -> dict:
        return dict(case_id=self.case_id, suite=self.suite, kind=self.kind, params=self.params,
                    warmup=self.warmup, repetitions=self.repetitions,
                    min_repetitions=self.min_repetitions, time_budget_s=self.time_budget_s)


@dataclass(frozen=True)
class Group:
    kind: str
    params: dict[str, Any]
    matrix: dict[str, list]


@dataclass
class Suite:
    name: str
    path: str
    groups: list[Group]
    description: str = ""
    warmup: int = 1
    repetitions: int = 5
    min_repetitions: int = MIN_SAMPLES
    time_budget_s: float = 60.0
    rounds: int = 1

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys(g.kind for g in self.groups))

    def cases(self, overrides: dict[str, list] | None = None,
              params: dict[str, Any] | None = None) -> list[Case]:
        """Expand each group's matrix into cases; command-line `overrides` replace whole axes and
        `params` set fixed parameters, in the groups whose kind has that parameter."""
        overrides, params = overrides or {}, params or {}
        for k in list(overrides) + list(params):
            if not any(k in KINDS[g.kind].params for g in self.groups):
                raise BmbenchError(f"suite {self.name!r} has no parameter {k!r}")
        out, seen = [], set()
        for g in self.groups:
            kind = KINDS[g.kind]
            matrix = {**g.matrix, **{k: v for k, v in overrides.items() if k in kind.params}}
            keys = list(matrix)
            base = {**kind.defaults, **g.params,
                    **{k: v for k, v in params.items() if k in kind.params}}
            for combo in itertools.product(*(matrix[k] for k in keys)):
                for p in map(kind.finish_params, _expand({**base, **dict(zip(keys, combo))})):
                    ident = (g.kind,) + tuple(sorted((k, str(v)) for k, v in p.items()))
                    if ident in seen:
                        continue
                    seen.add(ident)
                    # a case's identity is its definition: flavour `auto` stays `auto` in the id,
                    # so a forced or changed dispatch compares against the same baseline case
                    named = {**p, "flavour": "auto"} if dict(zip(keys, combo)).get(
                        "flavour", base.get("flavour")) == "auto" else p
                    def named_here(ks):  # params not on the matrix, where they differ from the default
                        return [k for k in ks if k not in keys and p.get(k, kind.defaults.get(k)) != kind.defaults.get(k)]
                    cid = _case_id(self.name if len(self.groups) == 1 else f"{self.name}/{g.kind}",
                                   named_here(kind.id_params) + keys + named_here(kind.id_suffix), named)
                    out.append(Case(case_id=cid, suite=self.name, kind=g.kind, params=p,
                                    warmup=self.warmup, repetitions=self.repetitions,
                                    min_repetitions=self.min_repetitions,
                                    time_budget_s=self.time_budget_s))
        return out


def all_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _expand(p: dict) -> list[dict]:
    """Resolve symbolic values: flavour all/auto, threads all."""
    p = dict(p)
    if p.get("threads") == "all":
        p["threads"] = all_threads()
    flavour = p.get("flavour")
    if flavour == "auto":  # per format: the flavour this host's calibration chose for it
        p["flavour"] = dispatch.flavour_for(p.get("format"))
    elif flavour == "all":
        flavours = dispatch.runnable_flavours()
        from . import formats
        if p.get("format") in formats.FORMATS:
            flavours = [f for f in flavours if f in formats.get(p["format"]).flavours]
        return [{**p, "flavour": f} for f in flavours]
    elif flavour is not None:
        dispatch.resolve(flavour)  # unknown or unsupported: a clear error before anything runs
    return [p]


ID_PREFIX = {"threads": "t", "prompt_len": "pp"}  # llama-bench's names: t2, pp128


def _case_id(suite: str, keys: list[str], p: dict) -> str:
    parts = [f"{ID_PREFIX.get(k, '')}{p[k]}" for k in keys if k in p]
    return "/".join([suite] + parts)


def _check_value(doc, where: tuple, value, spec) -> None:
    if spec == "flavour":
        if value not in ("all", "auto") and value not in dispatch.FLAVOURS:
            raise doc.error(where, f"unknown flavour {value!r} (known: all, auto, "
                                   f"{', '.join(dispatch.FLAVOURS)})")
    elif spec == "threads":
        if value != "all" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise doc.error(where, f"threads must be a positive integer or 'all', got {value!r}")
    elif spec == "format":
        from . import formats
        if value not in formats.FORMATS:
            raise doc.error(where, f"unknown format {value!r} (known: {', '.join(formats.FORMATS)})")
    elif spec == "decode_format":
        from . import engines, formats
        if value not in formats.FORMATS and not engines.owner_of_type(value):
            others = "; ".join(f"{n}: {', '.join(engines.get(n).types)}" for n in engines.names()[1:])
            raise doc.error(where, f"unknown format {value!r} (bmbench: {', '.join(formats.FORMATS)}"
                                   + (f"; {others})" if others else ")"))
    elif spec == "engine":
        from . import engines
        if value not in engines.names():
            raise doc.error(where, f"unknown engine {value!r} (known: {', '.join(engines.names())})")
    elif spec == "model":
        from .models import config
        if value not in config.list_configs():
            raise doc.error(where, f"unknown model {value!r} (known: "
                                   f"{', '.join(config.list_configs())})")
    elif isinstance(spec, tuple):
        if value not in spec:
            raise doc.error(where, f"expected one of {', '.join(spec)}, got {value!r}")
    else:
        yamlfile.expect(doc, where, value, spec)


def load_suite(name_or_path: str | Path) -> Suite:
    """A suite by name (shipped in suites/) or by path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        path = p
    else:
        path = paths.suites_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            raise BmbenchError(f"unknown suite {str(name_or_path)!r} (known: {', '.join(list_suites())})")
    doc = yamlfile.load(path, what="suite file")
    d = doc.data
    if not isinstance(d, dict):
        raise doc.error((), "a suite must be a mapping")
    for k, v in d.items():
        if k not in TOP_KEYS:
            raise doc.error((k,), f"unknown key (known: {', '.join(TOP_KEYS)})")
        yamlfile.expect(doc, (k,), v, TOP_KEYS[k])
    if "name" not in d:
        raise doc.error((), "missing required key 'name'")
    if ("groups" in d) == ("kind" in d):
        raise doc.error((), "a suite needs either 'kind' (with params/matrix) or 'groups', not both")
    for k in ("warmup",):
        if d.get(k, 0) < 0:
            raise doc.error((k,), "must be >= 0")
    for k in ("repetitions", "min_repetitions", "time_budget_s", "rounds"):
        if k in d and d[k] <= 0:
            raise doc.error((k,), "must be > 0")
    if "groups" in d:
        if not d["groups"]:
            raise doc.error(("groups",), "needs at least one group")
        groups = [_load_group(doc, ("groups", i), g) for i, g in enumerate(d["groups"])]
    else:
        groups = [_load_group(doc, (), {k: d[k] for k in GROUP_KEYS if k in d})]
    reps = d.get("repetitions", 5)
    return Suite(name=d["name"], path=str(path), groups=groups, description=d.get("description", ""),
                 warmup=d.get("warmup", 1), repetitions=reps,
                 min_repetitions=min(d.get("min_repetitions", MIN_SAMPLES), reps),
                 time_budget_s=float(d.get("time_budget_s", 60.0)), rounds=d.get("rounds", 1))


def _load_group(doc, where: tuple, g) -> Group:
    yamlfile.expect(doc, where, g, dict, "a mapping {kind, params, matrix}")
    for k, v in g.items():
        if k not in GROUP_KEYS:
            raise doc.error(where + (k,), f"unknown key (known: {', '.join(GROUP_KEYS)})")
        yamlfile.expect(doc, where + (k,), v, GROUP_KEYS[k])
    if "kind" not in g:
        raise doc.error(where, "missing required key 'kind'")
    if g["kind"] not in KINDS:
        raise doc.error(where + ("kind",), f"unknown kind {g['kind']!r} (known: {', '.join(KINDS)})")
    kind = KINDS[g["kind"]]
    for section in ("params", "matrix"):
        for k, v in (g.get(section) or {}).items():
            at = where + (section, k)
            if k not in kind.params:
                raise doc.error(at, f"unknown parameter for kind {kind.name} "
                                    f"(known: {', '.join(kind.params)})")
            if section == "params":
                _check_value(doc, at, v, kind.params[k])
            else:
                yamlfile.expect(doc, at, v, list, "a list of values")
                if not v:
                    raise doc.error(at, "an empty list makes no cases")
                for i, item in enumerate(v):
                    _check_value(doc, at + (i,), item, kind.params[k])
    return Group(kind=g["kind"], params=dict(g.get("params") or {}),
                 matrix={k: list(v) for k, v in (g.get("matrix") or {}).items()})


def list_suites() -> list[str]:
    return sorted(p.stem for p in paths.suites_dir().glob("*.yaml"))
