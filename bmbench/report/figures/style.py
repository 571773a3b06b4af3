"""Shared style of the report's figures: sizes, colours, the provenance styles (see the package's
docstring) and small axes helpers."""
from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from ...results import CaseResult
from ..data import main_context, metric

DPI = 100
WIDTH = 11.0                      # inches: every figure is 1100 px wide
LEVELS = ("L1", "L2", "L3", "DRAM")
PUBLISHED_STYLE = dict(marker="*", s=260, c="#f2b705", edgecolors="black", linewidths=0.9, zorder=6)
VERDICT_COLOURS = {"faster": "#2ca02c", "slower": "#d62728", "unchanged": "#7f7f7f", "inconclusive": "#bcbd22"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
MODEL_MARKERS = ["o", "s", "^", "D", "v", "P"]
FORMAT_ORDER = ["ternary-lut", "ternary-mad", "q4_0", "q8_0", "f16", "f32", "tq2_0", "tq1_0"]


# ------------------------------------------------------------------------------------ helpers
def new_figure(height: float, width: float = WIDTH) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def format_colour(fmt: str | None) -> str:
    if fmt in FORMAT_ORDER:
        return colour(FORMAT_ORDER.index(fmt))
    return colour(len(FORMAT_ORDER) + (sum(map(ord, fmt or "")) % 4))


def format_key(fmt: str | None):
    return (FORMAT_ORDER.index(fmt) if fmt in FORMAT_ORDER else len(FORMAT_ORDER), fmt or "")


def case_order(c: CaseResult) -> tuple:
    """Model, then format in the report's order, threads, context."""
    return (c.model or "", format_key(c.format), c.threads or 0, c.context or 0)


def at_main_context(cases: list[CaseResult]) -> tuple[int | None, list[CaseResult]]:
    """The context most of the cases share and those cases, in case order (the context-scaling
    figure shows the others)."""
    ctx = main_context(cases)
    return ctx, sorted((c for c in cases if c.context == ctx), key=case_order)


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
        return dict(facecolor=pale(col), edgecolor=col, hatch="xx", linestyle="--", linewidth=1.3)
    return dict(facecolor="white", edgecolor=col, hatch="///", linewidth=1.3)  # projected


def pale(col: str, k: float = 0.6) -> tuple:
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


def error_bars(cases: list[CaseResult], name: str):
    lo, hi = [], []
    for c in cases:
        m = metric(c, name)
        lo.append(max(0.0, m.value - m.low) if m and m.low is not None else 0.0)
        hi.append(max(0.0, m.high - m.value) if m and m.high is not None else 0.0)
    return np.array([lo, hi])


def maybe_log(ax, values, axis="y", ratio: float = 25.0) -> None:
    v = [x for x in values if x and x > 0]
    if v and max(v) / min(v) > ratio:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def log2_x(ax, label: str) -> None:
    """A token-count x axis: log base 2, plain numbers, a grid."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(label)
    ax.grid(True, which="both", alpha=0.3)


def empty_note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=10,
            color="0.35", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def legend(ax, handles=None, **kw):
    kw.setdefault("fontsize", 8)
    kw.setdefault("framealpha", 0.9)
    if handles is not None:
        return ax.legend(handles=handles, **kw)
    return ax.legend(**kw)


def measured_handle(label="measured (median, 95% interval)", col="0.3"):
    return Line2D([], [], color=col, marker="o", ls="-", label=label)


def projected_handle(label, col="0.3"):
    return Line2D([], [], color=col, marker="o", mfc="white", ls="--", label=label)
