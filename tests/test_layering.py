"""Dependencies run one way: a reader of results (the result schema, formats, models, comparisons,
frames, printers, the report package) loads none of the harness, the optional engines, the remote
runner or the CLI.  Checked in a fresh interpreter per module, so one import cannot hide another.
Still open (issue 23): bmbench.roofline and the report's figures load bmbench.remote.target through
bmbench.hosts (a host profile parses its own ssh: block)."""
import subprocess
import sys

import pytest

READERS = ["bmbench.results", "bmbench.formats", "bmbench.models", "bmbench.compare", "bmbench.report",
           "bmbench.frame", "bmbench.printers", "bmbench.headlines"]
OUTER = ("bmbench.runner", "bmbench.kinds", "bmbench.llamacpp", "bmbench.remote", "bmbench.cli")


@pytest.mark.parametrize("module", READERS)
def test_readers_of_results_load_no_outer_layer(module):
    code = (f"import sys, importlib; importlib.import_module({module!r}); "
            f"print(' '.join(sorted(m for m in sys.modules if m.startswith({OUTER!r}))))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [], f"{module} loads {p.stdout.split()}"
