"""Dependencies run one way: a reader of results (the result schema, formats, models, comparisons,
frames, printers, the report package) loads none of the harness, the optional engines, the remote
runner or the CLI.  Checked in a fresh interpreter per module, so one import cannot hide another.
The harness core lists the decode engines without loading any optional one.  A host profile keeps
its ssh: block as data (bmbench.remote.target parses it), so hosts and roofline are readers too."""
import subprocess
import sys
from pathlib import Path

import pytest

READERS = ["bmbench.results", "bmbench.formats", "bmbench.models", "bmbench.roofline", "bmbench.hosts",
           "bmbench.compare", "bmbench.report", "bmbench.frame", "bmbench.printers", "bmbench.headlines"]
ROOT = Path(__file__).resolve().parents[1]
OUTER = ("bmbench.runner", "bmbench.kinds", "bmbench.llamacpp", "bmbench.remote", "bmbench.cli")


@pytest.mark.parametrize("module", READERS)
def test_readers_of_results_load_no_outer_layer(module, tmp_path):
    code = (f"import sys, importlib; importlib.import_module({module!r}); "
            f"print(' '.join(sorted(m for m in sys.modules if m.startswith({OUTER!r}))))")
    # from a scratch directory: the installed (compiled) bmbench, never the source tree
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [], f"{module} loads {p.stdout.split()}"


@pytest.mark.parametrize("module", ["bmbench.kinds", "bmbench.suites", "bmbench.decode_case", "bmbench.engines"])
def test_the_harness_core_loads_no_optional_engine(module, tmp_path):
    """Engines register under the bmbench.engines entry points; the core lists them unloaded."""
    code = (f"import sys, importlib; importlib.import_module({module!r}); "
            "from bmbench import engines; names = engines.names(); "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('bmbench.llamacpp'))))")
    # from a scratch directory: the installed (compiled) bmbench, never the source tree
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [], f"{module} loads {p.stdout.split()}"


def test_llamacpp_registers_into_the_engine_registry():
    from bmbench import engines
    assert engines.names()[0] == "bmbench" and "llamacpp" in engines.names()
    eng = engines.get("llamacpp")
    assert eng.name == "llamacpp" and "tq2_0" in eng.types and engines.owner_of_type("tq1_0") == "llamacpp"
    assert engines.owner_of_type("ternary-lut") is None


def _imports(path):
    """Every module a source file imports, at the top or inside a function, resolved to its full name."""
    import ast
    pkg = "bmbench." + ".".join(path.relative_to(ROOT / "bmbench").with_suffix("").parts)
    if path.name == "__init__.py":
        pkg += ".__init__"
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.Import):
            yield from (a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            base = pkg.split(".")[:-n.level] if n.level else []
            mod = ".".join(base + ([n.module] if n.module else []))
            yield from ((mod + "." + a.name) if not n.module else mod for a in n.names)


@pytest.mark.parametrize("module", READERS)
def test_readers_import_no_outer_layer_even_lazily(module):
    """The fresh-interpreter check above sees only what importing runs; a reader's functions may not
    import the outer layers either (a report drawn from saved results needs none of them)."""
    base = ROOT / module.replace(".", "/")
    files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
    bad = {(str(f.relative_to(ROOT)), m) for f in files for m in _imports(f) if m.startswith(OUTER)}
    assert not bad, bad
