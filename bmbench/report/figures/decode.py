"""Decode figures: throughput inside the bound with the ternary speedups, per-token latency, bmbench
against llama.cpp."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ...compare import Comparison, compare_metric
from ...results import CaseResult, RunResult
from ..data import (BASELINES, decode_bound, decode_label, engine_of, is_ternary, main_context, metric,
                    mixes_flavours, ok_cases, value, weight_class)
from .style import (DPI, WIDTH, at_main_context, bar_style, ctx_text, empty_note, error_bars, format_colour,
                    format_key, legend, maybe_log, measured_handle, new_figure)


# -------------------------------------------------------------------- 3. decode throughput
def speedup_pairs(cases: list[CaseResult]) -> list[tuple[CaseResult, CaseResult, Comparison]]:
    """(ternary case, baseline case, comparison of tok/s: ratio = ternary / baseline) for every
    ternary decode case with a q8_0 / q4_0 case of the same engine, model, threads and context (and
    flavour, where the cases sweep flavours and the baseline ran in the same one)."""
    idx = {(engine_of(c), c.model, c.format, c.threads, c.context): c for c in cases}
    same_flavour = {(engine_of(c), c.model, c.format, c.threads, c.context, c.flavour): c for c in cases}
    out = []
    for c in cases:
        if not is_ternary(c.format) or metric(c, "tok_s") is None:
            continue
        for base in BASELINES:
            key = (engine_of(c), c.model, base, c.threads, c.context)
            b = same_flavour.get(key + (c.flavour,)) or idx.get(key)
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
                   key=lambda c: (c.model or "", engine_of(c) != "bmbench", format_key(c.format), c.threads or 0))
    pairs = speedup_pairs(cases)
    flavours = mixes_flavours(cases)
    labels = [f"{decode_label(t, with_flavour=flavours)} vs {b.format}" + (f" {b.flavour}" if flavours else "")
              for t, b, _ in pairs]
    # bars on top, the speedups below at full width (their labels are long: the left margin fits
    # the longest, about 5.5 px a character at 7 pt)
    h2 = max(1.6, 0.32 * len(pairs) + 0.9)
    fig = new_figure(5.2 + h2)
    fig.set_layout_engine(None)  # constrained layout collapses under the long speedup labels
    left = min(0.5, max(0.24, 0.02 + 5.5 * max(map(len, labels), default=0) / (WIDTH * DPI)))
    fig.subplots_adjust(left=left, right=0.97, top=0.96, bottom=(0.5 + 0.5 * flavours) / (5.2 + h2))
    gs = fig.add_gridspec(2, 1, height_ratios=[5.2, h2], hspace=0.55 if flavours else 0.3)
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
    ax.errorbar(pos, [value(c, "tok_s") for c in cases], yerr=error_bars(cases, "tok_s"), fmt="none",
                ecolor="black", capsize=3, zorder=3)
    ax.set_xticks(pos, [f"{c.threads}T" + (f" {c.flavour}" if flavours else "")
                        + ("" if engine_of(c) == "bmbench" else f"\n{engine_of(c)}") for c in cases],
                  fontsize=8 if all(engine_of(c) == "bmbench" for c in cases) else 6, rotation=90 if flavours else 0)
    for model, ps in groups.items():
        ax.text(sum(ps) / len(ps), -0.3 if flavours else -0.075, model, transform=ax.get_xaxis_transform(), ha="center",
                va="top", fontsize=9, weight="bold")
    ax.set_ylabel("decode throughput (tok/s)")
    ax.set_title(f"Decode tok/s by model x format x threads{ctx_text(ctx)}", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    fmts = sorted({c.format for c in cases}, key=format_key)
    handles = [Patch(**bar_style("measured", format_colour(f)), label=f"{f} (measured)") for f in fmts]
    if any(bounds):
        handles.append(Patch(**bar_style("projected", "0.3"),
                             label="roofline bound (projected: DRAM read / bytes per token)"))
    handles.append(Line2D([], [], color="black", marker="_", ls="", ms=10,
                          label="95% interval of the median"))
    ax.set_ylim(0, max([value(c, "tok_s") for c in cases] + [b or 0 for b in bounds]) * 1.32)
    legend(ax, handles, loc="upper left", fontsize=7, ncol=3)
    # speedups of ternary over the q8_0 / q4_0 baselines
    if not pairs:
        empty_note(ax2, "no q8_0 / q4_0 case with the same\nmodel, threads and context:\nno speedup to show")
        ax2.set_title("Ternary speedup over q8_0 / q4_0", fontsize=10)
        return fig
    ratios, errs, cols = [], [[], []], []
    for t, b, cmp in pairs:
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


# ----------------------------------------------------------------------------- 7. latency
def fig_latency(run: RunResult, **_) -> Figure | None:
    cases = [c for c in ok_cases(run, "decode") if len(c.extra.get("token_latencies_ms") or []) >= 2]
    if not cases:
        return None
    ctx, cases = at_main_context(cases)
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
    maybe_log(ax, [v for d in data for v in (d.min(), d.max())], ratio=30)
    ax.set_xticks(pos, [decode_label(c, with_flavour=mixes_flavours(cases)) for c in cases], rotation=30, ha="right",
                  rotation_mode="anchor", fontsize=7.5)
    ax.set_ylabel("per-token latency (ms)")
    ns = sorted({len(d) for d in data})
    ax.set_title(f"Per-token decode latency distribution (measured{ctx_text(ctx, ', ')}; last repetition, "
                 f"{'/'.join(map(str, ns))} tokens per case)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(facecolor="0.6", alpha=0.55, edgecolor="black", label="distribution (violin)"),
                Line2D([], [], color="0.2", ls="--", label="latency_p50 / p99 metrics (all repetitions)")]
    legend(ax, handles, loc="upper right")
    return fig


# ------------------------------------------------------------------------ engines side by side
def engine_pairs(cases: list[CaseResult]) -> list[tuple[CaseResult, CaseResult, Comparison]]:
    """(bmbench case, other engine's case, comparison of tok/s: ratio = bmbench / other) for every
    pair of the same model, weight class (ternary / q8_0 / q4_0 ...), threads and context."""
    ours = [c for c in cases if engine_of(c) == "bmbench" and metric(c, "tok_s") is not None]
    others = [c for c in cases if engine_of(c) != "bmbench" and metric(c, "tok_s") is not None]
    out = []
    for o in others:
        for b in ours:
            if (b.model, weight_class(b), b.threads, b.context) == (o.model, weight_class(o), o.threads, o.context):
                out.append((b, o, compare_metric(b.case_id, "tok_s", o.metrics["tok_s"], b.metrics["tok_s"])))
    return out


def fig_engines(run: RunResult, **_) -> Figure | None:
    pairs = engine_pairs(ok_cases(run, "decode"))
    if not pairs:
        return None
    groups: OrderedDict = OrderedDict()  # (model, threads, context) -> cases in bar order
    for b, o, _cmp in sorted(pairs, key=lambda p: (p[0].model or "", p[0].threads or 0,
                                                   format_key(p[0].format))):
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
        cs = sorted(cs, key=lambda c: (engine_of(c) != "bmbench", format_key(c.format)))
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
    legend(ax, [measured_handle(), Patch(**bar_style("projected", "0.3"),
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
