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


# ---- the integer (ternary) formats: exact integer results, extremes, real shapes ----
TERNARY = [n for n in FORMAT_NAMES if formats.get(n).from_ternary is not None]


def _expected_ternary(codes, s_w, x):
    """bmk_int_out(codes . q, s_w, header) in NumPy: exact int dot, the same float32 rounding."""
    q, inv = formats.i8_tensor_activations(x)
    dot = codes.astype(np.int64) @ q.astype(np.int64)
    return dot.astype(np.float32) * (np.float32(s_w) * np.float32(inv))


@pytest.mark.parametrize("rows,cols", SHAPES)
@pytest.mark.parametrize("fmt_name", TERNARY)
def test_ternary_scalar_is_the_exact_integer_dot(fmt_name, rows, cols):
    fmt = formats.get(fmt_name)
    rng = np.random.default_rng(rows * 13 + cols)
    codes = rng.integers(-1, 2, size=(rows, cols), dtype=np.int8)
    x = rng.standard_normal(cols).astype(np.float32)
    w = fmt.from_ternary(codes, 0.037)
    np.testing.assert_array_equal(formats.gemv(w, x, flavour="scalar"), _expected_ternary(codes, w.scale, x))


@pytest.mark.parametrize("cols", [256, 260, 2048, 4096, 4100])
@pytest.mark.parametrize("pattern", ["plus", "minus", "alternating"])
@pytest.mark.parametrize("fmt_name", TERNARY)
def test_ternary_extremes_do_not_overflow(fmt_name, cols, pattern, flavour):
    """|q| = 127 everywhere and every product of one sign: the int16 partial sums are at their
    largest (the kernels widen them before they can overflow)."""
    fmt = formats.get(fmt_name)
    if flavour not in fmt.flavours:
        pytest.skip(f"{fmt_name} has no {flavour} kernel")
    rows = 65
    x = np.full(cols, -1.0 if pattern == "minus" else 1.0, dtype=np.float32)
    if pattern == "alternating":
        x[1::2] = -1
    codes = np.ones((rows, cols), dtype=np.int8)  # c = 2: MAD's largest |c q|
    codes[1] = -1  # one row of the opposite sign (LUT entries -254 / +254)
    w = fmt.from_ternary(codes, 0.5)
    np.testing.assert_array_equal(formats.gemv(w, x, flavour=flavour), _expected_ternary(codes, w.scale, x))


@pytest.mark.parametrize("fmt_name", TERNARY)
def test_real_shape_every_flavour_and_thread_split(fmt_name, flavour):
    """BitMamba-2 1B in_proj (2048 -> 8288): every flavour bitwise equal to the scalar kernel."""
    fmt = formats.get(fmt_name)
    if flavour not in fmt.flavours:
        pytest.skip(f"{fmt_name} has no {flavour} kernel")
    rng = np.random.default_rng(5)
    w = fmt.synthetic(rng, 8288, 2048)
    x = rng.standard_normal(2048).astype(np.float32)
    act = formats.prepare(fmt, x)
    ref = formats.gemv(w, x, flavour="scalar", act=act)
    np.testing.assert_array_equal(formats.gemv(w, x, flavour=flavour, act=act), ref)
    np.testing.assert_array_equal(formats.gemv(w, x, flavour=flavour, act=act, threads=2), ref)


@pytest.mark.parametrize("fmt_name", FORMAT_NAMES)
def test_zero_activations_give_zero(fmt_name, flavour):
    fmt, w, _ = _case(fmt_name, 33, 257, seed=3)
    if flavour not in fmt.flavours:
        pytest.skip(f"{fmt_name} has no {flavour} kernel")
    np.testing.assert_array_equal(formats.gemv(w, np.zeros(257, np.float32), flavour=flavour),
                                  np.zeros(33, np.float32))


@pytest.mark.parametrize("quant", ["absmax", "bitmamba"])
@pytest.mark.parametrize("cols", [1, 2, 3, 4, 5, 33, 130, 2048, 4100])
@pytest.mark.parametrize("fmt_name", FORMAT_NAMES)
def test_every_flavours_prep_gives_the_scalar_preps_bytes(fmt_name, cols, quant, flavour):
    """Prepared activations (ternary-lut: tables built in SIMD per flavour) are the scalar prep's
    bytes exactly, padding included, at the int8 extremes too."""
    fmt = formats.get(fmt_name)
    rng = np.random.default_rng(cols)
    x = rng.standard_normal(cols).astype(np.float32)
    x[rng.integers(0, cols)] = -4 * np.abs(x).max() - 1  # one value quantises to -127: |T| reaches 254
    ref = formats.prepare(fmt, x, quant, "scalar")
    got = formats.prepare(fmt, x, quant, flavour)
    assert np.array_equal(ref, got)


SPECIAL = {  # inputs where a SIMD quantiser's clamps, NaN handling or rounding could part from the scalar one
    "zeros": np.zeros(70, np.float32),
    "denormals": np.full(70, 1e-40, np.float32) * np.resize([1, -1, 3], 70).astype(np.float32),
    "inf": np.resize(np.array([np.inf, -1, 2, -np.inf, 0.5], np.float32), 70),
    "nan": np.resize(np.array([np.nan, -1, 2, 0.25, -3], np.float32), 70),
    "halves": (np.arange(-35, 35, dtype=np.float32) + 0.5) / 34.5,  # x s lands on .5 exactly
    "ties": np.resize(np.array([127, -127, 63.5, -63.5, 0.5, -0.5, 1.5, -2.5], np.float32), 70),
}


@pytest.mark.parametrize("quant", ["absmax", "bitmamba"])
@pytest.mark.parametrize("case", list(SPECIAL))
@pytest.mark.parametrize("fmt_name", ["ternary-mad", "ternary-lut"])
def test_every_flavours_int8_quantiser_matches_the_scalar_on_special_values(fmt_name, case, quant, flavour):
    """The x86 flavours quantise in SIMD (x86/quant_x86.h): the same bytes and header as the scalar
    quantiser for zeros, denormals (an infinite scale), infinities, NaN and rounding ties."""
    fmt = formats.get(fmt_name)
    x = SPECIAL[case]
    ref = formats.prepare(fmt, x, quant, "scalar")
    got = formats.prepare(fmt, x, quant, flavour)
    assert ref.tobytes() == got.tobytes()
