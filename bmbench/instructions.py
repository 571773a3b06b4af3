"""Instruction counts under valgrind's callgrind: repeatable whatever the machine load, so a CI gate
can compare them with a tight threshold.  Only instructions executed inside the timed C function
are counted (--toggle-collect): bmk_gemv_loop (activation prep + GEMV) for a kernel,
bmk_model_decode (the whole greedy loop) for a model."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile

_GEMV = """
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

_DECODE = """
from bmbench.engine import engine_for
from bmbench.models import get_config, synthetic_weights
eng = engine_for(synthetic_weights(get_config({model!r}), {fmt!r}, 0), threads=1, flavour={flavour!r})
eng.decode({prompt!r}, {tokens}, batch=1)  # token by token: every token one step
"""


class Unavailable(Exception):
    pass


def _count(script: str, function: str) -> int:
    """Instructions callgrind counts inside `function` while `script` runs (1 thread)."""
    exe = shutil.which("valgrind")
    if exe is None:
        raise Unavailable("valgrind not installed (Debian: valgrind)")
    with tempfile.TemporaryDirectory(prefix="bmbench-callgrind-") as d:
        out = os.path.join(d, "callgrind.out")
        env = dict(os.environ, OMP_NUM_THREADS="1", BMBENCH_CACHE_DIR="off")
        p = subprocess.run([exe, "--tool=callgrind", f"--callgrind-out-file={out}",
                            f"--toggle-collect={function}", sys.executable, "-c", script],
                           capture_output=True, text=True, env=env, timeout=600, cwd=d)
        if p.returncode != 0 or not os.path.exists(out):
            lines = p.stderr.strip().splitlines()  # the program's own last words before valgrind's summary
            own = [ln for ln in lines if ln.strip() and not ln.startswith("==")]
            raise Unavailable(f"callgrind failed (exit {p.returncode}): {(own or lines or ['no output'])[-1]}"
                              + (" (valgrind may not run this flavour's instructions, e.g. AVX-512)"
                                 if p.returncode < 0 or p.returncode == 132 else ""))
        text = open(out).read()
    m = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
    if not m or int(m.group(1)) == 0:
        raise Unavailable(f"callgrind counted no instruction inside {function}")
    return int(m.group(1))


def per_weight(fmt: str, rows: int, cols: int, flavour: str, calls: int = 2) -> float:
    """Instructions per weight of prep + GEMV (1 thread), counted by callgrind."""
    script = _GEMV.format(fmt=fmt, rows=rows, cols=cols, flavour=flavour, calls=calls)
    return _count(script, "bmk_gemv_loop") / (calls * rows * cols)


def per_token(model: str, fmt: str, flavour: str, prompt: list[int], tokens: int) -> float:
    """Instructions per token of the whole greedy decode loop (prompt + tokens steps, 1 thread) of a
    registered model's synthetic weights, counted by callgrind."""
    script = _DECODE.format(model=model, fmt=fmt, flavour=flavour, prompt=list(prompt), tokens=tokens)
    return _count(script, "bmk_model_decode") / (len(prompt) + tokens - 1)
