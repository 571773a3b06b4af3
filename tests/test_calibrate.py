"""Per-format flavour choice: the calibration keeps the fastest flavour it measured (the default
within a margin), caches it by CPU and build, and the dispatch and the suites use it;
BMBENCH_KERNELS still forces one flavour."""
import json
import subprocess
import sys
import tempfile

import pytest

from bmbench import calibrate, dispatch, formats, suites

OUTSIDE = tempfile.gettempdir()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BMBENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    dispatch.forget_choices()
    yield tmp_path
    dispatch.forget_choices()


def test_choose_keeps_the_default_within_the_margin():
    assert calibrate.choose({"avx512": 1.02, "avx2": 1.00}, "avx512") == "avx512"  # 2% slower: kept
    assert calibrate.choose({"avx512": 1.10, "avx2": 1.00}, "avx512") == "avx2"    # 10%: the faster
    assert calibrate.choose({"avx512": 0.90, "avx2": 1.00}, "avx512") == "avx512"


def test_measure_times_each_flavour_interleaved():
    fmt = formats.get("q8_0")
    t = calibrate.measure(fmt, ["scalar"] + [f for f in dispatch.native_flavours() if f != "scalar"],
                          64, 1024, regime="cache", repetitions=3)
    assert set(t) >= {"scalar"} and all(v > 0 for v in t.values())


def _doc(choices: dict) -> dict:
    return dict(cpu_key=calibrate.cpu_key(), created="2026-12-02T00:00:00+00:00", default=dispatch.chosen_flavour(),
                formats={k: dict(flavour=v, seconds={}) for k, v in choices.items()})


def test_the_cached_choice_drives_dispatch_and_suites(cache):
    calibrate.cache_file().write_text(json.dumps(_doc({"q4_0": "scalar"})))
    assert dispatch.flavour_for("q4_0") == "scalar"
    assert dispatch.flavour_for("q8_0") == dispatch.chosen_flavour()  # not in the file: the default
    assert "cached in" in dispatch.format_choices()["source"]
    cases = suites.load_suite("kernels").cases({"format": ["q4_0", "q8_0"], "flavour": ["auto"]})
    assert {c.params["format"]: c.params["flavour"] for c in cases} == {"q4_0": "scalar",
                                                                          "q8_0": dispatch.chosen_flavour()}


def test_another_cpu_or_a_damaged_file_is_not_trusted(cache):
    path = calibrate.cache_file()
    path.write_text(json.dumps(_doc({"q4_0": "scalar"}) | {"cpu_key": "another-cpu"}))
    assert calibrate.cached() is None
    path.write_text("{ not json")
    assert calibrate.cached() is None


def test_bmbench_kernels_forces_one_flavour_for_every_format(cache, monkeypatch):
    calibrate.cache_file().write_text(json.dumps(_doc({"q4_0": "scalar"})))
    monkeypatch.setenv(dispatch.ENV_VAR, "scalar")
    monkeypatch.setattr(dispatch, "_chosen", None)
    assert dispatch.flavour_for("q8_0") == "scalar" and "forced" in dispatch.format_choices()["source"]


def test_no_calibration_when_switched_off(cache, monkeypatch):
    monkeypatch.setenv(calibrate.ENV_VAR, "off")
    assert dispatch.flavour_for("q4_0") == dispatch.chosen_flavour()
    assert "not calibrated" in dispatch.format_choices()["source"] and calibrate.cached() is None


def test_calibrate_command_writes_the_cache_and_info_shows_it(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k != dispatch.ENV_VAR}
    env.update(BMBENCH_CACHE_DIR=str(tmp_path))
    p = subprocess.run([sys.executable, "-m", "bmbench.cli", "calibrate"], capture_output=True, text=True,
                       cwd=OUTSIDE, env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    files = list(tmp_path.glob("calibration-*.json"))
    assert len(files) == 1 and str(files[0]) in p.stdout
    doc = json.loads(files[0].read_text())
    assert set(doc["formats"]) == set(formats.FORMATS)
    for name, d in doc["formats"].items():
        if d["seconds"]:  # the choice is the fastest measured, or the default within the margin
            assert d["flavour"] == calibrate.choose(d["seconds"], doc["default"] if doc["default"] in d["seconds"]
                                                    else min(d["seconds"], key=d["seconds"].get))
    info = subprocess.run([sys.executable, "-m", "bmbench.cli", "info"], capture_output=True, text=True,
                          cwd=OUTSIDE, env=env, timeout=120)
    assert info.returncode == 0 and "cached in" in info.stdout and str(files[0]) in info.stdout.replace("\n", "")
