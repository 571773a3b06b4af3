"""Printers of result documents, all read from one pandas frame (bmbench.frame), so the summary,
the long table, csv, markdown, json lines and the report's tables always agree.

The summary is llama-bench's shape: one row per case (model, format, flavour or engine, threads,
the kind's summary metrics with tok/s's interval, peak memory, status); `show --all` is the long
form, one row per case x metric."""
from __future__ import annotations

import json
import math

import pandas as pd
from rich.console import Console
from rich.table import Table

from . import frame
from .headlines import summary
from .results import RunResult, to_dict

LABELS = {"tok_s": "tg tok/s", "latency_p50": "p50 ms", "latency_p99": "p99 ms", "pct_of_bound": "% of bound",
          "pct_of_probe": "% of probe", "time_per_call": "us/call", "weight_gbps": "weight GB/s",
          "pct_of_dram_read": "% of DRAM read", "pct_of_cache_read": "% of cache read",
          "speedup_vs_scalar": "x scalar", "pp_tok_s": "pp tok/s", "ttft_ms": "TTFT ms",
          "pct_of_pp_roof": "% of pp roof"}
CAPTION = "medians of the samples measured on this host; [low-high] = 95% bootstrap interval of the median"
LONG_COLUMNS = ("case_id", "status", "engine", "model", "format", "flavour", "threads", "context", "metric",
                "value", "unit", "cv", "n", "provenance")


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return ""
    if isinstance(v, float):
        return f"{v:.0f}" if 1e4 <= abs(v) < 1e9 else f"{v:.4g}"  # 203117 tok/s, not 2.031e+05
    return str(v)


def _records(df: pd.DataFrame) -> list[dict]:
    """Frame rows as dicts with None for missing values."""
    return df.astype(object).where(df.notna(), None).to_dict("records")


def rows(run: RunResult) -> list[dict]:
    """One dict per case x metric (the tidy frame), a figure's method joined to its provenance
    where it is not measured (projected / estimated / published say how)."""
    out = _records(frame.tidy(run))
    for r in out:
        if r["method"] and r["provenance"] not in (None, "measured"):
            r["provenance"] = f"{r['provenance']} ({r['method']})"
    return out


def _summary_metrics(kind: str, cases) -> list[str]:
    return frame.pick(summary(kind), list(dict.fromkeys(n for c in cases for n in c.metrics)))


def _identity(kind: str, cases) -> list[tuple]:
    """(label, getter) of the fields that tell a kind's cases apart: llama-bench's model, format,
    flavour or engine, threads; a GEMV's shape and a probe's kernel; the context and the prefill mode
    where they vary."""
    fields = [("shape", lambda c: c.extra.get("shape"))] if kind == "gemv" else []
    if kind == "probe":
        fields.append(("kernel", lambda c: c.params.get("kernel")))
    fields += [(f, lambda c, f=f: getattr(c, f)) for f in ("model", "format", "flavour")]
    if any(c.engine.get("name") not in (None, "bmbench") for c in cases):
        fields.append(("engine", lambda c: c.engine.get("name")))
    fields.append(("threads", lambda c: c.threads))
    if len({c.context for c in cases}) > 1:
        fields.append(("context", lambda c: c.context))
    if len({c.params.get("prefill", "batched") for c in cases}) > 1:
        fields.append(("prefill", lambda c: c.params.get("prefill", "batched") if kind == "decode" else None))
    return [(label, get) for label, get in fields if any(get(c) is not None for c in cases)]


def summary_tables(run: RunResult, title: str | None = None) -> list[Table]:
    """One table per kind of case in the run, one row per case."""
    tables = []
    for kind in dict.fromkeys(c.kind for c in run.cases):
        cases = [c for c in run.cases if c.kind == kind]
        metrics = _summary_metrics(kind, cases)
        ident = _identity(kind, cases)
        t = Table(title=f"{title or 'bmbench ' + run.suite} - {kind} - {run.host.get('cpu_model', '?')} - "
                        f"{run.created}", caption=CAPTION)
        for label, _ in ident:
            t.add_column(label, justify="right" if label in ("threads", "context") else "left")
        for i, name in enumerate(metrics):
            unit = next((c.metrics[name].unit for c in cases if name in c.metrics), "")
            t.add_column(LABELS.get(name, f"{name} ({unit})"), justify="right")
            if i == 0:
                t.add_column("[low-high]", justify="right")
        t.add_column("peak MiB", justify="right")
        t.add_column("status")
        for c in cases:
            cells = [_fmt(get(c)) for _, get in ident]
            for i, name in enumerate(metrics):
                m = c.metrics.get(name)
                cell = _fmt(m.value) if m else ""
                if m and m.provenance != "measured":
                    cell += f" ({m.provenance})"
                cells.append(cell)
                if i == 0:
                    cells.append(f"{_fmt(m.low)}-{_fmt(m.high)}" if m and m.low is not None else "")
            peak = c.memory.get("peak_rss_bytes")
            cells.append(f"{peak / 2**20:.0f}" if peak else "")
            cells.append(c.status if c.status == "ok" else f"{c.status}: {c.error}")
            t.add_row(*cells)
        tables.append(t)
    return tables


def long_table(run: RunResult, title: str | None = None) -> Table:
    """Every case x metric (show --all); provenance by name, its method in csv / md / jsonl."""
    rs = _records(frame.tidy(run))
    cols = [c for c in LONG_COLUMNS if any(r.get(c) not in (None, "") for r in rs)]
    t = Table(title=f"{title or 'bmbench ' + run.suite} - {run.host.get('cpu_model', '?')} - {run.created}",
              caption=CAPTION)
    for c in cols:
        t.add_column(c, justify="right" if c in ("value", "cv", "n", "threads", "context") else "left")
    t.add_column("[low-high]", justify="right")
    for r in rs:
        t.add_row(*[_fmt(r.get(c)) for c in cols],
                  f"{_fmt(r['low'])}-{_fmt(r['high'])}" if r.get("low") is not None else "")
    return t


def as_table(run: RunResult, console: Console | None = None, all_metrics: bool = False,
             title: str | None = None) -> None:
    console = console or Console(markup=False)
    for t in [long_table(run, title)] if all_metrics else summary_tables(run, title):
        console.print(t)


def _tidy_many(runs: dict[str, RunResult]) -> pd.DataFrame:
    return frame.tidy(next(iter(runs.values()))) if len(runs) == 1 else frame.concat(runs)


def as_csv(runs: dict[str, RunResult]) -> str:
    return _tidy_many(runs).to_csv(index=False, lineterminator="\n")


def as_jsonl(runs: dict[str, RunResult]) -> str:
    return "".join(json.dumps(r, allow_nan=False) + "\n" for r in _records(_tidy_many(runs)))


def as_markdown(runs: dict[str, RunResult]) -> str:
    rs = _records(_tidy_many(runs))
    cols = [c for c in rs[0] if any(r.get(c) not in (None, "") for r in rs)] if rs else []
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rs:
        lines.append("| " + " | ".join(_fmt(r.get(c)).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines) + "\n"


def as_json(runs: dict[str, RunResult]) -> str:
    """The document itself (one file), or a list of documents (several)."""
    docs = [to_dict(r) for r in runs.values()]
    return json.dumps(docs[0] if len(docs) == 1 else docs, indent=1) + "\n"
