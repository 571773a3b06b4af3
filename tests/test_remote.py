"""bmbench run --on: a real OpenSSH server on 127.0.0.1 started by these tests, with generated keys;
the full round trip of the smoke suite and every failure that must stay local to one host.

The remote install builds the C extension once per test session (one shared remote workdir);
tests that need a fresh install state use their own workdir and fail before building."""
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from bmbench import results
from bmbench.remote import source, target

OUTSIDE = tempfile.gettempdir()
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
KEYGEN = shutil.which("ssh-keygen")
# the remote interpreter: this one's base Python (what a board's python3 is); the remote venv is
# made from it without system site-packages, so the tests use the archive's build and nothing else
BASE_PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


class Server:
    def __init__(self, tmp: Path):
        self.tmp, self.port = tmp, free_port()
        self.host_key = keygen(tmp / "host_ed25519")
        self.client_key = keygen(tmp / "client_ed25519")
        self.wrong_key = keygen(tmp / "wrong_ed25519")
        (tmp / "authorized_keys").write_text((tmp / "client_ed25519.pub").read_text())
        pub = (tmp / "host_ed25519.pub").read_text().split()
        self.known_hosts = tmp / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n")
        self.pidfile = tmp / "sshd.pid"
        (tmp / "sshd_config").write_text(textwrap.dedent(f"""\
            Port {self.port}
            ListenAddress 127.0.0.1
            HostKey {self.host_key}
            PidFile {self.pidfile}
            AuthorizedKeysFile {tmp / 'authorized_keys'}
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            Subsystem sftp internal-sftp
            """))
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        self.log = open(tmp / "sshd.log", "w")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(tmp / "sshd_config")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not start: {(tmp / 'sshd.log').read_text()[-500:]}")

    def sessions(self) -> list[int]:
        """The per-connection sshd processes (children of the listener)."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    if not os.path.exists(SSHD) or not KEYGEN:
        pytest.skip("OpenSSH server/ssh-keygen not installed (Debian openssh-server openssh-client)")
    server = Server(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_workdir(tmp_path_factory):
    """The remote workdir every round trip shares: one remote build per test session."""
    return tmp_path_factory.mktemp("remote-work")


def hosts_file(path: Path, sshd: Server, workdir: Path, **overrides) -> Path:
    """A hosts file with profiles `board` (reachable) and more from `overrides`: name -> ssh dict
    (None: a profile without ssh block)."""
    base = dict(host="127.0.0.1", port=sshd.port, user="root", key=str(sshd.client_key),
                known_hosts=str(sshd.known_hosts), python=BASE_PYTHON, workdir=str(workdir))
    profiles = {"board": base}
    for name, ssh in overrides.items():
        profiles[name] = None if ssh is None else dict(base, **ssh)
    doc = {"schema": "bmbench.hosts/1", "hosts": {}}
    for name, ssh in profiles.items():
        h = {"name": f"test board {name}", "arch": "x86_64",
             "cores": {"value": 2, "unit": "cores", "source": "test"},
             "dram_peak": {"value": 10.0, "unit": "GB/s", "source": "test"}}
        if ssh is not None:
            h["ssh"] = ssh
        doc["hosts"][name] = h
    path.write_text(json.dumps(doc, indent=1))  # JSON is YAML
    return path


def bmbench(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "bmbench.cli", *args], capture_output=True,
                          text=True, cwd=OUTSIDE, timeout=timeout)


def popen(*args):
    return subprocess.Popen([sys.executable, "-m", "bmbench.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=OUTSIDE)


def host_errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("bmbench: error:")]


def run_on(hosts: Path, on: str, out: Path, *extra, timeout=900):
    return bmbench("run", "--suite", "smoke", "--threads", "1", "--on", on, "--hosts-file",
                   str(hosts), "-o", str(out), "--no-report", *extra, timeout=timeout)


def remote_runs(workdir: Path) -> list[int]:
    """PIDs of remote bmbench runs using `workdir`: the venv's python itself (not the flock and sh
    around it, whose command lines quote the same words)."""
    out = subprocess.run(["pgrep", "-f", f"^{workdir}/venv-[0-9a-f]+/bin/python -m bmbench.cli run"],
                         capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def round_trip(sshd, shared_workdir, tmp_path_factory):
    """The first run on the board: installs into the shared workdir, then runs smoke."""
    tmp = tmp_path_factory.mktemp("round-trip")
    hosts = hosts_file(tmp / "hosts.yaml", sshd, shared_workdir)
    t0 = time.monotonic()
    p = run_on(hosts, "board", tmp / "smoke.json")
    return dict(proc=p, seconds=time.monotonic() - t0, hosts=hosts, tmp=tmp)


# ------------------------------------------------------------------------------------ round trip
def test_round_trip_of_the_smoke_suite(round_trip, sshd, shared_workdir):
    p, tmp = round_trip["proc"], round_trip["tmp"]
    assert p.returncode == 0, p.stderr[-3000:]
    assert "[board] installing bmbench" in p.stderr and "[board] installed in" in p.stderr
    out = tmp / "smoke-board.json"
    run = results.load(out)
    assert run.suite == "smoke" and run.cases and all(c.status == "ok" for c in run.cases)
    assert all(c.provenance == "measured" for c in run.cases)
    assert all(m.provenance == "measured" for c in run.cases for m in c.metrics.values())
    assert run.host["profile"] == "board"
    assert run.host["via"] == f"ssh root@127.0.0.1:{sshd.port}"
    # the remote's own detection, and its own venv's interpreter ran the suite
    assert run.host["cpu_model"] and str(shared_workdir) in run.command[0]
    assert f"result board: {out}" in p.stdout
    # progress streamed, prefixed with the host key
    assert any(ln.startswith("[board] [1/") for ln in p.stderr.splitlines())
    (marker,) = shared_workdir.glob("venv-*/.installed")
    assert not list((shared_workdir / "runs").iterdir())  # the run dir is removed afterwards
    print(f"remote install + smoke run: {round_trip['seconds']:.0f} s")


def test_second_run_skips_the_install(round_trip, shared_workdir):
    assert round_trip["proc"].returncode == 0
    (marker,) = shared_workdir.glob("venv-*/.installed")
    before = marker.stat().st_mtime_ns
    p = run_on(round_trip["hosts"], "board", round_trip["tmp"] / "again.json")
    assert p.returncode == 0, p.stderr[-2000:]
    assert "installing" not in p.stderr and "already installed" in p.stderr
    assert marker.stat().st_mtime_ns == before
    assert results.load(round_trip["tmp"] / "again-board.json").host["profile"] == "board"


def test_installed_package_rebuilds_the_same_source(round_trip, shared_workdir, tmp_path):
    """The remote venv holds a non-editable install: its archive must be the one it came from."""
    assert round_trip["proc"].returncode == 0
    (venv,) = shared_workdir.glob("venv-*")
    code = "import sys; from bmbench.remote import source; print(source.build_archive(sys.argv[1])[1])"
    p = subprocess.run([str(venv / "bin" / "python"), "-c", code, str(tmp_path)], capture_output=True,
                       text=True, cwd=OUTSIDE)
    assert p.returncode == 0, p.stderr
    assert venv.name == f"venv-{p.stdout.strip()}"
    assert source.build_archive(tmp_path)[1] == p.stdout.strip()


def test_report_over_the_fetched_result(round_trip, tmp_path):
    assert round_trip["proc"].returncode == 0
    p = bmbench("report", str(round_trip["tmp"] / "smoke-board.json"), "-o", str(tmp_path / "rep"))
    assert p.returncode == 0, p.stderr
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "measured on board" in html


# ------------------------------------------------------------------------------ failures per host
def assert_host_failed(p, host: str, fragment: str, out: Path):
    assert p.returncode == 1, p.stderr[-2000:]
    errs = host_errors(p.stderr)
    assert len(errs) == 1 and errs[0].startswith(f"bmbench: error: {host}: "), p.stderr[-2000:]
    assert fragment in errs[0], errs[0]
    assert "Traceback" not in p.stderr
    assert not list(out.parent.glob(f"{out.stem}-{host}.json"))


def test_unreachable_host(sshd, shared_workdir, tmp_path):
    hosts = hosts_file(tmp_path / "h.yaml", sshd, shared_workdir, closed={"port": free_port()})
    p = run_on(hosts, "closed", tmp_path / "r.json", timeout=120)
    assert_host_failed(p, "closed", "cannot connect to root@127.0.0.1", tmp_path / "r.json")


def test_wrong_key(sshd, shared_workdir, tmp_path):
    hosts = hosts_file(tmp_path / "h.yaml", sshd, shared_workdir, wrong={"key": str(sshd.wrong_key)})
    p = run_on(hosts, "wrong", tmp_path / "r.json", timeout=120)
    assert_host_failed(p, "wrong", "authentication failed", tmp_path / "r.json")


def test_unknown_host_key(sshd, shared_workdir, tmp_path):
    other = tmp_path / "known_hosts"
    other.write_text(f"[127.0.0.1]:{sshd.port} " + (sshd.tmp / "wrong_ed25519.pub").read_text())
    hosts = hosts_file(tmp_path / "h.yaml", sshd, shared_workdir, spoof={"known_hosts": str(other)})
    p = run_on(hosts, "spoof", tmp_path / "r.json", timeout=120)
    assert_host_failed(p, "spoof", "host key", tmp_path / "r.json")


def test_missing_compiler(sshd, tmp_path):
    # a fresh workdir: an install is due, and the compiler check stops it before any build
    hosts = hosts_file(tmp_path / "h.yaml", sshd, tmp_path / "fresh",
                       nocc={"env": {"CC": "/nonexistent/cc"}, "workdir": str(tmp_path / "fresh")})
    p = run_on(hosts, "nocc", tmp_path / "r.json", timeout=120)
    assert_host_failed(p, "nocc", "no working C compiler", tmp_path / "r.json")
    assert "/nonexistent/cc" in host_errors(p.stderr)[0]


def test_failed_install_names_pip_s_error(sshd, tmp_path):
    # `true` passes the compiler check (it exits 0) but is no compiler: meson fails inside pip
    wd = tmp_path / "fresh"
    hosts = hosts_file(tmp_path / "h.yaml", sshd, wd, badcc={"env": {"CC": "true"}, "workdir": str(wd)})
    p = run_on(hosts, "badcc", tmp_path / "r.json", timeout=600)
    assert_host_failed(p, "badcc", "pip install failed: ", tmp_path / "r.json")
    err = host_errors(p.stderr)[0]
    assert "ERROR:" in err and "install-" in err  # meson's own line, and where the full log is
    assert not list(wd.glob("venv-*/.installed"))


def test_remote_busy(round_trip, sshd, shared_workdir, tmp_path):
    assert round_trip["proc"].returncode == 0
    with open(shared_workdir / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # what flock(1) takes on the remote: another run is on
        p = run_on(round_trip["hosts"], "board", tmp_path / "r.json", timeout=120)
    assert_host_failed(p, "board", "busy: another bmbench run holds", tmp_path / "r.json")


def test_remote_crash_saves_nothing(round_trip, shared_workdir, tmp_path):
    assert round_trip["proc"].returncode == 0
    out = tmp_path / "r.json"
    p = popen("run", "--suite", "smoke", "--on", "board", "--hosts-file", str(round_trip["hosts"]),
              "-o", str(out), "--no-report")
    try:
        (pid, *_) = wait_for(lambda: remote_runs(shared_workdir), 120, "the remote run to start")
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = p.communicate(timeout=120)
    finally:
        p.kill()
    res = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    assert_host_failed(res, "board", "remote bmbench killed by signal KILL", out)


def test_dropped_connection_saves_nothing(round_trip, sshd, shared_workdir, tmp_path):
    assert round_trip["proc"].returncode == 0
    out = tmp_path / "r.json"
    p = popen("run", "--suite", "smoke", "--on", "board", "--hosts-file", str(round_trip["hosts"]),
              "-o", str(out), "--no-report")
    try:
        wait_for(lambda: remote_runs(shared_workdir), 120, "the remote run to start")
        for pid in sshd.sessions():  # the connection's sshd process: the link drops mid-run
            os.kill(pid, signal.SIGKILL)
        stdout, stderr = p.communicate(timeout=120)
    finally:
        p.kill()
        # the orphaned remote run holds the host's lock until it ends: end it for the next tests
        for pid in remote_runs(shared_workdir):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not remote_runs(shared_workdir), 30, "the orphaned run to end")
    res = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    assert_host_failed(res, "board", "connection lost during the run", out)


@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", "parallel"])
def test_one_failing_host_leaves_the_other_intact(round_trip, sshd, shared_workdir, tmp_path, parallel):
    assert round_trip["proc"].returncode == 0
    hosts = hosts_file(tmp_path / "h.yaml", sshd, shared_workdir, closed={"port": free_port()})
    out = tmp_path / "two.json"
    p = run_on(hosts, "closed,board", out, *(["--parallel"] if parallel else []), timeout=300)
    assert p.returncode == 1
    errs = host_errors(p.stderr)
    assert len(errs) == 1 and errs[0].startswith("bmbench: error: closed: cannot connect"), p.stderr
    run = results.load(tmp_path / "two-board.json")
    assert run.host["profile"] == "board" and all(c.status == "ok" for c in run.cases)
    assert not (tmp_path / "two-closed.json").exists()


def test_two_profiles_on_one_host_never_run_at_once(round_trip, sshd, shared_workdir, tmp_path):
    # same (host, port) under two names, --parallel: run one after the other, so neither is busy;
    # `twin` also skips the host key check, which must be asked for explicitly
    assert round_trip["proc"].returncode == 0
    hosts = hosts_file(tmp_path / "h.yaml", sshd, shared_workdir, twin={"known_hosts": "none"})
    out = tmp_path / "twins.json"
    p = run_on(hosts, "board,twin", out, "--parallel", timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    for key in ("board", "twin"):
        assert results.load(tmp_path / f"twins-{key}.json").host["profile"] == key


def test_local_and_a_board_in_one_command(round_trip, tmp_path):
    assert round_trip["proc"].returncode == 0
    out = tmp_path / "both.json"
    p = bmbench("run", "--suite", "smoke", "--threads", "1", "--on", "local,board", "--hosts-file",
                str(round_trip["hosts"]), "-o", str(out), timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    here, board = results.load(tmp_path / "both-local.json"), results.load(tmp_path / "both-board.json")
    assert "profile" not in here.host and board.host["profile"] == "board"
    html = (tmp_path / "both" / "index.html").read_text()  # one report across both
    assert "measured on board" in html and f"measured on {here.host['hostname']}" in html


# ----------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("case,fragment", [
    ("unknown", "unknown host 'nowhere' in --on"),
    ("no-ssh", "host 'plain' has no ssh: block"),
    ("malformed", ":12: hosts.bad.ssh.port: expected an integer"),
    ("unknown-key", "hosts.bad.ssh.passwd: unknown key"),
    ("missing-host", "hosts.bad.ssh: missing required key 'host'"),
    ("missing-keyfile", "ssh key file not found"),
])
def test_bad_input_before_connecting(sshd, tmp_path, case, fragment):
    wd = tmp_path / "never"
    if case == "malformed":
        hosts = tmp_path / "h.yaml"
        hosts.write_text(textwrap.dedent("""\
            schema: bmbench.hosts/1
            hosts:
              bad:
                name: a board
                arch: aarch64
                cores: {value: 4, unit: cores, source: test}
                dram_peak: {value: 17.1, unit: GB/s, source: test}
                ssh:
                  host: 127.0.0.1
                  user: pi
                  key: ~/.ssh/id_ed25519
                  port: twenty-two
            """))
        on = "bad"
    elif case in ("unknown-key", "missing-host"):
        ssh = {"passwd": "x"} if case == "unknown-key" else {}
        hosts = hosts_file(tmp_path / "h.yaml", sshd, wd, bad=ssh)
        if case == "missing-host":
            d = json.loads(hosts.read_text())
            del d["hosts"]["bad"]["ssh"]["host"]
            hosts.write_text(json.dumps(d))
        on = "bad"
    else:
        hosts = hosts_file(tmp_path / "h.yaml", sshd, wd, plain=None,
                           nokey={"key": str(tmp_path / "no-such-key")})
        on = {"unknown": "board,nowhere", "no-ssh": "plain", "missing-keyfile": "nokey"}[case]
    p = run_on(hosts, on, tmp_path / "r.json", timeout=120)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bmbench: error:") and fragment in lines[0], p.stderr
    assert not wd.exists() and not list(tmp_path.glob("r*.json"))  # nothing connected, nothing written


def test_shipped_profiles_have_no_ssh_block():
    from bmbench import hosts
    assert all(p.ssh is None for p in hosts.load_profiles().values())


def test_ssh_block_parsed(tmp_path):
    from bmbench import hosts
    f = tmp_path / "h.yaml"
    f.write_text(textwrap.dedent("""\
        schema: bmbench.hosts/1
        hosts:
          pi:
            name: a board
            arch: aarch64
            cores: {value: 4, unit: cores, source: test}
            dram_peak: {value: 17.1, unit: GB/s, source: test}
            ssh: {host: pi5.local, user: pi, key: ~/.ssh/id_ed25519, known_hosts: none,
                  system_site_packages: true, env: {CC: clang, MAKEFLAGS: -j4}}
        """))
    t = target.of(hosts.load_profiles(f)["pi"])
    assert (t.host, t.user, t.port, t.python, t.system_site_packages) == ("pi5.local", "pi", 22, "python3", True)
    assert t.key == os.path.expanduser("~/.ssh/id_ed25519") and t.env == {"CC": "clang", "MAKEFLAGS": "-j4"}
    assert not t.checks_host_key and t.asyncssh_options()["known_hosts"] is None
    assert t.workdir == "~/.cache/bmbench-remote" and t.label() == "pi@pi5.local:22"


def test_ssh_only_profile_borrows_the_shipped_figures(tmp_path):
    from bmbench import hosts
    f = tmp_path / "h.yaml"
    f.write_text("schema: bmbench.hosts/1\nhosts:\n  raspberry-pi-5:\n    ssh: {host: pi5.local, user: pi}\n"
                 "  my-board:\n    ssh: {host: b.local}\n")
    with pytest.raises(Exception, match=r"h.yaml:5: hosts.my-board: a profile with only ssh: must be named"):
        hosts.load_profiles(f)
    f.write_text("\n".join(f.read_text().splitlines()[:4]) + "\n")
    p = hosts.load_profiles(f)["raspberry-pi-5"]
    assert p.figures == hosts.load_profiles()["raspberry-pi-5"].figures
    t = target.of(p)
    assert t.host == "pi5.local" and t.user == "pi"


# ------------------------------------------------------------------------------------ source.py
def test_source_archive_holds_the_build_files(tmp_path):
    path, digest = source.build_archive(tmp_path)
    assert path.name == f"bmbench-src-{digest}.tar.gz"
    with tarfile.open(path) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames()}
        top = {n.split("/", 1)[0] for n in tar.getnames()}
    assert top == {f"bmbench-src-{digest}"}
    for need in ("pyproject.toml", "meson.build", "README.md", "kernels/bmk.h", "kernels/dispatch.c",
                 "bmbench/_kernels.pyx", "bmbench/_build_info.py.in", "bmbench/cli.py",
                 "bmbench/remote/session.py", "suites/smoke.yaml", "reports/report.html.j2",
                 "hosts.yaml", "published.yaml"):
        assert need in names, need
    assert not [n for n in names if n.endswith((".so", ".pyc")) or "__pycache__" in n
                or n == "bmbench/_build_info.py" or n.startswith("bmbench/data/")]


def test_source_hash_is_stable_and_follows_content(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, da = source.build_archive(tmp_path / "a")
    b, db = source.build_archive(tmp_path / "b")
    assert da == db and a.read_bytes() == b.read_bytes()
    files = source.source_files()
    changed = tmp_path / "changed.yaml"
    changed.write_text(files[-1][1].read_text() + "\n# changed\n")
    assert source.content_hash(files[:-1] + [(files[-1][0], changed)]) != da
    assert source.content_hash(files[:-1] + [("renamed.yaml", files[-1][1])]) != da


# ------------------------------------------------------------------------------ llama.cpp remotely
@pytest.mark.skipif(not __import__("bmbench.llamacpp", fromlist=["available"]).available(),
                    reason="llamacpp extra not installed here (pip install '.[llamacpp]')")
def test_llamacpp_cases_install_the_extra_on_the_board(sshd, tmp_path):
    """A run with llama.cpp cases installs bmbench[llamacpp] in the board's venv (its own marker) and
    decodes there; pip builds llama-cpp-python on the board, or takes its wheel cache."""
    work = tmp_path / "work"
    hosts = hosts_file(tmp_path / "hosts.yaml", sshd, work)
    p = bmbench("run", "--suite", "decode", "--engine", "llamacpp", "--model", "tiny-mamba2", "--format",
                "q8_0", "--threads", "1", "--tokens", "4", "--on", "board", "--hosts-file", str(hosts),
                "-o", str(tmp_path / "lc.json"), "--no-report", timeout=1500)
    assert p.returncode == 0, p.stderr[-3000:]
    (case,) = results.load(tmp_path / "lc-board.json").cases
    assert case.status == "ok" and case.engine["name"] == "llama.cpp" and case.format == "q8_0"
    assert list(work.glob("venv-*/.installed-llamacpp"))
