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
or killed (memory_guard).  The metrics from the timings and the bound are decode_metrics'; the
in-cache compute rates behind the projections and the prefill roof are compute_roof's.

`engine: NAME` runs the same case on another engine (bmbench.engines; llama.cpp's setup is
bmbench/llamacpp/case.py): the same measurement loop and metrics."""
from __future__ import annotations

import time

import numpy as np

from . import compute_roof, decode_metrics, engines, formats, hosts, memory_guard, memstat
from .decode_metrics import set_bound
from .energy import EnergyMeter
from .errors import BmbenchError
from .memory_guard import available_memory as _available_memory  # one name the tests replace
from .results import CaseResult, Metric

DEFAULT_PROMPT = (15496, 11, 314, 716, 257)  # GPT-2 BPE ids of a short English prompt
# where bmbench's weights live while a case decodes, whatever their source (the synthetic-weight cache,
# just generated, a BIT2 checkpoint): read into the process, never a file mapping, so the resident
# figures do not depend on the page cache or on a cache hit; the engine gathers the matrices onto
# huge pages (bmbench.arena), and resident_after_warmup.huge_page_bytes says how many the OS gave
BACKING = "anonymous (weights read into process memory, no file mapping; matrices advised onto huge pages)"


def load_weights(p: dict):
    """(weights, where they came from): a BIT2 checkpoint, or seeded synthetic weights (cached)."""
    from .models import cache, config
    if p.get("weights"):
        from .models.bit2 import load_bit2
        return load_bit2(p["weights"], p["format"]), p["weights"]
    seed = int(p.get("seed", 0))
    w, origin = cache.synthetic_weights(config.get_config(p["model"]), p["format"], seed)
    return w, f"synthetic seed {seed} ({origin})"


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


def _setup_bmbench(p: dict, max_context: int, spec: dict):
    from . import __version__
    from .engine import engine_for
    from .models.accounting import account
    cfg = _config_for(p)
    transformer = cfg.family == "transformer"
    state, kv = p.get("state", "f32"), p.get("kv", "f16")
    at_max = account(cfg, p["format"], state, context=max_context if transformer else 0, kv_dtype=kv)
    est = memory_guard.memory_estimate(at_max.weight_bytes, at_max.state_bytes)
    avail = _available_memory()
    if est["total_bytes"] > avail:  # memory guard, before any weight is built
        return memory_guard.skipped(spec, p, cfg.name, est, avail, "KV cache" if transformer else "state")
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
    return engines.Setup(eng=eng, model=cfg.name, family=cfg.family, origin=origin, load_s=load_s,
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
        if (huge := memstat.huge_page_bytes()) is not None:  # how much of it the TLB sees in 2 MiB pages
            s.memory["resident_after_warmup"]["huge_page_bytes"] = huge
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
        **decode_metrics.latencies(latencies, "per-token latency over all repetitions" + s.method_note),
        **decode_metrics.prefill_metrics(prompt, prefill_ms, batch, context, s.method_note),
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
                    cycles_per_weight_in_cache=compute_roof.cycles_per_weight_in_cache(p["format"], cols, rows, p["flavour"]))
        if batch == 0 and len(prompt) > 1:
            # a prompt multiplies every projection per token and the lm_head once (its last token)
            lm_head = s.config.vocab * s.config.d_model
            per_token = roof["weights_per_token"] - lm_head + lm_head / len(prompt)
            compute_roof.prefill_roof(metrics, roof, p["format"], cols, rows, p["flavour"], threads, len(prompt), per_token)
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


