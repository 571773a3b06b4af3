"""Results as data: the pandas views (tidy, wide, several files), the printers that read them (one
row per case by default, csv / md / jsonl), and text that rich must print as given."""
import io
import json
import subprocess
import sys
import tempfile

import pandas as pd
from rich.console import Console

import bmbench
from bmbench import frame, printers, results
from bmbench.results import CaseResult, Metric, RunResult

OUTSIDE = tempfile.gettempdir()


def _decode(case_id, fmt, threads, tok_s, status="ok", error=None):
    metrics = {} if status != "ok" else {
        "tok_s": Metric.from_samples(tok_s, "tok/s"),
        "latency_p50": Metric(value=1000 / tok_s[0], unit="ms", better="lower"),
        "latency_p99": Metric(value=2000 / tok_s[0], unit="ms", better="lower"),
        "prefill_ms": Metric.from_samples([3.0, 3.1, 3.2], "ms", better="lower"),
        "bound_tok_s": Metric(value=100.0, unit="tok/s", provenance="projected", method="roofline: x / y"),
        "pct_of_bound": Metric.from_samples([t for t in tok_s], "%"),
    }
    return CaseResult(case_id=case_id, suite="decode", kind="decode", status=status, error=error,
                      model="bitmamba2-255m", format=fmt, flavour="avx2", threads=threads, context=5,
                      metrics=metrics, memory={"peak_rss_bytes": 300 << 20}, engine={"name": "bmbench"},
                      extra={"rounds_done": [0, 1]} if status == "ok" else {})


def _run(tag="a"):
    cases = [_decode("decode/255m/ternary-lut/1", "ternary-lut", 1, [50.0, 52.0, 51.0, 49.0, 50.5]),
             _decode("decode/255m/q8_0/2", "q8_0", 2, [40.0, 41.0, 39.0, 40.5, 40.2]),
             _decode("decode/255m/q4_0/1", "q4_0", 1, [], status="failed",
                     error="needs [llamacpp] at /tmp/[x]/y")]
    return RunResult(suite="decode", created=f"2026-12-02-{tag}", command=["bmbench"],
                     host={"cpu_model": "Test CPU", "hostname": "box"}, build={}, versions={}, cases=cases)


def test_tidy_frame_has_one_row_per_case_and_metric():
    run = _run()
    df = run.to_frame()
    assert list(df.columns) == list(frame.TIDY_COLUMNS)
    assert len(df) == 6 + 6 + 1  # two ok cases x six metrics, one row for the failed case
    row = df[(df.case_id == "decode/255m/q8_0/2") & (df.metric == "tok_s")].iloc[0]
    assert row.value == 40.2 and row.low <= row.value <= row.high and row.n == 5 and row.rounds == 2
    assert (row.threads, row.host, row.engine, row.unit, row.provenance) == (2, "box", "bmbench", "tok/s", "measured")
    bound = df[df.metric == "bound_tok_s"].iloc[0]
    assert bound.provenance == "projected" and bound.method == "roofline: x / y"
    err = df[df.status == "failed"].iloc[0]
    assert err.metric == "error" and "[llamacpp]" in err.value
    assert str(df.threads.dtype) == "Int64" and str(df.n.dtype) == "Int64"
    # the median over cases is what pandas gives from the tidy form
    tok = df[df.metric == "tok_s"].set_index("format").value
    assert tok.to_dict() == {"ternary-lut": 50.5, "q8_0": 40.2}


def test_wide_frame_has_one_row_per_case_with_headline_columns():
    df = _run().to_frame(wide=True)
    assert len(df) == 3 and list(df.case_id) == [c.case_id for c in _run().cases]
    assert {"tok_s", "tok_s_low", "tok_s_high", "latency_p50", "pct_of_bound", "peak_rss_bytes"} <= set(df.columns)
    assert df.loc[0, "tok_s"] == 50.5 and pd.isna(df.loc[2, "tok_s"]) and df.loc[2, "status"] == "failed"


def test_several_results_concatenate_with_a_source_column(tmp_path):
    a, b = results.save(_run("a"), tmp_path / "a.json"), results.save(_run("b"), tmp_path / "b.json")
    df = bmbench.load_frame([a, b])
    assert list(df.columns)[0] == "source" and set(df.source) == {str(a), str(b)} and len(df) == 26
    wide = bmbench.load_frame([a, b], wide=True)
    assert len(wide) == 6 and wide.groupby("source").size().tolist() == [3, 3]


def _printed(run, **kw) -> str:
    buf = io.StringIO()
    printers.as_table(run, Console(file=buf, width=250, markup=False), **kw)
    return buf.getvalue()


def test_the_summary_is_one_row_per_case_and_the_long_form_every_metric():
    text = _printed(_run())
    body = [ln for ln in text.splitlines() if "bitmamba2-255m" in ln]
    assert len(body) == 3  # one row per case
    assert "tg tok/s" in text and "p99 ms" in text and "% of bound" in text and "peak MiB" in text
    assert "prefill" not in text and "bound_tok_s" not in text  # the long form's
    m = _run().cases[0].metrics["tok_s"]
    assert f"{m.low:.4g}-{m.high:.4g}" in text  # tok/s with its interval
    assert "failed: needs [llamacpp] at /tmp/[x]/y" in text  # printed as given, not eaten as markup
    long = _printed(_run(), all_metrics=True)
    assert sum("bitmamba2-255m" in ln for ln in long.splitlines()) == 13
    assert "bound_tok_s" in long and "projected" in long


def test_csv_md_jsonl_come_from_the_tidy_frame(tmp_path):
    runs = {"a.json": _run("a")}
    csv_df = pd.read_csv(io.StringIO(printers.as_csv(runs)))
    assert list(csv_df.columns) == list(frame.TIDY_COLUMNS) and len(csv_df) == 13
    lines = printers.as_jsonl(runs).splitlines()
    assert len(lines) == 13 and json.loads(lines[0])["metric"] == "tok_s"
    assert json.loads(lines[-1])["value"] == "needs [llamacpp] at /tmp/[x]/y"
    md = printers.as_markdown({"a.json": _run("a"), "b.json": _run("b")})
    assert md.startswith("| source | case_id") and md.count("\n") == 2 + 26


def test_show_reads_several_files_and_prints_jsonl(tmp_path):
    a, b = results.save(_run("a"), tmp_path / "a.json"), results.save(_run("b"), tmp_path / "b.json")
    p = subprocess.run([sys.executable, "-m", "bmbench.cli", "show", str(a), str(b), "--as", "jsonl"],
                       capture_output=True, text=True, cwd=OUTSIDE)
    assert p.returncode == 0, p.stderr
    rows = [json.loads(ln) for ln in p.stdout.splitlines()]
    assert len(rows) == 26 and {r["source"] for r in rows} == {str(a), str(b)}
    p = subprocess.run([sys.executable, "-m", "bmbench.cli", "show", str(a), str(b)],
                       capture_output=True, text=True, cwd=OUTSIDE)
    assert p.returncode == 0 and p.stdout.count("tg tok/s") == 2 and str(b) in p.stdout
    assert "needs [llamacpp] at /tmp/[x]/y" in p.stdout  # square brackets printed as given, not markup


def test_bad_paths_with_brackets_are_named_as_given(tmp_path):
    missing = tmp_path / "[run 1]" / "r[x].json"
    p = subprocess.run([sys.executable, "-m", "bmbench.cli", "show", str(missing)],
                       capture_output=True, text=True, cwd=OUTSIDE)
    assert p.returncode == 2 and str(missing) in p.stderr and "Traceback" not in p.stderr
