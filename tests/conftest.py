import numpy as np
import pytest

from bmbench import dispatch


def _flavour_params():
    """Every flavour as a pytest param; one this CPU cannot run is skipped with a visible reason."""
    out = []
    for st in dispatch.status():
        marks = []
        if not st["compiled"]:
            marks.append(pytest.mark.skip(reason=f"flavour {st['flavour']} not compiled in"))
        elif not st["runnable"]:
            marks.append(pytest.mark.skip(reason=f"flavour {st['flavour']} unsupported by this CPU"))
        out.append(pytest.param(st["flavour"], marks=marks, id=st["flavour"]))
    return out


def pytest_generate_tests(metafunc):
    # a test taking a `flavour` argument runs once per kernel flavour
    if "flavour" in metafunc.fixturenames:
        metafunc.parametrize("flavour", _flavour_params())


# ------------------------------------------------------------------ a pure-Python ternary format
# Lets the model tests exercise the ternary paths (from_ternary, int8 activations) whichever
# C formats exist; registered only inside tests that ask for the `stub_ternary` fixture.
class _StubTernary:
    name = "stub-ternary"
    bpw = 2.0

    @staticmethod
    def from_ternary(codes, s_w):
        from bmbench.formats import Packed
        codes = np.ascontiguousarray(codes, dtype=np.int8)
        return Packed("stub-ternary", codes.shape[0], codes.shape[1], codes.view(np.uint8).reshape(-1),
                      float(s_w))

    @classmethod
    def quantise(cls, w):
        w = np.asarray(w, dtype=np.float64)
        s = float(np.abs(w).mean()) or 1.0
        return cls.from_ternary(np.clip(np.rint(w / s), -1, 1).astype(np.int8), s)

    @staticmethod
    def dequantise(p):
        return p.data.view(np.int8).reshape(p.rows, p.cols).astype(np.float64) * p.scale

    @classmethod
    def synthetic(cls, rng, rows, cols):
        return cls.from_ternary(rng.integers(-1, 2, size=(rows, cols), dtype=np.int8), 1.0 / np.sqrt(cols))

    @staticmethod
    def act_reference(x):
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        m = np.abs(x).max()
        s = 127.0 / m if m > 0 else 1.0
        return np.clip(np.rint(x * s), -128, 127) / s

    @staticmethod
    def data_bytes(rows, cols):
        return rows * ((cols + 3) // 4)


@pytest.fixture
def stub_ternary(monkeypatch):
    """The name of a pure-Python ternary format registered in bmbench.formats for one test."""
    from bmbench import formats
    monkeypatch.setitem(formats.FORMATS, _StubTernary.name, _StubTernary)
    return _StubTernary.name
