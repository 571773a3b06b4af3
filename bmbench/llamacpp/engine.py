"""A GGUF model decoding greedily in llama.cpp (through llama-cpp-python's C API bindings), with the
interface of bmbench's own engines (reset / fill_context / decode -> DecodeRun), so the decode case
measures both the same way.

Each step is one `llama_decode` of one token (the prompt too, token by token, as bmbench's engines do)
and the argmax of its logits; a CLOCK_MONOTONIC stamp follows every step.  The loop is in Python: its
cost per token (a ctypes call and an argmax over the vocabulary, tens of microseconds) is inside the
timed steps and recorded in the result's method.
"""
from __future__ import annotations

import ctypes
import os
import time
from typing import Sequence

import numpy as np

from ..engine import DecodeRun
from ..errors import BmbenchError
from . import require

_LOG_CB = None  # keeps the ctypes callback alive
_ERRORS: list[str] = []


def _quiet(llama_cpp) -> None:
    """llama.cpp logs every load to stderr: keep its errors only, for our one-line messages."""
    global _LOG_CB
    if _LOG_CB is None:
        @llama_cpp.llama_log_callback
        def _cb(level, text, user_data):  # GGML_LOG_LEVEL_ERROR = 4
            if level == 4 and text:
                _ERRORS.append(text.decode(errors="replace").strip())
        _LOG_CB = _cb
        llama_cpp.llama_log_set(_LOG_CB, ctypes.c_void_p(0))


def _last_error() -> str:
    return next((e for e in reversed(_ERRORS) if "error" in e.lower()), _ERRORS[-1] if _ERRORS else "no detail")


def system_info() -> dict:
    """llama.cpp's version and the CPU features its ggml backend was built with."""
    llama_cpp, gguf = require()
    from importlib.metadata import version
    info = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    feats = [part.split("=")[0].strip() for part in info.replace("CPU :", "").split("|")
             if part.strip().endswith("= 1")]
    return dict(name="llama.cpp", version=f"llama-cpp-python {llama_cpp.__version__}",
                gguf=version("gguf"), system_info=info, cpu_features=feats)


def ggml_flavour(features: list[str]) -> str:
    """The widest SIMD level ggml's CPU backend runs here, named like bmbench's flavours."""
    for feat, name in (("AVX512", "avx512"), ("AVX2", "avx2"), ("NEON", "neon")):
        if feat in features:
            return f"ggml-{name}"
    return "ggml-scalar"


class LlamaCppEngine:
    context_fill = "llama.cpp prefill of seeded random tokens (batched)"

    def __init__(self, path: str | os.PathLike, threads: int = 1, n_ctx: int = 2048):
        llama_cpp, _ = require()
        self._L = L = llama_cpp
        _quiet(L)
        L.llama_backend_init()
        mp = L.llama_model_default_params()
        mp.n_gpu_layers = 0
        self._model = L.llama_model_load_from_file(os.fsencode(path), mp)
        if not self._model:
            raise BmbenchError(f"llama.cpp could not load {path}: {_last_error()}")
        cp = L.llama_context_default_params()
        cp.n_ctx = max(int(n_ctx), 16)
        cp.n_batch = cp.n_ubatch = 512
        cp.n_seq_max = 1
        cp.n_threads = cp.n_threads_batch = int(threads)
        cp.no_perf = True
        self._ctx = L.llama_init_from_model(self._model, cp)
        if not self._ctx:
            L.llama_model_free(self._model)
            raise BmbenchError(f"llama.cpp could not create a context for {path}: {_last_error()}")
        self.threads = threads
        self.n_ctx = L.llama_n_ctx(self._ctx)
        self.vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(self._model))
        self._mem = L.llama_get_memory(self._ctx)
        self._tok = (L.llama_token * 512)()
        self.position = 0

    def close(self) -> None:
        if getattr(self, "_ctx", None):
            self._L.llama_free(self._ctx)
            self._L.llama_model_free(self._model)
            self._ctx = self._model = None

    def __del__(self):
        self.close()

    def reset(self) -> None:
        """An empty sequence: the next token is at position 0 with a zero recurrent state."""
        self._L.llama_memory_clear(self._mem, True)
        self.position = 0

    def _eval(self, tokens: Sequence[int]) -> None:
        n = len(tokens)
        if self.position + n > self.n_ctx:
            raise BmbenchError(f"llama.cpp context of {self.n_ctx} positions is full")
        for i, t in enumerate(tokens):
            if not 0 <= t < self.vocab:
                raise BmbenchError(f"token {t} out of range for vocab {self.vocab}")
            self._tok[i] = t
        rc = self._L.llama_decode(self._ctx, self._L.llama_batch_get_one(self._tok, n))
        if rc != 0:
            raise BmbenchError(f"llama_decode failed with status {rc}: {_last_error()}")
        self.position += n

    def _last_logits(self) -> np.ndarray:
        """The last step's logits in llama.cpp's own buffer (valid until the next step)."""
        return np.ctypeslib.as_array(self._L.llama_get_logits_ith(self._ctx, -1), shape=(self.vocab,))

    def logits(self) -> np.ndarray:
        """A copy of the last step's logits (float32 [vocab])."""
        return self._last_logits().copy()

    def step(self, token: int) -> int:
        self._eval([int(token)])
        return int(np.argmax(self._last_logits()))

    def fill_context(self, n: int, seed: int = 0) -> None:
        """A context of n real positions: seeded random tokens prefilled in batches of 512."""
        if n < 0:
            raise BmbenchError(f"context must be >= 0, got {n}")
        self.reset()
        toks = np.random.default_rng(seed).integers(0, self.vocab, n)
        for i in range(0, n, 512):
            self._eval(toks[i:i + 512].tolist())

    def decode(self, prompt: Sequence[int], n_new: int, batch: int = 0) -> DecodeRun:
        """The prompt in batches of `batch` tokens (0: one llama_decode per 512 tokens, llama.cpp's
        batched prompt processing; 1: token by token), then n_new greedy tokens; stamps as
        bmbench's engines (kernels/decode.h): t_ns[0] before the first step, one after every step
        (each token of a batch stamped when the batch is done)."""
        p = np.ascontiguousarray(prompt, dtype=np.int32).reshape(-1)
        if len(p) < 1 or n_new < 1:
            raise BmbenchError("decode needs at least one prompt token and one new token")
        out = np.empty(n_new, dtype=np.int32)
        t_ns = np.empty(len(p) + n_new, dtype=np.int64)
        clock = time.monotonic_ns
        step = min(batch, 512) if batch >= 1 else 512
        t_ns[0] = clock()
        for j in range(0, len(p), step):
            self._eval(p[j:j + step].tolist())
            t_ns[j + 1:j + step + 1] = clock()
        nxt = int(np.argmax(self._last_logits()))
        for i in range(n_new):
            out[i] = nxt
            if i + 1 < n_new:
                nxt = self.step(nxt)
                t_ns[len(p) + i + 1] = clock()
        return DecodeRun(prompt=p, tokens=out, t_ns=t_ns)
