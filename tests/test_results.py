import json
import os

import pytest

from bmbench import results
from bmbench.errors import BmbenchError
from bmbench.results import CaseResult, Metric, RunResult


def _run():
    m = Metric.from_samples([1.0, 2.0, 3.0, 4.0, 100.0], "GB/s")
    c = CaseResult(case_id="s/a", suite="s", kind="probe", flavour="scalar", threads=1,
                   params={"kernel": "read"}, metrics={"DRAM_read": m}, memory={"peak_rss_bytes": 5})
    failed = CaseResult(case_id="s/b", suite="s", kind="probe", status="failed", error="boom")
    return RunResult(suite="s", created="now", command=["bmbench"], host={"cpu_model": "x"},
                     build={}, versions={}, cases=[c, failed])


def test_round_trip(tmp_path):
    run = _run()
    p = results.save(run, tmp_path / "r.json")
    back = results.load(p)
    assert back == run
    m = back.cases[0].metrics["DRAM_read"]
    assert m.value == 3.0 and m.samples == (1.0, 2.0, 3.0, 4.0, 100.0)
    assert m.low <= m.value <= m.high and m.cv > 0
    assert json.loads(p.read_text())["schema"] == results.SCHEMA


def test_metric_rejects_unknown_provenance():
    with pytest.raises(ValueError):
        Metric(value=1.0, unit="x", provenance="guessed")


def test_failed_writer_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    target.write_text("old")

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        results.save(_run(), target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_unserialisable_result_writes_nothing(tmp_path):
    run = _run()
    run.cases[0].metrics["bad"] = Metric(value=float("nan"), unit="x")
    with pytest.raises(ValueError):
        results.save(run, tmp_path / "r.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content,msg", [
    ("{not json", "not valid JSON"),
    ('{"schema": "other/1"}', "not a bmbench result"),
    ('{"schema": "bmbench.result/2"}', "newer than this bmbench"),
    ('{"schema": "bmbench.result/1", "suite": "s"}', "malformed"),
    ('[1, 2]', "not a bmbench result"),
])
def test_invalid_files_are_clear_errors(tmp_path, content, msg):
    p = tmp_path / "r.json"
    p.write_text(content)
    with pytest.raises(BmbenchError, match=msg):
        results.load(p)


def test_missing_file():
    with pytest.raises(BmbenchError, match="not found"):
        results.load("/nonexistent/r.json")
