"""Printers of a result document, llama-bench style: every printer reads the same flat rows
(one per case x metric, named fields), so table, csv, markdown and json always agree."""
from __future__ import annotations

import csv
import io
import json

from rich.console import Console
from rich.table import Table

from .kinds import KINDS
from .results import RunResult, to_dict

COLUMNS = ("case_id", "status", "engine", "model", "format", "flavour", "threads", "metric", "value", "low",
           "high", "unit", "cv", "n", "provenance")


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def rows(run: RunResult, headline_only: bool = False) -> list[dict]:
    out = []
    for c in run.cases:
        base = dict(case_id=c.case_id, status=c.status, engine=c.engine.get("name"), model=c.model, format=c.format,
                    flavour=c.flavour, threads=c.threads)
        if c.status != "ok":
            out.append({**base, "metric": "error", "value": c.error})
            continue
        heads = KINDS[c.kind].headline if c.kind in KINDS else ()
        for name, m in c.metrics.items():
            if headline_only and heads and not name.startswith(heads):
                continue
            out.append({**base, "metric": name, "value": m.value, "low": m.low, "high": m.high,
                        "unit": m.unit, "cv": m.cv, "n": len(m.samples) or None,
                        "provenance": m.provenance + (f" ({m.method})" if m.method and
                                                      m.provenance != "measured" else "")})
    return out


def _used_columns(rs: list[dict]) -> list[str]:
    return [c for c in COLUMNS if any(r.get(c) not in (None, "") for r in rs)]


def as_table(run: RunResult, console: Console | None = None, headline_only: bool = True) -> None:
    # the table names each figure's provenance; its method is in `show --as md|csv|json`
    rs = [{**r, "provenance": (r.get("provenance") or "").split(" (")[0]} for r in rows(run, headline_only)]
    cols = [c for c in _used_columns(rs) if c not in ("low", "high")]
    t = Table(title=f"bmbench {run.suite} - {run.host.get('cpu_model', '?')} - {run.created}",
              caption="value = median of the samples; interval = 95% bootstrap interval of the median")
    for c in cols:
        t.add_column(c, justify="right" if c in ("value", "cv", "n", "threads") else "left")
    if "value" in cols:
        t.add_column("interval", justify="right")
    for r in rs:
        cells = [_fmt(r.get(c)) for c in cols]
        if "value" in cols:
            cells.append(f"{_fmt(r.get('low'))} - {_fmt(r.get('high'))}" if r.get("low") is not None
                         else "")
        t.add_row(*cells)
    (console or Console()).print(t)


def as_csv(run: RunResult) -> str:
    rs = rows(run)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rs:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})
    return buf.getvalue()


def as_markdown(run: RunResult) -> str:
    rs = rows(run)
    cols = _used_columns(rs)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rs:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def as_json(run: RunResult) -> str:
    return json.dumps(to_dict(run), indent=1) + "\n"
