"""Kernel-level figures: the bandwidth probe's curves, the roofline, GEMV speed against quantisation
error."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from ...results import RunResult
from ..data import (decode_bound, decode_label, main_context, metric, ok_cases, probe_kernel, probe_label,
                    value)
from .style import (LEVELS, MODEL_MARKERS, colour, ctx_text, error_bars, fmt_bytes, footnotes, format_colour,
                    format_key, legend, maybe_log, measured_handle, new_figure, projected_handle)


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
    legend(ax, handles, title="measured: kernel flavour threads", loc="upper left",
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
            for c in sorted(cases, key=lambda c: (c.model or "", format_key(c.format), c.threads or 0)):
                series.setdefault((c.model, c.format), []).append(c)
            models = list(dict.fromkeys(k[0] for k in series))
            fmts = sorted({k[1] for k in series}, key=format_key)
            allv = []
            for (model, fmt), cs in series.items():
                col, mk = format_colour(fmt), MODEL_MARKERS[models.index(model) % len(MODEL_MARKERS)]
                t = [c.threads or 0 for c in cs]
                y = [value(c, "tok_s") for c in cs]
                b = [decode_bound(c) for c in cs]
                allv += y + b
                ax.errorbar(t, y, yerr=error_bars(cs, "tok_s"), fmt="-", marker=mk, color=col, capsize=3)
                ax.plot(t, b, "--", marker=mk, color=col, mfc="white", lw=1.1)
                if len(series) <= 4:
                    for tt, yy, bb in zip(t, y, b):
                        ax.annotate(f"{100 * yy / bb:.0f}%", (tt, yy), xytext=(5, -10),
                                    textcoords="offset points", fontsize=7, color=col)
            maybe_log(ax, allv)
            ax.set_ylabel("decode throughput (tok/s)")
            ax.set_title(f"Decode{ctx_text(ctx)}: achieved vs roofline bound\n"
                         "(bound = DRAM read GB/s of the run / bytes per token)", fontsize=10)
            handles = [Patch(facecolor=format_colour(f), label=f) for f in fmts]
            handles += [Line2D([], [], color="0.3", ls="", marker=MODEL_MARKERS[i % len(MODEL_MARKERS)],
                               label=m) for i, m in enumerate(models)]
            handles += [measured_handle("achieved (measured, 95% interval)"),
                        projected_handle("bound (projected, roofline)")]
            legend(ax, handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
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
            for (fmt, fl, _t), c in sorted(best.items(), key=lambda kv: (format_key(kv[0][0]), kv[0][1] or "", kv[0][2] or 0)):
                series.setdefault((fmt, fl), []).append(c)
            for (fmt, fl), cs in series.items():
                col = format_colour(fmt)
                ls = "-" if fl != "scalar" else ":"
                ax.errorbar([c.threads or 0 for c in cs], [value(c, "weight_gbps") for c in cs],
                            yerr=error_bars(cs, "weight_gbps"), fmt="o", ls=ls, color=col, capsize=3,
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
            legend(ax, fontsize=7, loc="best")
        ts = sorted({c.threads or 0 for c in (dec if panel == "decode" else gemv_cases)} |
                    (set(bw) if panel == "gemv" else set()))
        ax.set_xticks(ts)
        ax.set_xlim(min(ts) - 0.6, max(ts) + 0.6)
        ax.set_xlabel("threads")
        ax.grid(True, alpha=0.3)
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
    for c in sorted(cases, key=lambda c: format_key(c.format)):
        by_fmt.setdefault(c.format, []).append(c)
    for fmt, cs in by_fmt.items():
        col = format_colour(fmt)
        for regime in sorted({c.extra.get("regime") or "cache" for c in cs}):
            sub = [c for c in cs if (c.extra.get("regime") or "cache") == regime]
            xs = [max(value(c, "rel_rms_error"), floor) for c in sub]
            ys = [value(c, speed) for c in sub]
            ax.errorbar(xs, ys, yerr=error_bars(sub, speed),
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
    legend(ax, handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if not pos or any(e <= 0 for e in errs):
        footnotes(fig, [f"Exact formats (error 0) are drawn at {floor:.0e}."])
    return fig
