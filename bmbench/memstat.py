"""This process's own resident memory, from /proc/self/status (Linux).

A case's peak is VmHWM after resetting it (writing 5 to /proc/self/clear_refs) once the interpreter is
loaded: an exec'd worker's getrusage ru_maxrss starts at its parent's high-water mark, so it reports
the runner's memory, not the case's.  Where /proc gives neither, `read()` returns None and callers say
so instead of printing another process's figure."""
from __future__ import annotations

_FIELDS = {"VmRSS": "rss_bytes", "RssAnon": "anon_bytes", "RssFile": "file_bytes", "VmHWM": "peak_bytes"}


def reset_peak() -> bool:
    """Reset this process's peak resident memory (VmHWM) to its current resident memory."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def read() -> dict | None:
    """Resident bytes now: total, anonymous, file-backed, and the peak since the last reset; None
    where /proc/self/status does not say."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in _FIELDS:
                    out[_FIELDS[key]] = int(rest.split()[0]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    return out if len(out) == len(_FIELDS) else None


def huge_page_bytes() -> int | None:
    """Resident bytes on transparent huge pages now, anonymous and file-backed
    (/proc/self/smaps_rollup); None where /proc does not say."""
    total, seen = 0, False
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("AnonHugePages", "FilePmdMapped"):
                    total += int(rest.split()[0]) * 1024  # kB
                    seen = True
    except (OSError, ValueError, IndexError):
        return None
    return total if seen else None
