"""Median decode tok/s of one model / format / threads / flavour in this process, for A/B comparisons
of two builds (run it alternately with each build's Python, A B A B):

    python tools/decode_tok_s.py bitmamba2-255m ternary-lut 2 128 avx2

Synthetic weights (cached), 1 warm-up, 5 repetitions of TOKENS tokens after a 3-token prompt."""
import sys

import numpy as np

from bmbench.engine import engine_for
from bmbench.models import get_config, synthetic_weights

model, fmt, threads, tokens, flavour = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
eng = engine_for(synthetic_weights(get_config(model), fmt, 0), threads=threads, flavour=flavour)
eng.decode([1], 8)
tok_s = []
for _ in range(5):
    eng.reset()
    run = eng.decode([1, 2, 3], tokens)
    tok_s.append(len(run.token_ns) / (run.token_ns.sum() * 1e-9))
print(f"{np.median(tok_s):.1f}")
