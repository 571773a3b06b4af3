"""The huge-page arena (bmbench/arena.py) and the engines' move of the weights into it."""
from __future__ import annotations

import dataclasses
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


def test_a_pool_lays_pieces_back_to_back_aligned_and_opens_segments_as_needed():
    pool = arena.Pool()
    pieces = [pool.take(n) for n in (1, 64, 65, 7)]
    starts = [p.ctypes.data - pool.segments[0].ctypes.data for p in pieces]
    assert starts == [0, 64, 128, 256] and [p.nbytes for p in pieces] == [1, 64, 65, 7]
    big = pool.take(arena.Pool.SEGMENT)  # does not fit what is left: a segment of its own
    assert len(pool.segments) == 2 and big.nbytes == arena.Pool.SEGMENT
    assert pool.segments[1].ctypes.data % arena.HUGE_PAGE == 0


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


def _inside(a: np.ndarray, arenas: list) -> bool:
    return any(b.ctypes.data <= a.ctypes.data and a.ctypes.data + a.nbytes <= b.ctypes.data + b.nbytes
               for b in arenas)


def test_gather_keeps_every_matrix_byte_for_byte_and_frees_the_old_arrays():
    w = synthetic_weights(TINY["mamba2"], "ternary-lut", 3)
    for name, p in list(w.projections()):  # as weights built outside bmbench's loaders hold them
        owner, attr = (w.layers[int(name.split(".")[1])], name.split(".")[2]) if "." in name else (w, name)
        setattr(owner, attr, dataclasses.replace(p, data=p.data.copy()))
    w.arena = None
    before = {name: (p.data.copy(), p.data.shape, p.rows, p.cols, p.scale) for name, p in w.projections()}
    old = [weakref.ref(p.data) for _, p in w.projections()]
    arenas = gather_projections(w)
    gc.collect()
    assert all(r() is None for r in old), "an original matrix is still alive after the move"
    for name, p in w.projections():
        data, shape, rows, cols, scale = before[name]
        assert (p.rows, p.cols, p.scale, p.data.shape) == (rows, cols, scale, shape)
        assert np.array_equal(p.data, data), name
        assert _inside(p.data, arenas), name
        assert p.data.ctypes.data % arena.ALIGN == 0, name
    assert gather_projections(w) is arenas  # a second engine over the same weights reuses the arena


@pytest.mark.parametrize("fmt", ["ternary-lut", "q4_0"])
def test_loaders_make_their_matrices_in_an_arena_with_no_copy(fmt, tmp_path, monkeypatch):
    """Generated, read back from the weight cache, or loaded from a BIT2 file: every packed matrix
    is made inside the weights' arenas (an engine then copies nothing), the same bytes as made
    outside one, and the arenas hold little else (no packing scratch left in the pool)."""
    from bmbench.models import bit2, cache
    monkeypatch.setenv("BMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    cfg = TINY["mamba2"]
    with arena.scratch():
        plain = synthetic_weights.__wrapped__(cfg, fmt, 5)
    made = [synthetic_weights(cfg, fmt, 5), cache.synthetic_weights(cfg, fmt, 5)[0],
            cache.synthetic_weights(cfg, fmt, 5)[0]]
    bit2.write_bit2(tmp_path / "m.bin", bit2.bit2_tensors_from_weights(synthetic_weights(cfg, "f32", 5)))
    loaded = bit2.load_bit2(tmp_path / "m.bin", fmt)
    for w in made + [loaded]:
        assert w.arena, "no arena recorded"
        for name, p in w.projections():
            assert _inside(p.data, w.arena), name
        # back to back: a packing temporary taken from the pool would leave a gap
        spans = sorted((p.data.ctypes.data, p.nbytes) for _, p in w.projections())
        for (a, n), (b, _) in zip(spans, spans[1:]):
            assert b - a == -(-n // arena.ALIGN) * arena.ALIGN
    for w in made:
        for (name, p), (_, q) in zip(w.projections(), plain.projections()):
            assert np.array_equal(p.data, q.data), name
    before = [id(p.data) for _, p in made[0].projections()]
    gather_projections(made[0])
    assert [id(p.data) for _, p in made[0].projections()] == before  # nothing moved


@pytest.mark.parametrize("family", list(TINY))
def test_an_engine_decodes_the_same_from_arena_weights_as_from_plain_arrays(family, monkeypatch):
    """Both engine families take their matrices from the arenas, and where the weights live changes
    no output bit."""
    import bmbench.engine as E
    w_arena = synthetic_weights(TINY[family], "q4_0", 0)
    eng = engine_for(w_arena, threads=1, flavour="scalar")
    assert w_arena.arena
    monkeypatch.setattr(E, "gather_projections", lambda w: None)
    with arena.scratch():
        w_plain = synthetic_weights.__wrapped__(TINY[family], "q4_0", 0)
    assert w_plain.arena is None
    plain = engine_for(w_plain, threads=1, flavour="scalar")
    a, b = eng.decode([1, 2, 3], 4), plain.decode([1, 2, 3], 4)
    assert np.array_equal(a.tokens, b.tokens)
    assert np.array_equal(eng.logits(), plain.logits())
