"""Measured figures beside their projections to the host profiles, and published figures."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ... import roofline
from ...results import RunResult
from ..data import Published, main_context, ok_cases, value
from .style import (PUBLISHED_STYLE, bar_style, colour, ctx_text, footnotes, format_key, legend, maybe_log,
                    new_figure)


# ------------------------------------------------------------------------ 5. host projections
def fig_projections(run: RunResult, published: list[Published] = (), **_) -> Figure | None:
    dec = [c for c in ok_cases(run, "decode") if value(c, "tok_s") is not None]
    with_proj = [c for c in dec if c.roofline.get("projections")]
    if not with_proj:
        return None
    ctx = main_context(with_proj)
    best = OrderedDict()  # per model x format: the fastest measured thread count
    for c in sorted([c for c in with_proj if c.context == ctx],
                    key=lambda c: (c.model or "", format_key(c.format))):
        k = (c.model, c.format)
        if k not in best or value(c, "tok_s") > value(best[k], "tok_s"):
            best[k] = c
    series = list(best.values())
    here = "this host\n(measured)"
    hosts = [here]
    for c in series:
        for p in c.roofline["projections"]:
            if p.get("host") and p["host"] not in hosts:
                hosts.append(p["host"])
    pubs = [p for p in published if p.tok_s_mid is not None]
    for p in pubs:
        if p.host and p.host not in hosts:
            hosts.append(p.host)
    loose = [p for p in pubs if not p.host]  # no host profile: one slot each, right of the hosts
    slots = [len(hosts) - 0.1 + 0.5 * j for j in range(len(loose))]
    fig = new_figure(7.4)
    ax = fig.add_subplot()
    n = len(series)
    width = 0.8 / max(n, 1)
    allv = []
    for i, c in enumerate(series):
        col = colour(i)
        off = (i - (n - 1) / 2) * width
        tok = value(c, "tok_s")
        ax.bar(hosts.index(here) + off, tok, width=width * 0.92, **bar_style("measured", col))
        allv.append(tok)
        for p in c.roofline["projections"]:
            if p.get("host") in hosts and p.get("tok_s") is not None:
                prov = p.get("provenance", "projected")
                ax.bar(hosts.index(p["host"]) + off, p["tok_s"], width=width * 0.92,
                       **bar_style(prov if prov != "measured" else "projected", col))
                allv.append(p["tok_s"])
                if p.get("bound_tok_s"):
                    ax.plot([hosts.index(p["host"]) + off], [p["bound_tok_s"]], marker="_", ms=12,
                            color=col, mew=2)
                    allv.append(p["bound_tok_s"])
    notes, placed = [], []
    for h in hosts:
        ps = [p for p in pubs if p.host == h]
        xs = np.linspace(-0.3, 0.3, len(ps)) if len(ps) > 1 else [0.0]
        placed += [(hosts.index(h) + dx, p) for dx, p in zip(xs, ps)]
    placed += list(zip(slots, loose))
    for k, (xx, p) in enumerate(placed, 1):
        if p.tok_s_range:
            ax.vlines(xx, *p.tok_s_range, color="black", lw=2.5, zorder=5)
            allv += list(p.tok_s_range)
        ax.scatter([xx], [p.tok_s_mid], **PUBLISHED_STYLE)
        ax.annotate(f"[{k}]", (xx, p.tok_s_mid), xytext=(0, 9), textcoords="offset points",
                    ha="center", fontsize=7.5, weight="bold")
        allv.append(p.tok_s_mid)
        val = f"{p.tok_s:g}" if p.tok_s is not None else f"{p.tok_s_range[0]:g}-{p.tok_s_range[1]:g}"
        notes.append(f"[{k}] {p.claim}: {val} tok/s. Source: {p.source}")
    maybe_log(ax, allv, ratio=30)
    first_loose = len(placed) - len(loose) + 1
    ax.set_xticks(list(range(len(hosts))) + slots,
                  hosts + [f"[{first_loose + j}]" for j in range(len(loose))], fontsize=8,
                  rotation=20, ha="right", rotation_mode="anchor")
    if loose:
        ax.axvline(len(hosts) - 0.5, color="0.6", lw=0.8)
        ax.text((slots[0] + slots[-1]) / 2, -0.09, "published elsewhere\n(no host profile)",
                transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=8)
    ax.set_ylabel("decode throughput (tok/s)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(f"Decode tok/s: measured here, projected to host profiles, published elsewhere "
                 f"{ctx_text(ctx).strip()}", fontsize=10)
    handles = [Patch(**bar_style("measured", colour(i)),
                     label=f"{c.model} {c.format} {c.threads}T") for i, c in enumerate(series)]
    methods = sorted({p.get("method") or "" for c in series for p in c.roofline["projections"]} - {""})
    handles += [Patch(**bar_style("measured", "0.4"), label="measured on this host"),
                Patch(**bar_style("projected", "0.4"), label="projected (roofline model; see note)"),
                Line2D([], [], marker="_", ls="", ms=12, mew=2, color="0.4",
                       label="projected bound (bandwidth / bytes per token)")]
    if pubs:
        handles.append(Line2D([], [], ls="", marker="*", ms=14, mfc=PUBLISHED_STYLE["c"], mec="black",
                              label="published elsewhere [n] (other machines and methods)"))
    legend(ax, handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5)
    if methods:  # one statement of the model; each projection's own figures are in the tables
        notes.insert(0, f"Projection method (bmbench.roofline): {roofline.METHOD}. Per case and host "
                        "details: the projections table.")
    footnotes(fig, notes, fontsize=7.5)
    return fig
