"""The report: an HTML page (Jinja2) and one PNG per figure (matplotlib, Agg), from result documents
only.

    from bmbench.report import render_report
    index = render_report(["decode.json", "decode-new.json"], "bmbench-report/")

The first result is the base of the comparison view when more are given.  The page references its
PNGs by relative path in the same directory (copy the directory as a whole) and loads nothing from
the network.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Union

from ..errors import BmbenchError
from ..results import RunResult, load

ResultLike = Union[str, os.PathLike, RunResult]
DEFAULT_DIR = "bmbench-report"


def _names(items: list[ResultLike]) -> list[str]:
    names = []
    for i, r in enumerate(items, 1):
        if isinstance(r, RunResult):
            n = f"result {i} ({r.suite})"
        else:
            n = Path(r).name
        while n in names:  # two files of the same name from different directories
            n += f" #{i}"
        names.append(n)
    return names


def render_report(results: ResultLike | Iterable[ResultLike], out_dir: str | os.PathLike = DEFAULT_DIR,
                  *, published_path: str | os.PathLike | None = None, threshold: float = 0.05,
                  alpha: float = 0.01) -> Path:
    """Render the report of one or more results (paths or RunResult objects) into `out_dir`;
    return the path of index.html.  Raises BmbenchError on an unreadable result or directory."""
    from .data import load_published
    from .html import write_report

    items = [results] if isinstance(results, (str, os.PathLike, RunResult)) else list(results)
    if not items:
        raise BmbenchError("report: no result document given")
    runs = [r if isinstance(r, RunResult) else load(r) for r in items]
    published, note = load_published(published_path)
    return write_report(runs, _names(items), Path(out_dir), published, note, threshold, alpha)


__all__ = ["render_report", "DEFAULT_DIR"]
