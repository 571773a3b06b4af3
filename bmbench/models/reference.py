"""NumPy float64 reference forward for the Mamba-2 family (BitMamba-2 included): one decode step
and greedy generation.  The oracle the C decode engine is tested against on tiny configs.

Weights are the format's dequantised values and each projection sees its input activations as the
format's kernel does (`Format.act_reference`: int8-quantised for integer formats, by the family's
quantiser `config.act_quant`), so the only differences to an exact C engine are float rounding.  Per token and layer:

    u  = rmsnorm(h) * in_proj_norm;        zxbcdt = W_in @ act(u) = z | x | B | C | dt
    xc = silu(conv1d(x or x|B|C) + conv_b)  (causal, kernel d_conv, state: last d_conv-1 inputs)
    per head h (group g = h // heads_per_group):
        dt = softplus(dt_raw + dt_bias);  dA = exp(dt * -exp(A_log))
        S_h = dA * S_h + dt * outer(x_h, B_g);  y_h = S_h @ C_g + D_h * x_h
    g  = rmsnorm(y * silu(z)) * out_proj_norm;  h += W_out @ act(g)
final: u = rmsnorm(h) * norm_f (then rmsnorm(u) * lm_head_norm if lm_head_norm); logits = W_lm @ act(u)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import formats
from ..errors import BmbenchError
from .config import MambaConfig
from .weights import ModelWeights


def rmsnorm(x: np.ndarray, w: np.ndarray | None, eps: float) -> np.ndarray:
    y = x / np.sqrt(np.mean(x * x) + eps)
    return y if w is None else y * w


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


@dataclass
class State:
    """Recurrent state per layer: conv inputs (oldest first) and the SSM state, float64."""
    conv: list[np.ndarray]  # [conv_dim, d_conv - 1]
    ssm: list[np.ndarray]   # [n_heads, head_dim, d_state]

    @classmethod
    def zeros(cls, c: MambaConfig) -> "State":
        return cls(conv=[np.zeros((c.conv_dim, c.d_conv - 1)) for _ in range(c.n_layers)],
                   ssm=[np.zeros((c.n_heads, c.head_dim, c.d_state)) for _ in range(c.n_layers)])

    def copy(self) -> "State":
        return State([a.copy() for a in self.conv], [a.copy() for a in self.ssm])


@dataclass
class _Layer:
    in_norm: np.ndarray
    W_in: np.ndarray
    conv_w: np.ndarray
    conv_b: np.ndarray
    dt_bias: np.ndarray
    A: np.ndarray
    D: np.ndarray
    out_norm: np.ndarray
    W_out: np.ndarray


def conv_step(conv_state: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One causal depthwise conv1d step; shifts `x` into `conv_state` in place.  Returns the
    pre-activation output: sum_k w[:, k] * window[:, k] + b, window = [state..., x]."""
    window = np.concatenate([conv_state, x[:, None]], axis=1)
    conv_state[:, :-1] = conv_state[:, 1:]
    conv_state[:, -1] = x
    return np.einsum("ck,ck->c", window, w) + b


def ssm_step(S: np.ndarray, x: np.ndarray, B: np.ndarray, C: np.ndarray, dt: np.ndarray,
             A: np.ndarray, D: np.ndarray, heads_per_group: int) -> np.ndarray:
    """One SSM update in place: S [H, P, N], x [H*P], B and C [G, N], dt and A [H] (dt already
    softplus'ed, A = -exp(A_log)), D [H*P].  Returns y [H*P]."""
    H, P, N = S.shape
    xh = x.reshape(H, P)
    g = np.arange(H) // heads_per_group
    Bh, Ch = B[g], C[g]  # [H, N]
    dA = np.exp(dt * A)
    S *= dA[:, None, None]
    S += dt[:, None, None] * xh[:, :, None] * Bh[:, None, :]
    return (np.einsum("hpn,hn->hp", S, Ch) + D.reshape(H, P) * xh).reshape(-1)


@dataclass
class Reference:
    """The float64 reference model of a ModelWeights (dequantised once: tiny configs only).

    state_dtype: "f64" (exact), or "f32" / "f16" to round the SSM state after every update the way
    an engine storing it in that type would.
    """
    weights: ModelWeights
    state_dtype: str = "f64"
    _layers: list[_Layer] = field(init=False, repr=False)

    def __post_init__(self):
        if self.state_dtype not in ("f64", "f32", "f16"):
            raise BmbenchError(f"state_dtype must be f64, f32 or f16, got {self.state_dtype!r}")
        w = self.weights
        self.config = w.config
        self.fmt = formats.get(w.format)
        dq = self.fmt.dequantise
        f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
        self._layers = [_Layer(in_norm=f64(lw.in_proj_norm), W_in=dq(lw.in_proj), conv_w=f64(lw.conv_w),
                               conv_b=f64(lw.conv_b), dt_bias=f64(lw.dt_bias), A=-np.exp(f64(lw.A_log)),
                               D=f64(lw.D), out_norm=f64(lw.out_proj_norm), W_out=dq(lw.out_proj))
                        for lw in w.layers]
        self.embedding = w.embedding  # float32; one row is read per token
        self.norm_f = f64(w.norm_f)
        self.lm_head_norm = None if w.lm_head_norm is None else f64(w.lm_head_norm)
        self.W_lm = dq(w.lm_head)

    def new_state(self) -> State:
        return State.zeros(self.config)

    def _act(self, x: np.ndarray) -> np.ndarray:
        return self.fmt.act_reference(x, self.config.act_quant)

    def layer_step(self, i: int, h: np.ndarray, state: State) -> np.ndarray:
        """Layer i's contribution for residual stream h (float64 [d_model]); updates state."""
        c, L = self.config, self._layers[i]
        sp = c.in_proj_split
        u = rmsnorm(h, L.in_norm, c.eps)
        zxbcdt = L.W_in @ self._act(u)
        z, dt_raw = zxbcdt[sp["z"]], zxbcdt[sp["dt"]]
        if c.conv_bc:
            xbc = zxbcdt[sp["x"].start:sp["C"].stop]
            xbc = silu(conv_step(state.conv[i], xbc, L.conv_w, L.conv_b))
            x = xbc[:c.d_inner]
            B = xbc[c.d_inner:c.d_inner + c.d_bc]
            C = xbc[c.d_inner + c.d_bc:]
        else:
            x = silu(conv_step(state.conv[i], zxbcdt[sp["x"]], L.conv_w, L.conv_b))
            B, C = zxbcdt[sp["B"]], zxbcdt[sp["C"]]
        dt = softplus(dt_raw + L.dt_bias)
        S = state.ssm[i]
        y = ssm_step(S, x, B.reshape(c.n_groups, c.d_state), C.reshape(c.n_groups, c.d_state),
                     dt, L.A, L.D, c.heads_per_group)
        if self.state_dtype != "f64":
            S[...] = S.astype(np.float32 if self.state_dtype == "f32" else np.float16)
        g = rmsnorm(y * silu(z), L.out_norm, c.eps)
        return L.W_out @ self._act(g)

    def step(self, token: int, state: State) -> np.ndarray:
        """Logits (float64 [vocab]) after feeding `token`; updates `state` in place."""
        c = self.config
        if not 0 <= token < c.vocab:
            raise BmbenchError(f"token {token} out of range for vocab {c.vocab}")
        h = self.embedding[token].astype(np.float64)
        for i in range(c.n_layers):
            h = h + self.layer_step(i, h, state)
        u = rmsnorm(h, self.norm_f, c.eps)
        if self.lm_head_norm is not None:
            u = rmsnorm(u, self.lm_head_norm, c.eps)
        return self.W_lm @ self._act(u)

    def generate(self, prompt: list[int], n_new: int, state: State | None = None) -> "Generation":
        """Feed `prompt` token by token, then generate `n_new` tokens greedily (argmax, lowest id on
        ties).  Returns the new tokens and the logits after every prompt and generated token."""
        if not prompt:
            raise BmbenchError("generate needs a non-empty prompt")
        state = self.new_state() if state is None else state
        all_logits = []
        logits = None
        for t in prompt:
            logits = self.step(int(t), state)
            all_logits.append(logits)
        tokens = []
        for k in range(n_new):
            nxt = int(np.argmax(logits))
            tokens.append(nxt)
            if k + 1 < n_new:
                logits = self.step(nxt, state)
                all_logits.append(logits)
        return Generation(tokens=tokens, logits=np.array(all_logits), state=state)


@dataclass
class Generation:
    tokens: list[int]     # the generated tokens
    logits: np.ndarray    # [len(prompt) + n_new - 1, vocab] float64: logits after each fed token
    state: State


def decode_step(weights: ModelWeights, token: int, state: State | None = None) -> tuple[np.ndarray, State]:
    """One decode step from `state` (zeros if None): (logits float64, the updated state)."""
    ref = Reference(weights)
    state = ref.new_state() if state is None else state
    return ref.step(token, state), state


def greedy_generate(weights: ModelWeights, prompt: list[int], n_new: int) -> Generation:
    """Greedy generation with the float64 reference (see Reference.generate)."""
    return Reference(weights).generate(prompt, n_new)
