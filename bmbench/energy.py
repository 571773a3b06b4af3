"""Energy per token: read where a counter is readable, otherwise estimate, and say which.

- RAPL (Intel, and AMD Zen via the same powercap driver): /sys/class/powercap/*/energy_uj,
  microjoules, wrapping at max_energy_range_uj; often root-only since Linux 5.10.
- Raspberry Pi 5 PMIC: `vcgencmd pmic_read_adc` prints per-rail currents (NAME_A) and voltages
  (NAME_V); power = sum of I x V over the rails that have both, sampled during the run.
- Otherwise: an *estimated* figure from the host profile's idle/load power, the measured time and
  CPU utilisation, plus a DRAM-traffic energy per byte (the model is recorded with the figure).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")


@dataclass(frozen=True)
class RaplZone:
    path: Path
    name: str
    max_range_uj: int


class Unavailable(Exception):
    """No readable energy counter (the reason says why: absent, permission denied, ...)."""


# ------------------------------------------------------------------------------------------ RAPL
def rapl_zones(root: Path = POWERCAP) -> list[RaplZone]:
    """Top-level package zones (not their core/uncore/dram subzones, which they already contain)."""
    if not root.exists():
        raise Unavailable(f"{root} does not exist (no RAPL powercap driver)")
    zones = []
    for z in sorted(root.glob("intel-rapl:*")):
        if z.name.count(":") != 1:
            continue  # subzone, e.g. intel-rapl:0:0
        try:
            name = (z / "name").read_text().strip()
            max_range = int((z / "max_energy_range_uj").read_text())
            (z / "energy_uj").read_text()
        except PermissionError:
            raise Unavailable(f"{z / 'energy_uj'}: permission denied (root-only since Linux 5.10)") from None
        except (OSError, ValueError) as e:
            raise Unavailable(f"{z}: unreadable ({e})") from None
        if name.startswith("package") or name == "psys":
            zones.append(RaplZone(z, name, max_range))
    if not zones:
        raise Unavailable(f"no RAPL package zone under {root}")
    # psys covers the whole SoC where present; otherwise sum the packages
    psys = [z for z in zones if z.name == "psys"]
    return psys or zones


def rapl_read(zones: list[RaplZone]) -> list[int]:
    return [int((z.path / "energy_uj").read_text()) for z in zones]


def rapl_delta_j(zones: list[RaplZone], start: list[int], end: list[int]) -> float:
    """Joules between two readings, counting one wrap-around per zone (reading interval must be
    shorter than one wrap period: minutes at package power)."""
    total = 0
    for z, a, b in zip(zones, start, end):
        total += b - a if b >= a else b + z.max_range_uj - a
    return total * 1e-6


# ------------------------------------------------------------------------------------------ PMIC
_ADC = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=([-0-9.eE+]+)[AV]\s*$")


def parse_pmic(text: str) -> float:
    """Watts from `vcgencmd pmic_read_adc` output: sum of current x voltage per rail."""
    amps, volts = {}, {}
    for line in text.splitlines():
        m = _ADC.match(line)
        if m:
            (amps if m.group(2) == "A" else volts)[m.group(1)] = float(m.group(3))
    rails = set(amps) & set(volts)
    if not rails:
        raise Unavailable("vcgencmd pmic_read_adc printed no rail with both current and voltage")
    return sum(amps[r] * volts[r] for r in rails)


def pmic_power(vcgencmd: str = "vcgencmd") -> float:
    exe = shutil.which(vcgencmd)
    if not exe:
        raise Unavailable("vcgencmd not found (not a Raspberry Pi, or raspi-utils missing)")
    p = subprocess.run([exe, "pmic_read_adc"], capture_output=True, text=True, timeout=5)
    if p.returncode != 0:
        raise Unavailable(f"vcgencmd pmic_read_adc failed: {p.stderr.strip() or p.returncode}")
    return parse_pmic(p.stdout)


class PmicSampler:
    """Samples PMIC power in a background thread; energy = mean power x elapsed time."""

    def __init__(self, period_s: float = 0.1, read=pmic_power):
        self.period_s, self.read = period_s, read
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.samples.append(self.read())
            except Unavailable:
                pass
            self._stop.wait(self.period_s)

    def __enter__(self):
        self.read()  # fail early if unavailable
        self.t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.elapsed = time.perf_counter() - self.t0

    def joules(self) -> float:
        if not self.samples:
            raise Unavailable("no PMIC sample taken")
        return sum(self.samples) / len(self.samples) * self.elapsed


# ------------------------------------------------------------------------------------ the meter
class EnergyMeter:
    """Measures joules over a `with` block from the first readable source, or says why none is."""

    def __init__(self, rapl_root: Path = POWERCAP):
        self.source, self.reason, self._zones, self._pmic = None, None, None, None
        try:
            self._zones = rapl_zones(rapl_root)
            self.source = "rapl:" + "+".join(z.name for z in self._zones)
        except Unavailable as e:
            self.reason = f"RAPL: {e}"
            try:
                pmic_power()
                self.source = "pmic:vcgencmd pmic_read_adc"
            except (Unavailable, OSError, subprocess.SubprocessError) as e2:
                self.reason += f"; PMIC: {e2}"
        self.joules: float | None = None

    def __enter__(self):
        if self._zones:
            self._start = rapl_read(self._zones)
        elif self.source:
            self._pmic = PmicSampler().__enter__()
        return self

    def __exit__(self, *exc):
        if self._zones:
            self.joules = rapl_delta_j(self._zones, self._start, rapl_read(self._zones))
        elif self._pmic:
            self._pmic.__exit__(*exc)
            self.joules = self._pmic.joules()


def estimate_j_per_token(seconds_per_token: float, utilisation: float, power_idle_w: float,
                         power_load_w: float, bytes_per_token: float, dram_pj_per_byte: float) -> dict:
    """The labelled estimate: CPU power interpolated between idle and load by utilisation, over the
    token time, plus DRAM traffic energy.  Returns the figure and its terms."""
    util = min(max(utilisation, 0.0), 1.0)
    cpu_w = power_idle_w + util * (power_load_w - power_idle_w)
    cpu_j = cpu_w * seconds_per_token
    dram_j = bytes_per_token * dram_pj_per_byte * 1e-12
    return dict(value=cpu_j + dram_j, cpu_j=cpu_j, dram_j=dram_j, cpu_w=cpu_w,
                method=(f"(P_idle {power_idle_w} W + util {util:.2f} x (P_load {power_load_w} W - "
                        f"P_idle)) x time/token + {dram_pj_per_byte} pJ/byte x bytes/token"))
