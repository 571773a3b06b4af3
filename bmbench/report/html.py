"""The report page: figures saved as PNG files next to index.html, tables with the exact figures,
the run metadata, rendered with Jinja2 from the templates in the `reports/` data directory.

The page is self-contained: it references its PNGs by relative path in the same directory and
inlines its CSS; it loads nothing from the network and runs no script."""
from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import re
import shlex
import tempfile
from pathlib import Path
from typing import Any

import jinja2

from .. import __version__, roofline
from ..compare import compare_runs
from ..errors import BmbenchError
from ..headlines import headline
from ..printers import rows as metric_rows
from ..results import RunResult, atomic_write_text, ensure_writable_dir, new_file_mode
from . import figures as F
from . import hosts as H
from .data import (MIB, Published, decode_bound, decode_label, energy_of, engine_of, kind_counts,
                   ok_cases, probe_label, value)

KNOWN_KINDS = ("probe", "gemv", "decode")
# Headline metrics of kinds the registry does not describe (yet): what the comparison figure shows.
PNG_NAME = re.compile(r"^(r\d+|cmp-r\d+-r\d+|hosts)-[a-z0-9-]+\.png$")


# --------------------------------------------------------------------------------- formatting
def num(v: Any, digits: int = 4) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def mib(v) -> str:
    return "" if v is None else f"{v / MIB:.1f}"


def _meta_value(key: str, v: Any) -> str:
    if v is None:
        return "not recorded"
    if v == "" or v == [] or v == {}:
        return "(empty)"
    if key.endswith("_bytes") and isinstance(v, (int, float)):
        return f"{v / 2**30:.2f} GiB ({v} bytes)"
    if key == "caches" and isinstance(v, dict):
        return ", ".join(f"{k.replace('_kib', '').upper()} {val} KiB" if k.endswith("_kib")
                         else f"{k.replace('_', ' ')} {val}" for k, val in v.items())
    if key == "noise" and isinstance(v, dict):
        return f"{v.get('verdict')}" + (f": {'; '.join(v['reasons'])}" if v.get("reasons") else "")
    if key == "load_average" and isinstance(v, list):
        return " / ".join(num(x, 3) for x in v) + " (1 / 5 / 15 min)"
    if key == "flavours" and isinstance(v, list):
        out = []
        for st in v:
            if not isinstance(st, dict):
                out.append(str(st))
                continue
            state = ("chosen" if st.get("chosen") else "runnable" if st.get("runnable") else
                     "not supported by this CPU" if st.get("compiled") else "not compiled")
            if st.get("emulated") and st.get("compiled"):
                state += ", SIMDe emulation"
            out.append(f"{st.get('flavour', '?')} ({state})")
        return "; ".join(out)
    if isinstance(v, list):
        return " ".join(map(str, v))
    if isinstance(v, dict):
        return "; ".join(f"{k}: {num(x)}" for k, x in v.items())
    return num(v)


def metadata(run: RunResult) -> list[dict]:
    probe = []
    for t, m in sorted((run.probe.get("dram_read") or {}).items(), key=lambda kv: int(kv[0])):
        if isinstance(m, dict):
            iv = f" (95% interval {num(m.get('low'))} - {num(m.get('high'))})" if m.get("low") is not None else ""
            probe.append((f"DRAM read, {t} thread(s)",
                          f"{num(m.get('value'))} {m.get('unit', 'GB/s')}{iv}, {m.get('provenance', 'measured')}"
                          + (f", {m['method']}" if m.get("method") else "")))
    cmd = run.command
    return [
        dict(title="Run", items=[("suite", run.suite), ("created", run.created),
                                  ("command", shlex.join(map(str, cmd)) if isinstance(cmd, list) else str(cmd)),
                                  ("git revision", run.git_revision or "not recorded"),
                                  ("schema", run.schema)]),
        dict(title="Host (detected)", items=[(k, _meta_value(k, v)) for k, v in run.host.items()]),
        dict(title="Build", items=[(k, _meta_value(k, v)) for k, v in run.build.items()]),
        dict(title="Versions", items=[(k, _meta_value(k, v)) for k, v in run.versions.items()]),
        dict(title="Bandwidth measured in the same run (the bound)",
             items=probe or [("DRAM read", "not recorded in this result (runs with gemv or decode cases measure it)")]),
    ]


# ------------------------------------------------------------------------------------- tables
def metric_tables(run: RunResult) -> list[dict]:
    """Every case x metric with unit, interval and provenance (bmbench.printers.rows), per kind."""
    by_id = {c.case_id: c for c in run.cases}
    out = []
    for kind in dict.fromkeys(c.kind for c in run.cases):
        sub = dataclasses.replace(run, cases=[c for c in run.cases if c.kind == kind])
        rs = []
        for r in metric_rows(sub):
            c = by_id.get(r["case_id"])
            rs.append(dict(r, context=c.context if c else None, kind=kind,
                           interval=(f"{num(r.get('low'))} - {num(r.get('high'))}"
                                     if r.get("low") is not None else "")))
        cols = ["case_id", "status", "model", "format", "flavour", "threads", "context", "metric",
                "value", "interval", "unit", "cv", "n", "provenance"]
        cols = [c for c in cols if c in ("case_id", "metric", "value")
                or any(r.get(c) not in (None, "") for r in rs)]
        out.append(dict(kind=kind, columns=cols, rows=rs))
    return out


def decode_tables(run: RunResult, published: list[Published]) -> dict:
    dec = ok_cases(run, "decode")
    details, projections, speedups = [], [], []
    for c in dec:
        m, r = c.memory or {}, c.roofline or {}
        parts = F.memory_parts(c)
        e = energy_of(c)
        details.append(dict(
            case=c.case_id, label=decode_label(c, True),
            bytes_per_token=mib(r.get("bytes_per_token")), dram=num(r.get("dram_read_gbps")),
            bound=(num(decode_bound(c)) if r.get("regime") != "cache-resident" else "cache-resident"),
            tok_s=num(value(c, "tok_s")),
            efficiency=(f"{100 * r['efficiency']:.1f}%" if isinstance(r.get("efficiency"), (int, float))
                        else num(value(c, "pct_of_bound")) + ("%" if value(c, "pct_of_bound") is not None else "")),
            weights=mib(m.get("weight_bytes")), state=mib(m.get("state_bytes")),
            baseline=mib(m.get("baseline_rss_bytes")), peak=mib(m.get("peak_rss_bytes")),
            resident=(f"{mib(m['resident_after_warmup']['anon_bytes'])} / {mib(m['resident_after_warmup']['file_bytes'])}"
                      if m.get("resident_after_warmup") else ""),
            huge=mib((m.get("resident_after_warmup") or {}).get("huge_page_bytes")),
            overhead=mib(parts["overhead"]) if parts else "",
            energy=num(e[0]) if e else "", energy_prov=e[1] if e else "", energy_how=e[2] if e else ""))
        for p in r.get("projections") or []:
            projections.append(dict(case=c.case_id, label=decode_label(c, True), host=p.get("host"),
                                    tok_s=num(p.get("tok_s")), bound=num(p.get("bound_tok_s")),
                                    method=p.get("method") or "", provenance=p.get("provenance", "projected")))
    for t, b, cmp in F.speedup_pairs(dec):
        speedups.append(dict(ternary=t.case_id, baseline=b.case_id, ratio=num(cmp.ratio),
                             interval=f"{num(cmp.low)} - {num(cmp.high)}" if cmp.low is not None else "",
                             p=num(cmp.p_value, 3), verdict=cmp.verdict, note=cmp.note))
    engines = [dict(ours=b.case_id, other=o.case_id, engine=engine_of(o), ours_tok_s=num(value(b, "tok_s")),
                    other_tok_s=num(value(o, "tok_s")), ratio=num(cmp.ratio),
                    interval=f"{num(cmp.low)} - {num(cmp.high)}" if cmp.low is not None else "",
                    p=num(cmp.p_value, 3), verdict=cmp.verdict, note=cmp.note)
               for b, o, cmp in F.engine_pairs(dec)]
    return dict(details=details, projections=projections, speedups=speedups, engines=engines)


def probe_curves(run: RunResult) -> list[dict]:
    return [dict(label=probe_label(c), case=c.case_id,
                 points=[dict(bytes=p.get("bytes"), size=F.fmt_bytes(p.get("bytes", 0)),
                              level=p.get("level") or "transition", gbps=num(p.get("gbps")),
                              n=len(p.get("samples") or []))
                         for p in sorted(c.extra.get("curve") or [], key=lambda p: p.get("bytes", 0))])
            for c in ok_cases(run, "probe") if c.extra.get("curve")]


# ------------------------------------------------------------------------------------- files
def save_png(fig, path: Path) -> tuple[int, int]:
    """Save a figure atomically (temporary name in the same directory, then rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, new_file_mode())
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=F.DPI, metadata={"Software": f"bmbench {__version__}"})
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise BmbenchError(f"cannot write {path}: {e.strerror or e}") from None
        raise
    w, h = fig.get_size_inches() * F.DPI
    return int(round(w)), int(round(h))


def prepare_dir(out: Path) -> None:
    ensure_writable_dir(out, "report directory")


def _draw(spec_title: str, draw, *args, **kw):
    """A figure, or (None, why) when drawing failed on unexpected data: the page says so."""
    try:
        return draw(*args, **kw), None
    except Exception as e:  # noqa: BLE001 - one unreadable figure must not lose the whole report
        return None, f"{spec_title} could not be drawn from this result ({type(e).__name__}: {e})"


# ---------------------------------------------------------------------------------- the page
def build_page(runs: list[RunResult], names: list[str], published: list[Published],
               published_note: str | None, out: Path, threshold: float = 0.05,
               alpha: float = 0.01) -> tuple[dict, list[str]]:
    """Draw and save every figure; return the template context and the files written."""
    files: list[str] = []
    number = 0
    sections = []
    for i, (run, name) in enumerate(zip(runs, names), 1):
        counts = kind_counts(run)
        absent = [f"no {k} cases in this result" for k in KNOWN_KINDS if k not in counts]
        failed = [c for c in run.cases if c.status != "ok"]
        if not run.cases:
            absent = ["this result holds no cases"]
        figs = []
        for spec in F.FIGURES:
            fig, problem = _draw(spec.title, spec.draw, run, published=published)
            number += 1
            if fig is None:
                figs.append(dict(number=number, title=spec.title, key=spec.key, file=None,
                                 absent=problem or f"Not drawn: {spec.absent}."))
                continue
            fname = f"r{i}-{number:02d}-{spec.key}.png"
            w, h = save_png(fig, out / fname)
            files.append(fname)
            figs.append(dict(number=number, title=spec.title, key=spec.key, file=fname, width=w,
                             height=h, caption=spec.caption))
        sections.append(dict(
            index=i, name=name, anchor=f"r{i}", run=run, counts=counts, absent=absent, failed=failed,
            meta=metadata(run), figures=figs, tables=metric_tables(run),
            decode=decode_tables(run, published), curves=probe_curves(run)))
    hosts, number = hosts_section(runs, names, out, files, number)
    comparisons = []
    base = runs[0]
    for j in range(1, len(runs)):
        new = runs[j]
        rows = compare_runs(base, new, threshold=threshold, alpha=alpha)
        kinds = {c.case_id: c.kind for c in new.cases}
        better = {(c.case_id, k): m.better for c in new.cases for k, m in c.metrics.items()}
        heads = [r for r in rows if r.metric.startswith(headline(kinds.get(r.case_id, ""))) or r.metric == "*"]
        number += 1
        fig, problem = _draw("Comparison", F.fig_comparison, heads, better, names[0], names[j], threshold)
        entry = dict(number=number, base=names[0], new=names[j], index=j + 1, file=None,
                     rows=rows, n_common=len({r.case_id for r in rows}),
                     verdicts={v: sum(r.verdict == v for r in rows) for v in
                               ("faster", "slower", "unchanged", "inconclusive", "not comparable")},
                     only_base=sorted({c.case_id for c in base.cases} - {c.case_id for c in new.cases}),
                     only_new=sorted({c.case_id for c in new.cases} - {c.case_id for c in base.cases}))
        comparisons.append(_place(entry, fig, problem, "Not drawn: no case of both results has a measured "
                                  "metric with enough samples to compare.",
                                  out, f"cmp-r1-r{j + 1}-{number:02d}-comparison.png", files))
    ctx = dict(
        title="bmbench report: " + ", ".join(names), generated=_dt.datetime.now(_dt.timezone.utc)
        .isoformat(timespec="seconds"), version=__version__, sections=sections,
        comparisons=comparisons, hosts=hosts, threshold=threshold, alpha=alpha, published=published,
        published_note=published_note, multi=len(runs) > 1)
    return ctx, files


def hosts_section(runs: list[RunResult], names: list[str], out: Path, files: list[str],
                  number: int) -> tuple[dict | None, int]:
    """Results from several hosts (or measured on a board over SSH): the hosts side by side and
    measured vs projected per host profile.  None for a single local result."""
    if len(runs) < 2 and not any((r.host or {}).get("profile") for r in runs):
        return None, number
    pairs = H.measured_vs_projected(runs, names)
    number += 1
    fig, problem = _draw("Measured vs projected", H.fig_measured_vs_projected, pairs)
    entry = dict(number=number, table=H.hosts_table(runs, names), pairs=H.pair_rows(pairs),
                 method=roofline.METHOD, file=None)
    return _place(entry, fig, problem,
                  "Not drawn: no decode case measured on a host profile's board (host.profile, set by "
                  "`bmbench run --on`) has a projection to that profile, for the same model, format, "
                  "context and thread count, in another of these results.",
                  out, f"hosts-{number:02d}-measured-vs-projected.png", files), number


def _place(entry: dict, fig, problem: str | None, absent: str, out: Path, fname: str,
           files: list[str]) -> dict:
    """A section's figure saved as `fname` (listed in `files`), or the reason it is absent."""
    if fig is None:
        entry["absent"] = problem or absent
    else:
        w, h = save_png(fig, out / fname)
        files.append(fname)
        entry.update(file=fname, width=w, height=h)
    return entry


def environment() -> jinja2.Environment:
    from ..paths import reports_dir
    d = reports_dir()
    if not (d / "report.html.j2").exists():
        raise BmbenchError(f"report templates not found in {d} (broken installation?)")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(d)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = num
    return env


def render_page(ctx: dict) -> str:
    return environment().get_template("report.html.j2").render(**ctx)


def write_report(runs: list[RunResult], names: list[str], out: Path, published: list[Published],
                 published_note: str | None, threshold: float = 0.05, alpha: float = 0.01) -> Path:
    prepare_dir(out)
    env = environment()  # fail before drawing anything when the templates are missing
    ctx, files = build_page(runs, names, published, published_note, out, threshold, alpha)
    index = atomic_write_text(out / "index.html", env.get_template("report.html.j2").render(**ctx))
    for p in out.iterdir():  # figures of an earlier report in this directory that this one lacks
        if PNG_NAME.match(p.name) and p.name not in files:
            try:
                p.unlink()
            except OSError:
                pass
    return index
