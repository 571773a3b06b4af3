"""tools/kbench.py: streaming vs in-cache GB/s of GEMV kernels, with % of the DRAM read bandwidth
probed just before, in one process (for kernel work; the kernels suite is the full benchmark).

    python tools/kbench.py ternary-lut,ternary-mad,q8_0,q4_0 1b.in_proj,1b.out_proj,1b.lm_head 1,2 [avx2,avx512]
"""
import sys, numpy as np
from bmbench import formats, gemv_case, probe
from bmbench.dispatch import flavour_id
fmts = sys.argv[1].split(",")
shapes = sys.argv[2].split(",")
threads = [int(t) for t in sys.argv[3].split(",")]
flavours = sys.argv[4].split(",") if len(sys.argv) > 4 else ["avx2"]
for t in threads:
    bw = probe.dram_read(t, "avx2").value
    for f in fmts:
        fmt = formats.get(f)
        for sh, fl in ((sh, fl) for sh in shapes for fl in flavours):
            rows, cols = gemv_case.SHAPES[sh]
            p, datas, x = gemv_case.operands(fmt, rows, cols, "stream")  # the kernels suite's operands
            s = gemv_case.time_calls(fmt, flavour_id(fl), datas, rows, cols, p.scale, x, t, 7, 1)
            g = p.nbytes / np.median(s) / 1e9
            sc = gemv_case.time_calls(fmt, flavour_id(fl), [p.data], rows, cols, p.scale, x, t, 7, 1)
            gc = p.nbytes / np.median(sc) / 1e9
            print(f"t{t} {f:12s} {fl:10s} {sh:14s} stream {g:5.1f} GB/s ({100*g/bw:4.0f}% of {bw:.1f})  cache {gc:5.1f} GB/s")
