"""Host profiles: the machine bmbench runs on (detected) and published profiles from hosts.yaml."""
from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import psutil

from . import paths, yamlfile
from .errors import BmbenchError

HOSTS_SCHEMA = "bmbench.hosts/1"
# figure keys a profile may carry; every figure is {value, unit, source}
FIGURES = ("cores", "threads", "freq_base", "freq_max", "simd", "l1d_per_core", "l2_per_core", "l3",
           "dram", "dram_peak", "measured_read_bandwidth", "tdp", "power_max", "power_idle",
           "power_load", "dram_energy")
REQUIRED = ("cores", "dram_peak")


@dataclass(frozen=True)
class Figure:
    value: Any
    unit: str
    source: str


@dataclass(frozen=True)
class Block:
    """A block of the hosts file that another package reads (the ssh: block: bmbench.remote.target),
    kept as data with its document so that package's errors name the file and line."""
    value: Any
    doc: yamlfile.YamlDoc = field(compare=False, repr=False)
    where: tuple = ()


@dataclass(frozen=True)
class HostProfile:
    key: str
    name: str
    arch: str
    figures: dict[str, Figure] = field(default_factory=dict)
    ssh: Block | None = None         # how to reach the board (bmbench run --on); None: no remote

    def get(self, key: str, default=None):
        f = self.figures.get(key)
        return f.value if f is not None else default


# ------------------------------------------------------------------------------------- profiles
def load_profiles(path: str | Path | None = None) -> dict[str, HostProfile]:
    """Profiles from hosts.yaml (or a user's file of the same shape), validated with line numbers."""
    doc = yamlfile.load(path or paths.hosts_file(), what="hosts file")
    d = doc.data
    if not isinstance(d, dict):
        raise doc.error((), "expected a mapping with 'schema' and 'hosts'")
    if d.get("schema") != HOSTS_SCHEMA:
        raise doc.error(("schema",), f"expected schema {HOSTS_SCHEMA!r}, got {d.get('schema')!r}")
    hosts = yamlfile.expect(doc, ("hosts",), d.get("hosts"), dict, "a mapping of host profiles")
    out = {}
    shipped = None
    for key, h in hosts.items():
        where = ("hosts", key)
        yamlfile.expect(doc, where, h, dict, "a mapping")
        if path is not None and set(h) == {"ssh"}:
            # only how to reach a board: the shipped profile of that name supplies the figures
            shipped = shipped if shipped is not None else load_profiles()
            if key not in shipped:
                raise doc.error(where, f"a profile with only ssh: must be named after a shipped "
                                       f"profile (known: {', '.join(shipped)})")
            out[key] = replace(shipped[key], ssh=Block(h["ssh"], doc, where + ("ssh",)))
            continue
        for k in h:
            if k not in FIGURES + ("name", "arch", "ssh"):
                raise doc.error(where + (k,), f"unknown key (known: name, arch, ssh, {', '.join(FIGURES)})")
        for k in ("name", "arch"):
            yamlfile.expect(doc, where + (k,), h.get(k), str, "a string")
        figures = {}
        for k in FIGURES:
            if k not in h:
                if k in REQUIRED:
                    raise doc.error(where, f"missing required figure {k!r}")
                continue
            fig = yamlfile.expect(doc, where + (k,), h[k], dict, "a mapping {value, unit, source}")
            missing = {"value", "unit", "source"} - set(fig)
            if missing:
                raise doc.error(where + (k,), f"missing {', '.join(sorted(missing))}")
            if not isinstance(fig["source"], str) or not fig["source"].strip():
                raise doc.error(where + (k, "source"), "every figure needs a non-empty source")
            figures[k] = Figure(fig["value"], str(fig["unit"]), fig["source"])
        for k in ("cores", "dram_peak"):
            if not isinstance(figures[k].value, (int, float)) or isinstance(figures[k].value, bool) \
                    or figures[k].value <= 0:
                raise doc.error(where + (k, "value"), "expected a positive number")
        ssh = Block(h["ssh"], doc, where + ("ssh",)) if "ssh" in h else None
        out[key] = HostProfile(key=key, name=h["name"], arch=h["arch"], figures=figures, ssh=ssh)
    return out


def get_profile(name: str, path: str | Path | None = None) -> HostProfile:
    profiles = load_profiles(path)
    if name in ("local", "this"):
        return local_profile()
    if name not in profiles:
        raise BmbenchError(f"unknown host {name!r} (known: {', '.join(profiles)}, local)")
    return profiles[name]


# ------------------------------------------------------------------------------------ detection
def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _size_kib(text: str | None) -> int | None:
    if not text:
        return None
    m = re.fullmatch(r"(\d+)\s*([KMG]?)", text.strip().upper())
    if not m:
        return None
    return int(m.group(1)) * {"": 1 / 1024, "K": 1, "M": 1024, "G": 1024 * 1024}[m.group(2)]


def detect_caches() -> dict[str, int]:
    """Per-core L1d/L2 and one slice of the largest shared level from /sys (KiB), and how many
    distinct slices of that level the CPUs this process may run on reach (`llc_domains`: several
    on multi-CCD EPYCs, chiplet Ryzens); defaults apply only where /sys says nothing."""
    caches: dict[str, int] = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    top = None
    for idx in sorted(base.glob("index*")):
        level, ctype = _read(str(idx / "level")), _read(str(idx / "type"))
        size = _size_kib(_read(str(idx / "size")))
        if not level or not size or ctype == "Instruction":
            continue
        name = {"1": "l1d", "2": "l2", "3": "l3", "4": "l4"}.get(level)
        if name:
            caches[f"{name}_kib"] = int(size)
            top = idx.name
    if top:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        domains = {_read(f"/sys/devices/system/cpu/cpu{c}/cache/{top}/shared_cpu_list") for c in cpus}
        caches["llc_domains"] = max(1, len(domains - {None}))
    return caches


def _cpuinfo_field(name: str) -> str | None:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.lower().startswith(name.lower()):
            return line.split(":", 1)[1].strip()
    return None


def _cpu_id() -> str | None:
    """family:model:stepping (x86) or implementer:part:revision (ARM) from /proc/cpuinfo: a VM's model
    name can be as vague as "AMD EPYC", which names several generations."""
    for keys in (("cpu family", "model\t", "stepping"), ("CPU implementer", "CPU part", "CPU revision")):
        values = [_cpuinfo_field(k) for k in keys]
        if values[0]:
            return ":".join(v for v in values if v)
    return None


@lru_cache(maxsize=1)
def detect() -> dict[str, Any]:
    """The local host as measured facts: CPU, caches, memory, governor, kernel, load."""
    from . import _kernels

    model = _cpuinfo_field("model name") or _cpuinfo_field("Hardware") or platform.processor()
    flags = (_cpuinfo_field("flags") or _cpuinfo_field("Features") or "").split()
    if not model:
        try:  # py-cpuinfo is slower (it may spawn a process); only where /proc says nothing
            import cpuinfo
            info = cpuinfo.get_cpu_info()
            model, flags = info.get("brand_raw", "unknown"), info.get("flags", [])
        except Exception:  # pragma: no cover - exotic platforms
            model = "unknown"
    vm = psutil.virtual_memory()
    freq = psutil.cpu_freq()
    return dict(
        hostname=platform.node(),
        arch=platform.machine(),
        cpu_model=model,
        cpu_id=_cpu_id(),
        cores_physical=psutil.cpu_count(logical=False) or os.cpu_count(),
        cores_logical=psutil.cpu_count(logical=True) or os.cpu_count(),
        cpus_allowed=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        caches=detect_caches(),
        memory_total_bytes=vm.total,
        kernel_features=_kernels.cpu_features(),
        simd_flags=sorted(f for f in flags if re.match(
            r"(sse4_2|avx|avx2|fma|f16c|avx512\w*|avx_vnni|amx\w*|asimd\w*|neon|sve\w*|i8mm)$", f)),
        governor=_read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        freq_max_mhz=freq.max if freq and freq.max else None,
        os=f"{platform.system()} {platform.release()}",
        virtualised=("hypervisor" in flags) or None,
    )


def runtime_state() -> dict[str, Any]:
    """What changes from run to run and explains surprises: load, free memory."""
    vm = psutil.virtual_memory()
    la = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return dict(load_average=list(la), memory_available_bytes=vm.available)


def cpu_mhz() -> float | None:
    """Current core clock (MHz): cpufreq where exposed, else /proc/cpuinfo's `cpu MHz`."""
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    if khz and khz.isdigit():
        return int(khz) / 1000
    mhz = _cpuinfo_field("cpu MHz")
    try:
        return float(mhz) if mhz else None
    except ValueError:
        return None


def llc_bytes() -> int:
    """The aggregate last-level cache: one slice times the distinct slices this process reaches (a
    stream must exceed all of them to come from DRAM)."""
    c = detect()["caches"]
    kib = c.get("l3_kib") or c.get("l2_kib") or 8192
    return int(kib) * 1024 * int(c.get("llc_domains", 1))


def local_profile() -> HostProfile:
    d = detect()
    src = "detected on this host (/proc, /sys, psutil)"
    figs = {
        "cores": Figure(d["cores_physical"], "cores", src),
        "threads": Figure(d["cores_logical"], "threads", src),
        "simd": Figure(d["kernel_features"], "", src),
    }
    for k, fig in (("l1d_kib", "l1d_per_core"), ("l2_kib", "l2_per_core"), ("l3_kib", "l3")):
        if k in d["caches"]:
            figs[fig] = Figure(d["caches"][k], "KiB", src + " (/sys cache index)")
    if d["freq_max_mhz"]:
        figs["freq_max"] = Figure(round(d["freq_max_mhz"] / 1000, 2), "GHz", src)
    return HostProfile(key="local", name=d["cpu_model"], arch=d["arch"], figures=figs)
