"""YAML files with line numbers, so a validation error can name the key and the line."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import BmbenchError


class YamlDoc:
    """A parsed YAML document plus the line of every key path, for error messages."""

    def __init__(self, path: str | Path, data: Any, lines: dict[tuple, int]):
        self.path, self.data, self.lines = str(path), data, lines

    def error(self, keys: tuple, message: str) -> BmbenchError:
        """A BmbenchError naming the file, the line of the deepest known key, and the key path."""
        k = tuple(keys)
        while k and k not in self.lines:
            k = k[:-1]
        line = self.lines.get(k, 1)
        where = ".".join(str(p) for p in keys) or "(top level)"
        return BmbenchError(f"{self.path}:{line}: {where}: {message}")


def _walk(node, path: tuple, lines: dict):
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            key = knode.value
            # YAML ints as keys (e.g. thread counts) are looked up as ints too
            sub = path + (int(key) if isinstance(key, str) and key.isdigit() else key,)
            lines[sub] = knode.start_mark.line + 1
            _walk(vnode, sub, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines)


def load(path: str | Path, what: str = "file") -> YamlDoc:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise BmbenchError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BmbenchError(f"cannot read {what} {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise BmbenchError(f"{path}{line}: malformed YAML: {problem}") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return YamlDoc(path, data, lines)


_NAMES = {int: "an integer", float: "a number", str: "a string", dict: "a mapping", list: "a list",
          bool: "true or false"}


def expect(doc: YamlDoc, keys: tuple, value: Any, types, what: str | None = None) -> Any:
    """Check `value` (found at `keys`) has one of `types`, else raise naming key and line."""
    if what is None:
        what = " or ".join(_NAMES.get(t, t.__name__) for t in (types if isinstance(types, tuple) else (types,)))
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise doc.error(keys, f"expected {what}, got {value!r}")
    if not isinstance(value, types):
        raise doc.error(keys, f"expected {what}, got {type(value).__name__} {value!r}")
    return value
