"""llama.cpp as an external decode engine in the same harness (the optional `llamacpp` extra:
llama-cpp-python and gguf from PyPI).

`GGUF_TYPES` is the llama.cpp side of the formats table: every weight type the engine decodes, which
bmbench format supplies its synthetic weight values (so both engines run the same model), and which
bmbench formats it stands for when a bmbench suite runs with `--engine llamacpp`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import BmbenchError

INSTALL_HINT = "pip install 'bmbench[llamacpp]' (llama-cpp-python and gguf from PyPI)"


@dataclass(frozen=True)
class GGUFType:
    name: str                    # bmbench's name for it (lower case of ggml's type name)
    ggml: str                    # gguf.GGMLQuantizationType member
    source: str                  # bmbench format whose synthetic weights give the values
    stands_for: tuple[str, ...]  # bmbench formats that map onto this type under --engine llamacpp
    weight_class: str            # what the report sets side by side across engines


GGUF_TYPES: dict[str, GGUFType] = {t.name: t for t in (
    # TQ2_0: 2-bit codes + fp16 scale per 256 weights (2.0625 bpw), unpacked to int8 for int8 dots:
    # the counterpart of both 2-bit ternary layouts here (ternary-mad is the same kernel idea)
    GGUFType("tq2_0", "TQ2_0", "ternary-mad", ("ternary-mad", "ternary-lut"), "ternary"),
    # TQ1_0: base-3 packing, 1.6875 bpw; no bmbench counterpart
    GGUFType("tq1_0", "TQ1_0", "ternary-mad", (), "ternary"),
    GGUFType("q8_0", "Q8_0", "q8_0", ("q8_0",), "q8_0"),
    GGUFType("q4_0", "Q4_0", "q4_0", ("q4_0",), "q4_0"),
    GGUFType("f16", "F16", "f16", ("f16",), "f16"),
    GGUFType("f32", "F32", "f32", ("f32",), "f32"),
)}


def gguf_type_for(fmt: str) -> GGUFType:
    """The llama.cpp weight type a format name means for the llama.cpp engine: a GGUF type by its
    own name, or the counterpart of a bmbench format."""
    if fmt in GGUF_TYPES:
        return GGUF_TYPES[fmt]
    for t in GGUF_TYPES.values():
        if fmt in t.stands_for:
            return t
    raise BmbenchError(f"format {fmt!r} has no llama.cpp counterpart (llama.cpp types: "
                       f"{', '.join(GGUF_TYPES)})")


def weight_class(fmt: str | None) -> str | None:
    """ternary / q8_0 / q4_0 / ...: the key that sets both engines' formats side by side."""
    if fmt is None:
        return None
    if fmt in GGUF_TYPES:
        return GGUF_TYPES[fmt].weight_class
    return "ternary" if fmt.startswith("ternary") else fmt


def require():
    """(llama_cpp, gguf) modules, or a one-line error naming the install command."""
    try:
        import gguf
        import llama_cpp
    except ImportError as e:
        raise BmbenchError(f"the llama.cpp engine needs the llamacpp extra ({e.name} is not installed): "
                           f"{INSTALL_HINT}") from None
    return llama_cpp, gguf


def available() -> bool:
    try:
        require()
        return True
    except BmbenchError:
        return False
