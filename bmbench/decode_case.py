"""The `decode` case kind: a whole model decoding greedily in C, timed per token.

Per repetition the state is reset, the prompt runs (prefill, timed), then `tokens` new tokens are
generated; tok/s is computed per repetition from the generated tokens after the first (whose time
belongs to prefill).  The bound and efficiency use the DRAM read bandwidth probed in the same run.

Mamba-2 and transformer models alike (the engine follows the config's family).  With `context` N > 0
the state first stands in for an N-token context without running it (`fill_context`: a synthetic KV
cache for a transformer, a synthetic SSM/conv state for Mamba-2; `extra.context_fill` says which),
then the prompt and the decode run at positions N, N+1, ...  bytes_per_token counts the KV cache at
the mean number of positions the timed tokens attend to.

Before any weight is built the case's memory (weights + state or KV cache + overhead) is estimated;
a case that would not fit in the memory available now is skipped (status "skipped"), never swapped
or killed."""
from __future__ import annotations

import time

import numpy as np

from . import formats, hosts, roofline
from .energy import EnergyMeter
from .results import CaseResult, Metric

DEFAULT_PROMPT = (15496, 11, 314, 716, 257)  # GPT-2 BPE ids of a short English prompt
# process overhead beyond weights and state: interpreter, NumPy, scratch buffers, generation temporaries
MEMORY_OVERHEAD_BYTES = 256 << 20
MEMORY_OVERHEAD_FRACTION = 0.10


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


def _available_memory() -> int:
    import psutil
    return int(psutil.virtual_memory().available)


def memory_estimate(acc_at_max) -> dict:
    """Bytes a decode case needs: weights + state (KV cache at its largest) + overhead."""
    need = acc_at_max.weight_bytes + acc_at_max.state_bytes
    overhead = MEMORY_OVERHEAD_BYTES + int(MEMORY_OVERHEAD_FRACTION * need)
    return dict(weight_bytes=acc_at_max.weight_bytes, state_bytes=acc_at_max.state_bytes,
                overhead_bytes=overhead, total_bytes=need + overhead)


def _config_for(p: dict):
    from .models import config
    if p.get("weights"):
        from .models.bit2 import read_bit2_index
        return read_bit2_index(p["weights"])[0]
    return config.get_config(p["model"])


def run_case(spec: dict) -> CaseResult:
    from .engine import engine_for
    from .models.accounting import account
    p = spec["params"]
    threads, flavour, n_new = int(p["threads"]), p["flavour"], int(p.get("tokens", 128))
    context, state, kv = int(p.get("context", 0)), p.get("state", "f32"), p.get("kv", "f16")
    cfg = _config_for(p)
    # the default prompt folded into small test vocabularies; a user's prompt is taken as given
    prompt = list(p.get("prompt_tokens") or (t % cfg.vocab for t in DEFAULT_PROMPT))
    max_context = context + len(prompt) + n_new
    transformer = cfg.family == "transformer"

    # memory guard, before any weight is built
    est = memory_estimate(account(cfg, p["format"], state, context=max_context if transformer else 0,
                                  kv_dtype=kv))
    avail = _available_memory()
    if est["total_bytes"] > avail:
        gib = 1 << 30
        return CaseResult(
            case_id=spec["case_id"], suite=spec["suite"], kind="decode", status="skipped",
            error=(f"not enough memory: needs ~{est['total_bytes'] / gib:.2f} GiB (weights "
                   f"{est['weight_bytes'] / gib:.2f} + {'KV cache' if transformer else 'state'} "
                   f"{est['state_bytes'] / gib:.2f} + overhead {est['overhead_bytes'] / gib:.2f}), "
                   f"{avail / gib:.2f} GiB available"),
            model=cfg.name, format=p["format"], flavour=flavour, threads=threads, context=context, params=p,
            memory=dict(estimate=est, available_bytes=avail))

    t0 = time.perf_counter()
    w, origin = load_weights(p)
    load_s = time.perf_counter() - t0
    eng = engine_for(w, threads=threads, flavour=flavour, state=state, kv=kv, max_context=max_context)
    # the KV cache the timed tokens read: generated token i >= 1 attends to context + len(prompt) + i
    # positions; bytes per token at their mean
    kv_positions = context + len(prompt) + n_new / 2 if transformer else 0
    acc = account(cfg, p["format"], state, context=round(kv_positions), kv_dtype=kv)
    seed = int(p.get("seed", 0))

    def start() -> float:
        """A fresh sequence with the (synthetic) context in place; returns the fill time in ms."""
        t = time.perf_counter()
        if context:
            eng.fill_context(context, seed)
        else:
            eng.reset()
        return (time.perf_counter() - t) * 1e3

    for _ in range(spec["warmup"]):  # pages in every weight once, warms caches and the thread pool
        start()
        eng.decode(prompt[:1], min(8, n_new))
    tok_s, prefill_ms, latencies, runs, fill_ms = [], [], [], [], []
    budget_end = time.perf_counter() + spec["time_budget_s"]
    meter = EnergyMeter()
    with meter:
        while len(tok_s) < spec["repetitions"]:
            fill_ms.append(start())
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
                                          method=f"{len(prompt)} prompt tokens, token by token"
                                          + (f", after a synthetic context of {context}" if context else "")),
    }
    bpt = acc.bytes_per_token
    roof = dict(bytes_per_token=bpt, breakdown=acc.bytes_per_token_breakdown())
    if transformer:
        roof.update(kv_positions=kv_positions, kv_bytes_per_position=acc.kv_bytes_per_position,
                    kv_method="KV cache read per token at the mean positions attended by the timed tokens "
                              "(context + prompt + tokens / 2)")
    probe = (spec.get("probe") or {}).get("dram_read", {}).get(str(threads))
    if probe:
        bound = roofline.bound_tok_s(probe["value"], bpt)
        eff = metrics["tok_s"].value / bound
        roof.update(dram_read_gbps=probe["value"], bound_tok_s=bound, efficiency=eff)
        metrics["bound_tok_s"] = Metric(value=bound, unit="tok/s", provenance="projected",
                                        method="roofline: DRAM read GB/s (probe, same run) / bytes per token")
        metrics["pct_of_bound"] = Metric.from_samples([100 * t / bound for t in tok_s], "%",
                                                      method="measured tok/s / roofline bound")
        rows, cols = cfg.gemv_shape
        cpw = cycles_per_weight_in_cache(p["format"], cols, rows, flavour)
        roof["cycles_per_weight_in_cache"] = cpw
        weights_per_token = cfg.gemv_weights_per_token()
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
                      note="whole package/board energy over the timed repetitions incl. prefill"
                      + (" and the synthetic context fill" if context else ""))
    else:
        energy = dict(j_per_token=None, provenance="unavailable", reason=meter.reason,
                      note="no readable counter here; host projections carry estimated J/token")
    last = runs[-1]
    memory = dict(weight_bytes=acc.weight_bytes, state_bytes=acc.state_bytes,
                  engine_state_bytes=eng.state_bytes, weights_resident_bytes=w.nbytes, estimate=est,
                  available_bytes=avail)
    extra = dict(tokens=last.tokens.tolist(), prompt_tokens=prompt, repetitions=len(tok_s),
                 token_latencies_ms=(last.token_ns * 1e-6).tolist(), weights_load_s=load_s,
                 weights_source=origin, family=cfg.family, notes=list(acc.notes))
    if transformer:
        memory.update(kv_cache_bytes_allocated=eng.kv_bytes_allocated, kv_type=kv)
    if context:
        extra.update(context_fill=eng.context_fill, context_fill_seed=seed, context_fill_ms=fill_ms)
    return CaseResult(
        case_id=spec["case_id"], suite=spec["suite"], kind="decode", model=cfg.name, format=p["format"],
        flavour=flavour, threads=threads, context=context if context else len(prompt), params=p,
        metrics=metrics, memory=memory, roofline=roof, energy=energy, extra=extra)
