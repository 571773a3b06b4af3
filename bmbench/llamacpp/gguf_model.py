"""GGUF models for the llama.cpp engine: bmbench's seeded synthetic weights written as GGUF with the
gguf package (cached on disk), and what a GGUF file holds (architecture, sizes, bytes per token).

The values come from bmbench's own synthetic weights of the type's source format (GGUF_TYPES), each
projection dequantised and re-quantised by gguf into the llama.cpp type: ternary codes land exactly
on TQ2_0 / TQ1_0, Q8_0 / Q4_0 blocks on the same blocks (llama.cpp's layouts are bmbench's), so both
engines decode the same model.  Tensors are written one at a time (bounded memory for 2.7B models).

Where llama.cpp's graph differs from a bmbench architecture the shape is kept, not the exact math:
BitMamba-2 becomes llama.cpp's `mamba2` with one group per head and d_state 1 (B and C one scalar per
head, as in BitMamba-2), its x-only conv gets identity taps on the B and C channels (llama.cpp
convolves x|B|C, then SiLU), D per channel is averaged per head, the gated RMSNorm is per group, and
lm_head has no input norm of its own.  The transformer is llama.cpp's `llama` (RoPE without the
Llama-3 frequency table: speed-neutral).  No tokenizer: `tokenizer.ggml.model = none` with the
vocabulary size (llama.cpp adds dummy tokens), since bmbench feeds token ids.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .. import formats
from ..errors import BmbenchError
from ..results import new_file_mode
from ..models.config import MambaConfig, ModelConfig, TransformerConfig
from . import GGUF_TYPES, GGUFType, require

CONTEXT_LENGTH = 1 << 20  # what convert_hf_to_gguf writes for Mamba-2 (no positional limit)


@dataclass(frozen=True)
class _Tensor:
    name: str
    rows: int          # 1 for vectors
    cols: int
    qtype: str         # ggml type name
    make: Callable[[], np.ndarray]  # float32 values [rows, cols] or [cols]


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _vec(name: str, a: np.ndarray) -> _Tensor:
    a = _f32(a)
    return _Tensor(name, 1 if a.ndim == 1 else a.shape[0], a.shape[-1], "F32", lambda: a)


def _proj(name: str, p: formats.Packed, t: GGUFType) -> _Tensor:
    return _Tensor(name, p.rows, p.cols, t.ggml, lambda: _f32(formats.get(p.format).dequantise(p)))


def _mamba_tensors(w, t: GGUFType) -> Iterator[_Tensor]:
    c: MambaConfig = w.config
    yield _vec("token_embd.weight", w.embedding)
    for i, L in enumerate(w.layers):
        b = f"blk.{i}."
        yield _vec(b + "attn_norm.weight", L.in_proj_norm)
        yield _proj(b + "ssm_in.weight", L.in_proj, t)
        conv_w, conv_b = L.conv_w, L.conv_b
        if not c.conv_bc:  # identity taps: llama.cpp convolves B and C too
            ident = np.zeros((2 * c.d_bc, c.d_conv), np.float32)
            ident[:, -1] = 1
            conv_w = np.concatenate([conv_w, ident])
            conv_b = np.concatenate([conv_b, np.zeros(2 * c.d_bc, np.float32)])
        yield _vec(b + "ssm_conv1d.weight", conv_w)
        yield _vec(b + "ssm_conv1d.bias", conv_b)
        yield _vec(b + "ssm_dt.bias", L.dt_bias)
        yield _vec(b + "ssm_a", -np.exp(L.A_log.astype(np.float64)).reshape(c.n_heads, 1))
        yield _vec(b + "ssm_d", L.D.reshape(c.n_heads, c.head_dim).mean(axis=1, keepdims=True))
        yield _vec(b + "ssm_norm.weight", L.out_proj_norm.reshape(c.n_groups, c.d_inner // c.n_groups))
        yield _proj(b + "ssm_out.weight", L.out_proj, t)
    yield _vec("output_norm.weight", w.norm_f)
    yield _proj("output.weight", w.lm_head, t)


_LLAMA_NAMES = {"wq": "attn_q", "wk": "attn_k", "wv": "attn_v", "wo": "attn_output",
                "w_gate": "ffn_gate", "w_up": "ffn_up", "w_down": "ffn_down"}


def _llama_tensors(w, t: GGUFType) -> Iterator[_Tensor]:
    yield _vec("token_embd.weight", w.embedding)
    for i, L in enumerate(w.layers):
        b = f"blk.{i}."
        yield _vec(b + "attn_norm.weight", L.attn_norm)
        for k in ("wq", "wk", "wv", "wo"):
            yield _proj(b + _LLAMA_NAMES[k] + ".weight", getattr(L, k), t)
        yield _vec(b + "ffn_norm.weight", L.ffn_norm)
        for k in ("w_gate", "w_up", "w_down"):
            yield _proj(b + _LLAMA_NAMES[k] + ".weight", getattr(L, k), t)
    yield _vec("output_norm.weight", w.norm_f)
    yield _proj("output.weight", w.lm_head, t)  # tied: the packed copy, as bmbench reads it


def _metadata(writer, c: ModelConfig) -> None:
    writer.add_vocab_size(c.vocab)
    writer.add_embedding_length(c.d_model)
    writer.add_block_count(c.n_layers)
    writer.add_tokenizer_model("none")
    if isinstance(c, TransformerConfig):
        writer.add_context_length(131072)
        writer.add_feed_forward_length(c.d_ff)
        writer.add_head_count(c.n_heads)
        writer.add_head_count_kv(c.n_kv_heads)
        writer.add_key_length(c.head_dim)
        writer.add_value_length(c.head_dim)
        writer.add_rope_dimension_count(c.head_dim)
        writer.add_rope_freq_base(c.rope_theta)
        writer.add_layer_norm_rms_eps(c.eps)
    else:
        writer.add_context_length(CONTEXT_LENGTH)
        writer.add_feed_forward_length(0)
        writer.add_head_count(0)
        writer.add_ssm_conv_kernel(c.d_conv)
        writer.add_ssm_inner_size(c.d_inner)
        writer.add_ssm_state_size(c.d_state)
        writer.add_ssm_time_step_rank(c.n_heads)
        writer.add_ssm_group_count(c.n_groups)
        writer.add_layer_norm_rms_eps(c.eps)


def check_shapes(c: ModelConfig, t: GGUFType) -> None:
    """llama.cpp's block types need every projection's columns to be a multiple of the block."""
    _, gguf = require()
    block = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[t.ggml]][0]
    cols = {c.d_model, c.d_inner if isinstance(c, MambaConfig) else c.d_ff}
    if isinstance(c, TransformerConfig):
        cols.add(c.q_dim)
    bad = sorted(n for n in cols if n % block)
    if bad:
        raise BmbenchError(f"{c.name}: llama.cpp's {t.name} needs rows of multiples of {block} weights; "
                           f"{', '.join(map(str, bad))} is not")


def write_gguf(weights, gguf_type: str, path: str | os.PathLike) -> Path:
    """Write bmbench weights (ModelWeights or TransformerWeights) as a GGUF model in `gguf_type`;
    atomically (a temporary file renamed into place)."""
    _, gguf = require()
    t = GGUF_TYPES[gguf_type]
    c = weights.config
    check_shapes(c, t)
    arch = "llama" if isinstance(c, TransformerConfig) else "mamba2"
    tensors = list((_llama_tensors if arch == "llama" else _mamba_tensors)(weights, t))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, new_file_mode())
    os.close(fd)
    try:
        writer = gguf.GGUFWriter(tmp, arch)
        writer.add_name(f"bmbench synthetic {c.name} {gguf_type}")
        _metadata(writer, c)
        for x in tensors:
            q = gguf.GGMLQuantizationType[x.qtype]
            shape = (x.rows, x.cols) if x.rows > 1 else (x.cols,)
            if x.qtype == "F32":
                writer.add_tensor_info(x.name, shape, np.dtype(np.float32), 4 * x.rows * x.cols)
            else:
                block, size = gguf.GGML_QUANT_SIZES[q]
                row_bytes = x.cols // block * size
                writer.add_tensor_info(x.name, (x.rows, row_bytes), np.dtype(np.uint8), x.rows * row_bytes,
                                       raw_dtype=q)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for x in tensors:
            v = x.make()
            writer.write_tensor_data(v if x.qtype == "F32" else
                                     gguf.quants.quantize(v, gguf.GGMLQuantizationType[x.qtype]))
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------------- the disk cache
_TMP_DIRS: list[str] = []


def _cache_dir() -> Path:
    from ..models import cache
    d = cache.cache_dir()
    if d is None:  # cache off: a directory of this process, removed at exit
        if not _TMP_DIRS:
            _TMP_DIRS.append(tempfile.mkdtemp(prefix="bmbench-gguf-"))
        return Path(_TMP_DIRS[0])
    return d / "gguf"


@atexit.register
def _cleanup() -> None:
    for d in _TMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)


def cached_path(c: ModelConfig, gguf_type: str, seed: int = 0) -> Path:
    """Where the seeded synthetic GGUF of model c in gguf_type is cached, keyed by the sources that
    define its bytes (bmbench's weights, this writer, the gguf version)."""
    from importlib.metadata import version

    from ..models import weights as W
    t = GGUF_TYPES[gguf_type]
    h = hashlib.sha1(repr((c, t, seed, version("gguf"))).encode())
    for mod in (formats, W):
        h.update(Path(mod.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return _cache_dir() / f"{c.name}-{gguf_type}-seed{seed}-{h.hexdigest()[:12]}.gguf"


def synthetic_gguf(c: ModelConfig, gguf_type: str, seed: int = 0) -> tuple[Path, str]:
    """(path, origin) of the seeded synthetic GGUF of model c in gguf_type, generated once."""
    require()
    from ..models import cache
    t = GGUF_TYPES[gguf_type]
    check_shapes(c, t)
    path = cached_path(c, gguf_type, seed)
    if path.exists():
        return path, f"synthetic seed {seed} (GGUF cache {path.name})"
    w, _ = cache.synthetic_weights(c, t.source, seed)
    write_gguf(w, gguf_type, path)
    return path, f"synthetic seed {seed} (GGUF generated from bmbench {t.source} weights)"


def synthetic_gguf_isolated(c: ModelConfig, gguf_type: str, seed: int = 0) -> tuple[Path, str]:
    """synthetic_gguf, generating a missing file in a child process: the float detour of the
    generation (gigabytes for a 128k-vocabulary lm_head) never enters the case's peak RSS."""
    import concurrent.futures
    import multiprocessing

    from ..models import cache
    # with the cache off the file lives in a directory of this process: generate it here
    if cache.cache_dir() is None or cached_path(c, gguf_type, seed).exists():
        return synthetic_gguf(c, gguf_type, seed)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as ex:
        return ex.submit(synthetic_gguf, c, gguf_type, seed).result()


# --------------------------------------------------------------------------------- reading a GGUF
@dataclass(frozen=True)
class GGUFInfo:
    path: str
    arch: str
    name: str | None
    weight_type: str               # the most common type among the 2-D weight tensors (lower case)
    tensor_bytes: dict[str, int]   # every tensor's bytes
    embedding_row_bytes: int
    n_layers: int
    state_bytes: int               # recurrent (SSM + conv, fp32) or 0
    kv_bytes_per_position: int     # transformer: fp16 K and V, all layers; 0 for Mamba
    vocab: int

    def bytes_per_token(self, positions: int = 0) -> dict[str, int]:
        """Bytes one decode token reads (BRIEF section 5): every tensor but the embedding, one
        embedding row, the recurrent state read and written, the KV cache at `positions`."""
        tied = "output.weight" not in self.tensor_bytes
        weights = sum(v for k, v in self.tensor_bytes.items() if k != "token_embd.weight")
        out = {"weights": weights, "embedding_row": self.embedding_row_bytes}
        if tied:
            out["lm_head (tied embedding)"] = self.tensor_bytes["token_embd.weight"]
        if self.state_bytes:
            out["recurrent state (read + write)"] = 2 * self.state_bytes
        if self.kv_bytes_per_position:
            out["KV cache"] = self.kv_bytes_per_position * positions
        return out


def read_info(path: str | os.PathLike) -> GGUFInfo:
    """Architecture and sizes of a GGUF model; a one-line error for a file that is not one."""
    _, gguf = require()
    try:
        r = gguf.GGUFReader(str(path))
    except FileNotFoundError:
        raise BmbenchError(f"GGUF file not found: {path}") from None
    except Exception as e:  # the reader raises ValueError/struct errors on a broken file
        raise BmbenchError(f"{path}: not a readable GGUF model ({type(e).__name__}: {e})") from None

    def field(key, default=None):
        f = r.fields.get(key)
        return default if f is None else f.contents()

    arch = field("general.architecture")
    if not isinstance(arch, str):
        raise BmbenchError(f"{path}: GGUF without general.architecture")
    sizes = {t.name: int(t.n_bytes) for t in r.tensors}
    if "token_embd.weight" not in sizes:
        raise BmbenchError(f"{path}: GGUF without token_embd.weight")
    emb = next(t for t in r.tensors if t.name == "token_embd.weight")
    vocab = int(emb.shape[1]) if len(emb.shape) > 1 else 1
    counts: dict[str, int] = {}
    for t in r.tensors:
        if len(t.shape) == 2 and t.name != "token_embd.weight":
            kind = t.tensor_type.name.lower()
            counts[kind] = counts.get(kind, 0) + int(t.n_bytes)
    n_layers = int(field(f"{arch}.block_count", 0))
    state = kv = 0
    if arch in ("mamba", "mamba2"):
        d_inner, d_state = int(field(f"{arch}.ssm.inner_size", 0)), int(field(f"{arch}.ssm.state_size", 0))
        d_conv, groups = int(field(f"{arch}.ssm.conv_kernel", 0)), int(field(f"{arch}.ssm.group_count", 1) or 1)
        state = 4 * n_layers * (d_inner * d_state + (d_conv - 1) * (d_inner + 2 * groups * d_state))
    else:
        heads = field(f"{arch}.attention.head_count", 0)
        kv_heads = field(f"{arch}.attention.head_count_kv", heads)
        d_model = int(field(f"{arch}.embedding_length", 0))
        if heads and kv_heads:
            kv = 2 * 2 * n_layers * int(kv_heads) * (d_model // int(heads))
    return GGUFInfo(path=str(path), arch=arch, name=field("general.name"),
                    weight_type=max(counts, key=counts.get) if counts else "f32", tensor_bytes=sizes,
                    embedding_row_bytes=sizes["token_embd.weight"] // max(vocab, 1), n_layers=n_layers,
                    state_bytes=state, kv_bytes_per_position=kv, vocab=vocab)
