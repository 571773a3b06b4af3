"""What a token costs beyond time: memory (weights, state, overhead, peak RSS) and energy per token."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ...results import CaseResult, RunResult
from ..data import MIB, Published, decode_label, energy_of, is_ternary, ok_cases
from .style import (PUBLISHED_STYLE, at_main_context, bar_style, case_order, ctx_text, fmt_joules, footnotes,
                    format_colour, legend, maybe_log, new_figure)


# ---------------------------------------------------------------------------------- 4. memory
def memory_parts(c: CaseResult) -> dict | None:
    m = c.memory or {}
    if m.get("peak_rss_bytes") is None:
        return None
    w, s, base = (float(m.get(k) or 0) for k in ("weight_bytes", "state_bytes", "baseline_rss_bytes"))
    peak = float(m["peak_rss_bytes"])
    return dict(baseline=base, weights=w, state=s, overhead=peak - w - s - base, peak=peak)


def fig_memory(run: RunResult, published: list[Published] = (), **_) -> Figure | None:
    cases = [c for c in ok_cases(run, "decode") if memory_parts(c)]
    if not cases:
        return None
    cases.sort(key=case_order)
    fig = new_figure(max(3.6, 1.6 + 0.36 * len(cases)))
    ax = fig.add_subplot()
    y = np.arange(len(cases))[::-1]
    parts = [("baseline", "baseline RSS (interpreter, before loading)", "#c7c7c7"),
             ("weights", "weights", "#1f77b4"), ("state", "recurrent + conv state", "#ff7f0e"),
             ("overhead", "runtime overhead (peak - weights - state - baseline)", "#9467bd")]
    left = np.zeros(len(cases))
    negative = False
    for key, label, col in parts:
        vals = np.array([memory_parts(c)[key] / MIB for c in cases])
        negative |= bool((vals < 0).any())
        vals = np.clip(vals, 0, None)
        ax.barh(y, vals, left=left, color=col, height=0.6, label=label)
        left += vals
    peaks = [memory_parts(c)["peak"] / MIB for c in cases]
    ax.scatter(peaks, y, marker="D", color="black", zorder=5, label="peak RSS (measured)")
    for yy, p in zip(y, peaks):
        ax.text(p, yy, f"  {p:.0f} MiB", va="center", fontsize=7.5)
    notes, n = [], 0
    ctx_many = len({c.context for c in cases}) > 1
    for pub in published:
        if pub.memory_mb is None:
            continue
        rows = [yy for yy, c in zip(y, cases) if c.model == pub.model and same_format(c.format, pub.format)]
        if not rows:
            continue
        n += 1
        mib = pub.memory_mb * 1e6 / MIB
        ax.scatter([mib] * len(rows), rows, **{**PUBLISHED_STYLE, "s": 200})
        ax.annotate(f"[{n}]", (mib, rows[0]), xytext=(6, 6), textcoords="offset points", fontsize=8)
        notes.append(f"[{n}] published, not measured here: {pub.claim}: {pub.memory_mb:g} MB "
                     f"({mib:.0f} MiB). Source: {pub.source}")
    if n:
        ax.scatter([], [], **{**PUBLISHED_STYLE, "s": 200}, label="published memory figure [n]")
    if negative:
        notes.append("Peak RSS below weights + state + baseline (weights mapped but not all resident): "
                     "the overhead segment is clipped at 0.")
    ax.set_yticks(y, [decode_label(c, ctx_many) for c in cases], fontsize=8)
    ax.set_xlabel("memory (MiB = 2^20 bytes)")
    ax.set_xlim(0, max(max(peaks), max(left)) * 1.18)
    ax.set_title("Memory per decode case: weights, state, runtime overhead, peak RSS", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    legend(ax, loc="lower right", fontsize=7.5)
    footnotes(fig, notes)
    return fig


def same_format(a: str | None, b: str | None) -> bool:
    """A published figure matches a case of the same format, or any ternary one for a ternary claim."""
    return a == b or (is_ternary(a) and is_ternary(b))


# ------------------------------------------------------------------------------------ 6. energy
def fig_energy(run: RunResult, published: list[Published] = (), **_) -> Figure | None:
    cases = [c for c in ok_cases(run, "decode") if energy_of(c)]
    if not cases:
        return None
    ctx, cases = at_main_context(cases)
    fig = new_figure(5.6)
    ax = fig.add_subplot()
    ctx_many = False
    labels, allv, notes, seen = [], [], [], set()
    for i, c in enumerate(cases):
        j, prov, how = energy_of(c)
        prov = prov if prov in ("measured", "estimated") else "estimated"
        ax.bar(i, j, width=0.7, **bar_style(prov, format_colour(c.format)))
        ax.text(i, j * 1.08, f"{fmt_joules(j)} ({'measured' if prov == 'measured' else 'est.'})",
                ha="center", va="bottom", fontsize=7, rotation=90)
        labels.append(decode_label(c, ctx_many))
        allv.append(j)
        if how and how not in seen:
            seen.add(how)
            notes.append(f"{prov}: {how}")
    x = len(cases)
    pubs = [p for p in published if p.j_per_token is not None]
    for k, p in enumerate(pubs, 1):
        ax.scatter([x], [p.j_per_token], **PUBLISHED_STYLE)
        ax.annotate(f"[{k}] {p.j_per_token:g} J", (x, p.j_per_token), xytext=(10, -3),
                    textcoords="offset points", fontsize=7.5)
        labels.append(f"{p.model or p.claim}\n(published [{k}])")
        notes.append(f"[{k}] published, not measured here: {p.claim}: {p.j_per_token:g} J/token. "
                     f"Source: {p.source}")
        allv.append(p.j_per_token)
        x += 1
    maybe_log(ax, allv, ratio=20)
    if ax.get_yscale() == "log":
        ax.set_ylim(min(allv) / 2, max(allv) * 8)
    else:
        ax.set_ylim(0, max(allv) * 1.45)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", rotation_mode="anchor", fontsize=7.5)
    ax.set_ylabel("energy per token (J/token)")
    ax.set_title(f"Energy per decode token{ctx_text(ctx)}: measured (RAPL / PMIC) vs estimated "
                 "(power model)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    handles = [Patch(**bar_style("measured", "0.35"), label="measured (energy counters)"),
               Patch(**bar_style("estimated", "0.35"), label="estimated (labelled power model)")]
    if pubs:
        handles.append(Line2D([], [], ls="", marker="*", ms=14, mfc=PUBLISHED_STYLE["c"], mec="black",
                              label="published [n] (see note)"))
    legend(ax, handles, loc="upper left")
    footnotes(fig, notes, fontsize=7.5)
    return fig
