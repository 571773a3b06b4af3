"""The report's figures: one function per figure, each returning a matplotlib Figure, or None when
the result holds none of the data it draws.

Figures use matplotlib's object API with the Agg canvas (no pyplot, no global backend switch).
Provenance is drawn the same way everywhere:
  measured  = solid markers, lines and bars;
  projected = hollow markers, dashed lines, white bars hatched ``///``;
  estimated = pale bars hatched ``xx`` with a dashed edge, labelled "estimated";
  published = gold stars with a black edge, numbered; the numbers are footnotes naming the source.
"""
from __future__ import annotations

import textwrap

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from .. import roofline
from ..compare import Comparison, compare_metric
from ..results import CaseResult, RunResult
from .data import (BASELINES, MIB, Published, decode_bound, decode_label, energy_of, engine_of, is_ternary,
                   main_context, metric, ok_cases, probe_kernel, probe_label, value)

DPI = 100
WIDTH = 11.0                      # inches: every figure is 1100 px wide
LEVELS = ("L1", "L2", "L3", "DRAM")
PUBLISHED_STYLE = dict(marker="*", s=260, c="#f2b705", edgecolors="black", linewidths=0.9, zorder=6)
VERDICT_COLOURS = {"faster": "#2ca02c", "slower": "#d62728", "unchanged": "#7f7f7f", "inconclusive": "#bcbd22"}
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf"]
MODEL_MARKERS = ["o", "s", "^", "D", "v", "P"]
_FORMAT_ORDER = ["ternary-lut", "ternary-mad", "q4_0", "q8_0", "f16", "f32", "tq2_0", "tq1_0"]


# ------------------------------------------------------------------------------------ helpers
def new_figure(height: float, width: float = WIDTH) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def colour(i: int) -> str:
    return _PALETTE[i % len(_PALETTE)]


def format_colour(fmt: str | None) -> str:
    if fmt in _FORMAT_ORDER:
        return colour(_FORMAT_ORDER.index(fmt))
    return colour(len(_FORMAT_ORDER) + (sum(map(ord, fmt or "")) % 4))


def _format_key(fmt: str | None):
    return (_FORMAT_ORDER.index(fmt) if fmt in _FORMAT_ORDER else len(_FORMAT_ORDER), fmt or "")


def fmt_bytes(n: float) -> str:
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            v = n / size
            return f"{v:.0f} {unit}" if abs(v - round(v)) < 0.05 else f"{v:.1f} {unit}"
    return f"{n:.0f} B"


def ctx_text(ctx, sep: str = " ") -> str:
    """ "(context N)" for titles; nothing when the cases record no context."""
    if ctx is None:
        return ""
    return f"{sep}context {ctx}" if sep != " " else f" (context {ctx})"


def fmt_joules(j: float) -> str:
    return f"{j:.3g} J" if j >= 1 else f"{j * 1e3:.3g} mJ"


def bar_style(provenance: str, col: str) -> dict:
    if provenance == "measured":
        return dict(facecolor=col, edgecolor=col)
    if provenance == "estimated":
        return dict(facecolor=_pale(col), edgecolor=col, hatch="xx", linestyle="--", linewidth=1.3)
    return dict(facecolor="white", edgecolor=col, hatch="///", linewidth=1.3)  # projected


def _pale(col: str, k: float = 0.6) -> tuple:
    from matplotlib.colors import to_rgb
    r, g, b = to_rgb(col)
    return (r + (1 - r) * k, g + (1 - g) * k, b + (1 - b) * k)


def footnotes(fig: Figure, lines: list[str], fontsize: float = 8) -> None:
    """Notes under the axes (sources of published figures, methods), with room reserved for them."""
    if not lines:
        return
    width = int(fig.get_size_inches()[0] * 72 / (fontsize * 0.55))  # characters that fit a line
    lines = [w for ln in lines for w in (textwrap.wrap(ln, width, subsequent_indent="    ") or [""])]
    h_in = fig.get_size_inches()[1]
    frac = min(0.45, (len(lines) * fontsize * 1.45 + 8) / 72 / h_in)
    fig.get_layout_engine().set(rect=(0, frac, 1, 1 - frac))
    fig.text(0.008, frac - 0.004, "\n".join(lines), fontsize=fontsize, va="top", ha="left",
             color="0.15", linespacing=1.35)


def _yerr(cases: list[CaseResult], name: str):
    lo, hi = [], []
    for c in cases:
        m = metric(c, name)
        lo.append(max(0.0, m.value - m.low) if m and m.low is not None else 0.0)
        hi.append(max(0.0, m.high - m.value) if m and m.high is not None else 0.0)
    return np.array([lo, hi])


def _maybe_log(ax, values, axis="y", ratio: float = 25.0) -> None:
    v = [x for x in values if x and x > 0]
    if v and max(v) / min(v) > ratio:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def _log2_x(ax, label: str) -> None:
    """A token-count x axis: log base 2, plain numbers, a grid."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(label)
    ax.grid(True, which="both", alpha=0.3)


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=10,
            color="0.35", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _legend(ax, handles=None, **kw):
    kw.setdefault("fontsize", 8)
    kw.setdefault("framealpha", 0.9)
    if handles is not None:
        return ax.legend(handles=handles, **kw)
    return ax.legend(**kw)


def _measured_handle(label="measured (median, 95% interval)", col="0.3"):
    return Line2D([], [], color=col, marker="o", ls="-", label=label)


def _projected_handle(label, col="0.3"):
    return Line2D([], [], color=col, marker="o", mfc="white", ls="--", label=label)


# ---------------------------------------------------------------------- 1. bandwidth probe
def fig_bandwidth(run: RunResult, **_) -> Figure | None:
    cases = [c for c in ok_cases(run, "probe") if c.extra.get("curve")]
    if not cases:
        return None
    fig = new_figure(6.2)
    ax = fig.add_subplot()
    annotate = len(cases) <= 6
    for i, c in enumerate(cases):
        col = colour(i)
        curve = sorted(c.extra["curve"], key=lambda p: p["bytes"])
        x = np.array([p["bytes"] for p in curve], float)
        y = np.array([p["gbps"] for p in curve], float)
        lo = [min(p.get("samples") or [p["gbps"]]) for p in curve]
        hi = [max(p.get("samples") or [p["gbps"]]) for p in curve]
        ax.fill_between(x, lo, hi, color=col, alpha=0.15, lw=0)
        ax.plot(x, y, "-o", color=col, ms=3.5, lw=1.4, label=probe_label(c))
        kernel = probe_kernel(c)
        for level in LEVELS:
            m = metric(c, f"{level}_{kernel}")
            pts = [p["bytes"] for p in curve if p.get("level") == level]
            if m is None or not pts:
                continue
            x0, x1 = min(pts) / 1.25, max(pts) * 1.25
            ax.hlines(m.value, x0, x1, colors=col, linestyles="--", lw=2.4, alpha=0.85, zorder=4)
            if annotate:
                ax.annotate(f"{level} {m.value:.3g}", (x1, m.value), xytext=(2, 3),
                            textcoords="offset points", fontsize=7.5, color=col, weight="bold")
    caches = run.host.get("caches") or {}
    for key, name, note in (("l1d_kib", "L1d", "per core"), ("l2_kib", "L2", "per core"),
                            ("l3_kib", "L3", "shared"), ("l4_kib", "L4", "shared")):
        kib = caches.get(key)
        if kib:
            ax.axvline(kib * 1024, color="0.3", ls=":", lw=1.2, zorder=1)
            ax.text(kib * 1024, 0.015, f" {name} {fmt_bytes(kib * 1024)} ({note}) ", rotation=90,
                    transform=ax.get_xaxis_transform(), ha="right", va="bottom", fontsize=8,
                    color="0.25", bbox=dict(fc="white", ec="none", alpha=0.75, pad=0.5))
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_bytes(v)))
    ax.set_xlabel("working set (bytes, log scale; all arrays of the kernel together)")
    ax.set_ylabel("bandwidth (GB/s, STREAM byte counting)")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(f"Bandwidth probe, measured on {run.host.get('cpu_model', 'this host')}",
                 fontsize=11)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="0.3", ls="--", lw=2.4, label="plateau (median of the level)"),
                Patch(color="0.3", alpha=0.15, label="min-max of samples"),
                Line2D([], [], color="0.3", ls=":", label="cache size (host.caches)")]
    _legend(ax, handles, title="measured: kernel flavour threads", loc="upper left",
            bbox_to_anchor=(1.01, 1.0), title_fontsize=8)
    return fig


# ----------------------------------------------------------------------------- 2. roofline
def fig_roofline(run: RunResult, **_) -> Figure | None:
    dec = [c for c in ok_cases(run, "decode") if value(c, "tok_s") is not None and decode_bound(c)]
    resident = [decode_label(c, True) for c in ok_cases(run, "decode") if c.roofline.get("regime") == "cache-resident"]
    gemv = [c for c in ok_cases(run, "gemv") if value(c, "weight_gbps") is not None]
    stream = [c for c in gemv if c.extra.get("regime") == "stream"]
    gemv_cases, gemv_note = (stream, "stream regime") if stream else (gemv, "cache regime: fits in cache, may exceed the DRAM bound")
    bw = {int(t): m["value"] for t, m in (run.probe.get("dram_read") or {}).items()
          if isinstance(m, dict) and m.get("value") is not None}
    panels = [p for p, have in (("decode", dec), ("gemv", gemv_cases)) if have]
    if not panels:
        return None
    fig = new_figure(5.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        if panel == "decode":
            ctx = main_context(dec)
            cases = [c for c in dec if c.context == ctx]
            series = OrderedDict()
            for c in sorted(cases, key=lambda c: (c.model or "", _format_key(c.format), c.threads or 0)):
                series.setdefault((c.model, c.format), []).append(c)
            models = list(dict.fromkeys(k[0] for k in series))
            fmts = sorted({k[1] for k in series}, key=_format_key)
            allv = []
            for (model, fmt), cs in series.items():
                col, mk = format_colour(fmt), MODEL_MARKERS[models.index(model) % len(MODEL_MARKERS)]
                t = [c.threads or 0 for c in cs]
                y = [value(c, "tok_s") for c in cs]
                b = [decode_bound(c) for c in cs]
                allv += y + b
                ax.errorbar(t, y, yerr=_yerr(cs, "tok_s"), fmt="-", marker=mk, color=col, capsize=3)
                ax.plot(t, b, "--", marker=mk, color=col, mfc="white", lw=1.1)
                if len(series) <= 4:
                    for tt, yy, bb in zip(t, y, b):
                        ax.annotate(f"{100 * yy / bb:.0f}%", (tt, yy), xytext=(5, -10),
                                    textcoords="offset points", fontsize=7, color=col)
            _maybe_log(ax, allv)
            ax.set_ylabel("decode throughput (tok/s)")
            ax.set_title(f"Decode{ctx_text(ctx)}: achieved vs roofline bound\n"
                         "(bound = DRAM read GB/s of the run / bytes per token)", fontsize=10)
            handles = [Patch(facecolor=format_colour(f), label=f) for f in fmts]
            handles += [Line2D([], [], color="0.3", ls="", marker=MODEL_MARKERS[i % len(MODEL_MARKERS)],
                               label=m) for i, m in enumerate(models)]
            handles += [_measured_handle("achieved (measured, 95% interval)"),
                        _projected_handle("bound (projected, roofline)")]
            _legend(ax, handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
            if resident:
                footnotes(fig, ["Not drawn, cache-resident (bytes per token under 4x the aggregate last-level "
                                "cache: no DRAM bound): " + ", ".join(resident)], fontsize=7.5)
        else:
            best = OrderedDict()  # per format x flavour x threads: the largest matrix (most streaming)
            for c in gemv_cases:
                k = (c.format, c.flavour, c.threads)
                if k not in best or (c.memory.get("weight_bytes") or 0) > (best[k].memory.get("weight_bytes") or 0):
                    best[k] = c
            series = OrderedDict()
            for (fmt, fl, _t), c in sorted(best.items(), key=lambda kv: (_format_key(kv[0][0]), kv[0][1] or "", kv[0][2] or 0)):
                series.setdefault((fmt, fl), []).append(c)
            for (fmt, fl), cs in series.items():
                col = format_colour(fmt)
                ls = "-" if fl != "scalar" else ":"
                ax.errorbar([c.threads or 0 for c in cs], [value(c, "weight_gbps") for c in cs],
                            yerr=_yerr(cs, "weight_gbps"), fmt="o", ls=ls, color=col, capsize=3,
                            label=f"{fmt} {fl} ({cs[-1].extra.get('shape', '')})")
            if bw:
                ts = sorted(bw)
                ax.plot(ts, [bw[t] for t in ts], "--D", color="black", mfc="black", lw=1.6, ms=5,
                        label="DRAM read bound (probe, measured, same run)")
            else:
                ax.text(0.5, 0.97, "no DRAM read bound in this result (run.probe.dram_read)",
                        transform=ax.transAxes, ha="center", va="top", fontsize=8, color="0.35")
            ax.set_ylim(bottom=0)
            ax.set_ylabel("weight bytes streamed (GB/s)")
            ax.set_title(f"GEMV weight GB/s vs the DRAM read bound\n({gemv_note}; largest matrix per format)",
                         fontsize=10)
            _legend(ax, fontsize=7, loc="best")
        ts = sorted({c.threads or 0 for c in (dec if panel == "decode" else gemv_cases)} |
                    (set(bw) if panel == "gemv" else set()))
        ax.set_xticks(ts)
        ax.set_xlim(min(ts) - 0.6, max(ts) + 0.6)
        ax.set_xlabel("threads")
        ax.grid(True, alpha=0.3)
    return fig


# -------------------------------------------------------------------- 3. decode throughput
def speedup_pairs(cases: list[CaseResult]) -> list[tuple[CaseResult, CaseResult, Comparison]]:
    """(ternary case, baseline case, comparison of tok/s: ratio = ternary / baseline) for every
    ternary decode case with a q8_0 / q4_0 case of the same engine, model, threads and context."""
    idx = {(engine_of(c), c.model, c.format, c.threads, c.context): c for c in cases}
    out = []
    for c in cases:
        if not is_ternary(c.format) or metric(c, "tok_s") is None:
            continue
        for base in BASELINES:
            b = idx.get((engine_of(c), c.model, base, c.threads, c.context))
            if b is not None and metric(b, "tok_s") is not None:
                out.append((c, b, compare_metric(c.case_id, "tok_s", b.metrics["tok_s"],
                                                 c.metrics["tok_s"])))
    return out


def fig_decode(run: RunResult, **_) -> Figure | None:
    dec = [c for c in ok_cases(run, "decode") if value(c, "tok_s") is not None]
    if not dec:
        return None
    ctx = main_context(dec)
    cases = sorted([c for c in dec if c.context == ctx],
                   key=lambda c: (c.model or "", engine_of(c) != "bmbench", _format_key(c.format), c.threads or 0))
    pairs = speedup_pairs(cases)
    # bars on top, the speedups below at full width (their labels are long)
    h2 = max(1.6, 0.32 * len(pairs) + 0.9)
    fig = new_figure(5.2 + h2)
    fig.set_layout_engine(None)  # constrained layout collapses under the long speedup labels
    fig.subplots_adjust(left=0.24, right=0.97, top=0.96, bottom=0.5 / (5.2 + h2))
    gs = fig.add_gridspec(2, 1, height_ratios=[5.2, h2], hspace=0.3)
    ax, ax2 = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    x, pos, groups = 0.0, [], OrderedDict()
    for c in cases:
        if groups and c.model not in groups:
            x += 0.8
        groups.setdefault(c.model, []).append(x)
        pos.append(x)
        x += 1.0
    bounds = [decode_bound(c) for c in cases]
    for p, c, b in zip(pos, cases, bounds):
        col = format_colour(c.format)
        if b:
            ax.bar(p, b, width=0.86, **bar_style("projected", col), zorder=1)
        ax.bar(p, value(c, "tok_s"), width=0.62, **bar_style("measured", col), zorder=2)
    ax.errorbar(pos, [value(c, "tok_s") for c in cases], yerr=_yerr(cases, "tok_s"), fmt="none",
                ecolor="black", capsize=3, zorder=3)
    ax.set_xticks(pos, [f"{c.threads}T" + ("" if engine_of(c) == "bmbench" else f"\n{engine_of(c)}")
                        for c in cases], fontsize=8 if all(engine_of(c) == "bmbench" for c in cases) else 6)
    for model, ps in groups.items():
        ax.text(sum(ps) / len(ps), -0.075, model, transform=ax.get_xaxis_transform(), ha="center",
                va="top", fontsize=9, weight="bold")
    ax.set_ylabel("decode throughput (tok/s)")
    ax.set_title(f"Decode tok/s by model x format x threads{ctx_text(ctx)}", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    fmts = sorted({c.format for c in cases}, key=_format_key)
    handles = [Patch(**bar_style("measured", format_colour(f)), label=f"{f} (measured)") for f in fmts]
    if any(bounds):
        handles.append(Patch(**bar_style("projected", "0.3"),
                             label="roofline bound (projected: DRAM read / bytes per token)"))
    handles.append(Line2D([], [], color="black", marker="_", ls="", ms=10,
                          label="95% interval of the median"))
    ax.set_ylim(0, max([value(c, "tok_s") for c in cases] + [b or 0 for b in bounds]) * 1.32)
    _legend(ax, handles, loc="upper left", fontsize=7, ncol=3)
    # speedups of ternary over the q8_0 / q4_0 baselines
    if not pairs:
        _note(ax2, "no q8_0 / q4_0 case with the same\nmodel, threads and context:\nno speedup to show")
        ax2.set_title("Ternary speedup over q8_0 / q4_0", fontsize=10)
        return fig
    labels, ratios, errs, cols = [], [], [[], []], []
    for t, b, cmp in pairs:
        labels.append(f"{decode_label(t)} vs {b.format}")
        ratios.append(cmp.ratio)
        errs[0].append(max(0.0, cmp.ratio - cmp.low) if cmp.low is not None else 0.0)
        errs[1].append(max(0.0, cmp.high - cmp.ratio) if cmp.high is not None else 0.0)
        cols.append(format_colour(b.format))
    y = np.arange(len(pairs))[::-1]
    ax2.barh(y, ratios, color=cols, height=0.6)
    ax2.errorbar(ratios, y, xerr=np.array(errs), fmt="none", ecolor="black", capsize=3)
    for yy, r, hi in zip(y, ratios, errs[1]):
        ax2.text(r + hi, yy, f"  {r:.2f}x", va="center", ha="left", fontsize=8)
    ax2.axvline(1.0, color="black", lw=1)
    ax2.set_yticks(y, labels, fontsize=7)
    ax2.set_xlim(0, max(ratios) * 1.25)  # a wide interval is clipped, its number stays readable
    ax2.set_xlabel("speedup (x, ratio of tok/s medians)")
    ax2.set_title("Ternary speedup over q8_0 / q4_0\n(measured, 95% bootstrap interval)", fontsize=10)
    ax2.grid(True, axis="x", alpha=0.3)
    return fig


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
    cases.sort(key=lambda c: (c.model or "", _format_key(c.format), c.threads or 0, c.context or 0))
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
    _legend(ax, loc="lower right", fontsize=7.5)
    footnotes(fig, notes)
    return fig


def same_format(a: str | None, b: str | None) -> bool:
    """A published figure matches a case of the same format, or any ternary one for a ternary claim."""
    return a == b or (is_ternary(a) and is_ternary(b))


# ------------------------------------------------------------------------ 5. host projections
def fig_projections(run: RunResult, published: list[Published] = (), **_) -> Figure | None:
    dec = [c for c in ok_cases(run, "decode") if value(c, "tok_s") is not None]
    with_proj = [c for c in dec if c.roofline.get("projections")]
    if not with_proj:
        return None
    ctx = main_context(with_proj)
    best = OrderedDict()  # per model x format: the fastest measured thread count
    for c in sorted([c for c in with_proj if c.context == ctx],
                    key=lambda c: (c.model or "", _format_key(c.format))):
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
    _maybe_log(ax, allv, ratio=30)
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
    _legend(ax, handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5)
    if methods:  # one statement of the model; each projection's own figures are in the tables
        notes.insert(0, f"Projection method (bmbench.roofline): {roofline.METHOD}. Per case and host "
                        "details: the projections table.")
    footnotes(fig, notes, fontsize=7.5)
    return fig


# ------------------------------------------------------------------------------------ 6. energy
def fig_energy(run: RunResult, published: list[Published] = (), **_) -> Figure | None:
    cases = [c for c in ok_cases(run, "decode") if energy_of(c)]
    if not cases:
        return None
    ctx = main_context(cases)
    cases = [c for c in cases if c.context == ctx]
    cases.sort(key=lambda c: (c.model or "", _format_key(c.format), c.threads or 0, c.context or 0))
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
    _maybe_log(ax, allv, ratio=20)
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
    _legend(ax, handles, loc="upper left")
    footnotes(fig, notes, fontsize=7.5)
    return fig


# ----------------------------------------------------------------------------- 7. latency
def fig_latency(run: RunResult, **_) -> Figure | None:
    cases = [c for c in ok_cases(run, "decode") if len(c.extra.get("token_latencies_ms") or []) >= 2]
    if not cases:
        return None
    ctx = main_context(cases)
    cases = [c for c in cases if c.context == ctx]
    cases.sort(key=lambda c: (c.model or "", _format_key(c.format), c.threads or 0, c.context or 0))
    fig = new_figure(5.4)
    ax = fig.add_subplot()
    data = [np.asarray(c.extra["token_latencies_ms"], float) for c in cases]
    pos = np.arange(1, len(cases) + 1)
    parts = ax.violinplot(data, positions=pos, widths=0.8, showextrema=False)
    for body, c in zip(parts["bodies"], cases):
        body.set_facecolor(format_colour(c.format))
        body.set_edgecolor("black")
        body.set_alpha(0.55)
    p50 = [np.percentile(d, 50) for d in data]
    p99 = [np.percentile(d, 99) for d in data]
    ax.scatter(pos, p50, marker="o", color="black", zorder=4, s=22,
               label="p50 of the last repetition's tokens")
    ax.scatter(pos, p99, marker="v", color="#d62728", zorder=4, s=30, label="p99")
    for c, pp in zip(cases, pos):
        for name, mk in (("latency_p50", "_"), ("latency_p99", "_")):
            m = metric(c, name)
            if m is not None:
                ax.plot([pp - 0.3, pp + 0.3], [m.value] * 2, color="0.2", lw=1, ls="--")
    _maybe_log(ax, [v for d in data for v in (d.min(), d.max())], ratio=30)
    ax.set_xticks(pos, [decode_label(c) for c in cases], rotation=30, ha="right",
                  rotation_mode="anchor", fontsize=7.5)
    ax.set_ylabel("per-token latency (ms)")
    ns = sorted({len(d) for d in data})
    ax.set_title(f"Per-token decode latency distribution (measured{ctx_text(ctx, ', ')}; last repetition, "
                 f"{'/'.join(map(str, ns))} tokens per case)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(facecolor="0.6", alpha=0.55, edgecolor="black", label="distribution (violin)"),
                Line2D([], [], color="0.2", ls="--", label="latency_p50 / p99 metrics (all repetitions)")]
    _legend(ax, handles, loc="upper right")
    return fig


# ------------------------------------------------------------------- 8. speed vs quant error
def fig_quant_error(run: RunResult, **_) -> Figure | None:
    cases = [c for c in ok_cases(run, "gemv")
             if value(c, "rel_rms_error") is not None and
             (value(c, "weight_gbps") is not None or value(c, "time_per_call") is not None)]
    if not cases:
        return None
    speed = "weight_gbps" if all(value(c, "weight_gbps") is not None for c in cases) else "time_per_call"
    fig = new_figure(5.6)
    ax = fig.add_subplot()
    errs = [value(c, "rel_rms_error") for c in cases]
    pos = [e for e in errs if e > 0]
    floor = (min(pos) / 10) if pos else 1e-9
    markers = {"stream": "o", "cache": "s"}
    by_fmt = OrderedDict()
    for c in sorted(cases, key=lambda c: _format_key(c.format)):
        by_fmt.setdefault(c.format, []).append(c)
    for fmt, cs in by_fmt.items():
        col = format_colour(fmt)
        for regime in sorted({c.extra.get("regime") or "cache" for c in cs}):
            sub = [c for c in cs if (c.extra.get("regime") or "cache") == regime]
            xs = [max(value(c, "rel_rms_error"), floor) for c in sub]
            ys = [value(c, speed) for c in sub]
            ax.errorbar(xs, ys, yerr=_yerr(sub, speed),
                        fmt=markers.get(regime, "o"), color=col, ms=6, capsize=2, alpha=0.85, ls="none")
            for c, xx, yy in zip(sub, xs, ys):
                ax.annotate(f"{c.threads}T", (xx, yy), xytext=(-5, 0), textcoords="offset points",
                            ha="right", va="center", fontsize=6.5, color="0.3")
        xm = np.median([max(value(c, "rel_rms_error"), floor) for c in cs])
        ym = max(value(c, speed) for c in cs)
        bpw = cs[0].extra.get("nominal_bpw") or cs[0].extra.get("bpw")
        exact = all(value(c, "rel_rms_error") <= 0 for c in cs)
        ax.annotate(f"{fmt}" + (f"\n{bpw:g} bpw" if bpw else "") + ("\nerror 0 (exact)" if exact else ""),
                    (xm, ym), xytext=(6, 4), textcoords="offset points", fontsize=8, color=col,
                    weight="bold")
    ax.set_xscale("log")
    ax.margins(x=0.08, y=0.14)
    ax.set_xlabel("relative RMS error of the GEMV output vs float64 (ratio, log scale)")
    ax.set_ylabel("weight GB/s (higher is better)" if speed == "weight_gbps" else
                  "time per call (us, lower is better)")
    ax.set_title("GEMV speed vs quantisation error per format (measured)", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    handles = [Line2D([], [], color=format_colour(f), marker="o", ls="", label=f) for f in by_fmt]
    regimes = sorted({c.extra.get("regime") or "cache" for c in cases})
    handles += [Line2D([], [], color="0.3", marker=markers.get(r, "o"), ls="",
                       label=f"{r} regime" + (" (weights streamed from DRAM)" if r == "stream" else
                                              " (matrix stays in cache)")) for r in regimes]
    _legend(ax, handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if not pos or any(e <= 0 for e in errs):
        footnotes(fig, [f"Exact formats (error 0) are drawn at {floor:.0e}."])
    return fig


# ------------------------------------------------------------------------ 9. context scaling
def context_groups(run: RunResult) -> "OrderedDict[tuple, list[CaseResult]]":
    groups: OrderedDict = OrderedDict()
    for c in sorted(ok_cases(run, "decode"),
                    key=lambda c: (c.model or "", _format_key(c.format), c.threads or 0, c.context or 0)):
        if c.context is not None and value(c, "tok_s") is not None:
            groups.setdefault((c.model, c.format, c.threads), []).append(c)
    return OrderedDict((k, v) for k, v in groups.items() if len({c.context for c in v}) >= 2)


def fig_context(run: RunResult, **_) -> Figure | None:
    groups = context_groups(run)
    if not groups:
        return None
    fig = new_figure(5.0)
    ax1, ax2 = fig.subplots(1, 2)
    for i, ((model, fmt, t), cs) in enumerate(groups.items()):
        col = colour(i)
        ctx = [c.context for c in cs]
        name = f"{model} {fmt} {t}T"
        ax1.errorbar(ctx, [value(c, "tok_s") for c in cs], yerr=_yerr(cs, "tok_s"), fmt="-o",
                     color=col, capsize=3, label=f"{name} (measured)")
        b = [decode_bound(c) for c in cs]
        if all(b):
            ax1.plot(ctx, b, "--o", mfc="white", color=col, lw=1.2, label=f"{name} bound (projected)")
        bpt = [c.roofline.get("bytes_per_token") for c in cs]
        if all(v is not None for v in bpt):
            ax2.plot(ctx, [v / MIB for v in bpt], "--o", mfc="white", color=col, label=name)
    for ax in (ax1, ax2):
        _log2_x(ax, "context length (tokens, log scale)")
    ax1.set_ylim(bottom=0)
    ax1.set_ylabel("decode throughput (tok/s)")
    ax1.set_title("tok/s vs context", fontsize=10)
    ax2.set_ylabel("bytes read per token (MiB, roofline accounting)")
    ax2.set_title("bytes/token vs context (projected: roofline accounting)", fontsize=10)
    ax2.set_ylim(bottom=0)
    _legend(ax1, fontsize=7)
    if ax2.lines:
        _legend(ax2, fontsize=7)
    else:
        _note(ax2, "no roofline.bytes_per_token in these cases")
    return fig


def prompt_len(c: CaseResult) -> int | None:
    p = c.extra.get("prompt_tokens")
    return len(p) if p else None


def pp_cases(run: RunResult) -> list[CaseResult]:
    return [c for c in ok_cases(run, "decode")
            if value(c, "pp_tok_s") is not None and value(c, "tok_s") is not None and prompt_len(c)]


def fig_prefill(run: RunResult, **_) -> Figure | None:
    """pp and tg tok/s side by side per model x format x threads (x engine), at the most common
    prompt length; the prefill compute roof (projected) where the case has one."""
    cases = pp_cases(run)
    if not cases:
        return None
    lengths = [prompt_len(c) for c in cases]
    n = max(set(lengths), key=lengths.count)
    cases = sorted([c for c, k in zip(cases, lengths) if k == n],
                   key=lambda c: (c.model or "", engine_of(c) != "bmbench", _format_key(c.format), c.threads or 0))
    fig = new_figure(5.6)
    ax = fig.subplots()
    pos = np.arange(len(cases), dtype=float)
    for p, c in zip(pos, cases):
        col = format_colour(c.format)
        roof = value(c, "pp_roof_tok_s")
        if roof:
            ax.bar(p - 0.2, roof, width=0.44, **bar_style("projected", col), zorder=1)
        ax.bar(p - 0.2, value(c, "pp_tok_s"), width=0.34, **bar_style("measured", col), zorder=2)
        ax.bar(p + 0.2, value(c, "tok_s"), width=0.34, color=_pale(col), edgecolor=col, zorder=2)
    ax.errorbar(pos - 0.2, [value(c, "pp_tok_s") for c in cases], yerr=_yerr(cases, "pp_tok_s"), fmt="none",
                ecolor="black", capsize=3, zorder=3)
    ax.errorbar(pos + 0.2, [value(c, "tok_s") for c in cases], yerr=_yerr(cases, "tok_s"), fmt="none",
                ecolor="black", capsize=3, zorder=3)
    ax.set_xticks(pos, [decode_label(c).replace(" ", "\n", 1) for c in cases], fontsize=7)
    ax.set_ylabel("tok/s")
    ax.set_title(f"Prompt processing (pp{n}, batched) and generation (tg) by model x format x threads", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    handles = [Patch(**bar_style("measured", "0.35"), label=f"pp: prompt tokens / time to first token (measured)"),
               Patch(color=_pale("0.35"), label="tg: generated tokens / their time (measured)")]
    if any(value(c, "pp_roof_tok_s") for c in cases):
        handles.append(Patch(**bar_style("projected", "0.3"),
                             label="pp compute roof (projected: batched GEMM in cache x threads)"))
    handles.append(Line2D([], [], color="black", marker="_", ls="", ms=10, label="95% interval of the median"))
    tops = [max(value(c, "pp_tok_s"), value(c, "tok_s"), value(c, "pp_roof_tok_s") or 0) for c in cases]
    ax.set_ylim(0, max(tops) * 1.3)
    _legend(ax, handles, loc="upper left", fontsize=7, ncol=2)
    return fig


def fig_prompt_length(run: RunResult, **_) -> Figure | None:
    """pp tok/s and time to first token against prompt length, per model x format x threads x engine."""
    groups: OrderedDict = OrderedDict()
    for c in sorted(pp_cases(run), key=lambda c: (c.model or "", _format_key(c.format), c.threads or 0,
                                                   engine_of(c), prompt_len(c) or 0)):
        groups.setdefault((engine_of(c), c.model, c.format, c.threads), []).append(c)
    groups = OrderedDict((k, v) for k, v in groups.items() if len({prompt_len(c) for c in v}) >= 2)
    if not groups:
        return None
    fig = new_figure(5.0)
    ax1, ax2 = fig.subplots(1, 2)
    for i, ((eng, model, fmt, t), cs) in enumerate(groups.items()):
        col, n = colour(i), [prompt_len(c) for c in cs]
        name = ("" if eng == "bmbench" else f"{eng} ") + f"{model} {fmt} {t}T"
        ax1.errorbar(n, [value(c, "pp_tok_s") for c in cs], yerr=_yerr(cs, "pp_tok_s"), fmt="-o", color=col,
                     capsize=3, label=f"{name} (measured)")
        roof = [value(c, "pp_roof_tok_s") for c in cs]
        if all(roof):
            ax1.plot(n, roof, "--o", mfc="white", color=col, lw=1.2, label=f"{name} compute roof (projected)")
        ax2.errorbar(n, [value(c, "ttft_ms") / 1e3 for c in cs], yerr=_yerr(cs, "ttft_ms") / 1e3, fmt="-o",
                     color=col, capsize=3, label=f"{name} (measured)")
    for ax in (ax1, ax2):
        _log2_x(ax, "prompt length (tokens, log scale)")
    ax1.set_ylim(bottom=0)
    ax1.set_ylabel("prompt processing (pp tok/s)")
    ax1.set_title("pp tok/s vs prompt length", fontsize=10)
    ax2.set_yscale("log")
    ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax2.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax2.set_ylabel("time to first token (s, log scale)")
    ax2.set_title("time to first token vs prompt length", fontsize=10)
    _legend(ax1, fontsize=7)
    _legend(ax2, fontsize=7)
    return fig


# ------------------------------------------------------------------------------ 10. comparison
def oriented(r: Comparison, better: str) -> tuple[float, float | None, float | None]:
    """The comparison as an improvement factor (> 1 = better), whichever way the metric improves."""
    if better == "lower":
        return (1 / r.ratio, 1 / r.high if r.high else None, 1 / r.low if r.low else None)
    return r.ratio, r.low, r.high


def fig_comparison(rows: list[Comparison], better: dict[tuple[str, str], str], base_name: str,
                   new_name: str, threshold: float = 0.05, max_rows: int = 40) -> Figure | None:
    comparable = [r for r in rows if r.ratio is not None]
    if not comparable:
        return None
    shown = sorted(comparable, key=lambda r: -abs(r.change or 0))[:max_rows]
    shown.sort(key=lambda r: (r.case_id, r.metric))
    fig = new_figure(max(3.4, 1.7 + 0.27 * len(shown)))
    ax = fig.add_subplot()
    y = np.arange(len(shown))[::-1]
    ax.axvspan(1 - threshold, 1 + threshold, color="0.88", zorder=0,
               label=f"within the minimum effect (+/-{threshold:.0%})")
    ax.axvline(1.0, color="black", lw=1)
    for yy, r in zip(y, shown):
        f, lo, hi = oriented(r, better.get((r.case_id, r.metric), "higher"))
        col = VERDICT_COLOURS.get(r.verdict, "0.5")
        if lo is not None and hi is not None:
            ax.hlines(yy, lo, hi, color=col, lw=2.2)
        ax.plot([f], [yy], "o", color=col, ms=6)
        ax.annotate(f"{r.verdict}, p={r.p_value:.2g}" if r.p_value is not None else r.verdict,
                    (hi if hi is not None else f, yy), xytext=(5, 0), textcoords="offset points",
                    va="center", fontsize=7, color=col)
    ax.set_yticks(y, [f"{r.case_id} - {r.metric} ({r.unit})" for r in shown], fontsize=7)
    ax.set_xlabel("improvement factor, new vs base (> 1 = better: new/base for higher-is-better "
                  "metrics, base/new for lower-is-better)")
    xs = [v for r in shown for v in oriented(r, better.get((r.case_id, r.metric), "higher")) if v]
    ax.set_xlim(min(min(xs), 1 - 2 * threshold) * 0.97, max(max(xs), 1 + 2 * threshold) * 1.08)
    extra = f"; {len(comparable) - len(shown)} more in the table" if len(comparable) > len(shown) else ""
    ax.set_title(f"{new_name} vs {base_name}: measured metrics, ratio of medians with 95% bootstrap "
                 f"interval{extra}", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    handles = [Line2D([], [], color=c, marker="o", lw=2.2, label=v) for v, c in VERDICT_COLOURS.items()]
    handles.append(Patch(color="0.88", label=f"within +/-{threshold:.0%} (minimum effect)"))
    _legend(ax, handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="verdict (Mann-Whitney U + min effect)",
            title_fontsize=7.5)
    return fig


# ------------------------------------------------------------------------ engines side by side
def engine_pairs(cases: list[CaseResult]) -> list[tuple[CaseResult, CaseResult, Comparison]]:
    """(bmbench case, other engine's case, comparison of tok/s: ratio = bmbench / other) for every
    pair of the same model, weight class (ternary / q8_0 / q4_0 ...), threads and context."""
    from ..llamacpp import weight_class
    ours = [c for c in cases if engine_of(c) == "bmbench" and metric(c, "tok_s") is not None]
    others = [c for c in cases if engine_of(c) != "bmbench" and metric(c, "tok_s") is not None]
    out = []
    for o in others:
        for b in ours:
            if (b.model, weight_class(b.format), b.threads, b.context) == \
                    (o.model, weight_class(o.format), o.threads, o.context):
                out.append((b, o, compare_metric(b.case_id, "tok_s", o.metrics["tok_s"], b.metrics["tok_s"])))
    return out


def fig_engines(run: RunResult, **_) -> Figure | None:
    pairs = engine_pairs(ok_cases(run, "decode"))
    if not pairs:
        return None
    groups: OrderedDict = OrderedDict()  # (model, threads, context) -> cases in bar order
    for b, o, _cmp in sorted(pairs, key=lambda p: (p[0].model or "", p[0].threads or 0,
                                                   _format_key(p[0].format))):
        g = groups.setdefault((b.model, b.threads, b.context), [])
        for c in (b, o):
            if c not in g:
                g.append(c)
    h2 = 0.9 + 0.3 * len(pairs)
    fig = new_figure(4.6 + h2)
    fig.set_layout_engine(None)  # constrained layout collapses under the long ratio labels
    fig.subplots_adjust(left=0.3, right=0.97, top=0.95, bottom=0.6 / (4.6 + h2))
    gs = fig.add_gridspec(2, 1, height_ratios=[4.2, h2], hspace=0.45)
    ax, ax2 = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    x, ticks, labels, tops = 0.0, [], [], []
    for (model, threads, ctx), cs in groups.items():
        cs = sorted(cs, key=lambda c: (engine_of(c) != "bmbench", _format_key(c.format)))
        start = x
        for c in cs:
            col, bound, v = format_colour(c.format), decode_bound(c), value(c, "tok_s")
            if bound:
                ax.bar(x, bound, width=0.86, **bar_style("projected", col), zorder=1)
            ax.bar(x, v, width=0.62, **bar_style("measured", col), zorder=2)
            m = metric(c, "tok_s")
            if m.low is not None:
                ax.errorbar([x], [v], yerr=[[v - m.low], [m.high - v]], fmt="none", ecolor="black", capsize=3, zorder=3)
            ticks.append(x)
            labels.append(f"{engine_of(c)}\n{c.format}")
            tops += [v, bound or 0]
            x += 1.0
        ax.text((start + x - 1) / 2, -0.14, f"{model} {threads}T", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=8, weight="bold")
        x += 0.8
    ax.set_xticks(ticks, labels, fontsize=6)
    ax.set_ylabel("decode throughput (tok/s)")
    ax.set_ylim(0, max(tops) * 1.2)
    ax.set_title("bmbench kernels vs llama.cpp: same synthetic weights, same harness (measured)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    _legend(ax, [_measured_handle(), Patch(**bar_style("projected", "0.3"),
                                          label="roofline bound (projected)")], loc="upper right", fontsize=7)
    y = np.arange(len(pairs))[::-1]
    ratios = [cmp.ratio for _, _, cmp in pairs]
    lo = [max(0.0, cmp.ratio - cmp.low) if cmp.low is not None else 0.0 for _, _, cmp in pairs]
    hi = [max(0.0, cmp.high - cmp.ratio) if cmp.high is not None else 0.0 for _, _, cmp in pairs]
    ax2.barh(y, ratios, color=[format_colour(b.format) for b, _, _ in pairs], height=0.6)
    ax2.errorbar(ratios, y, xerr=np.array([lo, hi]), fmt="none", ecolor="black", capsize=3)
    for yy, r, h in zip(y, ratios, hi):
        ax2.text(r + h, yy, f"  {r:.2f}x", va="center", ha="left", fontsize=8)
    ax2.axvline(1.0, color="black", lw=1)
    ax2.set_yticks(y, [f"{b.model} {b.threads}T: bmbench {b.format} / {engine_of(o)} {o.format}"
                       for b, o, _ in pairs], fontsize=7)
    ax2.set_xlim(0, max(ratios) * 1.3)
    ax2.set_xlabel("tok/s ratio bmbench / llama.cpp (ratio of medians, 95% bootstrap interval)")
    ax2.grid(True, axis="x", alpha=0.3)
    return fig


# --------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class FigureSpec:
    key: str
    title: str
    draw: Callable[..., Figure | None]
    absent: str          # said plainly when the figure cannot be drawn
    caption: str


FIGURES: list[FigureSpec] = [
    FigureSpec("bandwidth", "Bandwidth probe", fig_bandwidth,
               "no probe cases with a bandwidth curve (extra.curve) in this result",
               "GB/s against working-set size for every probe kernel x flavour x threads (measured); "
               "dashed: the plateau of each level; dotted verticals: the cache sizes of this host."),
    FigureSpec("roofline", "Roofline", fig_roofline,
               "no decode cases with a bound and no gemv cases in this result",
               "Achieved decode tok/s against the roofline bound (projected), and GEMV weight GB/s "
               "against the DRAM read bandwidth measured in the same run, per thread count."),
    FigureSpec("decode", "Decode throughput", fig_decode, "no decode cases in this result",
               "Measured tok/s (solid) inside the roofline bound (hatched, projected), grouped by "
               "model; right: speedup of the ternary formats over q8_0 / q4_0 of the same model and "
               "thread count."),
    FigureSpec("engines", "bmbench vs llama.cpp", fig_engines,
               "no decode cases of two engines with the same model, weight class and threads in this result "
               "(the llamacpp suite runs both)",
               "Decode tok/s of bmbench's kernels and llama.cpp on the same synthetic weights (measured, "
               "solid) inside each case's roofline bound (hatched, projected); below: the tok/s ratio "
               "of each bmbench format over each llama.cpp type of the same weight class."),
    FigureSpec("prefill", "Prompt processing and generation", fig_prefill,
               "no decode cases with a measured prompt phase (pp_tok_s) in this result",
               "Prompt processing (pp, batched: solid) beside generation (tg: pale) at the most common "
               "prompt length, per model x format x threads (x engine); hatched: pp's compute roof "
               "(projected from the batched GEMM's in-cache rate on this host)."),
    FigureSpec("prompt-length", "Prompt length", fig_prompt_length,
               "no decode cases at two or more prompt lengths in this result (the prefill suite sweeps them)",
               "pp tok/s (measured; dashed: compute roof, projected) and time to first token against "
               "prompt length, per model x format x threads (x engine)."),
    FigureSpec("memory", "Memory", fig_memory,
               "no decode cases with memory figures (memory.peak_rss_bytes) in this result",
               "Weights, state, baseline and runtime overhead (peak RSS - weights - state - baseline) "
               "stacked; the diamond is the measured peak RSS."),
    FigureSpec("projections", "Host projections and published figures", fig_projections,
               "no decode cases with host projections (roofline.projections) in this result",
               "Measured here (solid), projected to host profiles by the roofline model (hatched), and "
               "published figures from other machines and methods (stars, sources in the notes)."),
    FigureSpec("energy", "Energy per token", fig_energy,
               "no decode cases with an energy figure in this result",
               "J/token per decode case: measured by energy counters (solid) or estimated by the "
               "labelled power model (pale, cross-hatched); published figures as stars."),
    FigureSpec("latency", "Per-token latency", fig_latency,
               "no decode cases with per-token latencies (extra.token_latencies_ms) in this result",
               "Distribution of the per-token latency of the last repetition of each decode case."),
    FigureSpec("quant-error", "Speed vs quantisation error", fig_quant_error,
               "no gemv cases with a quantisation error (rel_rms_error) in this result",
               "GEMV speed against the relative RMS error of the format's output against float64."),
    FigureSpec("context", "Context-length scaling", fig_context,
               "no decode cases at two or more context lengths in this result",
               "tok/s and bytes read per token against context length, per model x format x threads."),
]
