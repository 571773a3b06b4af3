import numpy as np
import os
import sys
import tempfile

import pytest

# synthetic-weight cache of the test run: never the user's ~/.cache
os.environ.setdefault("BMBENCH_CACHE_DIR", tempfile.mkdtemp(prefix="bmbench-test-cache-"))

sys.path.insert(0, os.path.dirname(__file__))  # shared test helpers (pagecheck.py)

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


@pytest.fixture
def ternary_format():
    """A ternary format (with from_ternary) for the model tests."""
    return "ternary-mad"
