import os
import subprocess
import sys
import tempfile

import pytest

from bmbench import dispatch
from bmbench.errors import BmbenchError

# subprocesses run outside the checkout, so `-m`/`-c` import the installed bmbench
OUTSIDE = tempfile.gettempdir()


def _chosen_in_subprocess(value):
    env = dict(os.environ, BMBENCH_KERNELS=value)
    code = "from bmbench import dispatch; print(dispatch.chosen_flavour())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=OUTSIDE)


def test_override_forces_scalar():
    p = _chosen_in_subprocess("scalar")
    assert p.returncode == 0 and p.stdout.strip() == "scalar"


def test_default_is_best_native_flavour():
    best = dispatch.resolve(None)
    assert best in dispatch.runnable_flavours()
    assert not [s for s in dispatch.status() if s["flavour"] == best and s["emulated"]]


def test_unknown_override_is_a_clear_error():
    with pytest.raises(BmbenchError, match="unknown kernel flavour 'avx9'"):
        dispatch.resolve("avx9")
    p = subprocess.run([sys.executable, "-m", "bmbench.cli", "info"], capture_output=True, text=True,
                       env=dict(os.environ, BMBENCH_KERNELS="avx9"), cwd=OUTSIDE)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "avx9" in p.stderr


def test_unsupported_override_is_a_clear_error():
    unsupported = [s["flavour"] for s in dispatch.status() if s["compiled"] and not s["runnable"]]
    if not unsupported:
        pytest.skip("every compiled flavour runs on this CPU")
    with pytest.raises(BmbenchError, match="cannot run on this CPU"):
        dispatch.resolve(unsupported[0])


def test_scalar_and_neon_always_available_on_x86():
    if not dispatch.status()[1]["compiled"]:
        pytest.skip("not an x86 build")
    assert dispatch.runnable("scalar") and dispatch.runnable("neon")  # NEON through SIMDe
