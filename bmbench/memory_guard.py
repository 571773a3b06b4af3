"""The decode case's memory guard: before any weight is built, the case's memory (weights + state or
KV cache at its largest + overhead) is estimated, and a case that would not fit in the memory
available now is skipped (status "skipped"), never swapped or killed.  Shared by every engine."""
from __future__ import annotations

from .results import CaseResult

# process overhead beyond weights and state: interpreter, NumPy, scratch buffers, generation temporaries
MEMORY_OVERHEAD_BYTES = 256 << 20
MEMORY_OVERHEAD_FRACTION = 0.10


def available_memory() -> int:
    import psutil
    return int(psutil.virtual_memory().available)


def memory_estimate(weight_bytes: int, state_bytes: int) -> dict:
    """Bytes a decode case needs: weights + state (KV cache at its largest) + overhead."""
    need = weight_bytes + state_bytes
    overhead = MEMORY_OVERHEAD_BYTES + int(MEMORY_OVERHEAD_FRACTION * need)
    return dict(weight_bytes=weight_bytes, state_bytes=state_bytes, overhead_bytes=overhead,
                total_bytes=need + overhead)


def skipped(spec: dict, p: dict, model: str, est: dict, avail: int, what: str) -> CaseResult:
    gib = 1 << 30
    return CaseResult(
        case_id=spec["case_id"], suite=spec["suite"], kind="decode", status="skipped",
        error=(f"not enough memory: needs ~{est['total_bytes'] / gib:.2f} GiB (weights "
               f"{est['weight_bytes'] / gib:.2f} + {what} {est['state_bytes'] / gib:.2f} + overhead "
               f"{est['overhead_bytes'] / gib:.2f}), {avail / gib:.2f} GiB available"),
        model=model, format=p["format"], flavour=p["flavour"], threads=int(p["threads"]),
        context=int(p.get("context", 0)), params=p, memory=dict(estimate=est, available_bytes=avail))
