"""Where bmbench finds the files it ships (suites, templates, hosts.yaml), from any directory."""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The installed package data, or the source tree when running from a checkout."""
    installed = _PKG / "data"
    if (installed / "hosts.yaml").exists():
        return installed
    return _PKG.parent  # editable / source checkout: suites/, reports/, hosts.yaml at the top


def suites_dir() -> Path:
    return data_dir() / "suites"


def reports_dir() -> Path:
    """The report templates + CSS: installed package data, else the checkout's top-level reports/."""
    for d in (_PKG / "data" / "reports", _PKG.parent / "reports"):
        if (d / "report.html.j2").exists():
            return d
    return data_dir() / "reports"


def hosts_file() -> Path:
    return data_dir() / "hosts.yaml"


def published_file() -> Path:
    return data_dir() / "published.yaml"
