"""The huge-page arena (bmbench/arena.py) and the engines' move of the weights into it."""
from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np
import pytest

from bmbench import arena, memstat
from bmbench.engine import engine_for
from bmbench.models.weights import gather_projections, synthetic_weights
from bmbench.models.config import MambaConfig, TransformerConfig


TINY = {"mamba2": MambaConfig("tiny-arena", 2, 64, 128, 4, 32, 1, 4, 4, 97, False, True, family="bitmamba2"),
        "transformer": TransformerConfig("tiny-arena-tf", 2, 64, 4, 2, 16, 96, 97)}


def _thp_mode() -> str | None:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return None
    return text[text.index("[") + 1:text.index("]")]


def test_layout_aligns_every_piece_and_covers_them():
    offsets, total = arena.layout([1, 64, 65, 0, 7])
    assert offsets == [0, 64, 128, 256, 256]
    assert total == 320
    assert arena.layout([]) == ([], 64)


def test_allocate_starts_on_a_huge_page_and_is_zeroed_and_writable():
    a = arena.allocate(3 << 20)
    assert a.ctypes.data % arena.HUGE_PAGE == 0
    assert a.nbytes == 3 << 20 and not a.any()
    a[-1] = 7
    assert a[-1] == 7


@pytest.mark.skipif(_thp_mode() not in ("always", "madvise"),
                    reason=f"transparent huge pages are {_thp_mode() or 'not available'} on this host")
def test_an_arena_lands_on_huge_pages_where_the_os_offers_them():
    before = memstat.huge_page_bytes()
    a = arena.allocate(8 << 20)
    a[:] = 1  # pages are taken when touched
    got = arena.huge_bytes(a)
    # a shared mapping (Python's mmap default) or a missing madvise leaves this at 0
    assert got is not None and got >= 4 << 20, got
    assert memstat.huge_page_bytes() - before >= 4 << 20  # what a decode case records


def test_gather_keeps_every_matrix_byte_for_byte_and_frees_the_old_arrays():
    w = synthetic_weights(TINY["mamba2"], "ternary-lut", 3)
    before = {name: (p.data.copy(), p.data.shape, p.rows, p.cols, p.scale) for name, p in w.projections()}
    old = [weakref.ref(p.data) for _, p in w.projections()]
    buf = gather_projections(w)
    gc.collect()
    assert all(r() is None for r in old), "an original matrix is still alive after the move"
    lo, hi = buf.ctypes.data, buf.ctypes.data + buf.nbytes
    for name, p in w.projections():
        data, shape, rows, cols, scale = before[name]
        assert (p.rows, p.cols, p.scale, p.data.shape) == (rows, cols, scale, shape)
        assert np.array_equal(p.data, data), name
        assert lo <= p.data.ctypes.data and p.data.ctypes.data + p.nbytes <= hi, name
        assert p.data.ctypes.data % arena.ALIGN == 0, name
    assert gather_projections(w) is buf  # a second engine over the same weights reuses the arena


@pytest.mark.parametrize("family", list(TINY))
def test_an_engine_decodes_the_same_from_its_gathered_weights(family, monkeypatch):
    """Both engine families gather their matrices, and the move changes no output bit."""
    import bmbench.engine as E
    w_gathered = synthetic_weights(TINY[family], "q4_0", 0)
    eng = engine_for(w_gathered, threads=1, flavour="scalar")
    assert w_gathered.arena is not None
    monkeypatch.setattr(E, "gather_projections", lambda w: None)
    w_plain = synthetic_weights(TINY[family], "q4_0", 0)
    plain = engine_for(w_plain, threads=1, flavour="scalar")
    assert w_plain.arena is None
    a, b = eng.decode([1, 2, 3], 4), plain.decode([1, 2, 3], 4)
    assert np.array_equal(a.tokens, b.tokens)
    assert np.array_equal(eng.logits(), plain.logits())
