"""The attn family (transformer attention over a KV cache, SwiGLU): the scalar kernels against NumPy
float64, every flavour against the scalar one, over tiny and odd sizes (head_dim tails, query-head
groups that are not a multiple of four, lengths around the vector width and the V block), for fp16
and q8_0 caches; the threaded driver against NumPy and bitwise equal across thread counts."""
import numpy as np
import pytest

from bmbench import attn, formats
from bmbench.errors import BmbenchError

HEAD_DIMS = {"f16": [2, 10, 33 * 2, 64, 130], "q8_0": [32, 64, 96]}
LENGTHS = [1, 3, 8, 31, 33, 65, 257]
GROUPS = [1, 3, 4, 5]
TOL = {"scores": 2e-6, "softmax": 2e-6, "values": 4e-6}


def cache_rows(rng, n, hd, kv, scale=1.0):
    """n random rows: (cache bytes, the float64 values the cache holds)."""
    x = (rng.standard_normal((n, hd)) * scale).astype(np.float32)
    if kv == "f16":
        held = x.astype(np.float16).astype(np.float64)
    else:
        q8 = formats.get("q8_0")
        held = q8.dequantise(q8.quantise(x))
    return attn.kv_pack(x, kv), held


def cases():
    for kv, hds in HEAD_DIMS.items():
        for hd in hds:
            for n in LENGTHS:
                for g in GROUPS:
                    if (hd * n * g) % 7 == 0 or n in (1, 33) or g == 5:  # a spread, not the full product
                        yield pytest.param(kv, hd, n, g, id=f"{kv}-hd{hd}-n{n}-g{g}")


CASES = list(cases())


# ----------------------------------------------------------------------------------- cache rows
@pytest.mark.parametrize("kv", ["f16", "q8_0"])
def test_kv_pack_matches_numpy(kv):
    x = (np.random.default_rng(1).standard_normal((9, 64)) * 3).astype(np.float32)
    x[2] = 0  # an all-zero row: q8_0 scale 0, codes 0
    x[4, 5] = 1e5  # beyond fp16's range: inf in an fp16 cache
    data = attn.kv_pack(x, kv)
    assert data.size == 9 * attn.kv_row_bytes(kv, 64)
    if kv == "f16":
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(data.view("<f2").reshape(9, 64), x.astype(np.float16))
    else:  # the same bytes as bmbench.formats' q8_0 packing of the rows
        np.testing.assert_array_equal(data, formats.get("q8_0").quantise(x).data)


def test_kv_row_bytes_and_bad_head_dim():
    assert attn.kv_row_bytes("f16", 64) == 128 and attn.kv_row_bytes("q8_0", 64) == 68
    with pytest.raises(BmbenchError, match="multiple of 32"):
        attn.kv_row_bytes("q8_0", 48)
    with pytest.raises(BmbenchError, match="KV cache type"):
        attn.kv_row_bytes("bf16", 64)


# --------------------------------------------------------------------------------------- scores
def scores_ref(q, held, scale):
    s = q.astype(np.float64) @ held.T * scale
    mag = np.abs(q.astype(np.float64)) @ np.abs(held).T * scale
    return s, mag


@pytest.mark.parametrize("kv,hd,n,g", CASES)
def test_scores_scalar_matches_numpy(kv, hd, n, g):
    rng = np.random.default_rng(hd * 1000 + n * 10 + g)
    K, held = cache_rows(rng, n, hd, kv)
    q = rng.standard_normal((g, hd)).astype(np.float32)
    ref, mag = scores_ref(q, held, 1 / np.sqrt(hd))
    s = attn.scores(q, K, n, kv, flavour="scalar")
    assert s.shape == (g, n)
    assert np.all(np.abs(s - ref) <= 1e-6 * mag + 1e-30)


@pytest.mark.parametrize("kv,hd,n,g", CASES)
def test_scores_flavour_matches_scalar(kv, hd, n, g, flavour):
    rng = np.random.default_rng(hd * 1000 + n * 10 + g + 1)
    K, held = cache_rows(rng, n, hd, kv)
    q = rng.standard_normal((g, hd)).astype(np.float32)
    _, mag = scores_ref(q, held, 0.125)
    ref = attn.scores(q, K, n, kv, scale=0.125, flavour="scalar")
    s = attn.scores(q, K, n, kv, scale=0.125, flavour=flavour)
    assert np.all(np.abs(s - ref) <= TOL["scores"] * mag + 1e-30)


# -------------------------------------------------------------------------------------- softmax
def softmax_ref(s):
    e = np.exp(s - s.max())
    return e / e.sum()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 15, 16, 17, 33, 257, 1000])
def test_softmax_scalar_matches_numpy_and_flavours_match_scalar(n, flavour):
    rng = np.random.default_rng(n)
    for spread in (0.1, 3.0, 40.0):  # nearly uniform .. one dominant position (exp underflows)
        s = (rng.standard_normal(n) * spread).astype(np.float32)
        ref = softmax_ref(s.astype(np.float64))
        p0 = attn.softmax(s, flavour="scalar")
        np.testing.assert_allclose(p0, ref, rtol=1e-6, atol=1e-12)
        p = attn.softmax(s, flavour=flavour)
        np.testing.assert_allclose(p, p0, rtol=TOL["softmax"], atol=1e-12)
        assert abs(float(p.astype(np.float64).sum()) - 1) < 1e-5


def test_softmax_shift_invariant_and_finite(flavour):
    s = np.array([1e4, 1e4 - 1, -1e4, 1e4], np.float32)  # exp of the raw scores would overflow
    p = attn.softmax(s, flavour=flavour)
    np.testing.assert_allclose(p, softmax_ref(s.astype(np.float64)), rtol=1e-5, atol=1e-12)


# --------------------------------------------------------------------------------------- values
def values_ref(p, held, n):
    p = p.astype(np.float64)[:, :n]
    return p @ held[:n], np.abs(p) @ np.abs(held[:n])


@pytest.mark.parametrize("kv,hd,n,g", CASES)
def test_values_scalar_matches_numpy(kv, hd, n, g):
    rng = np.random.default_rng(hd * 1000 + n * 10 + g + 2)
    V, held = cache_rows(rng, n, hd, kv)
    p = np.stack([attn.softmax(rng.standard_normal(n) * 2, flavour="scalar") for _ in range(g)])
    ref, mag = values_ref(p, held, n)
    out = attn.values(p, V, n, hd, kv, flavour="scalar")
    assert out.shape == (g, hd)
    assert np.all(np.abs(out - ref) <= 1e-6 * mag + 1e-30)


@pytest.mark.parametrize("kv,hd,n,g", CASES)
def test_values_flavour_matches_scalar(kv, hd, n, g, flavour):
    rng = np.random.default_rng(hd * 1000 + n * 10 + g + 3)
    V, held = cache_rows(rng, n, hd, kv)
    # probabilities in rows longer than n (the engine's scratch stride): only the first n count
    p = np.full((g, n + 5), np.nan, np.float32)
    p[:, :n] = rng.dirichlet(np.ones(n), size=g)
    _, mag = values_ref(p, held, n)
    ref = attn.values(p, V, n, hd, kv, flavour="scalar")
    out = attn.values(p, V, n, hd, kv, flavour=flavour)
    assert np.all(np.abs(out - ref) <= TOL["values"] * mag + 1e-30)


# ---------------------------------------------------------------------------------------- SwiGLU
@pytest.mark.parametrize("n", [1, 3, 8, 31, 33, 257, 8192])
def test_swiglu(n, flavour):
    rng = np.random.default_rng(n)
    gate, up = (rng.standard_normal(n) * 5).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    g64 = gate.astype(np.float64)
    ref = g64 / (1 + np.exp(-g64)) * up
    np.testing.assert_allclose(attn.swiglu(gate, up, flavour="scalar"), ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(attn.swiglu(gate, up, flavour=flavour), ref, rtol=4e-6, atol=1e-7)


# ------------------------------------------------------------------------------ the threaded driver
@pytest.mark.parametrize("kv", ["f16", "q8_0"])
@pytest.mark.parametrize("n_heads,n_kv_heads,hd,n", [(8, 2, 64, 100), (6, 3, 32, 1), (5, 5, 32, 70),
                                                      (32, 8, 64, 300)])
def test_attention_driver_matches_numpy_and_threads(n_heads, n_kv_heads, hd, n, kv, flavour):
    rng = np.random.default_rng(n_heads + n)
    stride = n + 7  # rows allocated per KV head beyond those attended (never read)
    Ks, Vs, Kh, Vh = [], [], [], []
    for _ in range(n_kv_heads):
        for rows, held in ((Ks, Kh), (Vs, Vh)):
            data, h = cache_rows(rng, stride, hd, kv)
            rows.append(data)
            held.append(h[:n])
    K, V = np.concatenate(Ks), np.concatenate(Vs)
    q = (rng.standard_normal((n_heads, hd)) * 2).astype(np.float32)
    g = n_heads // n_kv_heads
    ref = np.empty((n_heads, hd))
    for h in range(n_heads):
        s = Kh[h // g] @ q[h].astype(np.float64) / np.sqrt(hd)
        ref[h] = softmax_ref(s) @ Vh[h // g]
    out1 = attn.attention(q, K, V, n_kv_heads, n, stride, kv, flavour=flavour, threads=1)
    np.testing.assert_allclose(out1, ref, rtol=1e-4, atol=2e-5 * np.abs(ref).max())
    out2 = attn.attention(q, K, V, n_kv_heads, n, stride, kv, flavour=flavour, threads=2)
    np.testing.assert_array_equal(out1, out2)  # KV heads split across threads: bitwise equal
