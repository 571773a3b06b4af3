"""The attn family's NEON intrinsics run natively: tests/native/attn_neon_check.c cross-compiled for
aarch64 (with the scalar reference) and run under qemu-aarch64 as a Cortex-A76.  Skipped, visibly,
where the cross toolchain or qemu-user is missing (Debian: gcc-aarch64-linux-gnu, qemu-user)."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CC, QEMU = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64")


@pytest.mark.skipif(not (CC and QEMU), reason="needs aarch64-linux-gnu-gcc and qemu-aarch64")
def test_neon_attn_kernels_native(tmp_path):
    k = ROOT / "kernels"
    if not (k / "arm" / "neon_attn.c").exists():
        pytest.skip("kernel sources not found next to the tests")
    exe = tmp_path / "attn_neon_check"
    r = subprocess.run([CC, "-std=gnu11", "-O2", "-march=armv8.2-a+dotprod", "-static",
                        "-DBMK_HAVE_X86=0", "-DBMK_HAVE_NEON=1", f"-I{k}",
                        str(ROOT / "tests" / "native" / "attn_neon_check.c"), str(k / "generic" / "attn.c"),
                        str(k / "arm" / "neon_attn.c"), "-lm", "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([QEMU, "-cpu", "cortex-a76", str(exe)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
