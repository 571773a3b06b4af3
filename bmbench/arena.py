"""Memory on 2 MiB pages for bytes that are streamed: a model's weights, the kernels suite's rotating
matrices and the DRAM probe's arrays, so the bound and what is set against it read the same pages.

The DRAM probe reads a NumPy buffer, which NumPy advises onto transparent huge pages (it does so for
allocations of 4 MiB and up); a model's matrices, one NumPy array each, mostly sat on 4 KiB pages.
Streamed from 4 KiB pages a GEMV paid a TLB walk every 4 KiB, so kernels ran 15-25% slower than the
probe's read of the same bytes (1 thread, Zen 4, tools/kbench.py), and decode's % of the bound
measured the page size rather than the kernel.  An arena is one anonymous mapping, started on a 2 MiB
boundary and advised MADV_HUGEPAGE; whether the kernel honoured it is read back (`huge_bytes`).
"""
from __future__ import annotations

import contextlib
import contextvars
import ctypes
import mmap

import numpy as np

HUGE_PAGE = 2 << 20
ALIGN = 64  # each piece's start: a cache line, and what every SIMD load wants


def allocate(nbytes: int) -> np.ndarray:
    """nbytes of zeroed memory starting on a 2 MiB boundary, advised onto huge pages where the OS
    has them (Linux transparent huge pages in "always" or "madvise" mode)."""
    # private anonymous (Python's default is shared, i.e. shmem, which THP leaves on 4 KiB pages);
    # pages are only taken when touched, so the unused head and tail cost nothing
    mm = mmap.mmap(-1, nbytes + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    whole = np.frombuffer(mm, dtype=np.uint8)  # holds the mapping open for as long as a view lives
    off = (-whole.ctypes.data) % HUGE_PAGE
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            mm.madvise(mmap.MADV_HUGEPAGE, off, nbytes)
        except OSError:  # a kernel without THP: 4 KiB pages, as before
            pass
    return whole[off:off + nbytes]


class Pool:
    """Arenas that a loader's packed matrices are made in directly (formats._chunked asks `empty`),
    so moving them onto huge pages costs no copy and no second matrix at the peak.  Segments of
    SEGMENT bytes are reserved as needed; reserved pages nobody writes are never taken."""
    SEGMENT = 256 << 20  # few segments: each rounds its last page up to 2 MiB of RSS

    def __init__(self):
        self.segments: list[np.ndarray] = []
        self._used = 0

    def take(self, nbytes: int) -> np.ndarray:
        step = -(-nbytes // ALIGN) * ALIGN
        if not self.segments or self._used + step > self.segments[-1].nbytes:
            self.segments.append(allocate(max(step, self.SEGMENT)))
            self._used = 0
        view = self.segments[-1][self._used:self._used + nbytes]
        self._used += step
        return view


_POOL: contextvars.ContextVar[Pool | None] = contextvars.ContextVar("bmbench_arena_pool", default=None)


@contextlib.contextmanager
def collecting():
    """Within the block, `empty` takes from a new Pool (yielded): what a weights loader runs in."""
    pool = Pool()
    token = _POOL.set(pool)
    try:
        yield pool
    finally:
        _POOL.reset(token)


@contextlib.contextmanager
def scratch():
    """Within the block `empty` is NumPy's again: for temporaries made while a pool collects (a
    matrix packed part by part must not leave its parts in the pool)."""
    token = _POOL.set(None)
    try:
        yield
    finally:
        _POOL.reset(token)


def empty(nbytes: int) -> np.ndarray:
    """nbytes of uint8 for packed weights: from the active pool inside `collecting`, else NumPy's."""
    pool = _POOL.get()
    return np.empty(nbytes, dtype=np.uint8) if pool is None else pool.take(nbytes)


def copies(a: np.ndarray, n: int) -> list[np.ndarray]:
    """n copies of a (same dtype and shape) one after another in arenas: a rotating set of matrices
    that streams from the pages a model's weights are on."""
    pool, out = Pool(), []
    for _ in range(n):
        v = pool.take(a.nbytes).view(a.dtype).reshape(a.shape)
        v[...] = a
        out.append(v)
    return out


def trim_heap() -> None:
    """Hand the C heap's free memory back to the OS (glibc's malloc_trim), where arrays copied into
    an arena and then freed would otherwise stay resident; a no-op where the C library lacks it."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


def huge_bytes(a: np.ndarray) -> int | None:
    """Bytes of a's memory the OS holds on transparent huge pages now (/proc/self/smaps,
    AnonHugePages of the mappings a overlaps); None where /proc does not say."""
    lo = a.ctypes.data
    hi = lo + a.nbytes
    total, overlap, found = 0, False, False
    try:
        with open("/proc/self/smaps") as f:
            for line in f:
                head = line.split(maxsplit=1)[0]
                if "-" in head and not head.endswith(":"):  # a mapping's header: start-end perms ...
                    start, end = (int(x, 16) for x in head.split("-"))
                    overlap = start < hi and lo < end
                    found |= overlap
                elif overlap and head == "AnonHugePages:":
                    total += int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return total if found else None
