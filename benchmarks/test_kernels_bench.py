"""Kernel micro-benchmarks for pytest-benchmark users (not part of the default test run):

    pytest benchmarks/ --benchmark-autosave
    pytest benchmarks/ --benchmark-compare --benchmark-compare-fail=median:5%

One prep + GEMV call per round, on the BitMamba-2 1B in_proj shape, every format, the chosen
flavour and the scalar one."""
import numpy as np
import pytest

from bmbench import _kernels, formats, gemv_case
from bmbench.dispatch import chosen_flavour, flavour_id

ROWS, COLS = gemv_case.SHAPES["1b.in_proj"]


@pytest.mark.parametrize("flavour", sorted({chosen_flavour(), "scalar"}))
@pytest.mark.parametrize("fmt_name", list(formats.FORMATS))
def test_gemv(benchmark, fmt_name, flavour):
    fmt = formats.get(fmt_name)
    p = fmt.synthetic(np.random.default_rng(0), ROWS, COLS)
    x = np.random.default_rng(1).standard_normal(COLS).astype(np.float32)
    act = formats.aligned_empty(fmt.act_bytes(COLS))
    y = np.empty(ROWS, dtype=np.float32)
    fid = flavour_id(flavour)
    benchmark.extra_info.update(format=fmt_name, flavour=flavour, weight_bytes=p.nbytes)
    benchmark(_kernels.gemv_loop, fmt.id, fid, [p.data], ROWS, COLS, p.scale, x, act, y, 1, 1)
