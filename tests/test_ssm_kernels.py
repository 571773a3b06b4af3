"""The Mamba-2 recurrence kernels: the scalar one against NumPy float64, every flavour against the
scalar one, over tiny and odd sizes and several steps so the recurrences are exercised."""
import numpy as np
import pytest

from bmbench import ssm

CHANNELS = [1, 3, 8, 33, 255, 257]
# (n_heads, head_dim, d_state, n_groups)
SSM_SHAPES = [(1, 1, 1, 1), (3, 33, 1, 3), (4, 64, 1, 4), (16, 128, 1, 16),  # BitMamba-2 style
              (2, 64, 128, 1), (4, 128, 16, 2), (3, 33, 5, 1), (2, 3, 17, 2)]
STEPS = 6
# tolerance relative to the magnitude of the terms summed (f16: about one half ulp)
TOL = {"conv": 2e-6, "norm": 2e-6, "f32": 2e-6, "f16": 2e-3}


def silu(v):
    return v / (1.0 + np.exp(-v))


def softplus(v):
    return np.where(v > 20, v, np.log1p(np.exp(np.minimum(v, 20))))


# ---------------------------------------------------------------------------------- NumPy oracles
def conv_ref(hist, w, b, x):
    """hist [width-1, ch] float64 (updated), w [ch, width]: returns (out, magnitude)."""
    taps = np.concatenate([hist, x[None, :]], axis=0)  # oldest .. newest
    acc = b + np.einsum("kc,ck->c", taps, w)
    mag = np.abs(b) + np.einsum("kc,ck->c", np.abs(taps), np.abs(w))
    hist[:] = taps[1:]
    return silu(acc), mag


def ssm_ref(S, x, B, C, dt_raw, dt_bias, A_log, D, n_groups, f16):
    """S [H, P, N] float64 (updated; rounded through float16 when f16): returns (y, magnitude)."""
    H, P, N = S.shape
    dt = softplus(dt_raw + dt_bias)
    dA = np.exp(dt * -np.exp(A_log))
    g = np.arange(H) // (H // n_groups)
    Bh, Ch = B.reshape(n_groups, N)[g], C.reshape(n_groups, N)[g]  # [H, N]
    xh = x.reshape(H, P)
    Dh = D.reshape(H, P) if D.shape[0] == H * P else D[:, None]
    new = dA[:, None, None] * S + (dt[:, None] * xh)[:, :, None] * Bh[:, None, :]
    y = np.einsum("hpn,hn->hp", new, Ch) + Dh * xh
    mag = np.einsum("hpn,hn->hp", np.abs(new), np.abs(Ch)) + np.abs(Dh * xh)
    S[:] = new.astype(np.float16).astype(np.float64) if f16 else new
    return y.reshape(-1), mag.reshape(-1)


def _ssm_inputs(rng, H, P, N, G, d_per_channel=False):
    return dict(x=rng.standard_normal(H * P).astype(np.float32),
                B=rng.standard_normal(G * N).astype(np.float32),
                C=rng.standard_normal(G * N).astype(np.float32),
                dt_raw=rng.standard_normal(H).astype(np.float32))


def _ssm_params(rng, H, P, d_per_channel):
    return dict(dt_bias=(rng.standard_normal(H) - 1).astype(np.float32),
                A_log=np.log(rng.uniform(1, 16, H)).astype(np.float32),
                D=rng.standard_normal(H * P if d_per_channel else H).astype(np.float32))


# --------------------------------------------------------------------------------------- conv1d
@pytest.mark.parametrize("width", [4, 2, 1])
@pytest.mark.parametrize("channels", CHANNELS)
def test_conv_scalar_matches_numpy(channels, width):
    rng = np.random.default_rng(channels * 10 + width)
    w = rng.standard_normal((channels, width)).astype(np.float32)
    b = rng.standard_normal(channels).astype(np.float32)
    state, hist = ssm.conv_state(channels, width), np.zeros((width - 1, channels))
    taps = ssm.conv_weight_taps(w)
    for _ in range(STEPS):
        x = rng.standard_normal(channels).astype(np.float32)
        out = ssm.conv_silu(state, taps, b, x, flavour="scalar")
        ref, mag = conv_ref(hist, w.astype(np.float64), b.astype(np.float64), x.astype(np.float64))
        assert np.all(np.abs(out - ref) <= TOL["conv"] * (mag + 1))
        np.testing.assert_array_equal(state, hist.astype(np.float32))  # state holds raw inputs


@pytest.mark.parametrize("channels", CHANNELS)
def test_conv_flavour_matches_scalar(channels, flavour):
    rng = np.random.default_rng(channels)
    w = rng.standard_normal((channels, 4)).astype(np.float32)
    b = rng.standard_normal(channels).astype(np.float32)
    taps = ssm.conv_weight_taps(w)
    s_ref, s = ssm.conv_state(channels), ssm.conv_state(channels)
    for _ in range(STEPS):
        x = (rng.standard_normal(channels) * 4).astype(np.float32)  # reaches silu's flat parts
        mag = np.abs(b) + (np.abs(np.vstack([s_ref, x[None]])).T * np.abs(w)).sum(1)
        ref = ssm.conv_silu(s_ref, taps, b, x, flavour="scalar")
        out = ssm.conv_silu(s, taps, b, x, flavour=flavour)
        assert np.all(np.abs(out - ref) <= TOL["conv"] * (mag + 1))
        np.testing.assert_array_equal(s, s_ref)


def test_conv_in_place(flavour):
    rng = np.random.default_rng(5)
    w, b = rng.standard_normal((33, 4)).astype(np.float32), rng.standard_normal(33).astype(np.float32)
    taps, x = ssm.conv_weight_taps(w), rng.standard_normal(33).astype(np.float32)
    ref = ssm.conv_silu(ssm.conv_state(33), taps, b, x, flavour=flavour)
    ssm.conv_silu(ssm.conv_state(33), taps, b, x, flavour=flavour, out=x)  # out aliases x
    np.testing.assert_array_equal(x, ref)


# ------------------------------------------------------------------------------- state update
@pytest.mark.parametrize("d_per_channel", [False, True], ids=["D_head", "D_channel"])
@pytest.mark.parametrize("state_dtype", ["f32", "f16"])
@pytest.mark.parametrize("H,P,N,G", SSM_SHAPES)
def test_ssm_scalar_matches_numpy(H, P, N, G, state_dtype, d_per_channel):
    rng = np.random.default_rng(H * 1000 + P * 10 + N)
    prm = _ssm_params(rng, H, P, d_per_channel)
    state, S = ssm.ssm_state(H, P, N, state_dtype), np.zeros((H, P, N))
    for _ in range(STEPS):
        inp = _ssm_inputs(rng, H, P, N, G)
        y = ssm.ssm_step(state, **inp, **prm, n_groups=G, flavour="scalar")
        ref, mag = ssm_ref(S, *(inp[k].astype(np.float64) for k in ("x", "B", "C", "dt_raw")),
                           *(prm[k].astype(np.float64) for k in ("dt_bias", "A_log", "D")), G,
                           state_dtype == "f16")
        tol = TOL[state_dtype] * (mag + np.abs(ref).max() * 1e-3)
        assert np.all(np.abs(y - ref) <= tol), np.max(np.abs(y - ref) / (mag + 1e-30))
        smag = np.abs(S).max() + 1e-30
        assert np.all(np.abs(state.astype(np.float64) - S) <= TOL[state_dtype] * smag)


@pytest.mark.parametrize("d_per_channel", [False, True], ids=["D_head", "D_channel"])
@pytest.mark.parametrize("state_dtype", ["f32", "f16"])
@pytest.mark.parametrize("H,P,N,G", SSM_SHAPES)
def test_ssm_flavour_matches_scalar(H, P, N, G, state_dtype, d_per_channel, flavour):
    rng = np.random.default_rng(H * 1000 + P * 10 + N + 1)
    prm = _ssm_params(rng, H, P, d_per_channel)
    s_ref, s = ssm.ssm_state(H, P, N, state_dtype), ssm.ssm_state(H, P, N, state_dtype)
    for _ in range(STEPS):
        inp = _ssm_inputs(rng, H, P, N, G)
        ref = ssm.ssm_step(s_ref, **inp, **prm, n_groups=G, flavour="scalar")
        y = ssm.ssm_step(s, **inp, **prm, n_groups=G, flavour=flavour)
        # magnitude of the summed terms, from the reference's new state
        g = np.arange(H) // (H // G)
        Ch = np.abs(inp["C"].reshape(G, N)[g])
        Dx = np.abs(inp["x"].reshape(H, P) * (prm["D"].reshape(H, -1)))
        mag = (np.einsum("hpn,hn->hp", np.abs(s_ref.astype(np.float64)), Ch) + Dx).reshape(-1)
        assert np.all(np.abs(y - ref) <= TOL[state_dtype] * (mag + 1e-3 * mag.max()))
        smag = np.abs(s_ref.astype(np.float64)).max()
        assert np.all(np.abs(s.astype(np.float64) - s_ref) <= TOL[state_dtype] * smag)


@pytest.mark.parametrize("N", [1, 16])
def test_ssm_f16_state_rounds_to_nearest_even(N, flavour):
    """dt = 32 (softplus passes values above 20 through), A = 0, B = 1: the new state is exactly
    32 * x in fp32, so its stored half must be NumPy's float16 rounding, bit for bit."""
    rng = np.random.default_rng(3)
    half = np.arange(0, 0x7c00, 7, dtype=np.uint16).view(np.float16).astype(np.float32)
    ulp = np.spacing(half.astype(np.float16)).astype(np.float32)
    targets = np.concatenate([half, half + ulp / 2, half + ulp / 4, half + 3 * ulp / 4,  # ties, near ties
                              [65504, 65519.99, 65520, 1e6, 2.0 ** -25, 2.0 ** -26, 3 * 2.0 ** -26]])
    targets = np.concatenate([targets, -targets]).astype(np.float32)
    P = 64
    targets = np.concatenate([targets, np.zeros((-len(targets)) % P, np.float32)])
    H = len(targets) // P
    x = rng.permutation(targets) / np.float32(32)
    state = ssm.ssm_state(H, P, N, "f16")
    ssm.ssm_step(state, x, np.ones(N, np.float32), np.ones(N, np.float32), np.full(H, 32, np.float32),
                 np.zeros(H, np.float32), np.full(H, -np.inf, np.float32), np.zeros(H, np.float32),
                 n_groups=1, flavour=flavour)
    with np.errstate(over="ignore"):  # values from 65520 up round to infinity
        # dA * 0 + 32 x: the added zero turns -0 into +0, as in the kernel
        expect = (np.float32(0) + x * np.float32(32)).astype(np.float16)
    expect = np.repeat(expect[:, None], N, axis=1)
    np.testing.assert_array_equal(state.reshape(-1, N).view(np.uint16), expect.view(np.uint16))


@pytest.mark.parametrize("state_dtype", ["f32", "f16"])
@pytest.mark.parametrize("H,P,N,G", [(16, 128, 1, 16), (5, 64, 128, 1)])
def test_ssm_threads_bitwise_equal(H, P, N, G, state_dtype, flavour):
    rng = np.random.default_rng(9)
    prm = _ssm_params(rng, H, P, False)
    s1, s2 = ssm.ssm_state(H, P, N, state_dtype), ssm.ssm_state(H, P, N, state_dtype)
    for _ in range(3):
        inp = _ssm_inputs(rng, H, P, N, G)
        y1 = ssm.ssm_step(s1, **inp, **prm, n_groups=G, flavour=flavour, threads=1)
        y2 = ssm.ssm_step(s2, **inp, **prm, n_groups=G, flavour=flavour, threads=2)
        np.testing.assert_array_equal(y1, y2)
        np.testing.assert_array_equal(s1, s2)


# ---------------------------------------------------------------------------------------- norms
def rmsnorm_ref(x, w, eps):
    return x / np.sqrt(np.mean(x * x) + eps) * w


@pytest.mark.parametrize("n", CHANNELS + [1024])
def test_norms_scalar_match_numpy(n):
    rng = np.random.default_rng(n)
    x, z, w = (rng.standard_normal(n).astype(np.float32) * 3 for _ in range(3))
    x64, z64, w64 = (a.astype(np.float64) for a in (x, z, w))
    ref = rmsnorm_ref(x64, w64, 1e-6)
    np.testing.assert_allclose(ssm.rmsnorm(x, w, flavour="scalar"), ref, rtol=TOL["norm"], atol=1e-6)
    ref = rmsnorm_ref(x64 * silu(z64), w64, 1e-6)
    np.testing.assert_allclose(ssm.gated_rmsnorm(x, z, w, flavour="scalar"), ref, rtol=TOL["norm"] * 4,
                               atol=1e-6)


@pytest.mark.parametrize("n", CHANNELS + [1024])
def test_norms_flavour_match_scalar(n, flavour):
    rng = np.random.default_rng(n + 1)
    x, z, w = (rng.standard_normal(n).astype(np.float32) * 3 for _ in range(3))
    for eps in (1e-6, 1e-5):
        np.testing.assert_allclose(ssm.rmsnorm(x, w, eps, flavour=flavour),
                                   ssm.rmsnorm(x, w, eps, flavour="scalar"), rtol=TOL["norm"], atol=1e-6)
        np.testing.assert_allclose(ssm.gated_rmsnorm(x, z, w, eps, flavour=flavour),
                                   ssm.gated_rmsnorm(x, z, w, eps, flavour="scalar"),
                                   rtol=TOL["norm"] * 4, atol=1e-6)


def test_norm_of_zeros_is_finite(flavour):
    z = np.zeros(33, np.float32)
    assert np.all(ssm.rmsnorm(z, np.ones(33, np.float32), flavour=flavour) == 0)
    assert np.all(ssm.gated_rmsnorm(z, z, np.ones(33, np.float32), flavour=flavour) == 0)
