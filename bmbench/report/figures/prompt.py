"""Figures over a token count: context-length scaling, prompt processing beside generation, prompt
length."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from ...results import CaseResult, RunResult
from ..data import MIB, decode_bound, decode_label, engine_of, ok_cases, value
from .style import (bar_style, case_order, colour, empty_note, error_bars, format_colour, format_key, legend,
                    log2_x, new_figure, pale)


# ------------------------------------------------------------------------ 9. context scaling
def context_groups(run: RunResult) -> "OrderedDict[tuple, list[CaseResult]]":
    groups: OrderedDict = OrderedDict()
    for c in sorted(ok_cases(run, "decode"),
                    key=case_order):
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
        ax1.errorbar(ctx, [value(c, "tok_s") for c in cs], yerr=error_bars(cs, "tok_s"), fmt="-o",
                     color=col, capsize=3, label=f"{name} (measured)")
        b = [decode_bound(c) for c in cs]
        if all(b):
            ax1.plot(ctx, b, "--o", mfc="white", color=col, lw=1.2, label=f"{name} bound (projected)")
        bpt = [c.roofline.get("bytes_per_token") for c in cs]
        if all(v is not None for v in bpt):
            ax2.plot(ctx, [v / MIB for v in bpt], "--o", mfc="white", color=col, label=name)
    for ax in (ax1, ax2):
        log2_x(ax, "context length (tokens, log scale)")
    ax1.set_ylim(bottom=0)
    ax1.set_ylabel("decode throughput (tok/s)")
    ax1.set_title("tok/s vs context", fontsize=10)
    ax2.set_ylabel("bytes read per token (MiB, roofline accounting)")
    ax2.set_title("bytes/token vs context (projected: roofline accounting)", fontsize=10)
    ax2.set_ylim(bottom=0)
    legend(ax1, fontsize=7)
    if ax2.lines:
        legend(ax2, fontsize=7)
    else:
        empty_note(ax2, "no roofline.bytes_per_token in these cases")
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
                   key=lambda c: (c.model or "", engine_of(c) != "bmbench", format_key(c.format), c.threads or 0))
    fig = new_figure(5.6)
    ax = fig.subplots()
    pos = np.arange(len(cases), dtype=float)
    for p, c in zip(pos, cases):
        col = format_colour(c.format)
        roof = value(c, "pp_roof_tok_s")
        if roof:
            ax.bar(p - 0.2, roof, width=0.44, **bar_style("projected", col), zorder=1)
        ax.bar(p - 0.2, value(c, "pp_tok_s"), width=0.34, **bar_style("measured", col), zorder=2)
        ax.bar(p + 0.2, value(c, "tok_s"), width=0.34, color=pale(col), edgecolor=col, zorder=2)
    ax.errorbar(pos - 0.2, [value(c, "pp_tok_s") for c in cases], yerr=error_bars(cases, "pp_tok_s"), fmt="none",
                ecolor="black", capsize=3, zorder=3)
    ax.errorbar(pos + 0.2, [value(c, "tok_s") for c in cases], yerr=error_bars(cases, "tok_s"), fmt="none",
                ecolor="black", capsize=3, zorder=3)
    # one-line labels, slanted: two-line ones ran into each other at 16 cases
    ax.set_xticks(pos, [decode_label(c) for c in cases], fontsize=7, rotation=30, ha="right",
                  rotation_mode="anchor")
    ax.set_ylabel("tok/s")
    ax.set_title(f"Prompt processing (pp{n}, batched) and generation (tg) by model x format x threads", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    handles = [Patch(**bar_style("measured", "0.35"), label="pp: prompt tokens / time to first token (measured)"),
               Patch(color=pale("0.35"), label="tg: generated tokens / their time (measured)")]
    if any(value(c, "pp_roof_tok_s") for c in cases):
        handles.append(Patch(**bar_style("projected", "0.3"),
                             label="pp compute roof (projected: batched GEMM in cache x threads)"))
    handles.append(Line2D([], [], color="black", marker="_", ls="", ms=10, label="95% interval of the median"))
    tops = [max(value(c, "pp_tok_s"), value(c, "tok_s"), value(c, "pp_roof_tok_s") or 0) for c in cases]
    ax.set_ylim(0, max(tops) * 1.3)
    legend(ax, handles, loc="upper left", fontsize=7, ncol=2)
    return fig


def fig_prompt_length(run: RunResult, **_) -> Figure | None:
    """pp tok/s and time to first token against prompt length, per model x format x threads x engine."""
    groups: OrderedDict = OrderedDict()
    for c in sorted(pp_cases(run), key=lambda c: (c.model or "", format_key(c.format), c.threads or 0,
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
        ax1.errorbar(n, [value(c, "pp_tok_s") for c in cs], yerr=error_bars(cs, "pp_tok_s"), fmt="-o", color=col,
                     capsize=3, label=f"{name} (measured)")
        roof = [value(c, "pp_roof_tok_s") for c in cs]
        if all(roof):
            ax1.plot(n, roof, "--o", mfc="white", color=col, lw=1.2, label=f"{name} compute roof (projected)")
        ax2.errorbar(n, [value(c, "ttft_ms") / 1e3 for c in cs], yerr=error_bars(cs, "ttft_ms") / 1e3, fmt="-o",
                     color=col, capsize=3, label=f"{name} (measured)")
    for ax in (ax1, ax2):
        log2_x(ax, "prompt length (tokens, log scale)")
    ax1.set_ylim(bottom=0)
    ax1.set_ylabel("prompt processing (pp tok/s)")
    ax1.set_title("pp tok/s vs prompt length", fontsize=10)
    ax2.set_yscale("log")
    ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax2.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax2.set_ylabel("time to first token (s, log scale)")
    ax2.set_title("time to first token vs prompt length", fontsize=10)
    legend(ax1, fontsize=7)
    legend(ax2, fontsize=7)
    return fig
