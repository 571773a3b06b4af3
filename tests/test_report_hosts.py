"""The report over results from several hosts: hosts side by side, and every decode case measured on
a board set against the projection to that board's profile from another result."""
import re
import subprocess
import sys
import tempfile

import numpy as np

from bmbench import results
from bmbench.report import render_report
from bmbench.report import hosts as H
from bmbench.results import CaseResult, Metric, RunResult

OUTSIDE = tempfile.gettempdir()


def run(host: dict, cases: list) -> RunResult:
    return RunResult(suite="decode", created="2026-12-01T08:00:00+00:00", command=["bmbench"],
                     host=host, build={}, versions={}, cases=cases)


def decode(tok: float, threads: int, projections=(), fmt="ternary-lut", seed=0) -> CaseResult:
    rng = np.random.default_rng(seed)
    return CaseResult(
        case_id=f"decode/bitmamba2-1b/{fmt}/t{threads}", suite="decode", kind="decode",
        model="bitmamba2-1b", format=fmt, flavour="neon", threads=threads,
        params={"state": "f32"},
        metrics={"tok_s": Metric.from_samples(list(tok * (1 + 0.02 * rng.standard_normal(5))), "tok/s")},
        roofline={"projections": [dict(host=h, threads=t, tok_s=v, bound_tok_s=v * 1.3,
                                       limited_by="bandwidth", method="roofline test method",
                                       provenance="projected") for h, t, v in projections]})


def three_hosts():
    """A workstation run projecting to two boards, and one result measured on each board."""
    here = run({"hostname": "ws", "cpu_model": "x86 workstation"},
               [decode(90, 2, [("raspberry-pi-5", 4, 24.0), ("orange-pi-5", 4, 40.0)]),
                decode(50, 1, [("raspberry-pi-5", 1, 15.0), ("orange-pi-5", 1, 17.0)]),
                decode(40, 2, [("raspberry-pi-5", 4, 11.0)], fmt="q4_0")])
    pi = run({"hostname": "pi5", "cpu_model": "Cortex-A76", "profile": "raspberry-pi-5",
              "via": "ssh pi@pi5.local:22"}, [decode(19.5, 4), decode(12.0, 1), decode(9.0, 2, fmt="q4_0")])
    opi = run({"hostname": "opi5", "cpu_model": "RK3588S", "profile": "orange-pi-5",
               "via": "ssh orangepi@opi5:22"}, [decode(33.0, 4)])
    return here, pi, opi


def test_pairs_match_model_format_and_profile_threads():
    here, pi, opi = three_hosts()
    pairs = H.measured_vs_projected([here, pi, opi], ["ws.json", "pi.json", "opi.json"])
    got = {(p.host, p.measured.case_id, p.projected_tok_s) for p in pairs}
    # q4_0 on the Pi ran with 2 threads: no projection at 2 threads, so no pair
    assert got == {("raspberry-pi-5", "decode/bitmamba2-1b/ternary-lut/t4", 24.0),
                   ("raspberry-pi-5", "decode/bitmamba2-1b/ternary-lut/t1", 15.0),
                   ("orange-pi-5", "decode/bitmamba2-1b/ternary-lut/t4", 40.0)}
    p = next(p for p in pairs if p.host == "orange-pi-5")
    assert abs(p.ratio - p.measured_tok_s / 40.0) < 1e-12 and p.projected_from == "ws"
    assert H.measured_vs_projected([here], ["ws.json"]) == []


def test_report_shows_hosts_side_by_side(tmp_path):
    docs = []
    for name, r in zip(("ws", "pi", "opi"), three_hosts()):
        docs.append(results.save(r, tmp_path / f"{name}.json"))
    index = render_report(docs, tmp_path / "rep")
    html = index.read_text()
    section = html[html.index('<section id="hosts">'):html.index("</section>", html.index('<section id="hosts">'))]
    assert section.count("<tr>") == 1 + 3 + 1 + 3  # hosts table header + 3 results, pairs header + 3
    assert "measured on raspberry-pi-5" in section and "projected from ws" in section
    assert "ssh pi@pi5.local:22" in section
    (png,) = re.findall(r'src="(hosts-\d+-measured-vs-projected\.png)"', section)
    assert (tmp_path / "rep" / png).stat().st_size > 10_000
    opi_tok = results.load(docs[2]).cases[0].metrics["tok_s"].value
    assert f'<td class="n">{opi_tok / 40.0:.2f}</td>' in section  # exact ratio beside the figure


def test_single_local_result_has_no_hosts_section(tmp_path):
    here, _, _ = three_hosts()
    html = render_report([here], tmp_path / "rep").read_text()
    assert 'id="hosts"' not in html


def test_no_matching_projection_is_said_plainly(tmp_path):
    _, pi, _ = three_hosts()
    html = render_report([pi], tmp_path / "rep").read_text()
    assert 'id="hosts"' in html and "Not drawn: no decode case measured on a host profile" in html


def test_cli_report_over_several_hosts(tmp_path):
    docs = [str(results.save(r, tmp_path / f"{i}.json")) for i, r in enumerate(three_hosts())]
    p = subprocess.run([sys.executable, "-m", "bmbench.cli", "report", *docs, "-o", str(tmp_path / "r")],
                       capture_output=True, text=True, cwd=OUTSIDE, timeout=300)
    assert p.returncode == 0, p.stderr
    assert list((tmp_path / "r").glob("hosts-*-measured-vs-projected.png"))
