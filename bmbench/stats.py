"""Summary statistics of repeated measurements: median, bootstrap interval, CV."""
from __future__ import annotations

import numpy as np


def summarize(samples, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> dict:
    """Median, a percentile-bootstrap interval of the median, IQR and coefficient of variation."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples")
    med = float(np.median(x))
    if x.size > 1:
        rng = np.random.default_rng(seed)
        boot = np.median(x[rng.integers(0, x.size, size=(n_boot, x.size))], axis=1)
        alpha = (1 - confidence) / 2
        low, high = (float(v) for v in np.quantile(boot, [alpha, 1 - alpha]))
        mean = float(np.mean(x))
        cv = float(np.std(x, ddof=1) / mean) if mean else 0.0
    else:
        low = high = med
        cv = 0.0
    q1, q3 = (float(v) for v in np.quantile(x, [0.25, 0.75]))
    return dict(median=med, low=low, high=high, q1=q1, q3=q3, cv=cv, n=int(x.size))
