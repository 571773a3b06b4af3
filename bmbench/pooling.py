"""One case's results of several rounds pooled into one (runner: `--rounds`): every sampled metric is
recomputed over the samples of all rounds (its median, interval and CV), a single figure or a
repeatable count is the latest round's, the memory peak is the largest, the time is the sum."""
from __future__ import annotations

from .results import CaseResult, Metric


def pool(prev: CaseResult, new: CaseResult) -> CaseResult:
    for name, m in new.metrics.items():
        old = prev.metrics.get(name)
        if m.samples and old is not None and old.samples and not m.repeatable:
            new.metrics[name] = Metric.from_samples(list(old.samples) + list(m.samples), m.unit, better=m.better,
                                                    provenance=m.provenance, method=m.method)
    peaks = [c.memory.get("peak_rss_bytes") for c in (prev, new)]
    if all(p is not None for p in peaks):
        new.memory["peak_rss_bytes"] = max(peaks)
    new.extra["repetitions"] = prev.extra.get("repetitions", 0) + new.extra.get("repetitions", 0)
    new.duration_s = (prev.duration_s or 0) + (new.duration_s or 0)
    return new
