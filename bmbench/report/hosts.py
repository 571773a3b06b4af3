"""Results from several hosts side by side: which host each result was measured on, and every decode
case measured on a host profile's board set against the projection to that profile made from
another result, so the projection model can be checked against reality."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .. import roofline
from ..results import CaseResult, RunResult
from .figures import style as F
from .data import decode_label, kind_counts, metric, ok_cases, value


def host_label(run: RunResult) -> str:
    """The host a result was measured on: its profile key (set by `bmbench run --on`), else the
    detected host name."""
    h = run.host or {}
    return str(h.get("profile") or h.get("hostname") or h.get("cpu_model") or "unrecorded host")


def hosts_table(runs: list[RunResult], names: list[str]) -> list[dict]:
    rows = []
    for run, name in zip(runs, names):
        h = run.host or {}
        counts: dict[str, int] = {}
        for st in kind_counts(run).values():
            for k, n in st.items():
                counts[k] = counts.get(k, 0) + n
        rows.append(dict(result=name, host=host_label(run), profile=h.get("profile") or "",
                         via=h.get("via") or "this machine", hostname=h.get("hostname") or "",
                         cpu=h.get("cpu_model") or "", arch=h.get("arch") or "", suite=run.suite,
                         created=run.created,
                         cases=", ".join(f"{n} {k}" for k, n in counts.items()) or "none"))
    return rows


@dataclass(frozen=True)
class Pair:
    """A decode case measured on `host` and the projection to that profile from another result."""
    host: str
    measured: CaseResult
    measured_in: str           # result name
    projected: dict            # one entry of roofline.projections
    projected_case: CaseResult
    projected_in: str          # result name
    projected_from: str        # host the projecting result was measured on

    @property
    def label(self) -> str:
        return decode_label(self.measured, with_context=True)

    @property
    def measured_tok_s(self) -> float:
        return float(value(self.measured, "tok_s"))

    @property
    def projected_tok_s(self) -> float:
        return float(self.projected["tok_s"])

    @property
    def ratio(self) -> float:
        return self.measured_tok_s / self.projected_tok_s


def _same_case(a: CaseResult, b: CaseResult) -> bool:
    return (a.model, a.format, a.context, a.params.get("state"), a.params.get("kv")) == \
           (b.model, b.format, b.context, b.params.get("state"), b.params.get("kv"))


def measured_vs_projected(runs: list[RunResult], names: list[str]) -> list[Pair]:
    """Every (measured on profile P, projected to P) pair across the results: same model, format,
    context, state / KV type, and the projection's thread count equal to the measured one."""
    pairs = []
    for i, run in enumerate(runs):
        host = (run.host or {}).get("profile")
        if not host:
            continue
        for c in ok_cases(run, "decode"):
            if value(c, "tok_s") is None:
                continue
            for j, other in enumerate(runs):
                if j == i:
                    continue
                for oc in ok_cases(other, "decode"):
                    if not _same_case(c, oc):
                        continue
                    for p in oc.roofline.get("projections") or []:
                        # threads on the profile (roofline.Projection.threads); older documents
                        # lack it: the projecting case's own thread count
                        if p.get("host") == host and p.get("threads", oc.threads) == c.threads \
                                and p.get("tok_s"):
                            pairs.append(Pair(host, c, names[i], p, oc, names[j], host_label(other)))
    return sorted(pairs, key=lambda p: (p.host, p.label, p.projected_in))


def pair_rows(pairs: list[Pair]) -> list[dict]:
    """The exact values beside the figure (numbers formatted by the template's `num` filter)."""
    rows = []
    for p in pairs:
        m = metric(p.measured, "tok_s")
        rows.append(dict(
            host=p.host, case=p.measured.case_id, label=p.label, measured=p.measured_tok_s,
            low=m.low if m else None, high=m.high if m else None,
            measured_prov=f"measured on {p.host}", measured_in=p.measured_in,
            projected=p.projected_tok_s, bound=p.projected.get("bound_tok_s"),
            limited_by=p.projected.get("limited_by") or "",
            projected_prov=f"projected from {p.projected_from}", projected_in=p.projected_in,
            projected_case=p.projected_case.case_id, ratio=p.ratio,
            method=p.projected.get("method") or ""))
    return rows


def fig_measured_vs_projected(pairs: list[Pair]) -> Figure | None:
    """Horizontal bars: measured on the board (solid, with its 95% interval) over the projection
    to the board's profile (hatched), one row per pair, the ratio written at the right."""
    if not pairs:
        return None
    hosts = list(dict.fromkeys(p.host for p in pairs))
    fig = F.new_figure(2.6 + 0.62 * len(pairs))
    ax = fig.add_subplot()
    y = np.arange(len(pairs))[::-1]
    h = 0.38
    top = max(max(p.measured_tok_s, p.projected_tok_s) for p in pairs)
    for yy, p in zip(y, pairs):
        col = F.colour(hosts.index(p.host))
        m = metric(p.measured, "tok_s")
        err = None
        if m and m.low is not None and m.high is not None:
            err = [[max(0.0, m.value - m.low)], [max(0.0, m.high - m.value)]]
        ax.barh(yy + h / 2, p.measured_tok_s, height=h, xerr=err, capsize=3,
                **F.bar_style("measured", col))
        ax.barh(yy - h / 2, p.projected_tok_s, height=h, **F.bar_style("projected", col))
        ax.text(max(p.measured_tok_s, p.projected_tok_s) + top * 0.02, yy,
                f"measured / projected = {p.ratio:.2f}", va="center", fontsize=8)
    ax.set_yticks(y, [f"{p.host}: {p.label}\n(projected from {p.projected_from})" for p in pairs],
                  fontsize=8)
    ax.set_xlim(0, top * 1.6)  # room for the ratio label of the longest bar
    ax.set_xlabel("decode throughput (tok/s)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title("Measured on each board vs the roofline projection to its host profile", fontsize=10)
    handles = [Patch(**F.bar_style("measured", F.colour(i)), label=f"measured on {hst}")
               for i, hst in enumerate(hosts)]
    handles.append(Patch(**F.bar_style("projected", "0.4"),
                         label="projected to that profile from another result"))
    F.legend(ax, handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5)
    F.footnotes(fig, [f"Projection method (bmbench.roofline): {roofline.METHOD}. Measured: median of "
                      "the repetitions on the board with its 95% interval. Per pair: the table below."],
                fontsize=7.5)
    return fig
