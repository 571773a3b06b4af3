"""The `decode` case kind: a whole model decoding greedily in C, timed per token.

Per repetition the state is reset, the prompt runs (prefill, timed), then `tokens` new tokens are
generated; tok/s is computed per repetition from the generated tokens after the first (whose time
belongs to prefill).  The bound and efficiency use the DRAM read bandwidth probed in the same run.

Prefill (prompt processing, llama-bench's pp) is a measured phase of its own: the prompt
(`prompt_len` seeded random tokens, or `prompt_tokens`) runs batched (`prefill: batched`, the
default: each projection one GEMM over up to 64 tokens; `token`: one step per token), pp_tok_s =
prompt tokens / the time until the first new token is known (its logits included), ttft_ms that
time.  Prefill is compute-bound; its roof is the engine's batched GEMM measured in cache on this
host (pp_roof_tok_s, projected from that rate and the weights a token multiplies).

Mamba-2 and transformer models alike (the engine follows the config's family).  With `context` N > 0
the state first stands in for an N-token context without running it (`fill_context`: a synthetic KV
cache for a transformer, a synthetic SSM/conv state for Mamba-2; `extra.context_fill` says which),
then the prompt and the decode run at positions N, N+1, ...  bytes_per_token counts the KV cache at
the mean number of positions the timed tokens attend to.

Before any weight is built the case's memory (weights + state or KV cache + overhead) is estimated;
a case that would not fit in the memory available now is skipped (status "skipped"), never swapped
or killed.

`engine: NAME` runs the same case on another engine (bmbench.engines; llama.cpp's setup is
bmbench/llamacpp/case.py): the same measurement loop and metrics."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import formats, hosts, memstat, roofline
from .energy import EnergyMeter
from . import engines
from .errors import BmbenchError
from .results import CaseResult, Metric

DEFAULT_PROMPT = (15496, 11, 314, 716, 257)  # GPT-2 BPE ids of a short English prompt
# process overhead beyond weights and state: interpreter, NumPy, scratch buffers, generation temporaries
MEMORY_OVERHEAD_BYTES = 256 << 20
MEMORY_OVERHEAD_FRACTION = 0.10
# where bmbench's weights live while a case decodes, whatever their source (the synthetic-weight cache,
# just generated, a BIT2 checkpoint): read into the process, never a file mapping, so the resident
# figures do not depend on the page cache or on a cache hit
BACKING = "anonymous (weights read into process memory, no file mapping)"


def load_weights(p: dict):
    """(weights, where they came from): a BIT2 checkpoint, or seeded synthetic weights (cached)."""
    from .models import cache, config
    if p.get("weights"):
        from .models.bit2 import load_bit2
        return load_bit2(p["weights"], p["format"]), p["weights"]
    seed = int(p.get("seed", 0))
    w, origin = cache.synthetic_weights(config.get_config(p["model"]), p["format"], seed)
    return w, f"synthetic seed {seed} ({origin})"


def _l2_matrix(fmt_name: str, rows: int, cols: int):
    """(format, rows, packed synthetic weights) of the compute measurements: the model's shape cut
    to whole row tiles within 256 KiB, so it stays in L2."""
    fmt = formats.get(fmt_name)
    rows = max(fmt.row_tile, min(rows, (256 * 1024 * 8) // int(fmt.bpw * cols) // fmt.row_tile * fmt.row_tile))
    return fmt, rows, fmt.synthetic(np.random.default_rng(2), rows, cols)


def gemm_weights_per_s_in_cache(fmt_name: str, cols: int, rows: int, flavour: str, n: int) -> float:
    """Compute side of prefill: weights per second one thread multiplies with the batched GEMM
    (bmk_gemm, n vectors, the activations prepared beforehand) on a matrix that fits in L2, the
    fastest of >= 0.1 s of calls."""
    from . import _kernels
    from .dispatch import flavour_id
    fmt, rows, packed = _l2_matrix(fmt_name, rows, cols)
    fl = flavour_id(flavour)
    stride = -(-fmt.act_bytes(cols) // 64) * 64
    acts = formats.aligned_empty(n * stride).reshape(n, stride)
    for j, x in enumerate(np.random.default_rng(3).standard_normal((n, cols)).astype(np.float32)):
        _kernels.prep(fmt.id, x, acts[j], 0, fl)
    y = np.empty((n, rows), dtype=np.float32)
    times, end = [], time.perf_counter() + 0.1
    while len(times) < 10 or time.perf_counter() < end:  # a roof: the best of >= 0.1 s of calls
        t = time.perf_counter()
        _kernels.gemm(fmt.id, fl, packed.data, rows, cols, packed.scale, acts, y, 1)
        times.append(time.perf_counter() - t)
    return n * rows * cols / min(times)


def cycles_per_weight_in_cache(fmt_name: str, cols: int, rows: int, flavour: str) -> float | None:
    """Compute side of the roofline: cycles per weight of one GEMV that fits in L2, 1 thread."""
    from .gemv_case import time_calls
    from .dispatch import flavour_id
    mhz = hosts.cpu_mhz()
    if not mhz:
        return None
    fmt, rows, packed = _l2_matrix(fmt_name, rows, cols)
    x = np.random.default_rng(3).standard_normal(cols).astype(np.float32)
    t = np.median(time_calls(fmt, flavour_id(flavour), [packed.data], rows, cols, packed.scale, x, 1,
                             repetitions=5, warmup=1, target_s=0.01))
    return t * mhz * 1e6 / (rows * cols)


def _available_memory() -> int:
    import psutil
    return int(psutil.virtual_memory().available)


def memory_estimate(weight_bytes: int, state_bytes: int) -> dict:
    """Bytes a decode case needs: weights + state (KV cache at its largest) + overhead."""
    need = weight_bytes + state_bytes
    overhead = MEMORY_OVERHEAD_BYTES + int(MEMORY_OVERHEAD_FRACTION * need)
    return dict(weight_bytes=weight_bytes, state_bytes=state_bytes, overhead_bytes=overhead,
                total_bytes=need + overhead)


def _vocab(p: dict) -> int:
    if p.get("gguf"):
        from .llamacpp import gguf_model
        return gguf_model.read_info(p["gguf"]).vocab
    return _config_for(p).vocab


def _config_for(p: dict):
    from .models import config
    if p.get("weights"):
        from .models.bit2 import read_bit2_index
        return read_bit2_index(p["weights"])[0]
    return config.get_config(p["model"])


def normalise_params(p: dict) -> dict:
    """A decode case's final params, by the engine that runs it (bmbench.engines)."""
    if p.get("prompt_tokens"):  # the user's prompt replaces the suite's prompt length
        p = {k: v for k, v in p.items() if k != "prompt_len"}
    return engines.get(p.get("engine", engines.BUILTIN)).normalise(p)


def _normalise_bmbench(p: dict) -> dict:
    """Under bmbench's engine a weight type only another engine reads is refused."""
    fmt = p.get("format")
    if fmt not in formats.FORMATS and (other := engines.owner_of_type(fmt)):
        raise BmbenchError(f"format {fmt!r} is a {other} type: run it with --engine {other}")
    return p


@dataclass
class _Setup:
    """What one engine hands the shared measurement: the engine object and its accounting."""
    eng: object
    model: str
    family: str
    origin: str
    load_s: float
    bytes_per_token: Callable[[int], dict]   # KV positions -> bytes per term
    memory: dict
    engine_info: dict
    flavour: str
    notes: list = field(default_factory=list)
    config: object = None                    # the bmbench config (projections), None for a GGUF
    method_note: str = ""


def _skipped(spec: dict, p: dict, model: str, est: dict, avail: int, what: str) -> CaseResult:
    gib = 1 << 30
    return CaseResult(
        case_id=spec["case_id"], suite=spec["suite"], kind="decode", status="skipped",
        error=(f"not enough memory: needs ~{est['total_bytes'] / gib:.2f} GiB (weights "
               f"{est['weight_bytes'] / gib:.2f} + {what} {est['state_bytes'] / gib:.2f} + overhead "
               f"{est['overhead_bytes'] / gib:.2f}), {avail / gib:.2f} GiB available"),
        model=model, format=p["format"], flavour=p["flavour"], threads=int(p["threads"]),
        context=int(p.get("context", 0)), params=p, memory=dict(estimate=est, available_bytes=avail))


def _setup_bmbench(p: dict, max_context: int, spec: dict):
    from . import __version__
    from .engine import engine_for
    from .models.accounting import account
    cfg = _config_for(p)
    transformer = cfg.family == "transformer"
    state, kv = p.get("state", "f32"), p.get("kv", "f16")
    at_max = account(cfg, p["format"], state, context=max_context if transformer else 0, kv_dtype=kv)
    est = memory_estimate(at_max.weight_bytes, at_max.state_bytes)
    avail = _available_memory()
    if est["total_bytes"] > avail:  # memory guard, before any weight is built
        return _skipped(spec, p, cfg.name, est, avail, "KV cache" if transformer else "state")
    t0 = time.perf_counter()
    w, origin = load_weights(p)
    load_s = time.perf_counter() - t0
    eng = engine_for(w, threads=int(p["threads"]), flavour=p["flavour"], state=state, kv=kv,
                     max_context=max_context)

    def bpt(positions: int) -> dict:
        return account(cfg, p["format"], state, context=positions, kv_dtype=kv).bytes_per_token_breakdown()
    a0 = account(cfg, p["format"], state, kv_dtype=kv)
    memory = dict(weight_bytes=a0.weight_bytes, state_bytes=a0.state_bytes, engine_state_bytes=eng.state_bytes,
                  weights_resident_bytes=w.nbytes, estimate=est, available_bytes=avail, backing=BACKING)
    if transformer:
        memory.update(kv_cache_bytes_allocated=eng.kv_bytes_allocated, kv_type=kv,
                      kv_bytes_per_position=a0.kv_bytes_per_position)
    return _Setup(eng=eng, model=cfg.name, family=cfg.family, origin=origin, load_s=load_s,
                  bytes_per_token=bpt, memory=memory, engine_info=dict(name="bmbench", version=__version__),
                  flavour=p["flavour"], notes=list(a0.notes), config=cfg)


BMBENCH = engines.Engine(name="bmbench", setup=_setup_bmbench, normalise=_normalise_bmbench)  # bmbench.engines' built-in


def run_case(spec: dict) -> CaseResult:
    p = spec["params"]
    threads, n_new = int(p["threads"]), int(p.get("tokens", 128))
    context = int(p.get("context", 0))
    engine = p.get("engine", "bmbench")
    prompt = _prompt(p)
    batch = 1 if p.get("prefill") == "token" else 0
    max_context = context + len(prompt) + n_new
    s = engines.get(engine).setup(p, max_context, spec)
    if isinstance(s, CaseResult):
        return s
    eng = s.eng
    transformer = s.family in ("transformer", "llama")
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
    resident = memstat.read()  # weights paged in: what the model holds while it decodes
    if resident is not None:
        s.memory["resident_after_warmup"] = {k: resident[k] for k in ("rss_bytes", "anon_bytes", "file_bytes")}
    # the KV cache the timed tokens read: generated token i >= 1 attends to context + len(prompt) + i
    # positions; bytes per token at their mean
    kv_positions = context + len(prompt) + n_new / 2 if transformer else 0
    breakdown = s.bytes_per_token(round(kv_positions))
    bpt = sum(breakdown.values())
    probe_gbps, probe_sample = [], None
    if p.get("probe_relative"):  # a read probe of the token's bytes just before each repetition
        from . import probe
        probe_sample, probe_flavour = probe.read_sampler(max(8, int(bpt) // 8 * 8), threads, target_s=0.002)
    tok_s, prefill_ms, latencies, runs, fill_ms = [], [], [], [], []
    budget_end = time.perf_counter() + spec["time_budget_s"]
    meter = EnergyMeter()
    with meter:
        while len(tok_s) < spec["repetitions"]:
            if probe_sample:
                probe_gbps.append(probe_sample())
            fill_ms.append(start())
            run = eng.decode(prompt, n_new, batch=batch)
            gen_ns = run.token_ns
            tok_s.append(len(gen_ns) / (gen_ns.sum() * 1e-9) if len(gen_ns) else float("nan"))
            prefill_ms.append(run.prefill_ns * 1e-6)
            latencies.extend((gen_ns * 1e-6).tolist())
            runs.append(run)
            if len(tok_s) >= spec["min_repetitions"] and time.perf_counter() > budget_end:
                break
    metrics = {
        "tok_s": Metric.from_samples(tok_s, "tok/s", method=s.method_note.lstrip("; ") or None),
        **_latencies(latencies, "per-token latency over all repetitions" + s.method_note),
        **_prefill_metrics(prompt, prefill_ms, batch, context, s.method_note),
    }
    if probe_gbps:
        metrics["pct_of_probe"] = Metric.from_samples(
            [100 * t * bpt / (g * 1e9) for t, g in zip(tok_s, probe_gbps)], "%", method=(
                f"tok/s x {bpt / 1024:.0f} KiB per token / read-sum GB/s over as many bytes ({threads} "
                f"thread(s), {probe_flavour}), the probe taken just before each repetition in this process"))
    roof = dict(bytes_per_token=bpt, breakdown=breakdown, llc_bytes=hosts.llc_bytes())
    if s.config is not None and engine == "bmbench":  # the compute side, for the host projections
        rows, cols = s.config.gemv_shape
        roof.update(weights_per_token=s.config.gemv_weights_per_token(),
                    cycles_per_weight_in_cache=cycles_per_weight_in_cache(p["format"], cols, rows, p["flavour"]))
        if batch == 0 and len(prompt) > 1:
            # a prompt multiplies every projection per token and the lm_head once (its last token)
            lm_head = s.config.vocab * s.config.d_model
            per_token = roof["weights_per_token"] - lm_head + lm_head / len(prompt)
            _prefill_roof(metrics, roof, p["format"], cols, rows, p["flavour"], threads, len(prompt), per_token)
    if transformer:
        roof.update(kv_positions=kv_positions, kv_bytes_per_position=s.memory.get("kv_bytes_per_position"),
                    kv_method="KV cache read per token at the mean positions attended by the timed tokens "
                              "(context + prompt + tokens / 2)")
    n_tokens = sum(len(r.tokens) for r in runs)
    if meter.joules is not None:
        energy = dict(j_per_token=meter.joules / n_tokens, provenance="measured", source=meter.source,
                      note="whole package/board energy over the timed repetitions incl. prefill"
                      + (" and the context fill" if context else ""))
    else:
        energy = dict(j_per_token=None, provenance="unavailable", reason=meter.reason,
                      note="no readable counter here; host projections carry estimated J/token")
    last = runs[-1]
    extra = dict(tokens=last.tokens.tolist(), prompt_tokens=prompt, repetitions=len(tok_s),
                 token_latencies_ms=(last.token_ns * 1e-6).tolist(), latencies_ms=latencies,
                 weights_load_s=s.load_s,
                 weights_source=s.origin, family=s.family, notes=s.notes)
    if probe_gbps:
        extra["probe_gbps"] = probe_gbps
    if context:
        extra.update(context_fill=eng.context_fill, context_fill_seed=seed, context_fill_ms=fill_ms)
    if p.get("check_reference"):
        extra["reference_check"] = _reference_check(eng, prompt, n_new, last.tokens.tolist(), p)
    if p.get("instructions"):
        _count_instructions(metrics, extra, p, prompt, n_new)
    case = CaseResult(
        case_id=spec["case_id"], suite=spec["suite"], kind="decode", model=s.model, format=p["format"],
        flavour=s.flavour, threads=threads, context=context if context else len(prompt), params=p,
        metrics=metrics, memory=s.memory, roofline=roof, energy=energy, extra=extra, engine=s.engine_info)
    set_bound(case, spec.get("probe") or {})
    return case


def _prompt(p: dict) -> list[int]:
    """The case's prompt: the user's tokens as given, `prompt_len` seeded random tokens of the
    vocabulary, or the default short prompt folded into small test vocabularies."""
    if p.get("prompt_tokens"):
        return [int(t) for t in p["prompt_tokens"]]
    vocab = _vocab(p)
    if p.get("prompt_len"):
        n = int(p["prompt_len"])
        if n < 1:
            raise BmbenchError(f"prompt_len must be >= 1, got {n}")
        return np.random.default_rng([int(p.get("seed", 0)), n]).integers(0, vocab, n).tolist()
    return [t % vocab for t in DEFAULT_PROMPT]


def _prefill_metrics(prompt: list[int], prefill_ms: list[float], batch: int, context: int, note: str) -> dict:
    how = (f"{len(prompt)} prompt tokens " + ("token by token" if batch == 1 else "batched")
           + (f", after a context of {context}" if context else "") + note)
    return {
        "pp_tok_s": Metric.from_samples([len(prompt) / (ms * 1e-3) for ms in prefill_ms], "tok/s", method=(
            "prompt tokens / wall time until the first new token is known (prefill + its logits); " + how)),
        "ttft_ms": Metric.from_samples(prefill_ms, "ms", better="lower", method=(
            "time to first token: the prompt and the first new token's logits; " + how)),
    }


def _prefill_roof(metrics: dict, roof: dict, fmt: str, cols: int, rows: int, flavour: str, threads: int,
                  n_prompt: int, weights_per_token: float) -> None:
    """pp_roof_tok_s (projected): the batched GEMM's in-cache rate x threads / weights per prompt
    token, and pp's % of it."""
    from ._kernels import BATCH
    n = min(n_prompt, BATCH)  # the engine's GEMMs take at most BATCH tokens
    rate = gemm_weights_per_s_in_cache(fmt, cols, rows, flavour, n)
    bound = threads * rate / weights_per_token
    roof.update(gemm_weights_per_s_in_cache=rate, pp_roof_tok_s=bound, pp_weights_per_token=weights_per_token)
    metrics["pp_roof_tok_s"] = Metric(value=bound, unit="tok/s", provenance="projected", method=(
        f"compute roof: batched GEMM of {n} vectors in L2 ({fmt}, {flavour}, 1 thread, "
        f"{rate / 1e9:.1f} Gweights/s, measured here) x {threads} thread(s) / {weights_per_token / 1e6:.0f}M "
        "weights per prompt token (the lm_head once per prompt); norms, conv, state update, attention not counted"))
    metrics["pct_of_pp_roof"] = Metric.from_samples(
        [100 * v / bound for v in metrics["pp_tok_s"].samples], "%", method="measured pp tok/s / compute roof")


REFERENCE_MAX_BYTES = 64 << 20  # the float64 references dequantise every matrix: tiny models only


def _reference_check(eng, prompt: list[int], n_new: int, tokens: list[int], p: dict) -> dict:
    """The greedy tokens of bmbench's float64 reference for the same weights and prompt, and whether
    the engine decoded exactly them (a gate fails a case whose output changed, whatever its speed)."""
    w = getattr(eng, "weights", None)
    if w is None or p.get("context") or w.nbytes > REFERENCE_MAX_BYTES:
        return dict(match=None, reason="no float64 reference here (llama.cpp, a context fill, or a model "
                                       f"over {REFERENCE_MAX_BYTES >> 20} MiB)")
    from .models import Reference, TransformerReference
    ref = (TransformerReference(w, kv_type=p.get("kv", "f16")) if w.config.family == "transformer"
           else Reference(w, state_dtype="f16" if p.get("state") == "f16" else "f64"))
    want = ref.generate(list(prompt), n_new).tokens
    first = next((i for i, (a, b) in enumerate(zip(tokens, want)) if a != b), None)
    return dict(match=first is None, reference_tokens=want, first_difference=first)


def _count_instructions(metrics: dict, extra: dict, p: dict, prompt: list[int], n_new: int) -> None:
    """instructions_per_token of the whole C decode loop, counted by callgrind (Mamba-2 models of
    the registry; a note says why where it cannot be counted)."""
    from . import instructions
    from .models import config
    try:
        if p.get("weights") or p.get("engine", "bmbench") != "bmbench" or \
                config.get_config(p["model"]).family == "transformer":
            raise instructions.Unavailable("counted for the bmbench engine's Mamba-2 models of the registry")
        ipt = instructions.per_token(p["model"], p["format"], p["flavour"], prompt, n_new)
        metrics["instructions_per_token"] = Metric(
            value=ipt, unit="instr/token", better="lower", repeatable=True,
            method=f"valgrind callgrind, bmk_model_decode, {len(prompt)} prompt + {n_new} tokens, 1 thread")
    except instructions.Unavailable as e:
        extra.setdefault("notes", []).append(f"instructions_per_token skipped: {e}")


def _latencies(lat_ms: list[float], method: str | None) -> dict[str, Metric]:
    lat = np.asarray(lat_ms)
    return {f"latency_p{q}": Metric(value=float(np.percentile(lat, q)), unit="ms", better="lower", method=method)
            for q in (50, 99)}


def pool(prev: CaseResult, new: CaseResult) -> CaseResult:
    """Two rounds of one decode case: samples pooled, latency percentiles over every token of both."""
    from .pooling import pool as pool_samples
    lat = list(prev.extra.get("latencies_ms", [])) + list(new.extra.get("latencies_ms", []))
    new = pool_samples(prev, new)
    if lat:
        new.metrics.update(_latencies(lat, new.metrics["latency_p50"].method))
        new.extra["latencies_ms"] = lat
    return new


def set_bound(case: CaseResult, probe: dict) -> None:
    """The case's roofline bound from the run's DRAM read bandwidth (its best sample): bound_tok_s,
    pct_of_bound, efficiency and the host projections; none for a case whose bytes per token fit
    in 4x the aggregate last-level cache (labelled cache-resident: its weights need not come from
    DRAM, so a DRAM bound would be no bound)."""
    roof, p = case.roofline, case.params
    for k in ("bound_tok_s", "pct_of_bound"):
        case.metrics.pop(k, None)
    for k in ("dram_read_gbps", "bound_tok_s", "efficiency", "projections", "regime_note"):
        roof.pop(k, None)
    bpt, llc = roof["bytes_per_token"], roof.get("llc_bytes") or hosts.llc_bytes()
    if bpt < 4 * llc:
        roof.update(regime="cache-resident", regime_note=(
            f"{bpt / 2**20:.0f} MiB per token < 4x the aggregate last-level cache ({4 * llc / 2**20:.0f} MiB): "
            f"no DRAM bound"))
        return
    roof["regime"] = "DRAM"
    entry = (probe.get("dram_read") or {}).get(str(case.threads))
    if not entry:
        return
    tok_s = case.metrics["tok_s"]
    bound = roofline.bound_tok_s(entry["value"], bpt)
    roof.update(dram_read_gbps=entry["value"], bound_tok_s=bound, efficiency=tok_s.value / bound)
    case.metrics["bound_tok_s"] = Metric(value=bound, unit="tok/s", provenance="projected", method=(
        "roofline: DRAM read GB/s (probe best sample, same run) / bytes per token"))
    case.metrics["pct_of_bound"] = Metric.from_samples([100 * t / bound for t in tok_s.samples], "%",
                                                       method="measured tok/s / roofline bound")
    if "weights_per_token" in roof:
        from .suites import all_threads
        profiles = hosts.load_profiles(p.get("hosts_file"))
        cpw = roof.get("cycles_per_weight_in_cache")
        roof["projections"] = [roofline.project(
            profiles[h], measured_tok_s=tok_s.value, local_bound_tok_s=bound, bytes_per_token=bpt,
            weights_per_token=roof["weights_per_token"], threads=case.threads, all_threads_here=all_threads(),
            cycles_per_weight=cpw, local_simd_bytes=roofline.SIMD_BYTES.get(case.flavour, 8)).as_dict()
            for h in p.get("project_to") or list(profiles)]
