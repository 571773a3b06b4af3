"""The result document: one versioned schema, produced and read only here.

A run holds run-level metadata (host, build, versions, probe figures, command) and one flat record
per case with named fields.  Every metric carries its unit and provenance (measured / projected /
estimated / published) and keeps its raw samples.  Files are written atomically.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field  # noqa: F401 (asdict re-exported)
from pathlib import Path
from typing import Any

from .errors import BmbenchError
from .stats import summarize

SCHEMA = "bmbench.result/1.2"  # 1.1: CaseResult.engine; 1.2: RunResult.complete / missing / plan
SCHEMA_MAJOR = 1
PROVENANCES = ("measured", "projected", "estimated", "published")


@dataclass(frozen=True)
class Metric:
    value: float                 # the headline figure (the median for measured samples)
    unit: str
    provenance: str = "measured"
    low: float | None = None     # interval of the median (bootstrap, 95%)
    high: float | None = None
    cv: float | None = None      # coefficient of variation of the samples
    samples: tuple[float, ...] = ()
    better: str = "higher"       # "higher" or "lower": which way is an improvement
    method: str | None = None    # how a projected / estimated / published figure was obtained
    repeatable: bool = False     # a count that does not vary run to run (instructions): compared
                                 # by the minimum effect alone, no significance test needed

    @classmethod
    def from_samples(cls, samples, unit: str, better: str = "higher", **kw) -> "Metric":
        s = summarize(samples)
        return cls(value=s["median"], unit=unit, low=s["low"], high=s["high"], cv=s["cv"],
                   samples=tuple(float(v) for v in samples), better=better, **kw)

    def __post_init__(self):
        if self.provenance not in PROVENANCES:
            raise ValueError(f"unknown provenance {self.provenance!r}")
        if self.better not in ("higher", "lower"):
            raise ValueError(f"better must be 'higher' or 'lower', not {self.better!r}")


@dataclass
class CaseResult:
    case_id: str
    suite: str
    kind: str
    status: str = "ok"           # ok | failed | skipped
    error: str | None = None
    model: str | None = None
    format: str | None = None
    flavour: str | None = None
    threads: int | None = None
    context: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    roofline: dict[str, Any] = field(default_factory=dict)
    energy: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    provenance: str = "measured"
    duration_s: float | None = None
    # the engine that ran the case: name ("bmbench" or "llama.cpp"), version, its build details
    engine: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    suite: str
    created: str
    command: list[str]
    host: dict[str, Any]
    build: dict[str, Any]
    versions: dict[str, Any]
    git_revision: str | None = None
    probe: dict[str, Any] = field(default_factory=dict)
    cases: list[CaseResult] = field(default_factory=list)
    schema: str = SCHEMA
    # an interrupted run is saved with complete = False and the ids of the cases it still owes
    # (missing); `plan` says how to expand its cases again (suite, overrides, params, rounds), so
    # `bmbench run --resume` can finish the same document
    complete: bool = True
    missing: list[str] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)

    def ok_cases(self) -> list[CaseResult]:
        return [c for c in self.cases if c.status == "ok"]

    def to_frame(self, wide: bool = False):
        """This result as a pandas DataFrame: tidy, one row per case x metric (value, interval,
        unit, cv, n, provenance, method), or wide, one row per case with its headline metrics as
        columns (bmbench.frame)."""
        from . import frame
        return frame.wide(self) if wide else frame.tidy(self)


def hardware_class(run: RunResult) -> str:
    """arch-flavour-compiler+major of a result, e.g. x86_64-avx2-gcc12: what makes instruction
    counts of the same code equal (the gate's baselines and the history's series are per class)."""
    compiler = str(run.build.get("compiler") or "unknown")
    m = re.match(r"(\w+)\s+(\d+)", compiler)
    comp = f"{m.group(1)}{m.group(2)}" if m else re.sub(r"\W+", "", compiler) or "unknown"
    return f"{run.host.get('arch', 'unknown')}-{run.build.get('chosen_flavour', 'unknown')}-{comp}"


# --------------------------------------------------------------------------------- serialisation
def to_dict(run: RunResult) -> dict:
    d = asdict(run)
    for c in d["cases"]:
        for m in c["metrics"].values():
            m["samples"] = list(m["samples"])
    return d


def _metric(d: dict, where: str) -> Metric:
    try:
        d = dict(d)
        d["samples"] = tuple(d.get("samples", ()))
        return Metric(**d)
    except (TypeError, ValueError) as e:
        raise BmbenchError(f"{where}: invalid metric ({e})") from None


def from_dict(d: Any, where: str = "result") -> RunResult:
    if not isinstance(d, dict):
        raise BmbenchError(f"{where}: not a bmbench result document")
    schema = d.get("schema")
    if not isinstance(schema, str) or not schema.startswith("bmbench.result/"):
        raise BmbenchError(f"{where}: not a bmbench result document (schema {schema!r})")
    try:
        major = int(schema.rsplit("/", 1)[1].split(".")[0])
    except ValueError:
        raise BmbenchError(f"{where}: unreadable schema version {schema!r}") from None
    if major > SCHEMA_MAJOR:
        raise BmbenchError(f"{where}: schema {schema} is newer than this bmbench reads "
                           f"({SCHEMA}); upgrade bmbench")
    try:
        cases = []
        for i, c in enumerate(d.get("cases", [])):
            c = dict(c)
            c["metrics"] = {k: _metric(v, f"{where}: case {i} metric {k}")
                            for k, v in c.get("metrics", {}).items()}
            cases.append(CaseResult(**c))
        fields = {k: v for k, v in d.items() if k != "cases"}
        return RunResult(cases=cases, **fields)
    except TypeError as e:
        raise BmbenchError(f"{where}: malformed result document ({e})") from None


# ---------------------------------------------------------------------------------------- files
def ensure_writable_dir(d: Path, what: str) -> None:
    """Create d if needed and prove a file can be written there, before any work whose output
    would be lost (one-line error naming `what`, e.g. "output directory")."""
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=d, prefix=".bmbench-write-test-"):
            pass
    except OSError as e:
        raise BmbenchError(f"{what} {d} is not writable: {e.strerror or e}") from None


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write via a temporary file in the same directory and rename: readers never see half a file,
    and a failure leaves any earlier file intact."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise BmbenchError(f"cannot write to {directory}: {e.strerror or e}") from None
    try:
        os.fchmod(fd, new_file_mode())  # mkstemp makes 0600: give the mode any new file gets
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def new_file_mode() -> int:
    """The mode open() gives a new file under the user's umask (0644 under 022): for files that are
    written under a temporary name (mkstemp: 0600) and renamed into place."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save(run: RunResult, path: str | os.PathLike) -> Path:
    text = json.dumps(to_dict(run), indent=1, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def load(path: str | os.PathLike) -> RunResult:
    try:
        with open(path) as f:
            d = json.load(f)
    except FileNotFoundError:
        raise BmbenchError(f"result file not found: {path}") from None
    except OSError as e:
        raise BmbenchError(f"cannot read result file {path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BmbenchError(f"{path}: not valid JSON ({e})") from None
    return from_dict(d, where=str(path))
