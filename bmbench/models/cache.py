"""A disk cache of synthetic weights, so cases and runs that decode the same (model, format, seed)
generate it once (generation of a 1B model's Gaussian Q8_0 weights takes ~15 s; loading the cache
reads the files, ~0.5 s).  Loaded arrays live in process memory, not in a file mapping, as generated
ones do: a case's resident memory is the same on a cache hit and a miss (decode_case.BACKING).  Entries are keyed by the sources that define the bytes, so a change to a packing or a
generator never reads stale weights.  BMBENCH_CACHE_DIR sets the directory; `off` disables it.

Any weights dataclass of bmbench.models.weights is stored the same way: every array field (of the
model and of each layer) as one .npy file, packed fields as their bytes plus [rows, cols, scale] in
meta.json, None fields as null; loading rebuilds the dataclass from the config's family."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np

from .. import arena, formats
from ..errors import BmbenchError
from ..formats import Packed
from . import weights as W
from .config import ModelConfig, TransformerConfig

_MODEL_META = ("config", "format", "layers", "arena")  # model fields that are not arrays to save


def _classes(c: ModelConfig) -> tuple[type, type]:
    """(model weights class, layer weights class) of a config's family."""
    if isinstance(c, TransformerConfig):
        return W.TransformerWeights, W.TransformerLayerWeights
    return W.ModelWeights, W.LayerWeights


def cache_dir() -> Path | None:
    d = os.environ.get("BMBENCH_CACHE_DIR", "").strip()
    if d.lower() == "off":
        return None
    return Path(d) if d else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bmbench" / "weights"


def _key(c: ModelConfig, fmt: str, seed: int) -> str:
    h = hashlib.sha1(repr(c).encode())
    for mod in (formats, W):  # the code that defines the bytes
        h.update(Path(mod.__file__).read_bytes())
    return f"{c.name}-{fmt}-seed{seed}-{h.hexdigest()[:12]}"


def _flatten(obj, prefix: str, arrays: dict[str, np.ndarray], skip=()) -> dict:
    """Array and packed fields of a weights dataclass into `arrays`; returns their meta."""
    meta = {}
    for f in fields(obj):
        if f.name in skip:
            continue
        v = getattr(obj, f.name)
        if v is None:
            meta[f.name] = None
        elif isinstance(v, Packed):
            arrays[prefix + f.name] = v.data
            meta[f.name] = {"packed": [v.rows, v.cols, v.scale]}
        else:
            arrays[prefix + f.name] = v
            meta[f.name] = "array"
    return meta


def _arrays(w) -> tuple[dict[str, np.ndarray], dict]:
    arrays: dict[str, np.ndarray] = {}
    meta = {"model": _flatten(w, "", arrays, skip=_MODEL_META),
            "layers": [_flatten(lw, f"layers.{i}.", arrays) for i, lw in enumerate(w.layers)]}
    return arrays, meta


def _save(w, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        arrays, meta = _arrays(w)
        for name, a in arrays.items():
            np.save(tmp / f"{name}.npy", a)
        (tmp / "meta.json").write_text(json.dumps(meta))
        os.replace(tmp, path)  # complete entries only: a crash leaves a temp dir, never a half entry
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # a full or read-only disk only costs the cache


def _read_into_arena(path: Path) -> np.ndarray:
    """A packed matrix's .npy read straight into the loader's huge-page pool (arena.empty), with
    no NumPy array in between to copy from."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(f)
        if fortran or dtype != np.uint8:
            raise ValueError(f"{path}: not a C-ordered uint8 array")
        a = arena.empty(int(np.prod(shape))).reshape(shape)
        if f.readinto(memoryview(a).cast("B")) != a.nbytes:
            raise ValueError(f"{path}: truncated")
    return a


@W.in_arena
def _load(c: ModelConfig, fmt: str, path: Path):
    meta = json.loads((path / "meta.json").read_text())
    model_cls, layer_cls = _classes(c)

    def build(m: dict, prefix: str) -> dict:
        out = {}
        for name, spec in m.items():
            if spec is None:
                out[name] = None
                continue
            packed = isinstance(spec, dict)
            a = (_read_into_arena if packed else np.load)(path / f"{prefix}{name}.npy")
            out[name] = Packed(fmt, *spec["packed"][:2], a, spec["packed"][2]) if packed else a
        return out

    layers = [layer_cls(**build(m, f"layers.{i}.")) for i, m in enumerate(meta["layers"])]
    w = model_cls(config=c, format=fmt, layers=layers, **build(meta["model"], ""))
    w.validate()
    return w


def synthetic_weights(c: ModelConfig, fmt: str, seed: int = 0):
    """Synthetic weights from the cache when present, else generated (and cached).
    Returns the weights and where they came from."""
    d = cache_dir()
    if d is None:
        return W.synthetic_weights(c, fmt, seed), "generated (cache off)"
    path = d / _key(c, fmt, seed)
    if (path / "meta.json").exists():
        try:
            return _load(c, fmt, path), f"cache {path}"
        except (OSError, ValueError, KeyError, TypeError, BmbenchError):
            shutil.rmtree(path, ignore_errors=True)
    w = W.synthetic_weights(c, fmt, seed)
    _save(w, path)
    return w, "generated"
