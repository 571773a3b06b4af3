"""The llama.cpp engine's side of a decode case (registered under bmbench.engines in pyproject.toml):
a GGUF written from the same synthetic weights (or the user's `gguf`), the memory guard from the
source weights' accounting (memory_guard), the same measurement loop and metrics as bmbench's engine
(decode_case); bytes per token come from the GGUF's own tensors, and no host projections are made
(their model is bmbench's kernels')."""
from __future__ import annotations

import time
from pathlib import Path

from .. import memory_guard
from ..engines import Engine, Setup
from ..errors import BmbenchError
from . import GGUF_TYPES, INSTALL_HINT, available, gguf_type_for, require


def normalise(p: dict) -> dict:
    """A bmbench format becomes its GGUF counterpart (ternary-lut and ternary-mad -> tq2_0); options
    llama.cpp has no use for are refused."""
    if p.get("weights"):
        raise BmbenchError("the llama.cpp engine reads GGUF models (--gguf), not BIT2 checkpoints (--weights)")
    if p.get("state", "f32") != "f32":
        raise BmbenchError("the llama.cpp engine keeps its recurrent state in f32 (drop --state f16)")
    if p.get("kv", "f16") != "f16":
        raise BmbenchError("the llama.cpp engine runs with its default f16 KV cache (drop --kv q8_0)")
    return {**p, "format": gguf_type_for(p.get("format")).name}


def setup(p: dict, max_context: int, spec: dict):
    from . import gguf_model
    from .engine import LlamaCppEngine, ggml_flavour, system_info
    engine_info = system_info()
    if p.get("gguf"):
        path, origin = p["gguf"], f"GGUF file {p['gguf']}"
        info = gguf_model.read_info(path)
        model, family, cfg = p.get("model") or Path(path).stem, info.arch, None
    else:
        from ..models import config
        cfg = config.get_config(p["model"])
        path = None
        model, family = cfg.name, cfg.family
    transformer = family in ("transformer", "llama")
    if path is None:
        # the memory guard from bmbench's accounting of the source weights (no file generated yet)
        from ..models.accounting import account
        a = account(cfg, GGUF_TYPES[p["format"]].source, "f32", context=max_context if transformer else 0)
        est = memory_guard.memory_estimate(a.weight_bytes, a.state_bytes)
    else:
        est = memory_guard.memory_estimate(Path(path).stat().st_size,
                                           info.state_bytes + info.kv_bytes_per_position * max_context)
    avail = memory_guard.available_memory()
    if est["total_bytes"] > avail:
        return memory_guard.skipped(spec, p, model, est, avail, "KV cache" if transformer else "state")
    t0 = time.perf_counter()
    if path is None:
        path, origin = gguf_model.synthetic_gguf_isolated(cfg, p["format"], int(p.get("seed", 0)))
        info = gguf_model.read_info(path)
    eng = LlamaCppEngine(path, threads=int(p["threads"]), n_ctx=max_context + 16)
    load_s = time.perf_counter() - t0
    memory = dict(weight_bytes=Path(path).stat().st_size, state_bytes=info.state_bytes, estimate=est,
                  available_bytes=avail, gguf_tensor_bytes=sum(info.tensor_bytes.values()),
                  backing="mapped (llama.cpp's default mmap of the GGUF file)")
    if transformer:
        memory.update(kv_bytes_per_position=info.kv_bytes_per_position, kv_type="f16")
    engine_info.update(model_file=str(path), arch=info.arch, weight_class=GGUF_TYPES[p["format"]].weight_class)
    return Setup(eng=eng, model=model, family=family, origin=origin, load_s=load_s,
                 bytes_per_token=info.bytes_per_token, memory=memory, engine_info=engine_info,
                 flavour=ggml_flavour(engine_info["cpu_features"]),
                 method_note="; llama.cpp engine: one llama_decode per token from Python (ctypes) "
                             "+ NumPy argmax, inside the timed step")


def describe() -> str:
    if not available():
        return f"not installed: {INSTALL_HINT}"
    from .engine import system_info
    li = system_info()
    return f"available ({li['version']}; ggml CPU: {' '.join(li['cpu_features'])})"


ENGINE = Engine(name="llamacpp", setup=setup, normalise=normalise, types=tuple(GGUF_TYPES), require=require,
                describe=describe)
