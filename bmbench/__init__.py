"""bmbench: hardware-aware benchmarking of ternary Mamba-2 inference on CPUs and ARM boards.

Python API (the CLI is a thin layer over it):
    suite = bmbench.load_suite("probe")         # shipped name or a path to a YAML file
    run = bmbench.run_suite(suite, output="probe.json")
    run = bmbench.load_result("probe.json")
    df = run.to_frame()                         # pandas: one row per case x metric (wide=True: per case)
    df = bmbench.load_frame(["a.json", "b.json"])   # several results, a `source` column first
"""
__version__ = "0.1.0"


def load_suite(name_or_path):
    from .suites import load_suite as _load
    return _load(name_or_path)


def run_suite(suite, overrides=None, output=None, params=None, **kw):
    from .runner import run_suite as _run
    return _run(suite, overrides=overrides, output=output, params=params, **kw)


def load_result(path):
    from .results import load
    return load(path)


def load_frame(paths, wide=False):
    """Result files as one DataFrame (tidy, or wide=True), `source` = each file's path."""
    from .frame import concat
    from .results import load
    return concat({str(p): load(p) for p in paths}, wide_form=wide)
