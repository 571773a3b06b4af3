"""Result documents as pandas DataFrames, for notebooks and for every printer.

tidy(run): one row per case x metric (a failed or skipped case: one row, metric "error");
wide(run): one row per case, its headline metrics as columns; concat(runs): several results with a
`source` column.  `RunResult.to_frame(wide=...)` and `bmbench.load_frame(paths)` call these."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from .headlines import headline as kind_headline

if TYPE_CHECKING:
    from .results import RunResult

CASE_COLUMNS = ("case_id", "kind", "model", "format", "flavour", "threads", "engine", "context", "host",
                "status")
METRIC_COLUMNS = ("metric", "value", "low", "high", "unit", "cv", "n", "provenance", "method", "rounds")
TIDY_COLUMNS = CASE_COLUMNS + METRIC_COLUMNS


def _host(run: RunResult) -> str | None:
    return run.host.get("profile") or run.host.get("hostname")


def _case_fields(run: RunResult, c) -> dict:
    return dict(case_id=c.case_id, kind=c.kind, model=c.model, format=c.format, flavour=c.flavour,
                threads=c.threads, engine=c.engine.get("name"), context=c.context, host=_host(run),
                status=c.status)


def pick(wanted, names) -> list[str]:
    """The names matching `wanted` (a trailing _: a prefix), in wanted's order."""
    return [n for h in wanted for n in names if n == h or (h.endswith("_") and n.startswith(h))]


def headline(kind: str, names) -> list[str]:
    """The metrics of `names` that are a kind's headline ones."""
    return pick(kind_headline(kind), names)


def tidy(run: RunResult) -> pd.DataFrame:
    rows = []
    for c in run.cases:
        base = _case_fields(run, c)
        if c.status != "ok":
            rows.append({**base, "metric": "error", "value": c.error})
            continue
        rounds = len(c.extra.get("rounds_done", [])) or None
        for name, m in c.metrics.items():
            rows.append({**base, "metric": name, "value": m.value, "low": m.low, "high": m.high, "unit": m.unit,
                         "cv": m.cv, "n": len(m.samples) or None, "provenance": m.provenance,
                         "method": m.method, "rounds": rounds})
    df = pd.DataFrame(rows, columns=list(TIDY_COLUMNS))
    return df.astype({"threads": "Int64", "context": "Int64", "n": "Int64", "rounds": "Int64"})


def wide(run: RunResult) -> pd.DataFrame:
    """One row per case: the case fields, peak memory, and each headline metric's value (its
    interval as METRIC_low / METRIC_high)."""
    rows = []
    for c in run.cases:
        row = _case_fields(run, c) | {"error": c.error, "peak_rss_bytes": c.memory.get("peak_rss_bytes")}
        for name in headline(c.kind, c.metrics) if c.status == "ok" else ():
            m = c.metrics[name]
            row.update({name: m.value, f"{name}_low": m.low, f"{name}_high": m.high})
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in ("threads", "context", "peak_rss_bytes"):
        if col in df:
            df[col] = df[col].astype("Int64")
    return df


def concat(runs: dict[str, RunResult], wide_form: bool = False) -> pd.DataFrame:
    """Several results in one frame, `source` (the dict's keys, e.g. file names) first."""
    frames = [(wide if wide_form else tidy)(run).assign(source=src) for src, run in runs.items()]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return df[["source"] + [c for c in df.columns if c != "source"]] if "source" in df else df
