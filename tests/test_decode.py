"""The C decode engine against a NumPy float64 forward of the same tiny models: logits per step
within a tolerance, identical greedy tokens, for every weight format x flavour x threads x state
type; plus reset, threads and timestamp behaviour."""
from __future__ import annotations

import numpy as np
import pytest

from bmbench import formats
from bmbench.engine import Engine
from bmbench.errors import BmbenchError
from bmbench.models.config import MambaConfig
from bmbench.models.weights import LayerWeights, ModelWeights


CONFIGS = {
    # BitMamba-2 shape: B, C one scalar per head (n_groups = heads, d_state 1), only x convolved
    # (and bitmamba.c's activation quantiser: config.act_quant)
    "bitmamba": MambaConfig("tiny-bitmamba", 2, 64, 128, 4, 32, 1, 4, 4, 97, False, True, family="bitmamba2"),
    # Mamba-2 shape: B, C shared by all heads (n_groups 1), x|B|C convolved
    "mamba2": MambaConfig("tiny-mamba2", 2, 64, 128, 4, 32, 16, 1, 4, 101, True, False),
    # odd sizes everywhere (SIMD tails), two groups, D per channel
    "odd": MambaConfig("tiny-odd", 1, 37, 66, 6, 11, 3, 2, 4, 53, True, True),
}
FORMAT_NAMES = list(formats.FORMATS)
PROMPT = [3, 1, 4, 1, 5]
N_NEW = 16


def build(cfg: MambaConfig, fmt_name: str, seed: int = 0, d_per_channel: bool = False) -> ModelWeights:
    rng = np.random.default_rng(seed)
    fmt = formats.get(fmt_name)
    f32 = np.float32
    gn = cfg.n_groups * cfg.d_state
    conv_dim = cfg.d_inner + (2 * gn if cfg.conv_bc else 0)

    def norm(n):
        return (1 + 0.1 * rng.standard_normal(n)).astype(f32)

    def proj(rows, cols):
        return fmt.quantise(rng.standard_normal((rows, cols)) / np.sqrt(cols))

    layers = []
    for _ in range(cfg.n_layers):
        dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), cfg.n_heads))
        layers.append(LayerWeights(
            in_proj_norm=norm(cfg.d_model),
            in_proj=proj(2 * cfg.d_inner + 2 * gn + cfg.n_heads, cfg.d_model),
            conv_w=(rng.standard_normal((conv_dim, cfg.d_conv)) / 2).astype(f32),
            conv_b=(0.1 * rng.standard_normal(conv_dim)).astype(f32),
            dt_bias=np.log(np.expm1(dt)).astype(f32),
            A_log=np.log(rng.uniform(1, 16, cfg.n_heads)).astype(f32),
            D=(1 + 0.1 * rng.standard_normal(cfg.d_inner if d_per_channel else cfg.n_heads)).astype(f32),
            out_proj_norm=norm(cfg.d_inner),
            out_proj=proj(cfg.d_model, cfg.d_inner)))
    return ModelWeights(cfg, fmt_name, rng.standard_normal((cfg.vocab, cfg.d_model)).astype(f32), layers,
                        norm(cfg.d_model), norm(cfg.d_model) if cfg.lm_head_norm else None,
                        proj(cfg.vocab, cfg.d_model))


# ------------------------------------------------------------------- NumPy float64 reference forward
def silu(v):
    return v / (1 + np.exp(-v))


def rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x) + eps) * w


class Reference:
    """Float64 forward on the dequantised weights, activations as each format's kernel sees them."""

    def __init__(self, w: ModelWeights, f16_state: bool):
        self.w, self.cfg, self.f16 = w, w.config, f16_state
        self.fmt = formats.get(w.format)
        self.mats = {}
        self.reset()

    def reset(self):
        c = self.cfg
        conv_dim = c.d_inner + (2 * c.n_groups * c.d_state if c.conv_bc else 0)
        self.conv = [np.zeros((c.d_conv - 1, conv_dim)) for _ in range(c.n_layers)]
        self.S = [np.zeros((c.n_heads, c.head_dim, c.d_state)) for _ in range(c.n_layers)]

    def lin(self, p, x):
        if id(p) not in self.mats:
            self.mats[id(p)] = self.fmt.dequantise(p)
        return self.mats[id(p)] @ self.fmt.act_reference(x, self.cfg.act_quant)

    def step(self, tok):
        c, w = self.cfg, self.w
        H, P, N, G, di = c.n_heads, c.head_dim, c.d_state, c.n_groups, c.d_inner
        h = w.embedding[tok].astype(np.float64)
        for l, L in enumerate(w.layers):
            xz = self.lin(L.in_proj, rms(h, L.in_proj_norm, c.eps))
            z, xbc, dt_raw = xz[:di], xz[di:2 * di + 2 * G * N], xz[2 * di + 2 * G * N:]
            conv_dim = self.conv[l].shape[1]
            taps = np.vstack([self.conv[l], xbc[None, :conv_dim]])
            conv_out = silu(L.conv_b + np.einsum("kc,ck->c", taps, L.conv_w.astype(np.float64)))
            self.conv[l] = taps[1:]
            xbc = np.concatenate([conv_out, xbc[conv_dim:]])
            x, B, C = xbc[:di], xbc[di:di + G * N], xbc[di + G * N:]
            dt = np.log1p(np.exp(dt_raw + L.dt_bias))
            dA = np.exp(dt * -np.exp(L.A_log.astype(np.float64)))
            g = np.arange(H) // (H // G)
            Bh, Ch, xh = B.reshape(G, N)[g], C.reshape(G, N)[g], x.reshape(H, P)
            S = dA[:, None, None] * self.S[l] + (dt[:, None] * xh)[:, :, None] * Bh[:, None, :]
            Dh = L.D.reshape(H, -1)
            y = (np.einsum("hpn,hn->hp", S, Ch) + Dh * xh).reshape(-1)
            self.S[l] = S.astype(np.float16).astype(np.float64) if self.f16 else S
            h = h + self.lin(L.out_proj, rms(y * silu(z), L.out_proj_norm, c.eps))
        u = rms(h, w.norm_f, c.eps)
        if w.lm_head_norm is not None:
            u = rms(u, w.lm_head_norm, c.eps)
        return self.lin(w.lm_head, u)


def _tolerance(fmt, state):
    """Of the logits' range.  Measured on these models: ~4e-7 (fp32 state), ~4e-6 (fp16 state);
    formats that quantise activations can see one int8 step flip at a rounding boundary.  An fp16
    state element whose value lies within fp32 rounding of an fp16 rounding boundary rounds the
    other way in a flavour that sums in another order: one such flip moved the logits of the
    2-layer bitmamba model by 5.7e-3 of their range (AVX-512 q8_0, seed 0; other seeds 2e-7)."""
    return {"f32": 1e-5, "f16": 3e-4}[state] * (1 if fmt.name in ("f32", "f16") else 30)


def _check_step(logits, ref, token, tol):
    scale = np.max(np.abs(ref))
    err = np.max(np.abs(logits - ref)) / scale
    assert err <= tol, f"logits differ by {err:.2e} of their range (tolerance {tol:.0e})"
    # greedy: the reference's argmax, unless the reference itself has a near-tie within tolerance
    assert ref[token] >= np.max(ref) - 2 * tol * scale, (token, int(np.argmax(ref)))
    return token == int(np.argmax(ref))


# -------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("state", ["f32", "f16"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("fmt_name", FORMAT_NAMES)
@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_decode_matches_reference(cfg_name, fmt_name, threads, state, flavour):
    fmt = formats.get(fmt_name)
    if flavour not in fmt.flavours:
        pytest.skip(f"{fmt_name} has no {flavour} kernel")
    w = build(CONFIGS[cfg_name], fmt_name, d_per_channel=cfg_name == "odd")
    eng, ref = Engine(w, threads=threads, flavour=flavour, state=state), Reference(w, state == "f16")
    tol = _tolerance(fmt, state)

    # token by token with logits every step: the prompt, then greedy (the reference follows)
    generated, exact = [], 0
    for t in PROMPT:
        tok = eng.step(t)
        exact += _check_step(eng.logits(), ref.step(t), tok, tol)
    generated.append(tok)
    for _ in range(N_NEW - 1):
        tok = eng.step(generated[-1])
        exact += _check_step(eng.logits(), ref.step(generated[-1]), tok, tol)
        generated.append(tok)
    if fmt.name == "f32":  # no near-ties at this precision: every greedy token is the reference's
        assert exact == len(PROMPT) + N_NEW - 1
    last = eng.logits()

    # the C loop from a fresh state: the same tokens and last logits, bit for bit
    eng.reset()
    run = eng.decode(PROMPT, N_NEW)
    assert run.tokens.tolist() == generated
    np.testing.assert_array_equal(eng.logits(), last)


@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_reset_and_threads_give_identical_output(cfg_name, flavour):
    w = build(CONFIGS[cfg_name], "f32", seed=1)
    eng = Engine(w, threads=1, flavour=flavour)
    a = eng.decode(PROMPT, N_NEW)
    la = eng.logits()
    b = eng.decode(PROMPT, N_NEW)  # continues the sequence: the state matters
    eng.reset()
    c = eng.decode(PROMPT, N_NEW)
    np.testing.assert_array_equal(c.tokens, a.tokens)
    np.testing.assert_array_equal(eng.logits(), la)
    assert eng.logits() is not la
    eng2 = Engine(w, threads=2, flavour=flavour)  # rows and heads split across threads: bitwise equal
    np.testing.assert_array_equal(eng2.decode(PROMPT, N_NEW).tokens, a.tokens)
    np.testing.assert_array_equal(eng2.logits(), la)
    assert b.tokens.shape == a.tokens.shape


@pytest.mark.parametrize("state", ["f32", "f16"])
def test_a_state_big_enough_to_share_splits_its_heads_across_the_team(state, flavour):
    """From 65536 state values per layer (decode.c: BMK_SSM_PAR_MIN) the token's team also shares
    the state update: 2 and 3 threads give the 1-thread tokens and logits bit for bit, and the
    reference's logits."""
    cfg = MambaConfig("tiny-wide-state", 1, 64, 512, 8, 64, 128, 1, 4, 61, True, False)
    w = build(cfg, "f32", seed=2)
    runs = [Engine(w, threads=t, flavour=flavour, state=state) for t in (1, 2, 3)]
    ref = Reference(w, state == "f16")
    tok = PROMPT[0]
    for _ in range(8):
        toks = [e.step(tok) for e in runs]
        assert toks[0] == toks[1] == toks[2]
        np.testing.assert_array_equal(runs[1].logits(), runs[0].logits())
        np.testing.assert_array_equal(runs[2].logits(), runs[0].logits())
        _check_step(runs[0].logits(), ref.step(tok), toks[0], _tolerance(formats.get("f32"), state))
        tok = toks[0]


def test_timestamps_and_prefill():
    w = build(CONFIGS["bitmamba"], "f32")
    run = Engine(w).decode(PROMPT, 8)
    assert run.tokens.shape == (8,) and run.t_ns.shape == (len(PROMPT) + 8,)
    assert np.all(np.diff(run.t_ns) >= 0)
    assert run.prefill_ns > 0 and run.token_ns.shape == (7,) and np.all(run.token_ns > 0)
    assert np.all((run.tokens >= 0) & (run.tokens < w.config.vocab))
    one = Engine(w).decode([7], 1)  # a one-token prompt, one new token: no generation step
    assert one.tokens.shape == (1,) and one.token_ns.shape == (0,)


def test_state_bytes():
    c = CONFIGS["mamba2"]
    conv_dim = c.d_inner + 2 * c.n_groups * c.d_state
    w = build(c, "f32")
    conv = c.n_layers * (c.d_conv - 1) * conv_dim * 4
    assert Engine(w).state_bytes == c.n_layers * c.d_inner * c.d_state * 4 + conv
    assert Engine(w, state="f16").state_bytes == c.n_layers * c.d_inner * c.d_state * 2 + conv


def test_bad_inputs_raise():
    w = build(CONFIGS["bitmamba"], "f32")
    eng = Engine(w)
    with pytest.raises(BmbenchError, match="vocabulary"):
        eng.step(w.config.vocab)
    with pytest.raises(BmbenchError):
        eng.decode([0, -1], 4)
    with pytest.raises(BmbenchError):
        eng.decode([], 4)
    with pytest.raises(BmbenchError):
        Engine(w, state="bf16")
    bad = build(CONFIGS["bitmamba"], "f32")
    bad.layers[1].dt_bias = bad.layers[1].dt_bias[:-1]
    with pytest.raises(BmbenchError, match="dt_bias"):
        Engine(bad)
    bad = build(CONFIGS["bitmamba"], "f32")
    bad.layers[0].out_proj = bad.layers[0].in_proj  # wrong shape for out_proj
    with pytest.raises(BmbenchError, match="shape"):
        Engine(bad)
