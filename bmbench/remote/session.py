"""One host, one session: connect, check, upload, install (once per source hash), run, fetch.

Every failure becomes a RemoteError whose message is one line; nothing is saved locally unless the
remote run ended with a complete result document (exit status 0, or 1 = some cases failed).

Remote layout under the workdir:
    .lock                       flock'd for the whole install + run: one bmbench run per host
    bmbench-src-<hash>.tar.gz   the source archive
    venv-<hash>/.installed      the venv built from it; the marker is written last
    install-<hash>.log          pip's output
    runs/<id>/                  this run's uploads and result (removed afterwards)
"""
from __future__ import annotations

import asyncio
import posixpath
import re
import shlex
import signal
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

with warnings.catch_warnings():
    # asyncssh still defines DSA keys, which cryptography >= 48 deprecates loudly on import: a user's
    # terminal (and the CLI's one-line errors) should not carry a library's notice to itself
    warnings.simplefilter("ignore")
    import asyncssh

from .. import results
from ..errors import BmbenchError
from .target import SshTarget

CONNECT_TIMEOUT_S = 20
KEEPALIVE_S = 15          # a silently dead link is noticed after KEEPALIVE_S x KEEPALIVE_COUNT
KEEPALIVE_COUNT = 4
MIN_PYTHON = (3, 10)
RESULT = "result.json"
# exit statuses of the locked remote script that are not bmbench's own (0 ok, 1 cases failed, 2 bad input)
BUSY, VENV_FAILED, INSTALL_FAILED, SETUP_FAILED, NO_ARCHIVE = 75, 85, 86, 87, 88
INSTALLING, INSTALLED = "bmbench-remote: installing", "bmbench-remote: installed"


class RemoteError(Exception):
    """A failure on one host, in one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


@dataclass
class Job:
    key: str                        # the host profile's key
    target: SshTarget
    run_args: list[str]             # `bmbench run` options; uploaded files named relative to the run dir
    uploads: dict[str, Path]        # run-dir file name -> local file
    output: Path                    # where the fetched result is saved locally
    extras: tuple[str, ...] = ()    # bmbench extras the remote venv needs (llamacpp)


@dataclass
class Outcome:
    key: str
    output: Path | None = None
    error: str | None = None
    failed_cases: int = 0
    install_s: float | None = None  # seconds the remote install took (None: venv already there)
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.failed_cases == 0


def q(s: str) -> str:
    return shlex.quote(s)


def meaningful_line(log: str) -> str:
    """The line of a pip / meson log that says what went wrong."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for pattern in (r"\bERROR:", r"^error:(?! subprocess-exited-with-error)", r"\berror\b"):
        hits = [ln for ln in lines if re.search(pattern, ln)]
        if hits:
            return hits[-1]
    return lines[-1] if lines else "no output"


class Session:
    def __init__(self, job: Job, archive: Path, digest: str, emit: Callable[[str, str], None]):
        self.job, self.t, self.archive, self.digest = job, job.target, archive, digest
        self.emit = emit                       # emit(host key, line): progress on the local console
        self.run_id = uuid.uuid4().hex[:12]
        self.conn: asyncssh.SSHClientConnection | None = None
        self.workdir = ""

    # ------------------------------------------------------------------------------ helpers
    @property
    def env_prefix(self) -> str:
        """`export K=V; ` for the ssh block's env (sshd's AcceptEnv is rarely open, so not setenv)."""
        return "".join(f"export {k}={q(v)}; " for k, v in self.t.env.items())

    async def sh(self, command: str, what: str) -> asyncssh.SSHCompletedProcess:
        try:
            return await self.conn.run(self.env_prefix + command, check=False)
        except (asyncssh.Error, OSError) as e:
            raise RemoteError(f"connection lost while {what}: {_reason(e)}") from None

    def path(self, *parts: str) -> str:
        return posixpath.join(self.workdir, *parts)

    # ------------------------------------------------------------------------------- steps
    async def connect(self) -> None:
        t = self.t
        where = t.label()
        opts = t.asyncssh_options()
        if t.key:
            opts["agent_path"] = None  # the configured key, and only it
        try:
            self.conn = await asyncio.wait_for(asyncssh.connect(
                t.host, preferred_auth="publickey", keepalive_interval=KEEPALIVE_S,
                keepalive_count_max=KEEPALIVE_COUNT, **opts), CONNECT_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise RemoteError(f"cannot connect to {where}: timed out after {CONNECT_TIMEOUT_S} s") from None
        except asyncssh.PermissionDenied as e:
            raise RemoteError(f"authentication failed at {where} with "
                              f"{'key ' + t.key if t.key else 'the default keys'}: {e.reason}") from None
        except asyncssh.HostKeyNotVerifiable as e:
            raise RemoteError(f"host key of {where} not verified against "
                              f"{t.known_hosts or '~/.ssh/known_hosts'}: {e.reason}") from None
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as e:
            raise RemoteError(f"cannot use key {t.key}: {e}") from None
        except asyncssh.Error as e:
            raise RemoteError(f"ssh to {where} failed: {_reason(e)}") from None
        except OSError as e:
            raise RemoteError(f"cannot connect to {where}: {e.strerror or e}") from None

    async def prepare(self) -> bool:
        """Resolve the workdir, check the remote Python (and the compiler when an install is due);
        return whether the venv for this source hash is already installed."""
        t = self.t
        home = (await self.sh('printf %s "$HOME"', "reading $HOME")).stdout
        self.workdir = home + t.workdir[1:] if t.workdir.startswith("~") else t.workdir
        r = await self.sh(f"{q(t.python)} -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'",
                          "checking Python")
        if r.exit_status != 0:
            raise RemoteError(f"remote Python {t.python!r} does not run: "
                              f"{meaningful_line(r.stderr or r.stdout)} (set python: in the ssh block)")
        version = tuple(int(x) for x in r.stdout.strip().split("."))
        if version < MIN_PYTHON:
            raise RemoteError(f"remote Python {t.python} is {r.stdout.strip()}; bmbench needs >= "
                              f"{'.'.join(map(str, MIN_PYTHON))}")
        if (await self.sh("command -v flock", "checking flock")).exit_status != 0:
            raise RemoteError("flock not found on the remote (util-linux); it keeps two runs off the host")
        installed = (await self.sh(f"test -f {q(self.path(f'venv-{self.digest}', self.marker))}",
                                   "checking the install")).exit_status == 0
        if not installed:
            r = await self.sh('"${CC:-cc}" --version', "checking the C compiler")
            if r.exit_status != 0:
                cc = t.env.get("CC", "cc")
                raise RemoteError(f"no working C compiler on the remote ({cc}: "
                                  f"{meaningful_line(r.stderr or r.stdout)}); install gcc or set env: "
                                  f"{{CC: ...}} in the ssh block")
        return installed

    async def upload(self, installed: bool) -> None:
        run_dir = self.path("runs", self.run_id)
        r = await self.sh(f"mkdir -p {q(run_dir)}", "creating the workdir")
        if r.exit_status != 0:
            raise RemoteError(f"cannot create {run_dir}: {meaningful_line(r.stderr)}")
        try:
            async with self.conn.start_sftp_client() as sftp:
                if not installed and not await sftp.exists(self.path(self.archive.name)):
                    part = self.path(f".{self.archive.name}.{self.run_id}.part")
                    await sftp.put(str(self.archive), part)
                    await sftp.posix_rename(part, self.path(self.archive.name))
                for name, local in self.job.uploads.items():
                    await sftp.put(str(local), posixpath.join(run_dir, name))
        except (asyncssh.Error, OSError) as e:
            raise RemoteError(f"upload failed: {_reason(e)}") from None

    @property
    def marker(self) -> str:
        """The venv's install marker; one per set of extras (a venv without them is rebuilt)."""
        return ".installed" + "".join(f"-{e}" for e in self.job.extras)

    def pip_spec(self) -> str:
        """The archive, with the extras as a direct reference (the shell expands $PWD)."""
        if not self.job.extras:
            return q(self.archive.name)
        return f'"bmbench[{",".join(self.job.extras)}] @ file://$PWD/{self.archive.name}"'

    def script(self) -> str:
        """The locked part: install if needed, then exec the suite run.  flock -n: a busy host
        fails at once instead of queueing behind a run that may take an hour."""
        t, h = self.t, self.digest
        venv, log, run_dir = f"venv-{h}", f"install-{h}.log", f"runs/{self.run_id}"
        site = " --system-site-packages" if t.system_site_packages else ""
        cmd = " ".join(q(a) for a in ["run", *self.job.run_args, "-o", RESULT, "--no-report"])
        return "\n".join([
            f"cd {q(self.workdir)} || exit {SETUP_FAILED}",
            # stale run dirs of dropped sessions: no other run is alive while we hold the lock
            f'for d in runs/*; do [ "$d" = {q(run_dir)} ] || rm -rf "$d"; done',
            f"if [ ! -f {venv}/{self.marker} ]; then",
            f"  [ -f {q(self.archive.name)} ] || exit {NO_ARCHIVE}",
            f"  echo {q(INSTALLING)}",
            f"  rm -rf {venv}",
            f"  {q(t.python)} -m venv{site} {venv} > {log} 2>&1 || exit {VENV_FAILED}",
            f"  {venv}/bin/python -m pip install --disable-pip-version-check "
            f"{self.pip_spec()} >> {log} 2>&1 || exit {INSTALL_FAILED}",
            f"  touch {venv}/{self.marker}",
            f"  echo {q(INSTALLED)}",
            # earlier sources' venvs and archives: a board's disk is small
            f"  for d in venv-* bmbench-src-*.tar.gz install-*.log; do case $d in *{h}*) ;; "
            f'*) rm -rf "$d";; esac; done',
            "fi",
            f"cd {q(run_dir)} || exit {SETUP_FAILED}",
            "export COLUMNS=160",
            f"exec {q(self.path(venv, 'bin', 'python'))} -m bmbench.cli {cmd}",
        ])

    async def run(self, out: Outcome) -> int:
        lock = self.path(".lock")
        command = (self.env_prefix + f"exec flock -n -E {BUSY} {q(lock)} sh -c {q(self.script())}")
        started = None
        try:
            proc = await self.conn.create_process(command, stderr=asyncssh.STDOUT, errors="replace")
            async for line in proc.stdout:
                line = line.rstrip()
                if not line:
                    continue
                if line == INSTALLING:
                    started = time.monotonic()
                    self.emit(self.job.key, f"installing bmbench (remote build; log "
                                            f"{self.path(f'install-{self.digest}.log')})")
                    continue
                if line == INSTALLED and started is not None:
                    out.install_s = time.monotonic() - started
                    self.emit(self.job.key, f"installed in {out.install_s:.0f} s")
                    continue
                out.lines.append(line)
                self.emit(self.job.key, line)
            done = await proc.wait(check=False)
        except (asyncssh.Error, OSError) as e:
            raise RemoteError(f"connection lost during the run: {_reason(e)}; no result") from None
        status, signal = done.exit_status, done.exit_signal
        if signal:
            raise RemoteError(f"remote bmbench killed by signal {signal[0]}; no result")
        if status is None or status < 0:
            raise RemoteError("connection lost during the run (no exit status); no result")
        if status > 128:  # flock reports its child's death by signal N as 128 + N
            raise RemoteError(f"remote bmbench killed by signal {_signal_name(status - 128)}; no result")
        if status == BUSY:
            raise RemoteError(f"busy: another bmbench run holds {lock} on this host")
        if status == NO_ARCHIVE:  # another source's run cleaned up between our check and our lock
            raise RemoteError("the installed venv and source archive were replaced by another "
                              "bmbench version's run meanwhile; run again")
        if status == VENV_FAILED:
            log = (await self.sh(f"cat {q(self.path(f'install-{self.digest}.log'))}", "reading the log")).stdout
            raise RemoteError(f"cannot create a venv with {self.t.python}: {' '.join(log.split())[:300]}")
        if status == INSTALL_FAILED:
            logf = self.path(f"install-{self.digest}.log")
            log = (await self.sh(f"tail -n 200 {q(logf)}", "reading the install log")).stdout
            raise RemoteError(f"pip install failed: {meaningful_line(log)} (log: {logf})")
        if status not in (0, 1):
            why = next((ln for ln in reversed(out.lines) if ln.startswith("bmbench: error:")), None)
            raise RemoteError(why.removeprefix("bmbench: error: ") if why else
                              f"remote bmbench exited with status {status}; no result")
        return status

    async def fetch(self, out: Outcome) -> None:
        remote = self.path("runs", self.run_id, RESULT)
        with tempfile.TemporaryDirectory(prefix="bmbench-fetch-") as tmp:
            local = Path(tmp, RESULT)
            try:
                async with self.conn.start_sftp_client() as sftp:
                    await sftp.get(remote, str(local))
            except (asyncssh.Error, OSError) as e:
                raise RemoteError(f"cannot fetch the result {remote}: {_reason(e)}") from None
            try:
                run = results.load(local)
            except BmbenchError as e:
                raise RemoteError(f"fetched result is not valid: {e}") from None
        user = self.conn.get_extra_info("username")
        run.host["profile"] = self.job.key
        run.host["via"] = f"ssh {self.t.label(user)}"
        results.save(run, self.job.output)
        out.output = self.job.output
        out.failed_cases = sum(c.status == "failed" for c in run.cases)

    async def cleanup(self) -> None:
        if self.conn is None:
            return
        try:
            if self.workdir:
                await self.conn.run(f"rm -rf {q(self.path('runs', self.run_id))}", check=False)
        except (asyncssh.Error, OSError):
            pass  # the next run on this host removes stale run dirs under its lock
        self.conn.close()


def _signal_name(n: int) -> str:
    try:
        return signal.Signals(n).name.removeprefix("SIG")  # Linux numbering (x86 and arm64 agree)
    except ValueError:
        return str(n)


def _reason(e: BaseException) -> str:
    return getattr(e, "reason", None) or getattr(e, "strerror", None) or str(e) or type(e).__name__


async def run_job(job: Job, archive: Path, digest: str, emit: Callable[[str, str], None]) -> Outcome:
    """Run one job to its Outcome; never raises for a failure of the host."""
    out = Outcome(job.key)
    s = Session(job, archive, digest, emit)
    try:
        await s.connect()
        installed = await s.prepare()
        emit(job.key, f"connected to {s.t.label(s.conn.get_extra_info('username'))}; "
                      + (f"venv-{digest} already installed" if installed else "install needed"))
        await s.upload(installed)
        await s.run(out)
        await s.fetch(out)
    except RemoteError as e:
        out.error = str(e)
    except BmbenchError as e:  # e.g. the local output directory became unwritable
        out.error = str(e)
    except (asyncssh.Error, OSError) as e:  # any other ssh failure is still this host's alone
        out.error = RemoteError(f"ssh: {_reason(e)}").args[0]
    finally:
        await s.cleanup()
    return out
