"""The CLI as a user runs it: a subprocess, exit codes, one-line errors, files on disk."""
import json
import os
import subprocess
import sys
import tempfile

import pytest

from bmbench import results

# subprocesses run outside the checkout, so `-m`/`-c` import the installed bmbench
OUTSIDE = tempfile.gettempdir()


def bmbench(*args, env=None, cwd=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "bmbench.cli", *args], capture_output=True, text=True,
                          env=e, cwd=cwd or OUTSIDE, timeout=300)


def assert_clean_error(p, fragment):
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bmbench: error:"), p.stderr
    assert "Traceback" not in p.stderr
    assert fragment in lines[0]


@pytest.fixture(scope="module")
def smoke_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "smoke.json"
    p = bmbench("run", "--suite", "smoke", "--threads", "1", "-o", str(out))
    assert p.returncode == 0, p.stderr
    return out, p


def test_smoke_run_writes_a_valid_result(smoke_result):
    out, p = smoke_result
    run = results.load(out)
    assert run.suite == "smoke" and run.cases and all(c.status == "ok" for c in run.cases)
    case = run.cases[0]
    assert case.memory["peak_rss_bytes"] >= case.memory["baseline_rss_bytes"] > 0
    m = case.metrics["L1_read"]
    assert m.unit == "GB/s" and m.provenance == "measured" and len(m.samples) == 5
    assert run.host["cpu_model"] and run.build["chosen_flavour"] and run.versions["python"]
    assert "L1_read" in p.stdout and str(out) in p.stdout


@pytest.mark.parametrize("fmt,check", [
    ("json", lambda s: json.loads(s)["schema"] == results.SCHEMA),
    ("csv", lambda s: s.splitlines()[0].startswith("case_id,kind,model")),
    ("jsonl", lambda s: json.loads(s.splitlines()[0])["metric"]),
    ("md", lambda s: s.startswith("| case_id")),
    ("table", lambda s: "L1_read" in s and "GB/s" in s),
])
def test_show_printers(smoke_result, fmt, check):
    p = bmbench("show", str(smoke_result[0]), "--as", fmt)
    assert p.returncode == 0, p.stderr
    assert check(p.stdout)


@pytest.mark.parametrize("args,fragment", [
    (["run", "--suite", "nope"], "unknown suite 'nope'"),
    (["run", "--suite", "smoke", "--bogus"], "unrecognized arguments: --bogus"),
    (["run", "--suite", "smoke", "--threads", "0"], "invalid value '0'"),
    (["run", "--suite", "smoke", "--flavour", "sse9"], "unknown kernel flavour 'sse9'"),
    (["hosts", "show", "vax-11"], "unknown host 'vax-11'"),
    (["run", "--suite", "decode", "--prompt-len", "0"], "prompt lengths must be >= 1"),
    (["run", "--suite", "decode", "--prompt-len", "12x"], "--prompt-len"),
    (["run", "--suite", "decode", "--prefill", "eager"], "unknown mode 'eager'"),
    (["frobnicate"], "invalid choice"),
    (["show", "/nonexistent.json"], "not found"),
])
def test_bad_input_is_one_line_exit_2(args, fragment):
    assert_clean_error(bmbench(*args), fragment)


def test_invalid_result_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"schema": "bmbench.result/9"}')
    assert_clean_error(bmbench("show", str(p)), "newer than this bmbench")


def test_malformed_suite_file_names_line(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: s\nkind: probe\nmatrix:\n  threads: [one]\n")
    assert_clean_error(bmbench("run", "--suite", str(p)), "s.yaml:4: matrix.threads.0")


def test_unwritable_output_directory_leaves_nothing(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.access(ro, os.W_OK):  # root ignores permissions: use a path below a regular file instead
        target = tmp_path / "file"
        target.write_text("x")
        out = target / "sub" / "r.json"
    else:
        out = ro / "r.json"
    assert_clean_error(bmbench("run", "--suite", "smoke", "-o", str(out)), "not writable")
    assert not out.exists()


def test_bad_hosts_file(tmp_path):
    p = tmp_path / "h.yaml"
    p.write_text("schema: bmbench.hosts/1\nhosts:\n  box:\n    name: b\n    arch: x86_64\n"
                 "    cores: {value: 4, unit: cores}\n")
    assert_clean_error(bmbench("hosts", "--hosts-file", str(p)), "h.yaml:6: hosts.box.cores: missing source")


def test_hosts_lists_profiles_and_local():
    p = bmbench("hosts")
    assert p.returncode == 0
    for name in ("i3-12100f", "raspberry-pi-5", "orange-pi-5", "local"):
        assert name in p.stdout
    p = bmbench("hosts", "show", "raspberry-pi-5")
    assert p.returncode == 0 and "source" in p.stdout and "17.1" in p.stdout


def test_info_reports_flavours():
    p = bmbench("info")
    assert p.returncode == 0, p.stderr
    for word in ("compiler", "SIMD features", "flavour scalar", "chosen", "OpenMP threads", "caches"):
        assert word in p.stdout


def test_decode_with_a_bit2_checkpoint_prints_tokens(tmp_path):
    from bmbench.models import bit2, config, weights
    ckpt = tmp_path / "tiny.bin"
    bit2.write_bit2(ckpt, weights.synthetic_weights(config.get_config("tiny-bitmamba"), "f32", seed=1))
    out = tmp_path / "d.json"
    p = bmbench("run", "--suite", "decode", "--weights", str(ckpt), "--tokens", "6", "--threads", "1",
                "--format", "ternary-lut,q8_0", "--prompt-tokens", "1,2,3", "--print-tokens",
                "--no-report", "-o", str(out))
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("decode/tiny-bitmamba/")]
    assert len(lines) == 2 and all("prompt 1 2 3 ->" in ln for ln in lines)
    run = results.load(out)
    assert {c.format for c in run.cases} == {"ternary-lut", "q8_0"}
    assert all(len(c.extra["tokens"]) == 6 and c.extra["weights_source"] == str(ckpt) for c in run.cases)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"BIT2" + bytes(100))
    assert_clean_error(bmbench("run", "--suite", "decode", "--weights", str(bad)), "bad.bin")


def test_every_run_option_is_forwarded_to_boards_or_stays_here():
    """--on: each `bmbench run` option is passed on (a value, a switch, an uploaded file) or is
    this machine's own; a new option that is neither fails here, as does a stale table entry."""
    from bmbench import request
    from bmbench.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    dests = {a.dest for a in sub.choices["run"]._actions if a.dest != "help"}
    tables = [set(request.FORWARDED), set(request.FLAGS), set(request.FILES), request.LOCAL_ONLY]
    assert sum(len(t) for t in tables) == len(set().union(*tables))  # each option in one table
    assert dests == set().union(*tables)
