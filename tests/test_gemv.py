"""Every format x flavour x shape: the scalar kernel against NumPy float64 on the dequantised
weights, and every SIMD flavour against the scalar kernel (bitwise for the integer formats)."""
import numpy as np
import pytest

from bmbench import formats

SHAPES = [(1, 1), (3, 3), (1, 33), (31, 33), (33, 31), (255, 257), (257, 255), (64, 1024), (7, 4100)]
FORMAT_NAMES = list(formats.FORMATS)


def _case(fmt_name, rows, cols, seed=0):
    rng = np.random.default_rng(seed + rows * 7919 + cols)
    fmt = formats.get(fmt_name)
    w = fmt.quantise(rng.standard_normal((rows, cols)) / np.sqrt(cols))
    x = rng.standard_normal(cols).astype(np.float32)
    return fmt, w, x


@pytest.mark.parametrize("rows,cols", SHAPES)
@pytest.mark.parametrize("fmt_name", FORMAT_NAMES)
def test_scalar_matches_numpy_float64(fmt_name, rows, cols):
    fmt, w, x = _case(fmt_name, rows, cols)
    y = formats.gemv(w, x, flavour="scalar").astype(np.float64)
    # the float64 oracle sees the activations exactly as the kernel quantised them
    x_ref = fmt_activation_reference(fmt, x)
    ref = fmt.dequantise(w) @ x_ref
    scale = np.abs(fmt.dequantise(w)) @ np.abs(x_ref) + 1e-30
    assert np.all(np.abs(y - ref) <= 1e-5 * scale + 1e-6), np.max(np.abs(y - ref) / scale)


@pytest.mark.parametrize("rows,cols", SHAPES)
@pytest.mark.parametrize("fmt_name", FORMAT_NAMES)
def test_flavour_matches_scalar(fmt_name, rows, cols, flavour):
    fmt, w, x = _case(fmt_name, rows, cols, seed=1)
    if flavour not in fmt.flavours:
        pytest.skip(f"{fmt_name} has no {flavour} kernel")
    ref = formats.gemv(w, x, flavour="scalar")
    y = formats.gemv(w, x, flavour=flavour)
    if fmt.exact:
        np.testing.assert_array_equal(y, ref)
    else:
        bound = np.abs(fmt.dequantise(w)) @ np.abs(fmt_activation_reference(fmt, x))
        assert np.all(np.abs(y - ref) <= fmt.rtol * bound + 1e-6)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("fmt_name", FORMAT_NAMES)
def test_threads_split_rows_without_changing_results(fmt_name, threads):
    fmt, w, x = _case(fmt_name, 257, 255, seed=2)
    np.testing.assert_array_equal(formats.gemv(w, x, threads=threads), formats.gemv(w, x, threads=1))


def fmt_activation_reference(fmt, x):
    """The activations as the kernel sees them, in float64 (quantised for the integer formats)."""
    return fmt.act_reference(x)
