"""What `bmbench run` is asked, parsed and checked before anything runs: fixed case parameters, the
axis overrides, and how each `run` option travels to a board under `--on`.  The CLI and the remote
runner both start from a RunRequest, so neither imports the other."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import BmbenchError
from .results import ensure_writable_dir

# How each `bmbench run` option (argparse dest) reaches a board's own `bmbench run` under --on:
FORWARDED = {  # passed on unchanged: dest -> flag
    "flavour": "--flavour", "threads": "--threads", "kernel": "--kernel", "format": "--format",
    "model": "--model", "tokens": "--tokens", "prompt_tokens": "--prompt-tokens", "state": "--state",
    "kv": "--kv", "context": "--context", "project_to": "--project-to", "engine": "--engine",
    "rounds": "--rounds", "prompt_len": "--prompt-len", "prefill": "--prefill"}
FLAGS = {"print_tokens": "--print-tokens"}  # switches passed on when set
# naming a local file: uploaded into the remote run directory and passed by that name (dest -> (flag, prefix))
FILES = {"weights": ("--weights", "weights"), "gguf": ("--gguf", "gguf"), "hosts_file": ("--hosts-file", "hosts")}
# what stays here: where the results go, how the hosts run, the suite (forwarded by name or uploaded)
LOCAL_ONLY = {"suite", "output", "no_report", "on", "parallel", "resume"}


def csv_list(text: str, conv=str) -> list:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise BmbenchError(f"empty list {text!r}")
    out = []
    for t in items:
        try:
            out.append(conv(t))
        except ValueError:
            raise BmbenchError(f"invalid value {t!r}") from None
    return out


def threads_value(t: str):
    if t == "all":
        return t
    v = int(t)
    if v < 1:
        raise ValueError(t)
    return v


def check_writable(path: Path) -> None:
    ensure_writable_dir(path.parent, "output directory")


def overrides_from(args) -> dict:
    ov = {}
    if getattr(args, "flavour", None):
        ov["flavour"] = csv_list(args.flavour)
    if getattr(args, "threads", None):
        ov["threads"] = csv_list(args.threads, threads_value)
    if getattr(args, "kernel", None):
        ov["kernel"] = csv_list(args.kernel)
    if getattr(args, "format", None):
        ov["format"] = csv_list(args.format)
    if getattr(args, "model", None):
        ov["model"] = csv_list(args.model)
    for key, flag, least, what in (("context", "--context", 0, "context lengths"),
                                   ("prompt_len", "--prompt-len", 1, "prompt lengths")):
        if getattr(args, key, None):
            try:
                ov[key] = csv_list(getattr(args, key), int)
            except BmbenchError as e:
                raise BmbenchError(f"{flag}: {e}") from None
            if any(n < least for n in ov[key]):
                raise BmbenchError(f"{flag}: {what} must be >= {least}")
    if getattr(args, "prefill", None):
        ov["prefill"] = csv_list(args.prefill)
        bad = [v for v in ov["prefill"] if v not in ("batched", "token")]
        if bad:
            raise BmbenchError(f"--prefill: unknown mode {bad[0]!r} (known: batched, token)")
    return ov


def validate_overrides(ov: dict, gguf: bool = False, weights: bool = False) -> None:
    """Axis values checked before anything runs; with a user's GGUF the model and format are the
    file's own, with a BIT2 checkpoint (--weights) the model."""
    from . import dispatch, engines, formats
    from .models.config import get_config
    for m in ov.get("model", []) if not (gguf or weights) else []:
        get_config(m)
    for f in ov.get("flavour", []):
        if f not in ("all", "auto"):
            dispatch.resolve(f)
    for f in ov.get("format", []) if not gguf else []:
        if not engines.owner_of_type(f):
            formats.get(f)
    for k in ov.get("kernel", []):
        from .probe import KERNELS
        if k not in KERNELS:
            raise BmbenchError(f"unknown probe kernel {k!r} (known: {', '.join(KERNELS)})")


def params_from(args) -> dict:
    """Fixed case parameters from the command line, validated before anything runs."""
    from . import hosts
    p = {}
    if args.tokens is not None:
        if args.tokens < 1:
            raise BmbenchError(f"--tokens must be >= 1, got {args.tokens}")
        p["tokens"] = args.tokens
    if args.prompt_tokens:
        p["prompt_tokens"] = csv_list(args.prompt_tokens, int)
        if any(t < 0 for t in p["prompt_tokens"]):
            raise BmbenchError("--prompt-tokens: token ids must be >= 0")
    if args.weights:
        if not Path(args.weights).is_file():
            raise BmbenchError(f"weights file not found: {args.weights}")
        from .models.bit2 import read_bit2_index
        cfg, _ = read_bit2_index(args.weights)  # header and sizes validated before any case runs
        p["weights"] = str(Path(args.weights).resolve())
        if not args.model:
            args.model = cfg.name
    if args.engine:
        p["engine"] = args.engine
    if args.gguf:
        from .llamacpp import gguf_model
        info = gguf_model.read_info(args.gguf)  # needs the extra; a broken file fails here, before any case
        p["gguf"] = str(Path(args.gguf).resolve())
        if p.setdefault("engine", "llamacpp") != "llamacpp":
            raise BmbenchError("--gguf runs on the llama.cpp engine (drop --engine bmbench)")
        args.model = args.model or Path(args.gguf).stem
        args.format = args.format or info.weight_type
    if args.state:
        p["state"] = args.state
    if args.kv:
        p["kv"] = args.kv
    if args.hosts_file:
        hosts.load_profiles(args.hosts_file)
        p["hosts_file"] = str(Path(args.hosts_file).resolve())
    if args.project_to:
        known = hosts.load_profiles(args.hosts_file)
        p["project_to"] = csv_list(args.project_to)
        for h in p["project_to"]:
            if h not in known:
                raise BmbenchError(f"unknown host {h!r} in --project-to (known: {', '.join(known)})")
    return p


@dataclass
class RunRequest:
    """`bmbench run --suite S ...` parsed and checked: the suite, its fixed params and axis overrides."""
    suite: str
    params: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)

    @classmethod
    def from_args(cls, args, check_flavours: bool = True) -> "RunRequest":
        """Every value checked; with check_flavours=False the flavours are left to the host that
        runs them (a board under --on knows which it can run)."""
        if args.rounds is not None and args.rounds < 1:
            raise BmbenchError(f"--rounds must be >= 1, got {args.rounds}")
        params = params_from(args)
        ov = overrides_from(args)
        validate_overrides(ov if check_flavours else {k: v for k, v in ov.items() if k != "flavour"},
                           gguf=bool(args.gguf), weights=bool(args.weights))
        return cls(suite=args.suite, params=params, overrides=ov)
