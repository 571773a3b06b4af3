"""The comparison of two results: each case's change with its interval and verdict."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ...compare import Comparison
from .style import VERDICT_COLOURS, legend, new_figure


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
    legend(ax, handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="verdict (Mann-Whitney U + min effect)",
            title_fontsize=7.5)
    return fig
