"""The NEON kernels compiled natively for aarch64 as meson.build builds them (neon:
-march=armv8.2-a+dotprod; neon-nodot and everything else: -march=armv8-a) and run under qemu-aarch64,
as a Cortex-A76 (both flavours run) and as a Cortex-A72 (ARMv8.0, no dotprod: only neon-nodot runs,
and a dotprod instruction in its code would be an illegal instruction): the scalar kernel must agree
with the x86 one and each NEON flavour with scalar, on the same packed bytes, with activations quantised natively on aarch64 by each family's quantiser (each
library built with the flags meson.build gives it).  Skipped without aarch64-linux-gnu-gcc and qemu-aarch64 (Debian:
gcc-aarch64-linux-gnu, qemu-user) or without the kernel sources."""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bmbench import formats

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "kernels"
SHAPES = [(1, 1), (3, 3), (31, 33), (33, 31), (255, 257), (257, 255), (64, 1024), (7, 4100), (97, 2048)]


def _record(fmt, w, x, quant="absmax"):
    y = formats.gemv(w, x, flavour="scalar", quant=quant)
    bound = (np.abs(fmt.dequantise(w)) @ np.abs(fmt.act_reference(x, quant))).astype(np.float32)
    head = fmt.name.encode().ljust(16, b"\0")
    nums = (np.array([w.rows, w.cols], np.int64).tobytes() + np.array([w.scale, fmt.rtol], np.float32).tobytes()
            + np.int32(formats.act_quant_id(quant)).tobytes())
    return (head + nums + np.int64(w.data.size).tobytes() + w.data.tobytes() + x.astype(np.float32).tobytes()
            + y.tobytes() + bound.tobytes())


def test_neon_native_under_qemu(tmp_path):
    cc, qemu = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64")
    if cc is None or qemu is None or not (KERNELS / "arm").is_dir():
        pytest.skip("needs aarch64-linux-gnu-gcc, qemu-aarch64 and the kernel sources")
    # the libraries of meson.build, each with its own flags
    groups = {"generic": (sorted((KERNELS / "generic").glob("*.c"))
                          + [KERNELS / n for n in ("quant.c", "formats.c", "dispatch.c", "threads.c")],
                          ["-fno-tree-vectorize", "-ffp-contract=off"]),
              "neon": (sorted((KERNELS / "arm").glob("neon_*.c")), ["-march=armv8.2-a+dotprod", "-DBMK_NEON_DOTPROD=1"]),
              "neon_nodot": (sorted((KERNELS / "arm").glob("neon_*.c")), ["-DBMK_NEON_DOTPROD=0"]),
              "driver": ([ROOT / "tests" / "aarch64_gemv_driver.c"], [])}
    common = [cc, "-O2", "-std=gnu11", "-march=armv8-a", "-w", "-DBMK_HAVE_X86=0",
              "-DBMK_HAVE_NEON=1", f"-I{KERNELS}"]
    objs = []
    for name, (srcs, flags) in groups.items():
        for src in srcs:
            objs.append(tmp_path / f"{name}-{src.stem}.o")
            r = subprocess.run(common + flags + ["-c", str(src), "-o", str(objs[-1])], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr[-3000:]
    exe = tmp_path / "gemv_neon"
    r = subprocess.run([cc, "-static", "-o", str(exe)] + [str(o) for o in objs] + ["-lm"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]

    recs = []
    for name, fmt in formats.FORMATS.items():
        for rows, cols in SHAPES:
            rng = np.random.default_rng(rows * 31 + cols)
            recs.append(_record(fmt, fmt.quantise(rng.standard_normal((rows, cols)) / np.sqrt(cols)),
                                rng.standard_normal(cols).astype(np.float32)))
        if fmt.from_ternary is not None:
            for rows, cols in SHAPES:  # BitMamba-2's quantiser too
                rng = np.random.default_rng(rows * 37 + cols)
                x = rng.standard_normal(cols).astype(np.float32)
                recs.append(_record(fmt, fmt.from_ternary(rng.integers(-1, 2, (rows, cols)), 0.02), x, "bitmamba"))
            codes = np.ones((65, 4100), dtype=np.int8)  # the largest int16 partial sums
            codes[1] = -1
            for sign in (1, -1):
                for quant in formats.ACT_QUANTS:
                    recs.append(_record(fmt, fmt.from_ternary(codes, 0.5), np.full(4100, sign, np.float32), quant))
    cases = tmp_path / "cases.bin"
    cases.write_bytes(b"".join(recs))
    for cpu, ran in (("cortex-a76", ["neon", "neon-nodot"]), ("cortex-a72", ["neon-nodot"])):
        r = subprocess.run([qemu, "-cpu", cpu, str(exe), str(cases)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, cpu + ": " + r.stdout[-3000:] + r.stderr[-3000:]
        assert f"{len(recs)} cases, 0 failed" in r.stdout
        assert [line.split()[1] for line in r.stdout.splitlines() if line.startswith("ran ")] == ran, cpu
