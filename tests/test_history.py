"""The performance history: results round-trip through the SQLite store unchanged, adding twice is a
no-op, concurrent adds from two processes all land, a damaged database is a one-line error; change
points (Otava) are found at the revision of planted 5% and 10% steps in realistic noise, none in
pure noise, hardware classes never mixed; detect gates on the newest change point; the trend page."""
from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from bmbench import history
from bmbench.errors import BmbenchError
from bmbench.results import CaseResult, Metric, RunResult, to_dict


def make_run(i: int, tok_s: float, arch: str = "x86_64", rng=None, revision: str | None = "auto") -> RunResult:
    rng = rng or np.random.default_rng(i)
    samples = list(tok_s * (1 + 0.01 * rng.standard_normal(6)))
    case = CaseResult(case_id="ci/decode/tiny/ternary-lut", suite="ci", kind="decode", model="tiny",
                      format="ternary-lut", flavour="avx2", threads=1,
                      metrics={"tok_s": Metric.from_samples(samples, "tok/s"),
                               "latency_p50": Metric(value=1000 / tok_s, unit="ms", better="lower"),
                               "bound_tok_s": Metric(value=500.0, unit="tok/s", provenance="projected")})
    return RunResult(suite="ci", created=f"2026-12-{1 + i // 24:02d}T{i % 24:02d}:00:00+00:00", command=["bmbench"],
                     host={"arch": arch, "cpu_model": "test"}, build={"compiler": "gcc 12.2.0", "chosen_flavour": "avx2"},
                     versions={}, git_revision=f"{i:07x}".ljust(40, "e") if revision == "auto" else revision, cases=[case])


def series_runs(levels, n_each, noise=0.01, seed=0, arch="x86_64"):
    """Consecutive results whose tok/s medians sit at the given levels (realistic 1% noise)."""
    rng = np.random.default_rng(seed)
    out, i = [], 0
    for level in levels:
        for _ in range(n_each):
            out.append(make_run(i, level * (1 + noise * rng.standard_normal()), arch=arch, rng=rng))
            i += 1
    return out


def test_round_trip_and_idempotent_add(tmp_path):
    run = make_run(3, 120.0)
    with history.Store(tmp_path / "h.sqlite") as s:
        assert s.add(run) is True
        assert s.add(run) is False  # the same document again: a no-op
        assert s.documents() == [to_dict(run)]
        df = s.points()
        assert len(df) == 3 and set(df["metric"]) == {"tok_s", "latency_p50", "bound_tok_s"}
        row = df[df.metric == "tok_s"].iloc[0]
        assert row.revision == run.git_revision and row.hardware_class == "x86_64-avx2-gcc12"
        assert row.value == run.cases[0].metrics["tok_s"].value and row.branch == "main"
        assert s._query("SELECT version FROM bmbench_schema") == [(history.SCHEMA_VERSION,)]
        assert len(s.points(measured_only=True)) == 2


def test_revision_is_required(tmp_path):
    with history.Store(tmp_path / "h.sqlite") as s:
        with pytest.raises(BmbenchError, match="--revision"):
            s.add(make_run(1, 100.0, revision=None))
        assert s.add(make_run(1, 100.0, revision=None), revision="abc123")
        assert s.points()["revision"].iloc[0] == "abc123"


def test_damaged_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "h.sqlite"
    bad.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(BmbenchError, match="not a bmbench history database, or damaged"):
        history.Store(bad)


def add_concurrently(db: str, tmp_path, jobs: int = 2, each: int = 15) -> list[int]:
    """`jobs` CI jobs running `bmbench history add` with their own results into one store at once;
    returns their exit codes."""
    from bmbench.results import save
    procs = []
    for k in range(jobs):
        files = []
        for i in range(k * 100, k * 100 + each):
            files.append(str(tmp_path / f"job{k}-{i}.json"))
            save(make_run(i, 100.0 + i), files[-1])
        procs.append(subprocess.Popen([sys.executable, "-m", "bmbench.cli", "history", "add", *files, "--db", db],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    return [p.wait(120) for p in procs]


def test_concurrent_adds_from_two_processes(tmp_path):
    db = tmp_path / "h.sqlite"
    history.Store(db).close()
    assert add_concurrently(str(db), tmp_path) == [0, 0]
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 30


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_steps_are_found_at_their_revisions(tmp_path, seed):
    runs = series_runs([100.0, 95.0, 85.5], 20, seed=seed)  # -5% at result 20, -10% at result 40
    with history.Store(tmp_path / "h.sqlite") as s:
        for r in runs:
            s.add(r)
        cps = [cp for cp in history.change_points(s.points(metric="tok_s", measured_only=True))]
    assert [cp.revision for cp in cps] == [runs[20].git_revision, runs[40].git_revision]
    assert cps[0].change_pct == pytest.approx(-5, abs=1.5) and cps[1].change_pct == pytest.approx(-10, abs=1.5)
    assert all(cp.regression and cp.pvalue < history.DEFAULT_PVALUE for cp in cps)
    assert history.gate(cps, 5.0) == [cps[1]]  # the newest change point, -10%: beyond 5%
    assert history.gate(cps, 12.0) == []


@pytest.mark.parametrize("seed", range(8))
def test_pure_noise_has_no_change_point(tmp_path, seed):
    with history.Store(tmp_path / "h.sqlite") as s:
        for r in series_runs([100.0], 50, noise=0.015, seed=100 + seed):
            s.add(r)
        assert history.change_points(s.points(metric="tok_s")) == []


def test_hardware_classes_are_never_mixed(tmp_path):
    """Two classes at different but flat levels, interleaved in time: no change point, two series."""
    with history.Store(tmp_path / "h.sqlite") as s:
        a = series_runs([100.0], 25, seed=1, arch="x86_64")
        b = series_runs([60.0], 25, seed=2, arch="aarch64")
        for i, (x, y) in enumerate(zip(a, b)):
            s.add(x)
            y.git_revision = f"{1000 + i:07x}".ljust(40, "f")
            s.add(y)
        df = s.points(metric="tok_s")
    assert len(history.series(df)) == 2
    assert history.change_points(df) == []


def test_cli_add_detect_gate_and_report(tmp_path):
    from bmbench.results import save
    db = tmp_path / "h.sqlite"
    runs = series_runs([100.0, 88.0], 20, seed=5)
    files = []
    for i, r in enumerate(runs):
        files.append(tmp_path / f"r{i}.json")
        save(r, files[-1])

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "bmbench.cli", "history", *args, "--db", str(db)],
                              capture_output=True, text=True)
    p = cli("add", *map(str, files[:30]))
    assert p.returncode == 0 and p.stdout.count("added") == 30, p.stderr
    assert "already stored" in cli("add", str(files[0])).stdout
    assert cli("add", *map(str, files[30:])).returncode == 0
    show = cli("show", "--metric", "tok_s")
    assert show.returncode == 0 and runs[-1].git_revision[:12] in show.stdout and "measured" in show.stdout
    det = cli("detect", "--metric", "tok_s")
    assert det.returncode == 1 and "regression" in det.stdout and runs[20].git_revision[:12] in det.stdout
    assert cli("detect", "--metric", "tok_s", "--threshold", "20%").returncode == 0
    rep = cli("report", "--metric", "tok_s", "-o", str(tmp_path / "trend"))
    assert rep.returncode == 0, rep.stderr
    pngs = list((tmp_path / "trend").glob("trend-*.png"))
    assert len(pngs) == 1 and "1 change point(s)" in (tmp_path / "trend" / "index.html").read_text()
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage" * 500)
    p = subprocess.run([sys.executable, "-m", "bmbench.cli", "history", "show", "--db", str(bad)],
                       capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "damaged" in p.stderr


# ------------------------------------------------------------------------------ PostgreSQL
@pytest.fixture(scope="module")
def pg_server():
    """A throwaway PostgreSQL server (Debian postgresql) on 127.0.0.1, trust auth; skipped, with the
    reason, where one cannot start."""
    import glob
    import os
    import pwd
    import shutil
    import socket
    import tempfile
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdb:
        pytest.skip("no PostgreSQL server here (Debian package postgresql)")
    bindir = os.path.dirname(initdb[-1])
    prefix = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the package's user
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no postgres user to run the server as")
        prefix = ["runuser", "-u", "postgres", "--"]
    d = tempfile.mkdtemp(prefix="bmbench-pg-")
    os.chmod(d, 0o777)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = os.path.join(d, "data")
    steps = [[f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"],
             [f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(d, "log"), "-w", "-t", "60", "-o",
              f"-p {port} -k {d} -c listen_addresses=127.0.0.1", "start"]]
    for cmd in steps:
        p = subprocess.run(prefix + cmd, capture_output=True, text=True)
        if p.returncode != 0:
            shutil.rmtree(d, ignore_errors=True)
            pytest.skip(f"PostgreSQL could not start: {cmd[0]}: {(p.stderr or p.stdout).strip()[-300:]}")
    yield f"postgresql://postgres@127.0.0.1:{port}"
    subprocess.run(prefix + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server, request):
    """A fresh database on the server for each test."""
    import pg8000.dbapi
    name = "t_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[:50].lower()
    con = pg8000.dbapi.connect(user="postgres", host="127.0.0.1", port=int(pg_server.rsplit(":", 1)[1]))
    con.autocommit = True
    con.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
    con.cursor().execute(f"CREATE DATABASE {name}")
    con.close()
    return f"{pg_server}/{name}"


def test_postgresql_round_trip_steps_and_gate(pg_url):
    runs = series_runs([100.0, 95.0, 85.5], 20, seed=7)
    with history.Store(pg_url) as s:
        assert s.add(runs[0]) is True and s.add(runs[0]) is False
        for r in runs[1:]:
            s.add(r)
        assert s.documents()[0] == to_dict(runs[0]) and len(s.documents()) == 60
        df = s.points(metric="tok_s", measured_only=True)
        assert df["value"].tolist() == [r.cases[0].metrics["tok_s"].value for r in runs]  # float64 exact
        cps = history.change_points(df)
    assert [cp.revision for cp in cps] == [runs[20].git_revision, runs[40].git_revision]
    assert history.gate(cps, 5.0) == [cps[1]]


def test_postgresql_concurrent_adds(pg_url, tmp_path):
    history.Store(pg_url).close()
    assert add_concurrently(pg_url, tmp_path) == [0, 0]
    with history.Store(pg_url) as s:
        assert s._query("SELECT count(*) FROM runs") == [(30,)]
        assert len(s.points()) == 30 * 3


def test_postgresql_unreachable_is_a_clear_error():
    with pytest.raises(BmbenchError, match="not reachable"):
        history.Store("postgresql://postgres@127.0.0.1:1/none")


def test_trend_page_in_chromium(tmp_path):
    """The trend page loads in headless Chromium with every figure (test_report's image check)."""
    from pagecheck import CHROMIUM, image_check
    if CHROMIUM is None:
        pytest.skip("chromium not installed (CI installs it)")
    from bmbench.report.trends import write_trends
    with history.Store(tmp_path / "h.sqlite") as s:
        for r in series_runs([100.0, 90.0], 20, seed=9):
            s.add(r)
        df = s.points()
        page = write_trends(df, history.change_points(df), tmp_path / "trend")
    loaded, broken, console = image_check(page.parent, tmp_path)
    assert (loaded, broken, console) == (len(df.groupby(["case_id", "metric"])), [], [])


def test_trend_figures_name_each_series_provenance(tmp_path):
    """The store keeps projected figures (bound_tok_s) beside measured ones: a trend line says which
    it is, and a projected one is drawn dashed with hollow markers."""
    from bmbench.report import trends
    with history.Store(tmp_path / "h.sqlite") as s:
        for r in series_runs([100.0], 4):
            s.add(r)
        df = s.points()
    labels = {}
    for metric in ("tok_s", "bound_tok_s"):
        fig = trends._figure(("ci/decode/tiny/ternary-lut", metric), df[df.metric == metric], [])
        line = fig.axes[0].get_lines()[0]
        labels[metric] = (fig.axes[0].get_legend_handles_labels()[1][0], line.get_linestyle())
    assert labels["tok_s"] == ("x86_64-avx2-gcc12 / main (measured)", "-")
    assert labels["bound_tok_s"] == ("x86_64-avx2-gcc12 / main (projected)", "--")
