"""The `decode` case kind: a whole model decoding greedily in C, timed per token.

Per repetition the state is reset, the prompt runs (prefill, timed), then `tokens` new tokens are
generated; tok/s is computed per repetition from the generated tokens after the first (whose time
belongs to prefill).  The bound and efficiency use the DRAM read bandwidth probed in the same run."""
from __future__ import annotations

import time

import numpy as np

from . import formats, hosts, roofline
from .energy import EnergyMeter
from .results import CaseResult, Metric

DEFAULT_PROMPT = (15496, 11, 314, 716, 257)  # GPT-2 BPE ids of a short English prompt


def load_weights(p: dict):
    """(weights, where they came from): a BIT2 checkpoint, or seeded synthetic weights (cached)."""
    from .models import cache, config
    if p.get("weights"):
        from .models.bit2 import load_bit2
        return load_bit2(p["weights"], p["format"]), p["weights"]
    seed = int(p.get("seed", 0))
    w, origin = cache.synthetic_weights(config.get_config(p["model"]), p["format"], seed)
    return w, f"synthetic seed {seed} ({origin})"


def cycles_per_weight_in_cache(fmt_name: str, cols: int, rows: int, flavour: str) -> float | None:
    """Compute side of the roofline: cycles per weight of one GEMV that fits in L2, 1 thread."""
    from .gemv_case import time_calls
    from .dispatch import flavour_id
    mhz = hosts.cpu_mhz()
    if not mhz:
        return None
    fmt = formats.get(fmt_name)
    rows = max(fmt.row_tile, min(rows, (256 * 1024 * 8) // int(fmt.bpw * cols) // fmt.row_tile * fmt.row_tile))
    packed = fmt.synthetic(np.random.default_rng(2), rows, cols)
    x = np.random.default_rng(3).standard_normal(cols).astype(np.float32)
    t = np.median(time_calls(fmt, flavour_id(flavour), [packed.data], rows, cols, packed.scale, x, 1,
                             repetitions=5, warmup=1, target_s=0.01))
    return t * mhz * 1e6 / (rows * cols)


def run_case(spec: dict) -> CaseResult:
    from .engine import Engine
    from .models.accounting import account
    p = spec["params"]
    threads, flavour, n_new = int(p["threads"]), p["flavour"], int(p.get("tokens", 128))
    t0 = time.perf_counter()
    w, origin = load_weights(p)
    cfg = w.config
    # the default prompt folded into small test vocabularies; a user's prompt is taken as given
    prompt = list(p.get("prompt_tokens") or (t % cfg.vocab for t in DEFAULT_PROMPT))
    load_s = time.perf_counter() - t0
    state = p.get("state", "f32")
    eng = Engine(w, threads=threads, flavour=flavour, state=state)
    acc = account(cfg, p["format"], state)

    eng.reset()
    for _ in range(spec["warmup"]):  # pages in every weight once, warms caches and the thread pool
        eng.decode(prompt[:1], min(8, n_new))
        eng.reset()
    tok_s, prefill_ms, latencies, runs = [], [], [], []
    budget_end = time.perf_counter() + spec["time_budget_s"]
    meter = EnergyMeter()
    with meter:
        while len(tok_s) < spec["repetitions"]:
            eng.reset()
            run = eng.decode(prompt, n_new)
            gen_ns = run.token_ns
            tok_s.append(len(gen_ns) / (gen_ns.sum() * 1e-9) if len(gen_ns) else float("nan"))
            prefill_ms.append(run.prefill_ns * 1e-6)
            latencies.extend((gen_ns * 1e-6).tolist())
            runs.append(run)
            if len(tok_s) >= spec["min_repetitions"] and time.perf_counter() > budget_end:
                break
    lat = np.asarray(latencies)
    metrics = {
        "tok_s": Metric.from_samples(tok_s, "tok/s"),
        "latency_p50": Metric(value=float(np.percentile(lat, 50)), unit="ms", better="lower",
                              method="per-token latency over all repetitions"),
        "latency_p99": Metric(value=float(np.percentile(lat, 99)), unit="ms", better="lower",
                              method="per-token latency over all repetitions"),
        "prefill_ms": Metric.from_samples(prefill_ms, "ms", better="lower",
                                          method=f"{len(prompt)} prompt tokens, token by token"),
    }
    bpt = acc.bytes_per_token
    roof = dict(bytes_per_token=bpt, breakdown=acc.bytes_per_token_breakdown())
    probe = (spec.get("probe") or {}).get("dram_read", {}).get(str(threads))
    if probe:
        bound = roofline.bound_tok_s(probe["value"], bpt)
        eff = metrics["tok_s"].value / bound
        roof.update(dram_read_gbps=probe["value"], bound_tok_s=bound, efficiency=eff)
        metrics["bound_tok_s"] = Metric(value=bound, unit="tok/s", provenance="projected",
                                        method="roofline: DRAM read GB/s (probe, same run) / bytes per token")
        metrics["pct_of_bound"] = Metric.from_samples([100 * t / bound for t in tok_s], "%",
                                                      method="measured tok/s / roofline bound")
        cpw = cycles_per_weight_in_cache(p["format"], cfg.d_model, cfg.d_in_proj, flavour)
        roof["cycles_per_weight_in_cache"] = cpw
        weights_per_token = cfg.n_layers * (cfg.d_in_proj * cfg.d_model + cfg.d_model * cfg.d_inner) \
            + cfg.vocab * cfg.d_model
        profiles = hosts.load_profiles(p.get("hosts_file"))
        targets = p.get("project_to") or list(profiles)
        from .suites import all_threads
        roof["projections"] = [roofline.project(
            profiles[h], measured_tok_s=metrics["tok_s"].value, local_bound_tok_s=bound,
            bytes_per_token=bpt, weights_per_token=weights_per_token, threads=threads,
            all_threads_here=all_threads(), cycles_per_weight=cpw,
            local_simd_bytes=roofline.SIMD_BYTES.get(flavour, 8)).as_dict() for h in targets]
    n_tokens = sum(len(r.tokens) for r in runs)
    if meter.joules is not None:
        energy = dict(j_per_token=meter.joules / n_tokens, provenance="measured", source=meter.source,
                      note="whole package/board energy over the timed repetitions incl. prefill")
    else:
        energy = dict(j_per_token=None, provenance="unavailable", reason=meter.reason,
                      note="no readable counter here; host projections carry estimated J/token")
    last = runs[-1]
    return CaseResult(
        case_id=spec["case_id"], suite=spec["suite"], kind="decode", model=cfg.name, format=p["format"],
        flavour=flavour, threads=threads, context=len(prompt), params=p, metrics=metrics,
        memory=dict(weight_bytes=acc.weight_bytes, state_bytes=acc.state_bytes,
                    engine_state_bytes=eng.state_bytes, weights_resident_bytes=w.nbytes),
        roofline=roof, energy=energy,
        extra=dict(tokens=last.tokens.tolist(), prompt_tokens=prompt, repetitions=len(tok_s),
                   token_latencies_ms=(last.token_ns * 1e-6).tolist(), weights_load_s=load_s,
                   weights_source=origin))
