"""Instruction counts of a GEMV kernel under valgrind's callgrind: repeatable whatever the machine
load, so a CI gate can compare them with a tight threshold.  Only instructions executed inside
bmk_gemv_loop (activation prep + GEMV) are counted (--toggle-collect)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile

_SCRIPT = """
import numpy as np
from bmbench import _kernels, formats
from bmbench.dispatch import flavour_id
fmt = formats.get({fmt!r})
p = fmt.synthetic(np.random.default_rng(0), {rows}, {cols})
x = np.random.default_rng(1).standard_normal({cols}).astype(np.float32)
act = formats.aligned_empty(fmt.act_bytes({cols}))
y = np.empty({rows}, dtype=np.float32)
_kernels.gemv_loop(fmt.id, flavour_id({flavour!r}), [p.data], {rows}, {cols}, p.scale, x, act, y, {calls}, 1)
"""


class Unavailable(Exception):
    pass


def per_weight(fmt: str, rows: int, cols: int, flavour: str, calls: int = 2) -> float:
    """Instructions per weight of prep + GEMV (1 thread), counted by callgrind."""
    exe = shutil.which("valgrind")
    if exe is None:
        raise Unavailable("valgrind not installed (Debian: valgrind)")
    with tempfile.TemporaryDirectory(prefix="bmbench-callgrind-") as d:
        out = os.path.join(d, "callgrind.out")
        script = _SCRIPT.format(fmt=fmt, rows=rows, cols=cols, flavour=flavour, calls=calls)
        env = dict(os.environ, OMP_NUM_THREADS="1")
        p = subprocess.run([exe, "--tool=callgrind", f"--callgrind-out-file={out}",
                            "--toggle-collect=bmk_gemv_loop", sys.executable, "-c", script],
                           capture_output=True, text=True, env=env, timeout=600, cwd=d)
        if p.returncode != 0 or not os.path.exists(out):
            tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
            raise Unavailable(f"callgrind failed: {tail}")
        text = open(out).read()
    m = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
    if not m or int(m.group(1)) == 0:
        raise Unavailable("callgrind counted no instruction inside bmk_gemv_loop")
    return int(m.group(1)) / (calls * rows * cols)
