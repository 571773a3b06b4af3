"""The history's trend page: one figure per case x metric, a line per hardware class x branch
(classes never share a line), each point a stored result's median with its interval, x = the
results in creation order labelled by revision, change points (Otava) marked where the new level
starts."""
from __future__ import annotations

import html
import re
from pathlib import Path

from matplotlib.lines import Line2D

from ..history import ChangePoint
from ..results import atomic_write_text
from .figures.style import colour, new_figure
from .html import prepare_dir, save_png


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120]


def _figure(key, s, cps):
    case, metric = key
    fig = new_figure(3.6)
    ax = fig.subplots()
    for i, ((hw, br), line) in enumerate(s.groupby(["hardware_class", "branch"], sort=True)):
        col, x = colour(i), list(range(len(line)))
        y = line["value"].to_numpy()
        lo, hi = line["low"].to_numpy(), line["high"].to_numpy()
        err = [[max(0.0, a - b) if b == b else 0.0 for a, b in zip(y, lo)],
               [max(0.0, b - a) if b == b else 0.0 for a, b in zip(y, hi)]]
        # the store keeps projected figures too (bound_tok_s, ...): drawn and labelled as such
        prov = "/".join(sorted(set(line["provenance"])))
        style = dict(fmt="-o") if prov == "measured" else dict(fmt="--o", mfc="white")
        ax.errorbar(x, y, yerr=err, ms=3, color=col, capsize=2, lw=1, label=f"{hw} / {br} ({prov})", **style)
        for cp in cps:
            if cp.series == (hw, br, case, metric):
                ax.axvline(cp.index - 0.5, color="#d62728" if cp.regression else "#2ca02c", ls="--", lw=1.2)
                ax.annotate(f"{cp.change_pct:+.1f}% @ {cp.revision[:8]}\np={cp.pvalue:.0e}", (cp.index - 0.5, 1),
                            xycoords=("data", "axes fraction"), va="top", ha="left", fontsize=7)
        step = max(1, len(line) // 12)
        ax.set_xticks(x[::step], [r[:8] for r in line["revision"].tolist()[::step]], rotation=30, fontsize=7)
    unit = s["unit"].dropna().iloc[0] if s["unit"].notna().any() else ""
    ax.set_ylabel(f"{metric} ({unit})" if unit else metric)
    ax.set_xlabel("stored results, oldest first (revision)")
    ax.set_title(f"{case}: {metric}", fontsize=10)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="#d62728", ls="--", label="change point: regression"),
                Line2D([], [], color="#2ca02c", ls="--", label="change point: improvement")]
    ax.legend(handles=handles, fontsize=7, loc="best")
    return fig


def write_trends(df, cps: list[ChangePoint], out_dir) -> Path:
    """index.html + one PNG per case x metric in out_dir (each written atomically, as the run
    report's); returns the page's path."""
    out = Path(out_dir)
    prepare_dir(out)
    items = []
    for key, s in df.groupby(["case_id", "metric"], sort=True):
        name = f"trend-{_slug(key[0])}-{_slug(key[1])}.png"
        save_png(_figure(key, s, cps), out / name)
        n_cp = sum(1 for cp in cps if (cp.case_id, cp.metric) == key)
        items.append(f'<figure><img src="{html.escape(name)}" alt="{html.escape(key[0])} {html.escape(key[1])}">'
                     f"<figcaption>{html.escape(key[0])}: {html.escape(key[1])}: {len(s)} points, "
                     f"{n_cp} change point(s)</figcaption></figure>")
    return atomic_write_text(out / "index.html", (
        "<!doctype html><html><head><meta charset='utf-8'><title>bmbench history</title>"
        "<style>body{font-family:sans-serif;max-width:1140px;margin:2em auto}figure{margin:1.5em 0}"
        "img{max-width:100%}figcaption{color:#555;font-size:0.9em}</style></head><body>"
        "<h1>bmbench history</h1><p>Every point is a stored result's median with its 95% interval, its provenance in the "
        "legend (measured: solid; projected: dashed, hollow markers); "
        "a line per hardware class and branch, never mixed; dashed verticals: change points found by Apache "
        "Otava (e-divisive means, t-test significance) where the new level starts.</p>"
        + "".join(items) + "</body></html>"))
