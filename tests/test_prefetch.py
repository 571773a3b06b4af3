"""The x86 integer GEMVs stream their weights with software prefetch (the hardware prefetchers alone
left 1-thread DRAM streaming at 40-60% of the probe): the instructions must be in the built library.
A compiler may delete them silently (GCC dropped a prefetch-only helper it did not inline, and the
AVX2 q8_0 kernel streamed at 7.7 instead of 25.5 Gweights/s), which no correctness test notices.
Skipped where the library is not x86 or binutils' objdump is missing."""
import platform
import re
import shutil
import subprocess

import pytest

from bmbench import _kernels

KERNELS = [f"bmk_gemv_{fmt}_{isa}" for fmt in ("tmad", "tlut", "q8_0", "q4_0") for isa in ("avx2", "avx512")]
KERNELS += [f"bmk_gemv_{fmt}_avx512vnni" for fmt in ("tmad", "q8_0", "q4_0")]


def _body(symbol: str) -> str:
    r = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--disassemble={symbol}", _kernels.__file__],
                       capture_output=True, text=True, check=True)
    parts = r.stdout.split(f"<{symbol}>:", 1)
    assert len(parts) == 2, f"{symbol} not found in {_kernels.__file__}"
    return parts[1]


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or shutil.which("objdump") is None,
                    reason="needs an x86-64 build and objdump (binutils)")
@pytest.mark.parametrize("symbol", KERNELS)
def test_kernel_keeps_its_software_prefetch(symbol):
    body = _body(symbol)
    # the kernel's own code or a helper it calls (the compiler may keep a row loop out of line)
    callees = re.findall(r"call\s+[0-9a-f]+ <([\w.]+)>", body)
    assert any("prefetch" in b for b in [body] + [_body(c) for c in callees if "@" not in c]), \
        f"{symbol} has no prefetch instruction"
