"""What the report reads out of result documents: case selection, labels, published figures.

Figures and tables both go through these helpers, so a figure and the table beside it always show
the same cases with the same labels."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ..results import CaseResult, Metric, RunResult

# Ternary weight formats (bmbench's own and the llama.cpp / bitnet.cpp names of published figures).
TERNARY_NAMES = {"tq1_0", "tq2_0", "i2_s", "tl1", "tl2"}
BASELINES = ("q8_0", "q4_0")
MIB = 2 ** 20


def is_ternary(fmt: str | None) -> bool:
    return bool(fmt) and ("ternary" in fmt or fmt in TERNARY_NAMES)


def ok_cases(run: RunResult, kind: str) -> list[CaseResult]:
    return [c for c in run.cases if c.status == "ok" and c.kind == kind]


def kind_counts(run: RunResult) -> dict[str, dict[str, int]]:
    """kind -> {status: count}, in the order kinds first appear."""
    out: dict[str, dict[str, int]] = {}
    for c in run.cases:
        out.setdefault(c.kind, {}).setdefault(c.status, 0)
        out[c.kind][c.status] += 1
    return out


def metric(c: CaseResult, name: str) -> Metric | None:
    return c.metrics.get(name)


def value(c: CaseResult, name: str) -> float | None:
    m = c.metrics.get(name)
    return None if m is None else m.value


def threads_label(t) -> str:
    return f"{t}T" if t is not None else "?T"


def engine_of(c: CaseResult) -> str:
    """The engine that ran a case (results before schema 1.1 are bmbench's)."""
    return (c.engine or {}).get("name") or "bmbench"


def weight_class(c: CaseResult) -> str | None:
    """ternary / q8_0 / q4_0 / ...: what sets two engines' cases side by side.  An engine with weight
    types of its own records their class in the case's engine block (llama.cpp's tq2_0: ternary);
    results written before it did have llama.cpp's ternary types named tq*."""
    wc = (c.engine or {}).get("weight_class")
    if wc or c.format is None:
        return wc
    return "ternary" if c.format.startswith(("ternary", "tq")) else c.format


def decode_label(c: CaseResult, with_context: bool = False, with_flavour: bool = False) -> str:
    parts = [c.model or "?", c.format or "?", threads_label(c.threads)]
    if engine_of(c) != "bmbench":
        parts.insert(0, engine_of(c))
    if with_flavour and c.flavour:
        parts.append(c.flavour)
    if with_context and c.context is not None:
        parts.append(f"ctx {c.context}")
    return " ".join(parts)


def mixes_flavours(cases: list[CaseResult]) -> bool:
    """Whether some cases differ only by their kernel flavour (a --flavour sweep): their labels must
    then name it, and a speedup compares like with like."""
    keys = {(engine_of(c), c.model, c.format, c.threads, c.context) for c in cases}
    return len({(engine_of(c), c.model, c.format, c.threads, c.context, c.flavour) for c in cases}) > len(keys)


def probe_kernel(c: CaseResult) -> str:
    k = c.params.get("kernel")
    if k:
        return str(k)
    for name in c.metrics:  # "L1_read" -> "read"
        if "_" in name:
            return name.split("_", 1)[1]
    return "?"


def probe_label(c: CaseResult) -> str:
    return f"{probe_kernel(c)} {c.flavour or '?'} {threads_label(c.threads)}"


def decode_bound(c: CaseResult) -> float | None:
    """The roofline bound of a decode case (projected: DRAM read GB/s / bytes per token)."""
    v = value(c, "bound_tok_s")
    if v is None:
        v = c.roofline.get("bound_tok_s")
    return None if v is None else float(v)


def main_context(cases: list[CaseResult]) -> int | None:
    """The context most decode cases share (other contexts belong to the context-scaling figure)."""
    ctxs = [c.context for c in cases]
    if not ctxs:
        return None
    return max(set(ctxs), key=lambda x: (ctxs.count(x), -(x or 0)))


def energy_of(c: CaseResult) -> tuple[float, str, str] | None:
    """(J/token, provenance, source or method) of a decode case, or None."""
    e = c.energy or {}
    if e.get("j_per_token") is not None:
        return (float(e["j_per_token"]), str(e.get("provenance", "estimated")),
                str(e.get("source") or e.get("method") or ""))
    m = c.metrics.get("j_per_token")
    if m is not None:
        return m.value, m.provenance, m.method or ""
    return None


# ---------------------------------------------------------------------------- published figures
@dataclass(frozen=True)
class Published:
    id: str
    claim: str
    source: str
    model: str | None = None
    format: str | None = None
    host: str | None = None
    threads: int | None = None
    tok_s: float | None = None
    tok_s_range: tuple[float, float] | None = None
    memory_mb: float | None = None
    j_per_token: float | None = None

    @property
    def tok_s_mid(self) -> float | None:
        if self.tok_s is not None:
            return self.tok_s
        if self.tok_s_range:
            return sum(self.tok_s_range) / 2
        return None


def load_published(path: str | Path | None = None) -> tuple[list[Published], str | None]:
    """The published figures (BRIEF section 6) and, when they cannot be read, why not."""
    from ..paths import published_file
    path = Path(path) if path else published_file()
    try:
        doc = yaml.safe_load(path.read_text())
        out = []
        for f in doc.get("figures", []):
            rng = f.get("tok_s_range")
            out.append(Published(
                id=str(f["id"]), claim=str(f.get("claim", f["id"])), source=str(f.get("source", "")),
                model=f.get("model"), format=f.get("format"), host=f.get("host"),
                threads=f.get("threads"), tok_s=f.get("tok_s"),
                tok_s_range=tuple(rng) if rng else None, memory_mb=f.get("memory_mb"),
                j_per_token=f.get("j_per_token")))
        return out, None
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError) as e:
        return [], f"published figures not available ({path}: {e})"
