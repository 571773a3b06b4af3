"""The `bmbench` command: a thin layer over the Python API.  Bad input is one line on stderr and
exit status 2; no traceback, no partial file."""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from . import engines
from .errors import BmbenchError, Interrupted
from .request import RunRequest, check_writable, csv_list, overrides_from, validate_overrides

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + message otherwise)
        sub = self.prog.removeprefix("bmbench").strip()
        raise BmbenchError(f"{sub}: {message}" if sub else message)


def _default_output(suite: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("bmbench-results") / f"{suite}-{stamp}.json"


# ------------------------------------------------------------------------------------- commands
def cmd_info(args, out: Console) -> int:
    from . import _kernels, dispatch, formats, hosts, runner
    d = hosts.detect()
    b = runner.build_info()
    t = Table(title="bmbench info", show_header=False)
    t.add_column("item")
    t.add_column("value")
    v = runner.versions()
    t.add_row("bmbench", v["bmbench"])
    t.add_row("Python", f"{v['implementation']} {v['python']} (NumPy {v['numpy']})")
    t.add_row("compiler", f"{b.get('compiler')} ({b.get('buildtype')}; {b.get('isa_args', '')})")
    t.add_row("CPU", f"{d['cpu_model']} ({d['arch']})")
    t.add_row("cores", f"{d['cores_physical']} physical, {d['cores_logical']} logical, "
                       f"{d['cpus_allowed']} usable by this process")
    t.add_row("caches", ", ".join(f"{k.replace('_kib', '').upper()} {v} KiB" for k, v in d["caches"].items())
              + " (L1d/L2 per core, L3 shared)")
    t.add_row("memory", f"{d['memory_total_bytes'] / 2**30:.1f} GiB")
    t.add_row("SIMD features", " ".join(d["kernel_features"]) or "none detected")
    t.add_row("OpenMP threads", str(_kernels.default_threads()))
    t.add_row("governor", str(d["governor"] or "not exposed (VM or no cpufreq)"))
    for st in dispatch.status():
        state = ("chosen" if st["chosen"] else "available" if st["runnable"] else
                 "not supported by this CPU" if st["compiled"] else "not compiled")
        if st["emulated"] and st["compiled"]:
            state += " (SIMDe emulation, for tests)"
        t.add_row(f"flavour {st['flavour']}", state)
    chosen = dispatch.chosen_flavour()
    choices = dispatch.format_choices(calibrate_now=False)
    t.add_row("flavour per format", choices["source"])
    for f in formats.FORMATS.values():
        avail = [x for x in f.flavours if dispatch.runnable(x)]
        pick = choices["formats"].get(f.name, {}).get("flavour") or (chosen if chosen in f.flavours else "scalar")
        t.add_row(f"kernel gemv {f.name}", f"available: {', '.join(avail)}; chosen: {pick}")
    for fam in ("probe", "ssm (Mamba-2 recurrence)", "attn (KV-cache attention, SwiGLU)"):
        t.add_row(f"kernel {fam}", f"available: {', '.join(dispatch.runnable_flavours())}; chosen: {chosen}")
    for name in engines.names()[1:]:
        t.add_row(f"engine {name}", engines.get(name).describe())
    if b.get("kernels_env"):
        t.add_row(dispatch.ENV_VAR, b["kernels_env"])
    out.print(t)
    return 0


def cmd_hosts(args, out: Console) -> int:
    from . import hosts
    profiles = hosts.load_profiles(args.hosts_file)
    if args.action == "show":
        if not args.name:
            raise BmbenchError("hosts show: missing host name")
        p = hosts.get_profile(args.name, args.hosts_file)
        t = Table(title=f"{p.key}: {p.name} ({p.arch})")
        for c in ("figure", "value", "unit", "source"):
            t.add_column(c)
        for k, f in p.figures.items():
            val = ", ".join(map(str, f.value)) if isinstance(f.value, list) else (
                ", ".join(f"{kk} threads: {vv}" for kk, vv in f.value.items())
                if isinstance(f.value, dict) else str(f.value))
            t.add_row(k, val, f.unit, f.source)
        out.print(t)
        return 0
    t = Table(title="host profiles (published specifications; used to project, never as measurements)")
    for c in ("host", "name", "arch", "cores", "SIMD", "DRAM peak GB/s", "measured read GB/s (published)"):
        t.add_column(c)
    for p in list(profiles.values()) + [hosts.local_profile()]:
        mbw = p.get("measured_read_bandwidth")
        t.add_row(p.key if p.key != "local" else "local (detected)", p.name, p.arch, str(p.get("cores")),
                  " ".join(p.get("simd", []) or []), str(p.get("dram_peak", "measure: bmbench probe")),
                  ", ".join(f"{v} @{k}T" for k, v in mbw.items()) if mbw else "")
    out.print(t)
    out.print("`bmbench hosts show NAME` prints every figure with its source.")
    return 0


def cmd_history(args, out: Console) -> int:
    from . import history
    with history.Store(args.db) as store:
        if args.action == "add":
            if not args.results:
                raise BmbenchError("history add: name at least one result file")
            for path, added in history.add_files(store, args.results, args.revision, args.branch):
                out.print(f"{path}: {'added' if added else 'already stored'} ({store.path})")
            return 0
        df = store.points(args.case, args.metric, args.since, args.branch, measured_only=args.action == "detect")
        if df.empty:
            out.print(f"no stored points match in {store.path}")
            return 0
        if args.action == "show":
            t = Table(title=f"history: {store.path}")
            for c in ("created", "revision", "branch", "hardware class", "case", "metric", "value", "[low-high]",
                      "provenance"):
                t.add_column(c, justify="right" if c == "value" else "left")
            for r in df.itertuples():
                t.add_row(r.created, r.revision[:12], r.branch, r.hardware_class, r.case_id, r.metric,
                          f"{r.value:.4g} {r.unit or ''}", "" if r.low is None or r.low != r.low
                          else f"{r.low:.4g}-{r.high:.4g}", r.provenance)
            out.print(t)
            return 0
        if args.action == "report":
            from .report.trends import write_trends
            out.print(f"report: {write_trends(df, history.change_points(df, args.pvalue), args.output)}")
            return 0
        cps = history.change_points(df, args.pvalue)
        t = Table(title=f"change points (Otava e-divisive, p < {args.pvalue:g}; series per hardware class x branch)")
        for c in ("case", "metric", "hardware class", "branch", "from revision", "change", "p", "verdict"):
            t.add_column(c)
        for cp in cps:
            t.add_row(cp.case_id, cp.metric, cp.hardware_class, cp.branch, cp.revision[:12],
                      f"{cp.change_pct:+.1f}% ({cp.before:.4g} -> {cp.after:.4g} {cp.unit})", f"{cp.pvalue:.1e}",
                      "regression" if cp.regression else "improvement")
        out.print(t if cps else "no change point in any series")
        failed = history.gate(cps, 100 * args.threshold)
        for cp in failed:
            out.print(f"regression: {cp.case_id} {cp.metric} {cp.change_pct:+.1f}% from {cp.revision[:12]} "
                      f"({cp.branch}, {cp.hardware_class})")
        return 1 if failed else 0


def _run_and_report(suite, overrides, args, out: Console, params: dict | None = None,
                    resume=None, resume_path: Path | None = None) -> int:
    from . import noise, printers, runner
    output = Path(args.output) if getattr(args, "output", None) else resume_path or _default_output(suite.name)
    check_writable(output)
    run = runner.run_suite(suite, overrides=overrides, output=output, params=params,
                           console=Console(stderr=True, markup=False), command=sys.argv,
                           rounds=getattr(args, "rounds", None), resume=resume)
    printers.as_table(run, out)
    warning = noise.summary(run.host.get("noise"))
    if warning:
        out.print(warning, soft_wrap=True)
    if not getattr(args, "no_report", False):
        from .report import render_report
        try:
            index = render_report([run], output.with_suffix(""))
            out.print(f"report: {index}", soft_wrap=True)
        except Exception as e:  # the result is saved; a report problem must not lose it
            out.print(f"report not rendered ({type(e).__name__}: {e}); "
                      f"retry with `bmbench report {output}`", soft_wrap=True)
    if getattr(args, "print_tokens", False):
        for c in run.ok_cases():
            if "tokens" in c.extra:
                # space-separated, as bitmamba.c prints them in raw mode
                out.print(f"{c.case_id}: prompt {' '.join(map(str, c.extra['prompt_tokens']))} -> "
                          f"{' '.join(map(str, c.extra['tokens']))}", soft_wrap=True)
    failed = [c for c in run.cases if c.status == "failed"]
    out.print(f"result: {output}" + (f"  ({len(failed)} case(s) failed)" if failed else ""))
    return 1 if failed else 0


def cmd_run(args, out: Console) -> int:
    if args.resume:
        return _resume(args, out)
    if not args.suite:
        raise BmbenchError("run needs --suite NAME (or --resume RESULT.json)")
    if args.on:  # on remote boards over SSH (bmbench.remote): one result per host
        from .remote.command import run_remote
        return run_remote(args, out)
    from .suites import load_suite
    req = RunRequest.from_args(args)
    suite = load_suite(req.suite)
    params, ov = req.params, req.overrides
    cases = suite.cases(ov, params)  # every case's params checked before anything runs
    for name in sorted({c.params.get("engine", engines.BUILTIN) for c in cases}):
        engines.get(name).require()  # an engine that cannot run here: one line now, not a failed case
    return _run_and_report(suite, ov, args, out, params)


_RESUME_KEEPS = {"command", "func", "resume", "output", "no_report", "print_tokens", "parallel"}


def _resume(args, out: Console) -> int:
    """Finish an interrupted run: the cases it still owes, into the same document."""
    from . import results
    from .suites import load_suite
    given = sorted(k for k, v in vars(args).items() if k not in _RESUME_KEEPS and v not in (None, False))
    if given:
        raise BmbenchError(f"--resume takes the interrupted run's own settings; drop "
                           f"{', '.join('--' + k.replace('_', '-') for k in given)}")
    path = Path(args.resume)
    run = results.load(path)
    if run.complete:
        raise BmbenchError(f"{path}: the run is complete, nothing to resume")
    if not run.plan.get("suite"):
        raise BmbenchError(f"{path}: the document does not say how its cases were made (no plan)")
    suite = load_suite(run.plan["suite"])
    return _run_and_report(suite, None, args, out, resume=run, resume_path=path)


def cmd_probe(args, out: Console) -> int:
    from .suites import load_suite
    suite = load_suite("probe")
    ov = overrides_from(args)
    validate_overrides(ov)
    if args.max_bytes:
        for g in suite.groups:
            g.params["max_bytes"] = args.max_bytes
    return _run_and_report(suite, ov, args, out)


def cmd_calibrate(args, out: Console) -> int:
    from . import calibrate, dispatch
    err = Console(stderr=True, markup=False)
    doc = calibrate.calibrate(progress=lambda msg: err.print(msg, highlight=False))
    dispatch.forget_choices()
    t = Table(title=f"kernel flavour per format - {doc['cpu_model']}", caption=doc["method"])
    for c in ("format", "us per call (stream + cache) by flavour, measured now", "chosen", "vs default"):
        t.add_column(c)
    for name, d in doc["formats"].items():
        secs = d["seconds"]
        timings = ", ".join(f"{f} {s * 1e6:.0f}" for f, s in secs.items()) or "one native flavour"
        gain = (f"{secs[doc['default']] / secs[d['flavour']] - 1:+.1%}" if doc["default"] in secs else "")
        t.add_row(name, timings, d["flavour"], gain)
    out.print(t)
    out.print(f"saved: {doc['file']}" if doc.get("file") else "not saved (cache off): this choice was for this "
              "process only", soft_wrap=True)
    return 0


def cmd_show(args, out: Console) -> int:
    from . import printers, results
    runs = {p: results.load(p) for p in args.results}
    if args.as_ == "table":
        for path, run in runs.items():
            printers.as_table(run, out, all_metrics=args.all, title=path if len(runs) > 1 else None)
    else:
        text = {"csv": printers.as_csv, "md": printers.as_markdown, "json": printers.as_json,
                "jsonl": printers.as_jsonl}[args.as_](runs)
        sys.stdout.write(text)
    return 0


def cmd_report(args, out: Console) -> int:
    from .report import render_report
    index = render_report(args.results, args.output)
    out.print(f"report: {index}", soft_wrap=True)
    return 0


def cmd_suites(args, out: Console) -> int:
    from .suites import list_suites, load_suite
    t = Table(title="suites")
    for c in ("suite", "kinds", "cases", "description"):
        t.add_column(c)
    for name in list_suites():
        s = load_suite(name)
        t.add_row(name, ", ".join(s.kinds), str(len(s.cases())), " ".join(s.description.split()))
    out.print(t)
    return 0


def cmd_models(args, out: Console) -> int:
    from . import formats
    from .models import accounting, config
    names = csv_list(args.model) if args.model else config.list_configs()
    fmts = csv_list(args.format) if args.format else list(formats.FORMATS)
    for f in fmts:
        formats.get(f)
    if args.context < 0:
        raise BmbenchError(f"--context must be >= 0, got {args.context}")
    t = Table(title=f"models x formats (computed from the configs; SSM state {args.state}; "
                    f"KV cache {args.kv} at context {args.context})")
    for c in ("model", "family", "params", "format", "weights MB", "state MB", "bytes/token MB"):
        t.add_column(c, justify="left" if c in ("model", "family", "format") else "right")
    notes = {}
    for m in names:
        cfg = config.get_config(m)
        for f in fmts:
            a = accounting.account(m, f, args.state, context=args.context, kv_dtype=args.kv)
            t.add_row(m, cfg.family, f"{a.params / 1e6:.0f}M", f, f"{a.weight_bytes / 1e6:.1f}",
                      f"{a.state_bytes / 1e6:.2f}", f"{a.bytes_per_token / 1e6:.1f}")
            if a.kv_dtype:
                notes[m] = (f"{m}: state = KV cache, {a.kv_bytes_per_position / 1024:.0f} KiB per position "
                            f"({a.kv_dtype}); bytes/token grows with --context")
            if a.notes:  # the tied lm_head: one line per model, not per format
                notes[m + "/lm_head"] = (f"{m}: lm_head tied to the embedding, read as a packed copy in the "
                                         f"row's format (counted in weights and bytes/token)")
    out.print(t)
    for n in notes.values():
        out.print(n, soft_wrap=True)
    return 0


def cmd_roofline(args, out: Console) -> int:
    from . import dispatch, hosts, probe, roofline
    from .models import accounting, config
    from .suites import all_threads
    cfg = config.get_config(args.model)
    if args.context < 0:
        raise BmbenchError(f"--context must be >= 0, got {args.context}")
    a = accounting.account(cfg, args.format, args.state, context=args.context, kv_dtype=args.kv)
    threads = args.threads if args.threads else all_threads()
    at = f" at context {args.context} (KV cache {args.kv})" if a.kv_dtype else ""
    t = Table(title=f"{cfg.name} {args.format}: bytes per decode token{at} (computed)")
    t.add_column("term")
    t.add_column("MB", justify="right")
    for k, v in a.bytes_per_token_breakdown().items():
        t.add_row(k, f"{v / 1e6:.2f}")
    t.add_row("total", f"{a.bytes_per_token / 1e6:.2f}")
    out.print(t)
    if args.host and args.host != "local":
        p = hosts.get_profile(args.host, args.hosts_file)
        cores = int(p.get("cores", 1))
        bw, src = roofline.host_read_bandwidth(p, min(args.threads, cores) if args.threads else cores)
        prov = "projected"
    else:
        m = probe.dram_read(threads)
        bw, src, prov = m.value, f"measured now: {m.method}, {threads} thread(s)", "measured bandwidth"
    weights = cfg.gemv_weights_per_token()
    out.print(f"compute: {weights / 1e9:.3f} G weights per token (one table lookup + add per weight "
              f"for ternary-lut, one multiply-add for the other formats)")
    if not args.host or args.host == "local":
        from .compute_roof import cycles_per_weight_in_cache
        rows, cols = cfg.gemv_shape
        cpw = cycles_per_weight_in_cache(args.format, cols, rows, dispatch.chosen_flavour())
        if cpw:
            roof = threads * hosts.cpu_mhz() * 1e6 / cpw / weights
            out.print(f"compute roof: {cpw:.3f} cycles per weight measured now (in-cache GEMV, 1 thread, "
                      f"{dispatch.chosen_flavour()}) -> {roof:.1f} tok/s with {threads} thread(s)")
    out.print(f"read bandwidth: {bw:.2f} GB/s ({src})")
    out.print(f"bound: {roofline.bound_tok_s(bw, a.bytes_per_token):.1f} tok/s "
              f"({prov}; roofline = bandwidth / bytes per token, an upper limit, not a measurement)")
    return 0


def _fraction(text: str) -> float:
    t = text.strip()
    v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    if not 0 <= v < 10:
        raise ValueError(text)
    return v


def cmd_compare(args, out: Console) -> int:
    from . import compare, results
    a, b = results.load(args.base), results.load(args.new)
    rows = compare.compare_runs(a, b, args.threshold, compare.DEFAULT_ALPHA if args.alpha is None else args.alpha)
    if not rows:
        raise BmbenchError("no case in common between the two results")
    if args.as_ == "md":
        sys.stdout.write(compare.to_markdown(rows))
    elif args.as_ == "json":
        sys.stdout.write(compare.to_json(rows))
    else:
        out.print(compare.to_table(rows, f"{args.new} vs {args.base} (ratio = new / base)"))
    return 0


def cmd_gate(args, out: Console) -> int:
    from .compare import DEFAULT_ALPHA
    from .gate import run_gate
    from .suites import load_suite
    b = Path(args.baseline)
    if not args.update_baseline and not (b.is_file() or b.is_dir()):
        raise BmbenchError(f"baseline not found: {args.baseline} (record one with --update-baseline)")
    suite = load_suite(args.suite) if args.suite else None
    for f in (args.output, args.markdown, args.json_out):
        if f:
            check_writable(Path(f))
    return run_gate(args.baseline, suite=suite, result_path=args.result, threshold=args.threshold,
                    clock_threshold=args.clock_threshold, alpha=DEFAULT_ALPHA if args.alpha is None else args.alpha,
                    reruns=args.reruns, update_baseline=args.update_baseline, markdown=args.markdown,
                    json_out=args.json_out, output=args.output, console=out)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bmbench", description="Benchmark ternary Mamba-2 inference on CPUs.")
    p.add_argument("--version", action="version", version=f"bmbench {__import__('bmbench').__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    sub.required = True

    def axes(sp, kernel=False):
        sp.add_argument("--flavour", help="kernel flavour(s), comma separated (`bmbench info` lists them), "
                                          "all or auto")
        sp.add_argument("--threads", help="thread count(s), comma separated, or 'all'")
        if kernel:
            sp.add_argument("--kernel", help="probe kernel(s): read,copy,triad")
        sp.add_argument("-o", "--output", help="result file (default bmbench-results/SUITE-TIME.json); "
                        "the report goes to the same path without .json")
        sp.add_argument("--no-report", action="store_true", help="skip the HTML report at the end")

    sp = sub.add_parser("run", help="run a suite and write its result document")
    sp.add_argument("--suite", help="suite name (see `bmbench suites`) or a YAML path")
    sp.add_argument("--rounds", type=int, help="rounds: every case once per round, in a fresh worker, after "
                    "a probe slice of its own; samples pooled (default: the suite's, 2 for decode)")
    sp.add_argument("--resume", metavar="RESULT.json", help="finish an interrupted run (its document says "
                    "complete: false): only the cases it owes, into the same file")
    axes(sp, kernel=True)
    sp.add_argument("--format", help="weight format(s), comma separated")
    sp.add_argument("--model", help="model(s), comma separated (see `bmbench models`)")
    sp.add_argument("--tokens", type=int, help="decode: tokens to generate per repetition")
    sp.add_argument("--prompt-tokens", help="decode: prompt token ids, comma separated (e.g. 15496,11,314)")
    sp.add_argument("--prompt-len", help="decode: prompt length(s) in tokens, comma separated (seeded random "
                    "tokens; pp tok/s and time to first token are measured over them)")
    sp.add_argument("--prefill", metavar="batched,token",
                    help="decode: run the prompt batched (default) or token by token; both to compare them")
    sp.add_argument("--print-tokens", action="store_true", help="decode: print the generated token ids")
    sp.add_argument("--weights", help="decode: a BitMamba-2 BIT2 checkpoint instead of synthetic weights")
    sp.add_argument("--engine", choices=engines.names(),
                    help="decode: the engine (default: the suite's; llamacpp needs the llamacpp extra)")
    sp.add_argument("--gguf", help="decode: a GGUF model for the llama.cpp engine instead of a synthetic one")
    sp.add_argument("--state", choices=("f32", "f16"), help="decode: SSM state precision")
    sp.add_argument("--kv", choices=("f16", "q8_0"), help="decode: KV cache type (transformer models)")
    sp.add_argument("--context", help="decode: context length(s) filled (synthetically) before decoding, "
                    "comma separated")
    sp.add_argument("--project-to", help="decode: host profiles to project to (default: all)")
    sp.add_argument("--hosts-file", help="your own host profiles (same shape as hosts.yaml)")
    sp.add_argument("--on", metavar="HOST,..", help="run on these boards over SSH (profiles with an "
                    "ssh: block) instead of here; one result per host")
    sp.add_argument("--parallel", action="store_true", help="--on: run different hosts concurrently")
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("probe", help="memory bandwidth probe (same as run --suite probe)")
    axes(sp, kernel=True)
    sp.add_argument("--max-bytes", type=int, help="largest working set in bytes")
    sp.set_defaults(func=cmd_probe)

    sp = sub.add_parser("calibrate", help="measure each GEMV format's flavours here and keep the fastest "
                                          "per format (cached by CPU; runs by itself the first time)")
    sp.set_defaults(func=cmd_calibrate)

    sp = sub.add_parser("show", help="print result documents")
    sp.add_argument("results", nargs="+", metavar="RESULT.json")
    sp.add_argument("--as", dest="as_", choices=("table", "csv", "md", "json", "jsonl"), default="table",
                    help="table: one row per case (--all: per case x metric); csv / md / jsonl: one row per "
                         "case x metric, a `source` column with several files; json: the document(s)")
    sp.add_argument("--all", action="store_true", help="table: every metric of every case, one row each")
    sp.set_defaults(func=cmd_show)

    sp = sub.add_parser("report", help="HTML page + one PNG per figure from result documents")
    sp.add_argument("results", nargs="+", metavar="RESULT.json",
                    help="result document(s); the first is the base of the comparison")
    sp.add_argument("-o", "--output", default="bmbench-report", metavar="DIR",
                    help="output directory (default bmbench-report/)")
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("info", help="Python, compiler, CPU, caches, SIMD, kernel flavours")
    sp.set_defaults(func=cmd_info)

    sp = sub.add_parser("hosts", help="host profiles (hosts.yaml) and the detected local host")
    sp.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    sp.add_argument("name", nargs="?")
    sp.add_argument("--hosts-file", help="your own hosts file (same shape as hosts.yaml)")
    sp.set_defaults(func=cmd_hosts)

    sp = sub.add_parser("compare", help="compare two result documents (ratio, interval, Mann-Whitney U, verdict)")
    sp.add_argument("base")
    sp.add_argument("new")
    sp.add_argument("--threshold", type=_fraction, default=0.05, help="minimum effect, e.g. 5%% (default)")
    sp.add_argument("--alpha", type=float, help="significance level (default 0.01)")
    sp.add_argument("--as", dest="as_", choices=("table", "md", "json"), default="table")
    sp.set_defaults(func=cmd_compare)

    sp = sub.add_parser("gate", help="CI regression gate against a baseline (exit 1 on a confirmed regression)")
    sp.add_argument("--suite", default="ci", help="suite to run (default ci)")
    sp.add_argument("--baseline", required=True, help="baseline result document, or a directory of them "
                    "(one per suite and hardware class: SUITE-ARCH-FLAVOUR-COMPILER.json)")
    sp.add_argument("--result", help="gate this result instead of running the suite")
    sp.add_argument("--threshold", type=_fraction, default=0.05,
                    help="minimum effect for instruction counts (default 5%%)")
    sp.add_argument("--clock-threshold", type=_fraction, default=0.15,
                    help="minimum effect for clock-derived ratios, speedup_vs_scalar and pct_of_probe "
                         "(default 15%%: on a shared VM they swing by 10-17%% between runs)")
    sp.add_argument("--alpha", type=float, help="significance level (default 0.01)")
    sp.add_argument("--reruns", type=int, default=2, help="re-runs of a suspect case before failing")
    sp.add_argument("--update-baseline", action="store_true", help="write the new result as the baseline")
    sp.add_argument("--markdown", help="also write the comparison as markdown (for a PR comment)")
    sp.add_argument("--json", dest="json_out", metavar="FILE",
                    help="also write the decision as JSON: exit code, comparisons (each with "
                         "confirmed), broken cases")
    sp.add_argument("-o", "--output", help="also save the new result document here")
    sp.set_defaults(func=cmd_gate)

    sp = sub.add_parser("models", help="model configs: parameters, memory and bytes per token per format")
    sp.add_argument("--model", help="model(s), comma separated")
    sp.add_argument("--format", help="format(s), comma separated")
    sp.add_argument("--state", choices=("f32", "f16"), default="f32", help="SSM state (Mamba-2)")
    sp.add_argument("--context", type=int, default=0, help="KV cache positions (transformer; default 0)")
    sp.add_argument("--kv", choices=("f16", "q8_0"), default="f16", help="KV cache type (transformer)")
    sp.set_defaults(func=cmd_models)

    sp = sub.add_parser("roofline", help="bytes per token and the bandwidth bound of a model x format")
    sp.add_argument("--model", required=True)
    sp.add_argument("--format", required=True)
    sp.add_argument("--host", help="a host profile (default: this machine, measured now)")
    sp.add_argument("--threads", type=int)
    sp.add_argument("--state", choices=("f32", "f16"), default="f32", help="SSM state (Mamba-2)")
    sp.add_argument("--context", type=int, default=0, help="KV cache positions (transformer; default 0)")
    sp.add_argument("--kv", choices=("f16", "q8_0"), default="f16", help="KV cache type (transformer)")
    sp.add_argument("--hosts-file")
    sp.set_defaults(func=cmd_roofline)

    sp = sub.add_parser("history", help="results across commits: store them, show the series, find change points")
    sp.add_argument("action", choices=("add", "show", "detect", "report"))
    sp.add_argument("results", nargs="*", help="add: result documents")
    sp.add_argument("--db", help="the store: a SQLite file (default ~/.local/share/bmbench/history.sqlite) or "
                    "postgresql://user:password@host:port/dbname")
    sp.add_argument("--revision", help="add: the git revision of results that record none")
    sp.add_argument("--branch", help="add: the branch (default main); show / detect: only this branch")
    sp.add_argument("--case", help="show / detect / report: case ids matching this glob (e.g. 'ci/decode/*')")
    sp.add_argument("--metric", help="show / detect / report: metrics matching this glob")
    sp.add_argument("--since", help="show / detect / report: results created on or after this ISO date")
    sp.add_argument("--threshold", type=_fraction, default=0.05,
                    help="detect: exit 1 when a series' newest change point is a regression beyond this (default 5%%)")
    sp.add_argument("--pvalue", type=float, default=1e-4, help="detect / report: significance of a change point "
                    "(default 1e-4)")
    sp.add_argument("-o", "--output", default="bmbench-history", metavar="DIR", help="report: output directory")
    sp.set_defaults(func=cmd_history)

    sp = sub.add_parser("suites", help="list the shipped suites")
    sp.set_defaults(func=cmd_suites)
    return p


def main(argv: list[str] | None = None) -> int:
    err = Console(stderr=True, highlight=False, markup=False)
    try:
        args = build_parser().parse_args(argv)
        out = Console(highlight=False, markup=False)
        if not out.is_terminal:  # piped or in CI: wide enough that tables are never truncated
            out = Console(highlight=False, markup=False, width=200)
        return args.func(args, out)
    except BmbenchError as e:
        err.print(f"bmbench: error: {e}", markup=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        err.print("bmbench: interrupted; no result file written", markup=False)
        return 130
    except Interrupted as e:  # the completed cases are saved, said in its message
        err.print(f"bmbench: {e}", markup=False, soft_wrap=True)
        return 128 + e.signum


if __name__ == "__main__":
    sys.exit(main())
