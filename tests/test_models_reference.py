"""Synthetic weights (determinism, shapes, statistics) and the float64 reference forward, checked
against explicit loops written from the model equations (BRIEF section 2)."""
import math

import numpy as np
import pytest

from bmbench import formats
from bmbench.errors import BmbenchError
from bmbench.models import Reference, decode_step, get_config, greedy_generate, synthetic_weights
from bmbench.models.config import MambaConfig, bitmamba2_config
from bmbench.models.reference import conv_step, ssm_step

FORMAT_NAMES = list(formats.FORMATS)
TINY = ["tiny-bitmamba", "tiny-mamba2"]

# one-layer toys; the Mamba-2 one has 2 groups of 2 heads so the head -> group map matters
TOY_BIT = bitmamba2_config("toy-bit", n_layers=1, d_model=16, n_heads=4, vocab=11)
TOY_M2 = MambaConfig(name="toy-m2", n_layers=1, d_model=16, d_inner=32, n_heads=4, head_dim=8, d_state=3,
                     n_groups=2, d_conv=4, vocab=11, conv_bc=True, lm_head_norm=False)


@pytest.fixture(params=FORMAT_NAMES)
def fmt_name(request):
    return request.param


def _arrays(w):
    """Every array of a ModelWeights, flattened to (name, bytes) for exact comparison."""
    out = [("embedding", w.embedding), ("norm_f", w.norm_f), ("lm_head", w.lm_head.data)]
    if w.lm_head_norm is not None:
        out.append(("lm_head_norm", w.lm_head_norm))
    for i, lw in enumerate(w.layers):
        for k, v in vars(lw).items():
            out.append((f"{i}.{k}", v.data if isinstance(v, formats.Packed) else v))
    return out


# ---------------------------------------------------------------------------- synthetic weights
@pytest.mark.parametrize("model", TINY)
def test_synthetic_same_seed_same_bytes(model, fmt_name):
    c = get_config(model)
    a, b = synthetic_weights(c, fmt_name, seed=3), synthetic_weights(c, fmt_name, seed=3)
    for (na, xa), (nb, xb) in zip(_arrays(a), _arrays(b)):
        assert na == nb and xa.tobytes() == xb.tobytes(), na
    other = synthetic_weights(c, fmt_name, seed=4)
    assert a.embedding.tobytes() != other.embedding.tobytes()
    assert a.layers[0].in_proj.data.tobytes() != other.layers[0].in_proj.data.tobytes()


@pytest.mark.parametrize("model", TINY)
def test_synthetic_shapes_and_dtypes(model, fmt_name):
    c = get_config(model)
    w = synthetic_weights(c, fmt_name)
    w.validate()
    assert w.format == fmt_name and len(w.layers) == c.n_layers
    assert (w.lm_head_norm is not None) == c.lm_head_norm
    lw = w.layers[0]
    assert lw.in_proj.rows == c.d_in_proj and lw.in_proj.cols == c.d_model
    assert lw.conv_w.shape == (c.conv_dim, c.d_conv) and lw.D.shape == (c.d_inner,)
    for _, arr in _arrays(w):
        assert arr.flags.c_contiguous


def test_synthetic_float_statistics():
    c = get_config("bitmamba2-255m")
    from bmbench.models.weights import synthetic_float_params
    p = synthetic_float_params(c, seed=0, layer=5)
    A = np.exp(p["A_log"].astype(np.float64))
    assert np.all((A >= 1) & (A <= 16))
    dt = np.log1p(np.exp(p["dt_bias"].astype(np.float64)))  # softplus(dt_bias) recovers dt
    assert np.all((dt >= 1e-3 * 0.999) & (dt <= 0.1 * 1.001))
    assert abs(p["D"].mean() - 1) < 0.1 and abs(p["in_proj_norm"].mean() - 1) < 0.1
    assert np.abs(p["conv_w"]).max() <= 0.5
    m2 = get_config("tiny-mamba2")
    d = synthetic_float_params(m2, 0, 0)["D"].reshape(m2.n_heads, m2.head_dim)
    assert np.all(d == d[:, :1])  # Mamba-2: one D per head, repeated over its channels


def test_different_models_do_not_share_weights():
    a = synthetic_weights(get_config("tiny-bitmamba"), "f32")
    b = synthetic_weights(get_config("tiny-mamba2"), "f32")
    assert a.embedding.tobytes() != b.embedding.tobytes()


def test_unknown_format_is_a_bmbench_error():
    with pytest.raises(BmbenchError):
        synthetic_weights(get_config("tiny-bitmamba"), "q3_k")


# ---------------------------------------------------------------------------- reference pieces
def test_conv_step_matches_explicit_loop():
    rng = np.random.default_rng(0)
    ch, k = 5, 4
    w, b = rng.standard_normal((ch, k)), rng.standard_normal(ch)
    state = np.zeros((ch, k - 1))
    inputs = rng.standard_normal((6, ch))
    for t in range(6):
        out = conv_step(state, inputs[t], w, b)
        for c in range(ch):
            # causal: output_t = b + sum_j w[j] * x_{t-(k-1)+j}, zeros before the start
            want = b[c] + sum(w[c, j] * inputs[t - (k - 1) + j, c] for j in range(k) if t - (k - 1) + j >= 0)
            assert out[c] == pytest.approx(want, rel=1e-12, abs=1e-12)
    np.testing.assert_array_equal(state, inputs[-3:].T)  # the last d_conv-1 inputs, oldest first


def test_ssm_step_matches_explicit_loop_with_groups():
    rng = np.random.default_rng(1)
    H, P, N, G = 4, 3, 5, 2
    S = rng.standard_normal((H, P, N))
    S0 = S.copy()
    x, D = rng.standard_normal(H * P), rng.standard_normal(H * P)
    B, C = rng.standard_normal((G, N)), rng.standard_normal((G, N))
    dt, A = rng.uniform(0.01, 0.1, H), -rng.uniform(1, 16, H)
    y = ssm_step(S, x, B, C, dt, A, D, heads_per_group=H // G)
    for h in range(H):
        g = h // (H // G)
        for p in range(P):
            i = h * P + p
            acc = 0.0
            for n in range(N):
                s = math.exp(dt[h] * A[h]) * S0[h, p, n] + dt[h] * x[i] * B[g, n]
                assert S[h, p, n] == pytest.approx(s, rel=1e-12)
                acc += s * C[g, n]
            assert y[i] == pytest.approx(acc + D[i] * x[i], rel=1e-12, abs=1e-12)


def test_bitmamba_scalar_bc_ssm_is_the_per_channel_recurrence():
    # BRIEF: s_i = s_i exp(A_h dt) + x_i B_h dt;  y_i = (s_i C_h + x_i D_i) silu(z_i)
    rng = np.random.default_rng(2)
    H, P = 3, 4
    s = rng.standard_normal(H * P)
    x, D, z = rng.standard_normal(H * P), rng.standard_normal(H * P), rng.standard_normal(H * P)
    B, C = rng.standard_normal(H), rng.standard_normal(H)
    dt, A = rng.uniform(0.01, 0.1, H), -rng.uniform(1, 16, H)
    S = s.reshape(H, P, 1).copy()
    y = ssm_step(S, x, B[:, None], C[:, None], dt, A, D, heads_per_group=1) * (z / (1 + np.exp(-z)))
    for i in range(H * P):
        h = i // P
        si = s[i] * math.exp(A[h] * dt[h]) + x[i] * B[h] * dt[h]
        assert S.reshape(-1)[i] == pytest.approx(si, rel=1e-12)
        assert y[i] == pytest.approx((si * C[h] + x[i] * D[i]) * z[i] / (1 + math.exp(-z[i])), rel=1e-12)


# ---------------------------------------------------------------------------- whole-model checks
def _rms(v, w, eps):
    r = math.sqrt(sum(a * a for a in v) / len(v) + eps)  # float() keeps NumPy float32 out
    return [float(vi) / r * float(wi) for vi, wi in zip(v, w)]


def _silu(a):
    return a / (1 + math.exp(-a))


def _loop_step(w, token, conv, S):
    """One decode step written out channel by channel from the equations (1-layer toys)."""
    c, fmt = w.config, formats.get(w.format)
    lw = w.layers[0]
    h = [float(v) for v in w.embedding[token]]
    u = _rms(h, lw.in_proj_norm, c.eps)
    proj = list(fmt.dequantise(lw.in_proj) @ fmt.act_reference(np.array(u), c.act_quant))
    di, nb = c.d_inner, c.n_groups * c.d_state
    z, xbc, dt_raw = proj[:di], proj[di:2 * di + 2 * nb], proj[2 * di + 2 * nb:]
    conv_in = xbc if c.conv_bc else xbc[:di]
    conv_out = []
    for ch, v in enumerate(conv_in):
        acc = float(lw.conv_b[ch]) + float(lw.conv_w[ch, c.d_conv - 1]) * v
        for k in range(c.d_conv - 1):
            acc += float(lw.conv_w[ch, k]) * conv[ch][k]
        conv[ch] = conv[ch][1:] + [v]
        conv_out.append(_silu(acc))
    xbc = conv_out + xbc[len(conv_out):]
    x, B, C = xbc[:di], xbc[di:di + nb], xbc[di + nb:]
    y = []
    for hd in range(c.n_heads):
        g = hd // (c.n_heads // c.n_groups)
        dt = math.log1p(math.exp(dt_raw[hd] + float(lw.dt_bias[hd])))
        dA = math.exp(-math.exp(float(lw.A_log[hd])) * dt)
        for p in range(c.head_dim):
            i = hd * c.head_dim + p
            acc = 0.0
            for n in range(c.d_state):
                S[hd][p][n] = dA * S[hd][p][n] + dt * x[i] * B[g * c.d_state + n]
                acc += S[hd][p][n] * C[g * c.d_state + n]
            y.append(acc + float(lw.D[i]) * x[i])
    gated = _rms([yi * _silu(zi) for yi, zi in zip(y, z)], lw.out_proj_norm, c.eps)
    out = fmt.dequantise(lw.out_proj) @ fmt.act_reference(np.array(gated), c.act_quant)
    h = [a + b for a, b in zip(h, out)]
    u = _rms(h, w.norm_f, c.eps)
    if c.lm_head_norm:
        u = _rms(u, w.lm_head_norm, c.eps)
    return fmt.dequantise(w.lm_head) @ fmt.act_reference(np.array(u), c.act_quant)


@pytest.mark.parametrize("config", [TOY_BIT, TOY_M2], ids=lambda c: c.name)
def test_reference_step_matches_explicit_loops(config, fmt_name):
    w = synthetic_weights(config, fmt_name, seed=7)
    ref = Reference(w)
    state = ref.new_state()
    c = config
    conv = [[0.0] * (c.d_conv - 1) for _ in range(c.conv_dim)]
    S = [[[0.0] * c.d_state for _ in range(c.head_dim)] for _ in range(c.n_heads)]
    for token in (3, 1, 4, 1, 5):  # state carries over 5 steps
        got = ref.step(token, state)
        want = _loop_step(w, token, conv, S)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(state.ssm[0], np.array(S), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(state.conv[0], np.array(conv), rtol=1e-12)


def test_reference_uses_the_formats_activation_view(ternary_format):
    # int8 activations (stub) change the logits slightly versus float activations on the same weights
    w = synthetic_weights(TOY_BIT, ternary_format, seed=1)
    got = Reference(w).step(2, Reference(w).new_state())
    w_f = synthetic_weights(TOY_BIT, ternary_format, seed=1)
    ref_f = Reference(w_f)
    ref_f.fmt = formats.get("f32")  # float activations, same (dequantised) weights
    ref_f._act = lambda x: np.asarray(x, dtype=np.float64)
    plain = ref_f.step(2, ref_f.new_state())
    assert not np.array_equal(got, plain)
    np.testing.assert_allclose(got, plain, rtol=0.1, atol=0.1 * np.abs(plain).max())


@pytest.mark.parametrize("model", TINY)
def test_greedy_generation_is_argmax_of_the_step_logits(model):
    w = synthetic_weights(get_config(model), "f32", seed=2)
    prompt = [5, 17, 42]
    g = greedy_generate(w, prompt, 6)
    assert len(g.tokens) == 6 and g.logits.shape == (len(prompt) + 5, w.config.vocab)
    for k, t in enumerate(g.tokens):
        assert t == int(np.argmax(g.logits[len(prompt) - 1 + k]))
    # same again, and the same as stepping by hand
    assert greedy_generate(w, prompt, 6).tokens == g.tokens
    logits, state = decode_step(w, prompt[0])
    np.testing.assert_array_equal(logits, g.logits[0])
    assert np.all(np.isfinite(g.logits))


def test_state_dtype_rounding():
    w = synthetic_weights(get_config("tiny-mamba2"), "f32", seed=0)
    exact, half = Reference(w), Reference(w, state_dtype="f16")
    se, sh = exact.new_state(), half.new_state()
    for t in (1, 2, 3):
        le, lh = exact.step(t, se), half.step(t, sh)
    assert np.array_equal(sh.ssm[0], sh.ssm[0].astype(np.float16).astype(np.float64))
    assert not np.array_equal(le, lh)
    np.testing.assert_allclose(lh, le, rtol=1e-2, atol=1e-2 * np.abs(le).max())
    with pytest.raises(BmbenchError):
        Reference(w, state_dtype="f8")


def test_bad_tokens_and_prompts_are_bmbench_errors():
    ref = Reference(synthetic_weights(get_config("tiny-bitmamba"), "f32"))
    with pytest.raises(BmbenchError):
        ref.step(256, ref.new_state())
    with pytest.raises(BmbenchError):
        ref.generate([], 3)
