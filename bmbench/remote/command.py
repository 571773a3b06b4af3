"""`bmbench run --on HOST,..`: validate everything before anything connects (bad input: exit 2),
forward the run options to the remote command line, run the hosts, report across their results."""
from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path

from rich.console import Console

from ..errors import BmbenchError
from ..request import FILES, FLAGS, FORWARDED, RunRequest, check_writable

LOCAL = "local"  # in --on: also run the suite here, first, as `bmbench run` would


def _validate(args, local: bool) -> tuple[bool, dict, dict, tuple[str, ...]]:
    """The checks `bmbench run` makes, before anything connects; which flavours a board runs only
    the board can answer.  Return whether the suite takes --hosts-file too (decode: projections to
    your profiles; else the file only names the targets), the params and overrides of a local
    run, and the extras the remote install needs (llamacpp when a case runs on llama.cpp)."""
    from .. import dispatch, engines
    from ..kinds import KINDS
    from ..suites import load_suite
    suite = load_suite(args.suite)
    req = RunRequest.from_args(args, check_flavours=local)
    params, ov = req.params, req.overrides
    remote_ov = {k: v for k, v in ov.items() if k != "flavour"}
    for f in ov.get("flavour", []):
        if f not in ("all", "auto"):
            dispatch.flavour_id(f)
    takes_hosts = any("hosts_file" in KINDS[g.kind].params for g in suite.groups)
    if not takes_hosts:
        params.pop("hosts_file", None)
    cases = suite.cases(ov if local else remote_ov, params)  # unknown parameters fail here
    # an engine other than bmbench's is installed on the board by the extra of its name
    extras = tuple(sorted({c.params.get("engine", engines.BUILTIN) for c in cases} - {engines.BUILTIN}))
    return takes_hosts, params, ov, extras


def _targets(args) -> tuple[list, bool]:
    """(key, ssh target) of each host named by --on, and whether `local` is among them."""
    from .. import hosts
    from .target import of
    names = list(dict.fromkeys(t.strip() for t in args.on.split(",") if t.strip()))
    if not names:
        raise BmbenchError("--on: empty list of hosts")
    profiles = hosts.load_profiles(args.hosts_file)
    out = []
    for n in names:
        if n == LOCAL:
            continue
        p = profiles.get(n)
        if p is None:
            raise BmbenchError(f"unknown host {n!r} in --on (known: {', '.join(profiles)}, {LOCAL})")
        t = of(p)
        if t is None:
            where = args.hosts_file or "hosts.yaml"
            raise BmbenchError(f"host {n!r} has no ssh: block in {where} (add one in your "
                               f"--hosts-file, see the README)")
        for what, path in (("key", t.key), ("known_hosts", t.known_hosts if t.checks_host_key else None)):
            if path and not Path(path).is_file():
                raise BmbenchError(f"host {n!r}: ssh {what} file not found: {path}")
        out.append((n, t))
    return out, LOCAL in names


def _run_here(args, params: dict, ov: dict, path: Path, console: Console):
    from .. import runner
    from ..suites import load_suite
    from .session import Outcome
    run = runner.run_suite(load_suite(args.suite), overrides=ov, output=path, params=params,
                           console=console, command=sys.argv, rounds=args.rounds)
    return Outcome(LOCAL, output=path, failed_cases=sum(c.status == "failed" for c in run.cases))


def remote_args(args, forward_hosts_file: bool = True) -> tuple[list[str], dict[str, Path]]:
    """The remote `bmbench run` options (without -o / --no-report) and the files to upload."""
    argv, uploads = [], {}
    suite = Path(args.suite)
    if suite.suffix in (".yaml", ".yml") or suite.is_file():
        name = f"suite-{suite.name}"
        uploads[name] = suite.resolve()
        argv += ["--suite", name]
    else:
        argv += ["--suite", args.suite]
    for dest, flag in FORWARDED.items():
        v = getattr(args, dest, None)
        if v is not None:
            argv += [flag, str(v)]
    for dest, flag in FLAGS.items():
        if getattr(args, dest, False):
            argv.append(flag)
    for dest, (flag, prefix) in FILES.items():
        v = getattr(args, dest, None)
        if v and (dest != "hosts_file" or forward_hosts_file):
            name = f"{prefix}-{Path(v).name}"
            uploads[name] = Path(v).resolve()
            argv += [flag, name]
    return argv, uploads


def output_for(stem: Path, key: str) -> Path:
    return stem.with_name(f"{stem.name}-{key}.json")


def run_remote(args, out: Console) -> int:
    """The `--on` path of `bmbench run`; exit 0 all ok, 1 a host or a case failed, 2 bad input."""
    from . import run_on_hosts
    from .session import Job
    targets, local = _targets(args)
    forward_hosts_file, params, ov, extras = _validate(args, local)
    suite_name = Path(args.suite).stem
    if args.output:
        stem = Path(args.output).with_suffix("")
    else:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        stem = Path("bmbench-results") / f"{suite_name}-{stamp}"
    check_writable(output_for(stem, LOCAL))
    argv, uploads = remote_args(args, forward_hosts_file)
    jobs = [Job(key, t, argv, uploads, output_for(stem, key), extras) for key, t in targets]
    err = Console(stderr=True, highlight=False, markup=False)
    outcomes = [_run_here(args, params, ov, output_for(stem, LOCAL), err)] if local else []
    if jobs:
        outcomes += run_on_hosts(jobs, parallel=args.parallel,
                                 emit=lambda k, line: err.print(f"[{k}] {line}", markup=False,
                                                                highlight=False, soft_wrap=True))
    fetched = [o.output for o in outcomes if o.output]
    for o in outcomes:
        if o.error:
            err.print(f"bmbench: error: {o.key}: {o.error}", markup=False, soft_wrap=True)
    if fetched and not args.no_report:
        from ..report import render_report
        try:
            index = render_report(fetched, stem)
            out.print(f"report: {index}", soft_wrap=True)
        except Exception as e:  # the results are saved; a report problem must not lose them
            out.print(f"report not rendered ({type(e).__name__}: {e}); retry with "
                      f"`bmbench report {' '.join(map(str, fetched))}`", soft_wrap=True)
    for o in outcomes:
        if o.output:
            note = f"  ({o.failed_cases} case(s) failed)" if o.failed_cases else ""
            out.print(f"result {o.key}: {o.output}{note}", soft_wrap=True)
    return 0 if all(o.ok for o in outcomes) else 1

