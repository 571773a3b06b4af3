"""A disk cache of synthetic weights, so cases and runs that decode the same (model, format, seed)
generate it once (generation of a 1B model's Gaussian Q8_0 weights takes ~15 s; loading the cache
is an mmap).  Entries are keyed by the sources that define the bytes, so a change to a packing or a
generator never reads stale weights.  BMBENCH_CACHE_DIR sets the directory; `off` disables it."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np

from .. import formats
from ..formats import Packed
from . import weights as W
from .config import MambaConfig

_PACKED = ("in_proj", "out_proj")


def cache_dir() -> Path | None:
    d = os.environ.get("BMBENCH_CACHE_DIR", "").strip()
    if d.lower() == "off":
        return None
    return Path(d) if d else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bmbench" / "weights"


def _key(c: MambaConfig, fmt: str, seed: int) -> str:
    h = hashlib.sha1(repr(c).encode())
    for mod in (formats, W):  # the code that defines the bytes
        h.update(Path(mod.__file__).read_bytes())
    return f"{c.name}-{fmt}-seed{seed}-{h.hexdigest()[:12]}"


def _arrays(w: W.ModelWeights) -> tuple[dict[str, np.ndarray], dict]:
    arrays = {"embedding": w.embedding, "norm_f": w.norm_f, "lm_head": w.lm_head.data}
    meta = {"lm_head": [w.lm_head.rows, w.lm_head.cols, w.lm_head.scale], "layers": []}
    if w.lm_head_norm is not None:
        arrays["lm_head_norm"] = w.lm_head_norm
    for i, lw in enumerate(w.layers):
        m = {}
        for f in fields(lw):
            v = getattr(lw, f.name)
            arrays[f"layers.{i}.{f.name}"] = v.data if f.name in _PACKED else v
            if f.name in _PACKED:
                m[f.name] = [v.rows, v.cols, v.scale]
        meta["layers"].append(m)
    return arrays, meta


def _save(w: W.ModelWeights, path: Path) -> None:
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


def _load(c: MambaConfig, fmt: str, path: Path) -> W.ModelWeights:
    meta = json.loads((path / "meta.json").read_text())
    a = lambda name: np.load(path / f"{name}.npy", mmap_mode="r")  # noqa: E731

    def packed(name, rows, cols, scale):
        return Packed(fmt, rows, cols, a(name), scale)

    layers = []
    for i, m in enumerate(meta["layers"]):
        kw = {f.name: (packed(f"layers.{i}.{f.name}", *m[f.name]) if f.name in _PACKED
                       else a(f"layers.{i}.{f.name}")) for f in fields(W.LayerWeights)}
        layers.append(W.LayerWeights(**kw))
    return W.ModelWeights(config=c, format=fmt, embedding=a("embedding"), layers=layers,
                          norm_f=a("norm_f"),
                          lm_head_norm=a("lm_head_norm") if c.lm_head_norm else None,
                          lm_head=packed("lm_head", *meta["lm_head"]))


def synthetic_weights(c: MambaConfig, fmt: str, seed: int = 0) -> tuple[W.ModelWeights, str]:
    """Synthetic weights from the cache when present, else generated (and cached).
    Returns the weights and where they came from."""
    d = cache_dir()
    if d is None:
        return W.synthetic_weights(c, fmt, seed), "generated (cache off)"
    path = d / _key(c, fmt, seed)
    if (path / "meta.json").exists():
        try:
            return _load(c, fmt, path), f"cache {path}"
        except (OSError, ValueError, KeyError):
            shutil.rmtree(path, ignore_errors=True)
    w = W.synthetic_weights(c, fmt, seed)
    _save(w, path)
    return w, "generated"
