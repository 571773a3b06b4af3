"""The report: figures, page, provenance marks, missing sections, comparison, CLI, and the page in
headless Chromium.  Result documents are built here with realistic values (no benchmark runs)."""
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from bmbench import results
from pagecheck import CHROMIUM, chromium, console_errors, image_check
from bmbench.results import CaseResult, Metric, RunResult

# subprocesses run outside the checkout, so `-m`/`-c` import the installed bmbench
OUTSIDE = tempfile.gettempdir()

MIB = 2 ** 20
ALL_FIGURES = ("bandwidth", "roofline", "decode", "prefill", "prompt-length", "memory", "projections", "energy",
               "latency", "quant-error", "context")
CACHES = {"l1d_kib": 48, "l2_kib": 1280, "l3_kib": 12288}


# ------------------------------------------------------------------------------ fixture builders
def _run(suite, cases, probe=None):
    return RunResult(
        suite=suite, created="2026-11-23T19:14:38+00:00",
        command=["bmbench", "run", "--suite", suite, "--threads", "1,2"],
        host=dict(hostname="bench-1", arch="x86_64", cpu_model="12th Gen Intel(R) Core(TM) i3-12100F",
                  cores_physical=4, cores_logical=8, cpus_allowed=8, caches=dict(CACHES),
                  memory_total_bytes=16 * 2 ** 30, kernel_features=["avx2", "fma", "f16c"],
                  simd_flags=["avx", "avx2", "avx_vnni", "fma"], governor="performance",
                  freq_max_mhz=4300.0, os="Linux 6.1.0", virtualised=None,
                  load_average=[0.31, 0.22, 0.18], memory_available_bytes=12 * 2 ** 30),
        build=dict(compiler="gcc 12.2.0", cflags="", buildtype="release",
                   isa_args="avx2: -mavx2 -mfma -mf16c; neon: SIMDe",
                   flavours=[dict(flavour="scalar", compiled=True, runnable=True, emulated=False, chosen=False),
                             dict(flavour="avx2", compiled=True, runnable=True, emulated=False, chosen=True),
                             dict(flavour="avx512", compiled=True, runnable=False, emulated=False, chosen=False),
                             dict(flavour="neon", compiled=True, runnable=True, emulated=True, chosen=False)],
                   chosen_flavour="avx2", openmp_threads=8, kernels_env=None),
        versions=dict(bmbench="0.1.0", python="3.11.2", numpy="2.1.0", implementation="CPython"),
        git_revision="3deb9e7a1b2c", probe=probe or {}, cases=cases)


def _level(ws, threads):
    per = ws / threads
    l1, l2, l3 = (CACHES[k] * 1024 for k in ("l1d_kib", "l2_kib", "l3_kib"))
    if per <= l1 / 2:
        return "L1"
    if 2 * l1 <= per <= l2 / 2:
        return "L2"
    if per >= 2 * l2 and ws <= l3 / 2:
        return "L3"
    if ws >= 4 * l3:
        return "DRAM"
    return None


def probe_case(rng, kernel="read", flavour="avx2", threads=1, top=512 * MIB):
    plateau = {"L1": 105.0, "L2": 62.0, "L3": 34.0, "DRAM": 13.5}
    scale = {"read": 1.0, "copy": 0.8, "triad": 0.85}[kernel] * (1 + 0.45 * (threads - 1))
    curve, pooled, ws = [], {}, 16 * 1024
    while ws <= top:
        lv = _level(ws, threads)
        per = ws / threads
        base = (plateau["L1"] if per < 40e3 else plateau["L2"] if per < 900e3 else
                plateau["L3"] if ws < 9e6 else plateau["DRAM"] if ws > 30e6 else 20.0)
        samples = list(base * scale * (1 + 0.03 * rng.standard_normal(5)))
        curve.append(dict(bytes=ws, level=lv, gbps=float(np.median(samples)), samples=samples))
        if lv:
            pooled.setdefault(lv, []).extend(samples)
        ws *= 2
    metrics = {f"{lv}_{kernel}": Metric.from_samples(s, "GB/s") for lv, s in pooled.items()}
    return CaseResult(case_id=f"probe/{kernel}/{flavour}/t{threads}", suite="probe", kind="probe",
                      flavour=flavour, threads=threads,
                      params=dict(kernel=kernel, flavour=flavour, threads=threads), metrics=metrics,
                      extra=dict(curve=curve, bytes_counted="STREAM convention"), duration_s=4.2)


GEMV = {  # format: (bpw, GB/s at 1 thread streaming, rel rms error)
    "ternary-lut": (2.0, 9.5, 0.52), "ternary-mad": (2.0, 8.1, 0.52), "q4_0": (4.5, 11.0, 0.083),
    "q8_0": (8.5, 12.4, 0.0041), "f16": (16.0, 12.9, 0.00021), "f32": (32.0, 13.1, 0.0),
}


def gemv_case(rng, fmt, threads=1, regime="stream", flavour="avx2"):
    bpw, gbps, err = GEMV[fmt]
    rows, cols = 8288, 2048
    wbytes = int(rows * cols * bpw / 8)
    g = gbps * (1 + 0.4 * (threads - 1)) * (2.5 if regime == "cache" else 1.0)
    gs = list(g * (1 + 0.02 * rng.standard_normal(7)))
    return CaseResult(
        case_id=f"kernels/{fmt}/{flavour}/t{threads}/1b.in_proj/{regime}", suite="kernels", kind="gemv",
        format=fmt, flavour=flavour, threads=threads,
        params=dict(format=fmt, flavour=flavour, threads=threads, shape="1b.in_proj", regime=regime),
        metrics={
            "time_per_call": Metric.from_samples([wbytes / x / 1e3 for x in gs], "us", better="lower"),
            "weight_gbps": Metric.from_samples(gs, "GB/s"),
            "pct_of_dram_read": Metric.from_samples([100 * x / 13.5 for x in gs], "%",
                                                    method="weight GB/s / DRAM read 13.5 GB/s (probe, same run)"),
            "speedup_vs_scalar": Metric.from_samples([5.1 * x / g for x in gs], "x",
                                                     method="scalar median / sample, same process"),
            "rel_rms_error": Metric(value=err, unit="ratio", better="lower",
                                    method="Gaussian W (256 rows) and x vs float64, scalar kernel"),
        },
        memory=dict(weight_bytes=wbytes, stream_set_bytes=wbytes * 8),
        extra=dict(shape="1b.in_proj", rows=rows, cols=cols, regime=regime, bpw=bpw, nominal_bpw=bpw,
                   matrices=8), duration_s=1.3)


MODELS = {"bitmamba2-255m": (255e6, 1024, 24, 2048), "bitmamba2-1b": (1.0e9, 2048, 32, 4096)}
BPW = {"ternary-lut": 2.0, "ternary-mad": 2.0, "q8_0": 8.5, "q4_0": 4.5}
EFF = {"ternary-lut": 0.68, "ternary-mad": 0.61, "q8_0": 0.83, "q4_0": 0.74}
DRAM = {1: 13.5, 2: 19.8}
HOSTS = {"i3-12100f": 38.0, "raspberry-pi-5": 11.6, "orange-pi-5": 20.0}


def decode_case(rng, model, fmt, threads, context=128, speed=1.0, energy="estimated"):
    params, d_model, layers, d_inner = MODELS[model]
    packed = params * BPW[fmt] / 8
    embedding = 50257 * d_model * 4
    state = layers * (d_inner + 3 * d_inner) * 4
    bpt = packed + d_model * 4 + 2 * state + 4096 * context * 0  # Mamba: no growth with context
    bound = DRAM[threads] * 1e9 / bpt
    tok = bound * EFF[fmt] * speed * (1 - 0.02 * np.log2(context / 128))
    samples = list(tok * (1 + 0.015 * rng.standard_normal(6)))
    lat = list(1000 / tok * np.exp(0.04 * rng.standard_normal(64)))
    lat[10] *= 2.6  # a scheduler hiccup
    weights = packed + embedding
    base_rss = 58 * MIB
    peak = base_rss + weights + state + 21 * MIB
    ttft = list(context * 1000 / tok / 6 * (1 + 0.02 * rng.standard_normal(6)))  # pp ~ 6x tg
    case = CaseResult(
        case_id=f"decode/{model}/{fmt}/t{threads}/c{context}", suite="decode", kind="decode",
        model=model, format=fmt, flavour="avx2", threads=threads, context=context,
        params=dict(model=model, format=fmt, threads=threads, context=context, tokens=64),
        metrics={
            "tok_s": Metric.from_samples(samples, "tok/s"),
            "latency_p50": Metric(value=float(np.percentile(lat, 50)), unit="ms", better="lower"),
            "latency_p99": Metric(value=float(np.percentile(lat, 99)), unit="ms", better="lower"),
            "ttft_ms": Metric.from_samples(ttft, "ms", better="lower"),
            "pp_tok_s": Metric.from_samples([context / (t * 1e-3) for t in ttft], "tok/s"),
            "pp_roof_tok_s": Metric(value=8 * tok, unit="tok/s", provenance="projected", method="compute roof"),
            "bound_tok_s": Metric(value=bound, unit="tok/s", provenance="projected",
                                  method=f"roofline: DRAM read {DRAM[threads]} GB/s (same run) / {bpt / MIB:.1f} MiB per token"),
            "pct_of_bound": Metric.from_samples([100 * s / bound for s in samples], "%"),
        },
        memory=dict(peak_rss_bytes=int(peak), baseline_rss_bytes=int(base_rss), weight_bytes=int(weights),
                    state_bytes=int(state)),
        roofline=dict(bytes_per_token=bpt, dram_read_gbps=DRAM[threads], bound_tok_s=bound,
                      efficiency=tok / bound,
                      projections=[dict(host=h, tok_s=bw * 1e9 / bpt * tok / bound, bound_tok_s=bw * 1e9 / bpt,
                                        method="efficiency of this run x (host read bandwidth / bytes per token)",
                                        provenance="projected") for h, bw in HOSTS.items()]),
        extra=dict(token_latencies_ms=lat, tokens=list(range(64)), prompt_tokens=[7] * context),
        duration_s=12.0)
    spt = 1 / tok
    if energy == "measured":
        case.energy = dict(j_per_token=spt * 31.0, provenance="measured", source="RAPL package-0 (intel-rapl:0)")
    elif energy == "estimated":
        case.energy = dict(j_per_token=spt * (6 + 0.8 * 40) + bpt * 20e-12, provenance="estimated",
                           method="(P_idle 6 W + util 0.80 x (P_load 46 W - P_idle)) x time/token + 20 pJ/byte x bytes/token")
    return case


def full_run(seed=0, speed=None):
    speed = speed or {}
    rng = np.random.default_rng(seed)
    cases = [probe_case(rng, "read", "avx2", 1), probe_case(rng, "read", "avx2", 2),
             probe_case(rng, "triad", "scalar", 1)]
    cases += [gemv_case(rng, f, t) for f in GEMV for t in (1, 2)]
    cases += [gemv_case(rng, f, 1, "cache") for f in ("ternary-lut", "q8_0", "f32")]
    for model in MODELS:
        for fmt in BPW:
            for t in (1, 2):
                cases.append(decode_case(rng, model, fmt, t, speed=speed.get(fmt, 1.0),
                                         energy="measured" if (fmt == "ternary-lut" and t == 2) else "estimated"))
    cases += [decode_case(rng, "bitmamba2-1b", "ternary-lut", 2, context=c) for c in (512, 2048)]
    cases.append(CaseResult(case_id="decode/bitmamba2-1b/f32/t1/c128", suite="decode", kind="decode",
                            status="failed", error="worker exited with status -9 (out of memory?)",
                            model="bitmamba2-1b", format="f32", threads=1, context=128))
    probe = {str(t): dataclasses.asdict(Metric.from_samples(list(bw * (1 + 0.01 * rng.standard_normal(5))),
                                                             "GB/s", method="read-sum, 256 MiB, avx2"))
             for t, bw in DRAM.items()}
    return _run("decode", cases, probe={"dram_read": probe})


def probe_only_run():
    return _run("probe", [probe_case(np.random.default_rng(3), "read", "avx2", 1)])


# ----------------------------------------------------------------------------------- helpers
def png_ok(path: Path):
    import matplotlib.image as mpimg
    img = mpimg.imread(str(path))
    gray = img[..., :3].mean(axis=2)
    assert gray.var() > 1e-3, f"{path.name} looks blank"
    assert (gray < 0.9).mean() > 0.01, f"{path.name} has almost no ink"
    return img.shape[1], img.shape[0]


def imgs(html: str) -> dict[str, tuple[int, int]]:
    return {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r'<img src="([^"]+)" width="(\d+)" height="(\d+)"', html)}


def has_table(html: str, cls: str) -> bool:
    return re.search(rf'<table class="([^"]* )?{re.escape(cls)}[" ]', html) is not None


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    paths = dict(full=d / "full.json", probe=d / "probe.json", new=d / "new.json")
    results.save(full_run(0), paths["full"])
    results.save(probe_only_run(), paths["probe"])
    results.save(full_run(1, speed={"ternary-lut": 1.15, "q4_0": 0.88}), paths["new"])
    return paths


@pytest.fixture(scope="module")
def pair_report(docs, tmp_path_factory):
    """The full result compared with a second one: every figure of both, the comparison view."""
    from bmbench.report import render_report
    out = tmp_path_factory.mktemp("report-pair")
    index = render_report([docs["full"], docs["new"]], out)
    return index, index.read_text()


# ------------------------------------------------------------------------------------- tests
def test_every_figure_is_drawn_with_its_declared_size(pair_report):
    index, html = pair_report
    found = imgs(html)
    for key in ALL_FIGURES:
        names = [n for n in found if re.match(rf"r1-\d\d-{key}\.png$", n)]
        assert len(names) == 1, f"figure {key} missing from the page"
        w, h = png_ok(index.parent / names[0])
        assert (w, h) == found[names[0]] and w == 1100, names[0]
    assert set(os.listdir(index.parent)) == set(found) | {"index.html"}  # nothing else, no temp files


def test_page_holds_tables_metadata_and_provenance(pair_report):
    _, html = pair_report
    for table in ("decode-details", "projections", "speedups", "metrics-probe", "metrics-gemv",
                  "metrics-decode", "published", "curve"):
        assert has_table(html, table), table
    for text in ("12th Gen Intel(R) Core(TM) i3-12100F", "3deb9e7a1b2c", "bmbench run --suite decode",
                 "gcc 12.2.0", "avx2 (chosen)", "2026-11-23T19:14:38+00:00", "numpy",
                 "prov-measured", "prov-projected", "prov-estimated", "prov-published",
                 "BitMamba-2 paper / bitmamba.c README", "RAPL package-0",
                 "worker exited with status -9"):
        assert text in html, text
    assert "http://" not in html and "https://" not in html  # no network resources
    assert "<script" not in html


def test_missing_sections_are_said_plainly(docs, tmp_path):
    from bmbench.report import render_report
    html = render_report(docs["probe"], tmp_path).read_text()
    assert "no decode cases in this result" in html and "no gemv cases in this result" in html
    drawn = imgs(html)
    assert [n for n in drawn] == ["r1-01-bandwidth.png"]
    png_ok(tmp_path / "r1-01-bandwidth.png")
    for key in ALL_FIGURES[1:]:
        assert re.search(rf'<p class="absent" id="r1-fig-{key}">', html), key


def test_empty_result_renders(tmp_path):
    from bmbench.report import render_report
    html = render_report(_run("empty", []), tmp_path).read_text()
    assert "this result holds no cases" in html and not imgs(html)


def test_comparison_view(pair_report):
    index, html = pair_report
    cmp = [n for n in imgs(html) if n.startswith("cmp-r1-r2-")]
    assert len(cmp) == 1
    png_ok(index.parent / cmp[0])
    assert 'class="comparison"' in html
    table = html.split('class="comparison"', 1)[1]
    assert "ternary-lut" in table and "verdict-faster" in table and "verdict-slower" in table
    assert len([n for n in imgs(html) if n.startswith("r2-")]) == len(ALL_FIGURES)


def test_rerender_replaces_stale_figures(docs, pair_report, tmp_path):
    from bmbench.report import render_report
    out = tmp_path / "rep"
    shutil.copytree(pair_report[0].parent, out)
    (out / "notes.txt").write_text("mine")
    render_report([docs["probe"]], out)
    assert sorted(p.name for p in out.glob("*.png")) == ["r1-01-bandwidth.png"]
    assert (out / "notes.txt").exists()  # only the report's own figures are removed
    assert not list(out.glob(".*"))


def test_figure_functions_return_none_without_data():
    from bmbench.report import figures
    run = probe_only_run()
    drawn = {s.key: s.draw(run, published=[]) for s in figures.FIGURES}
    assert drawn.pop("bandwidth") is not None
    assert all(v is None for v in drawn.values()), drawn


def test_sparse_decode_cases_draw_what_they_have():
    """Decode cases without context, energy, projections, latencies or memory: the figures that
    need those are absent, the others draw."""
    from bmbench.report import figures
    rng = np.random.default_rng(5)
    cases = []
    for fmt in ("ternary-lut", "q8_0"):
        c = decode_case(rng, "bitmamba2-255m", fmt, 1)
        c.context, c.energy, c.memory = None, {}, {}
        c.roofline = {k: v for k, v in c.roofline.items() if k != "projections"}
        c.extra = {}
        cases.append(c)
    run = _run("decode", cases)
    drawn = {s.key: s.draw(run, published=[]) for s in figures.FIGURES}
    assert {k for k, v in drawn.items() if v is not None} == {"roofline", "decode"}
    for fig in filter(None, drawn.values()):
        fig.canvas.draw()


def test_only_failed_cases(tmp_path):
    from bmbench.report import render_report
    run = _run("decode", [CaseResult(case_id="decode/x", suite="decode", kind="decode", status="failed",
                                     error="timed out after 300 s")])
    html = render_report(run, tmp_path).read_text()
    assert "timed out after 300 s" in html and "no probe cases in this result" in html
    assert not imgs(html)


def test_templates_ship_as_package_data():
    from bmbench import paths
    assert (paths.reports_dir() / "report.html.j2").exists()
    assert (paths.reports_dir() / "report.css").exists()
    meson = (Path(__file__).resolve().parent.parent / "meson.build")
    if meson.exists():
        assert "install_subdir('reports'" in meson.read_text()


# ------------------------------------------------------------------------------------- the CLI
def bmbench_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bmbench.cli", *args], capture_output=True, text=True,
                          cwd=cwd or OUTSIDE, timeout=120)


def test_cli_report(docs, tmp_path):
    """As a user runs it: a subprocess, default directory bmbench-report/ in the working directory."""
    p = bmbench_cli("report", str(docs["probe"]), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "bmbench-report"
    assert p.stdout.strip() == f"report: {Path('bmbench-report') / 'index.html'}"
    assert (out / "index.html").exists() and (out / "r1-01-bandwidth.png").exists()


def test_cli_report_missing_file(tmp_path):
    p = bmbench_cli("report", str(tmp_path / "nope.json"), "-o", str(tmp_path / "rep"))
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bmbench: error:") and "nope.json" in lines[0]
    assert not (tmp_path / "rep").exists()


@pytest.mark.parametrize("case", ["invalid", "not-a-result", "unwritable", "no-argument"])
def test_cli_report_bad_input(docs, tmp_path, case, capsys):
    """The same path in-process (bmbench.cli.main), for the other kinds of bad input."""
    from bmbench.cli import main
    bad = tmp_path / "bad.json"
    out = tmp_path / "rep"
    if case == "invalid":
        bad.write_text("{not json")
    elif case == "not-a-result":
        bad.write_text(json.dumps({"hello": 1}))
    elif case == "unwritable":
        bad = docs["probe"]
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "rep"  # under a regular file: cannot be created
    argv = ["report"] if case == "no-argument" else ["report", str(bad), "-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bmbench: error:"), err
    assert not (out / "index.html").exists()


# -------------------------------------------------------------------------------- in Chromium
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (CI installs it)")


@needs_chromium
def test_page_in_chromium(pair_report, tmp_path):
    index, html = pair_report
    url = index.resolve().as_uri()
    shot = tmp_path / "shot.png"
    p = chromium(f"--screenshot={shot}", "--window-size=1280,2000", url, tmp=tmp_path)
    assert shot.exists(), p.stderr[-2000:]
    w, h = png_ok(shot)
    assert (w, h) == (1280, 2000)
    assert not console_errors(p.stderr), console_errors(p.stderr)
    p = chromium("--dump-dom", url, tmp=tmp_path)
    dom = p.stdout
    assert not console_errors(p.stderr), console_errors(p.stderr)
    for name in imgs(html):
        assert f'src="{name}"' in dom, name
    for table in ("decode-details", "projections", "metrics-decode", "comparison", "published"):
        assert has_table(dom, table), table
    copy = tmp_path / "copy"
    shutil.copytree(index.parent, copy)
    loaded, broken, console = image_check(copy, tmp_path)
    assert (loaded, broken, console) == (len(imgs(html)), [], [])
    # the check is real: a page whose figure is gone fails it, on the console too
    first = sorted(imgs(html))[0]
    (copy / first).unlink()
    loaded, broken, console = image_check(copy, tmp_path)
    assert broken == [first] and console and first in console[0]


def test_a_flavour_sweep_pairs_like_with_like_and_names_the_flavour():
    """Cases that differ only by kernel flavour: each ternary case's speedup is over the baseline
    in its own flavour, and the labels say which flavour (else two bars read the same)."""
    from bmbench.report import figures
    from bmbench.report.data import decode_label, mixes_flavours
    rng = np.random.default_rng(7)
    cases = []
    for fl in ("avx2", "avx512"):
        for fmt in ("ternary-lut", "q8_0"):
            c = decode_case(rng, "bitmamba2-1b", fmt, 1)
            c.flavour, c.case_id = fl, c.case_id + "/" + fl
            cases.append(c)
    assert mixes_flavours(cases) and not mixes_flavours(cases[:2])
    pairs = figures.speedup_pairs(cases)
    assert len(pairs) == 2 and {(t.flavour, b.flavour) for t, b, _ in pairs} == {("avx2", "avx2"), ("avx512", "avx512")}
    assert decode_label(cases[2], with_flavour=True) == "bitmamba2-1b ternary-lut 1T avx512"
    assert figures.fig_decode(_run("decode", cases)) is not None
