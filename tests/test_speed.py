"""In-process speed ratios (never absolute times): the SIMD kernels must beat the scalar reference
by a wide margin.  Median of 5 calls each, measured back to back in one process."""
import time

import numpy as np
import pytest

from bmbench import dispatch, formats


def _median_time(fn, n=5):
    fn()  # warm up (page faults, caches)
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


@pytest.mark.skipif(not dispatch.runnable("avx2"), reason="AVX2 not supported by this CPU")
@pytest.mark.parametrize("fmt_name", ["ternary-mad", "ternary-lut"])
def test_avx2_faster_than_scalar(fmt_name):
    fmt = formats.get(fmt_name)
    rng = np.random.default_rng(0)
    w = fmt.synthetic(rng, 2048, 2048)
    x = rng.standard_normal(2048).astype(np.float32)
    act = formats.prepare(fmt, x)
    y = np.empty(2048, dtype=np.float32)
    t = {fl: _median_time(lambda: formats.gemv(w, x, flavour=fl, act=act, out=y)) for fl in ("scalar", "avx2")}
    assert t["scalar"] / t["avx2"] > 1.5, t
