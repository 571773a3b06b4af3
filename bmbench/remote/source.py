"""The project's source as one archive that `pip install` builds on the remote (natively: NEON on a
Pi), made from a checkout or from the installed package alike.

`pip install .` leaves no source tree, so meson.build installs the build files too (kernels/,
meson.build, pyproject.toml, README.md under bmbench/data/, _kernels.pyx and _build_info.py.in in the
package).  One list says what goes in; each entry is found under the package (bmbench/) or under
paths.data_dir(), which is the checkout's top level or the installed bmbench/data/.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

from .. import paths
from ..errors import BmbenchError

PACKAGE = "bmbench"
# Everything the build and the installed package need, and nothing else.
CONTENTS = ("pyproject.toml", "meson.build", "meson.options", "README.md", "kernels", PACKAGE, "suites", "reports",
            "hosts.yaml", "published.yaml")
# Build products and installed-only data inside the package directory.
_SKIP_DIRS = {"__pycache__", "data"}
_SKIP_NAMES = {"_build_info.py"}
_SKIP_SUFFIXES = {".so", ".pyd", ".pyc", ".o"}
HASH_CHARS = 16
MTIME = 1577836800  # fixed (2020-01-01): same bytes every time, and no pre-1980 dates for zip tools


def _root_of(entry: str) -> Path:
    return Path(__file__).resolve().parent.parent if entry == PACKAGE else paths.data_dir() / entry


def _files(entry: str) -> list[tuple[str, Path]]:
    """(archive path, local path) of every file of one entry, sorted."""
    src = _root_of(entry)
    if src.is_file():
        return [(entry, src)]
    if not src.is_dir():
        raise BmbenchError(f"cannot build the source archive: {src} is missing (this installation "
                           f"does not carry the build files; reinstall bmbench)")
    out = []
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        if not p.is_file() or any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if entry == PACKAGE and (p.name in _SKIP_NAMES or p.suffix in _SKIP_SUFFIXES):
            continue
        out.append((f"{entry}/{rel.as_posix()}", p))
    return out


def source_files() -> list[tuple[str, Path]]:
    return [f for entry in CONTENTS for f in _files(entry)]


def content_hash(files: list[tuple[str, Path]]) -> str:
    """Hash of the names and bytes: the same source gives the same hash wherever it came from."""
    h = hashlib.sha256()
    for name, p in files:
        data = p.read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:HASH_CHARS]


def build_archive(out_dir: str | Path) -> tuple[Path, str]:
    """Write `bmbench-src-<hash>.tar.gz` (one top-level directory, as an sdist) into out_dir;
    return its path and the content hash.  Same content, same bytes (fixed mtimes and owners)."""
    files = source_files()
    digest = content_hash(files)
    top = f"bmbench-src-{digest}"
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, p in files:
            data = p.read_bytes()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, MTIME
            tar.addfile(info, io.BytesIO(data))
    path = Path(out_dir) / f"{top}.tar.gz"
    path.write_bytes(buf.getvalue())
    return path, digest
