"""Median decode tok/s of the same synthetic weights on 4 KiB pages (one NumPy array per matrix, as
before bmbench/arena.py) and in the huge-page arena, two engines in one process, interleaved A B A B:

    python tools/pages_ab.py bitmamba2-1b ternary-lut 1 avx512 6

Synthetic weights, a 3-token prompt then 128 tokens per repetition, after one warm-up each."""
import sys

import numpy as np

import bmbench.engine as E
from bmbench.models import get_config
from bmbench.models.weights import synthetic_weights

model, fmt, threads, flavour, pairs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
cfg = get_config(model)
# without in_arena: plain NumPy arrays, which the engine must not move (gather_projections off)
plain_w = synthetic_weights.__wrapped__(cfg, fmt, 0)
gather = E.gather_projections
E.gather_projections = lambda w: None
plain = E.engine_for(plain_w, threads=threads, flavour=flavour)
E.gather_projections = gather
huge = E.engine_for(synthetic_weights(cfg, fmt, 0), threads=threads, flavour=flavour)


def tok_s(eng) -> float:
    eng.reset()
    run = eng.decode([1, 2, 3], 128)
    return len(run.token_ns) / (run.token_ns.sum() * 1e-9)


tok_s(plain), tok_s(huge)
a, b = [], []
for _ in range(pairs):
    a.append(tok_s(plain))
    b.append(tok_s(huge))
print(f"{model} {fmt} t{threads} {flavour}: 4 KiB pages {np.median(a):.1f}, arena {np.median(b):.1f} tok/s "
      f"({np.median(b) / np.median(a):.2f}x)")
