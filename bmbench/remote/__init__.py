"""Run a suite on remote boards over SSH and bring the result documents back, one per host.

    outcomes = run_on_hosts(jobs, parallel=False)

Each host: connect (asyncssh, key auth), take the remote lock, install the project from a source
archive into a venv keyed by the archive's content hash (built natively there), run the suite,
stream its output, fetch and validate the result.  A failure stays with its host: the others go on.
Imports of asyncssh happen in `session`, so reading host profiles never needs it.
"""
from __future__ import annotations

import asyncio
import tempfile
from typing import Callable


def _print_line(key: str, line: str) -> None:
    print(f"[{key}] {line}", flush=True)


def run_on_hosts(jobs: list, *, parallel: bool = False,
                 emit: Callable[[str, str], None] = _print_line) -> list:
    """Run every job (session.Job) and return their session.Outcome, in the jobs' order.

    One source archive serves all hosts.  Sequential by default; `parallel` runs different hosts
    concurrently, but jobs that resolve to the same (host, port) always run one after another (the
    remote lock would refuse the second otherwise)."""
    from . import session, source

    with tempfile.TemporaryDirectory(prefix="bmbench-src-") as tmp:
        archive, digest = source.build_archive(tmp)

        async def chain(group: list) -> list:
            return [await session.run_job(j, archive, digest, emit) for j in group]

        async def main() -> list:
            if not parallel:
                return await chain(jobs)
            groups: dict[tuple, list] = {}
            for j in jobs:
                groups.setdefault((j.target.host, j.target.port), []).append(j)
            done = await asyncio.gather(*(chain(g) for g in groups.values()))
            by_key = {o.key: o for outs in done for o in outs}
            return [by_key[j.key] for j in jobs]

        return asyncio.run(main())
