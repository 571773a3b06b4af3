"""Property tests of the formats' NumPy side: packing round trips, quantisation error bounds, sizes
against the C table, synthetic weights, and the NumPy mirrors of the kernels' activation prep."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from bmbench import formats
from bmbench.errors import BmbenchError

TERNARY = [n for n, f in formats.FORMATS.items() if f.from_ternary is not None]
BLOCK = ["q8_0", "q4_0"]
SETTINGS = settings(max_examples=40, deadline=None)


def _shape(max_rows=70, max_cols=300):
    return st.tuples(st.integers(1, max_rows), st.integers(1, max_cols))


def _float32_matrix(lim=1e4):
    return _shape().flatmap(lambda s: hnp.arrays(
        np.float32, s, elements=st.floats(-lim, lim, width=32, allow_subnormal=False)))


@SETTINGS
@given(shape=_shape(), seed=st.integers(0, 2**32 - 1), s_w=st.floats(1e-4, 10.0))
@pytest.mark.parametrize("fmt_name", TERNARY)
def test_ternary_codes_round_trip(fmt_name, shape, seed, s_w):
    fmt = formats.get(fmt_name)
    codes = np.random.default_rng(seed).integers(-1, 2, size=shape, dtype=np.int8)
    p = fmt.from_ternary(codes, s_w)
    assert p.data.size == fmt.data_bytes(*shape)
    assert p.scale == float(np.float32(s_w))
    np.testing.assert_array_equal(fmt.dequantise(p), codes * float(np.float32(s_w)))


@SETTINGS
@given(w=_float32_matrix())
@pytest.mark.parametrize("fmt_name", TERNARY)
def test_ternary_quantise_recovers_codes_times_scale(fmt_name, w):
    fmt = formats.get(fmt_name)
    p = fmt.quantise(w)
    s_w = np.float32(max(np.mean(np.abs(w.astype(np.float64))), 1e-5))
    assert p.scale == float(s_w)
    codes = np.clip(np.rint(w / np.float64(s_w)), -1, 1)
    np.testing.assert_array_equal(fmt.dequantise(p), codes * float(s_w))


@SETTINGS
@given(w=_float32_matrix())
@pytest.mark.parametrize("fmt_name", BLOCK)
def test_block_formats_within_half_a_step(fmt_name, w):
    """Every weight is within half a step of its stored value, unless it lies outside the block's
    representable range (q4_0's is asymmetric: -8 d .. 7 d), then within half a step of the range."""
    fmt = formats.get(fmt_name)
    p = fmt.quantise(w)
    assert p.data.size == fmt.data_bytes(*w.shape)
    deq = fmt.dequantise(p)
    unpack = formats._q8_0_unpack if fmt_name == "q8_0" else formats._q4_0_unpack
    d, _ = unpack(p)
    d = np.repeat(d, formats.QBLOCK, axis=1)[:, :w.shape[1]]
    ends = (-127 * d, 127 * d) if fmt_name == "q8_0" else (-8 * d, 7 * d)
    lo, hi = np.minimum(*ends), np.maximum(*ends)
    w64 = w.astype(np.float64)
    outside = np.maximum(lo - w64, 0) + np.maximum(w64 - hi, 0)
    err = np.abs(deq - w64)
    assert np.all(err <= 0.5 * np.abs(d) * (1 + 1e-6) + outside + 1e-7 * np.abs(w64)), np.max(err / np.abs(d))
    # with fp16 scales in their normal range q8_0 keeps every weight within half a step
    normal = np.abs(d) >= 6.2e-5
    if fmt_name == "q8_0":
        assert np.all(err[normal] <= 0.5 * np.abs(d[normal]) * (1 + 1e-6) + 1e-7 * np.abs(w64[normal]))


@SETTINGS
@given(w=_float32_matrix(6e4))
def test_f16_round_trip(w):
    fmt = formats.get("f16")
    np.testing.assert_array_equal(fmt.dequantise(fmt.quantise(w)), w.astype(np.float16).astype(np.float64))


@pytest.mark.parametrize("rows,cols", [(1, 1), (31, 33), (33, 257), (64, 4100)])
@pytest.mark.parametrize("fmt_name", list(formats.FORMATS))
def test_packed_size_matches_c_table(fmt_name, rows, cols):
    fmt = formats.get(fmt_name)
    w = fmt.quantise(np.random.default_rng(0).standard_normal((rows, cols)))
    assert w.data.size == fmt.data_bytes(rows, cols)
    assert fmt.dequantise(w).shape == (rows, cols)


@pytest.mark.parametrize("rows,cols", [(8288, 2048), (2048, 4096), (50257, 2048)])
@pytest.mark.parametrize("fmt_name", list(formats.FORMATS))
def test_bpw_of_big_shapes_is_nominal(fmt_name, rows, cols):
    fmt = formats.get(fmt_name)
    bpw = fmt.data_bytes(rows, cols) * 8 / (rows * cols)
    assert abs(bpw - fmt.bpw) <= 0.01 * fmt.bpw, bpw


@pytest.mark.parametrize("fmt_name", list(formats.FORMATS))
def test_synthetic_is_deterministic_and_plausible(fmt_name):
    fmt = formats.get(fmt_name)
    rows, cols = 300, 200  # more than one 256-row chunk, odd tails
    a = fmt.synthetic(np.random.default_rng(7), rows, cols)
    b = fmt.synthetic(np.random.default_rng(7), rows, cols)
    c = fmt.synthetic(np.random.default_rng(8), rows, cols)
    assert (a.rows, a.cols, a.format) == (rows, cols, fmt_name)
    assert a.data.size == fmt.data_bytes(rows, cols)
    assert np.array_equal(a.data, b.data) and a.scale == b.scale
    assert not np.array_equal(a.data, c.data)
    deq = fmt.dequantise(a)
    assert 0.3 < deq.std() * np.sqrt(cols) < 2.0
    if fmt.from_ternary is not None:
        assert 0.3 < np.mean(deq == 0) < 0.37
        assert a.scale > 0


@pytest.mark.parametrize("pack", [formats._tmad_pack, formats._tlut_pack])
def test_ternary_packing_concatenates_by_row_chunks(pack):
    """synthetic() packs 256 rows at a time: the parts must concatenate to the whole."""
    codes = np.random.default_rng(1).integers(-1, 2, size=(600, 77), dtype=np.int8)
    parts = [pack(codes[r:r + 256]) for r in range(0, 600, 256)]
    np.testing.assert_array_equal(np.concatenate(parts), pack(codes))


def _header(act):
    return (float(act[0:4].view(np.float32)[0]), int(act[4:8].view(np.int32)[0]),
            int(act[8:16].view(np.int64)[0]))


_x = st.integers(1, 600).flatmap(lambda n: hnp.arrays(
    np.float32, n, elements=st.one_of(st.just(0.0), st.just(0.5), st.floats(-100, 100, width=32),
                                      st.floats(-2.0**-123, 2.0**-123, width=32))))


@SETTINGS
@given(x=_x, quant=st.sampled_from(formats.ACT_QUANTS))
def test_int8_tensor_prep_matches_numpy_mirror(x, quant):
    q, inv = formats.i8_tensor_activations(x, quant)
    n = x.size
    # ternary-mad: int8 q padded to 128 columns
    act = formats.prepare(formats.get("ternary-mad"), x, quant)
    assert _header(act) == (inv, int(q.astype(np.int64).sum()), n)
    kp = -(-n // 128) * 128
    np.testing.assert_array_equal(act[64:64 + kp].view(np.int8), np.pad(q, (0, kp - n)))
    # ternary-lut: per column pair 16 int16 entries (7-bit low parts, then high parts)
    act = formats.prepare(formats.get("ternary-lut"), x, quant)
    assert _header(act) == (inv, int(q.astype(np.int64).sum()), n)
    kp = -(-n // 4) * 4
    qp = np.pad(q, (0, kp - n)).astype(np.int16).reshape(-1, 2)
    t = act[64:64 + 16 * kp].reshape(-1, 2, 16)
    assert t[:, 0].max(initial=0) < 128
    entries = t[:, 0].astype(np.int16) + 128 * t[:, 1].view(np.int8).astype(np.int16)
    wt = np.array([-1, 0, 1, 0], dtype=np.int16)
    i = np.arange(16)
    np.testing.assert_array_equal(entries, wt[i & 3] * qp[:, :1] + wt[i >> 2] * qp[:, 1:])


def test_activation_quantisers_by_hand():
    """absmax (BitNet): s = 127 / max|x| = 1 here, ties to even.  bitmamba (bitmamba.c):
    s = 127 / (127 + 1e-5) = 0.99999994 in float32, so 0.5 s = 0.49999997 and 0.49999997 + 0.5 rounds
    (float32, tie to even) to 1.0: q = 1 where exact rounding would give 0, as bitmamba.c computes."""
    x = np.array([127, 0.5, -0.5, 0, -127], np.float32)
    q, inv = formats.i8_tensor_activations(x, "absmax")
    assert q.tolist() == [127, 0, 0, 0, -127] and inv == 1.0
    q, inv = formats.i8_tensor_activations(x, "bitmamba")
    assert q.tolist() == [127, 1, -1, 0, -127]
    assert inv == float(np.float32(1) / (np.float32(127) / np.float32(127 + np.float32(1e-5))))
    # an all-zero vector: absmax says 0 scale, bitmamba's epsilon keeps it finite
    assert formats.i8_tensor_activations(np.zeros(4, np.float32), "absmax") == (pytest.approx(np.zeros(4)), 0.0)
    q, inv = formats.i8_tensor_activations(np.zeros(4, np.float32), "bitmamba")
    assert q.tolist() == [0] * 4 and inv == float(np.float32(1) / (np.float32(127) / np.float32(1e-5)))
    for quant in formats.ACT_QUANTS:  # the C quantiser computes the same
        q, inv = formats.i8_tensor_activations(x, quant)
        act = formats.prepare(formats.get("ternary-mad"), x, quant)
        assert _header(act) == (inv, int(q.sum()), len(x))
        np.testing.assert_array_equal(act[64:64 + len(x)].view(np.int8), q)


def test_unknown_activation_quantiser_is_an_error():
    with pytest.raises(BmbenchError, match="unknown activation quantiser"):
        formats.prepare(formats.get("ternary-mad"), np.ones(4, np.float32), "nope")


@SETTINGS
@given(x=_x)
def test_q8_block_prep_matches_numpy_mirror(x):
    q, d = formats.q8_block_activations(x)
    nb = q.shape[0]
    for name in BLOCK:
        act = formats.prepare(formats.get(name), x)
        np.testing.assert_array_equal(act[64:64 + 32 * nb].view(np.int8), q.reshape(-1))
        np.testing.assert_array_equal(act[64 + 32 * nb:64 + 36 * nb].view(np.float32), d)


def test_mad_and_lut_compute_the_same_outputs():
    rng = np.random.default_rng(3)
    codes = rng.integers(-1, 2, size=(97, 333), dtype=np.int8)
    x = rng.standard_normal(333).astype(np.float32)
    ys = [formats.gemv(formats.get(n).from_ternary(codes, 0.02), x, flavour="scalar") for n in TERNARY]
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])


@pytest.mark.parametrize("fmt_name", TERNARY)
def test_from_ternary_rejects_non_ternary_codes(fmt_name):
    fmt = formats.get(fmt_name)
    with pytest.raises(BmbenchError):
        fmt.from_ternary(np.full((2, 3), 2, dtype=np.int8), 1.0)
    with pytest.raises(BmbenchError):
        fmt.from_ternary(np.zeros(3, dtype=np.int8), 1.0)


def test_only_ternary_formats_repack_codes():
    assert set(TERNARY) == {"ternary-mad", "ternary-lut"}
    assert all(formats.get(n).from_ternary is None for n in formats.FORMATS if n not in TERNARY)


@pytest.mark.parametrize("fmt_name", TERNARY)
def test_zero_matrix_quantises_to_zero(fmt_name):
    fmt = formats.get(fmt_name)
    p = fmt.quantise(np.zeros((3, 5)))
    assert p.scale == float(np.float32(1e-5))
    np.testing.assert_array_equal(fmt.dequantise(p), 0)
