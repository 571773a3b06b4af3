"""The AVX-512 kernels on a CPU without AVX-512: kernels/x86/avx512_*.c compiled against SIMDe's
portable AVX-512 (a shim <immintrin.h>), loaded with ctypes and compared with the scalar kernel
exactly as tests/test_gemv.py (GEMV) and tests/test_attention_kernels.py (attn family) compare the
flavours.  Skipped where AVX-512 runs natively (the
regular tests cover it) or where no C compiler / kernel sources / SIMDe are at hand."""
import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bmbench import attn, dispatch, formats

SRC = Path(__file__).resolve().parents[1] / "kernels"
STEMS = {"f32": "f32", "f16": "f16", "ternary-mad": "tmad", "ternary-lut": "tlut", "q8_0": "q8_0", "q4_0": "q4_0"}
SHAPES = [(1, 1), (3, 3), (31, 33), (33, 31), (255, 257), (257, 255), (64, 1024), (7, 4100), (97, 2048)]

SHIM = r"""
#ifndef EMU_IMMINTRIN_H
#define EMU_IMMINTRIN_H
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>
#include <stdint.h>
/* not in SIMDe */
static inline int32_t _mm512_reduce_add_epi32(__m512i v)
{ int32_t t[16], s = 0; _mm512_storeu_si512(t, v); for (int i = 0; i < 16; i++) s += t[i]; return s; }
static inline float _mm512_reduce_add_ps(__m512 v)
{ float t[16], s = 0; _mm512_storeu_ps(t, v); for (int i = 0; i < 16; i++) s += t[i]; return s; }
static inline float _cvtsh_ss(unsigned short h) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))); }
static inline __m512i _mm512_cvtepi8_epi32(__m128i a) { return _mm512_cvtepi16_epi32(_mm256_cvtepi8_epi16(a)); }
#ifndef _MM_FROUND_NO_EXC
#define _MM_FROUND_NO_EXC SIMDE_MM_FROUND_NO_EXC
#endif
#endif
"""


class _Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("rows", ctypes.c_int64), ("cols", ctypes.c_int64),
                ("scale", ctypes.c_float)]


def _build(tmp_path_factory, pattern: str, defines=()):
    if dispatch.runnable("avx512"):
        pytest.skip("AVX-512 runs natively here: the flavour tests cover it")
    cc = shutil.which("cc") or shutil.which("gcc")
    srcs = sorted((SRC / "x86").glob(pattern))
    if cc is None or not srcs:
        pytest.skip("no C compiler or no kernel sources")
    srcs += [SRC / "generic" / "gemv_tlut.c", SRC / "quant.c"]  # what the SIMD table preps call
    simde_py = pytest.importorskip("simde_py")
    d = tmp_path_factory.mktemp("avx512emu")
    (d / "immintrin.h").write_text(SHIM)
    so = d / "libavx512emu.so"
    cmd = [cc, "-O1", "-std=gnu11", "-shared", "-fPIC", "-w", f"-I{d}", f"-I{simde_py.get_include()}",
           "-DBMK_HAVE_X86=1", "-DBMK_HAVE_NEON=1", *defines, "-o", str(so)] + [str(s) for s in srcs]
    r = subprocess.run(cmd + ["-lm"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return ctypes.CDLL(str(so))


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return _build(tmp_path_factory, "avx512_gemv_*.c")


@pytest.fixture(scope="module")
def vnni_lib(tmp_path_factory):
    """the avx512vnni flavour's own kernels: the integer GEMVs built again with vpdpbusd"""
    return _build(tmp_path_factory, "avx512_gemv_[tq][mb]*.c", ["-DBMK_VNNI=1"])


VNNI = ["ternary-mad", "q8_0", "q4_0"]


@pytest.fixture(scope="module")
def attn_lib(tmp_path_factory):
    return _build(tmp_path_factory, "avx512_attn.c")


def _avx512_gemv(lib, fmt, w, act, flavour="avx512"):
    fn = getattr(lib, f"bmk_gemv_{STEMS[fmt.name]}_{flavour}")
    t = _Tensor(w.data.ctypes.data, w.rows, w.cols, w.scale)
    y = np.full(w.rows, np.nan, dtype=np.float32)
    mid = w.rows // 2 // fmt.row_tile * fmt.row_tile  # two row ranges, split as the driver does
    for r0, r1 in ((0, mid), (mid, w.rows)):
        if r0 < r1:
            fn(ctypes.byref(t), ctypes.c_void_p(act.ctypes.data), ctypes.c_void_p(y[r0:].ctypes.data),
               ctypes.c_int64(r0), ctypes.c_int64(r1))
    return y


@pytest.mark.parametrize("rows,cols", SHAPES)
@pytest.mark.parametrize("variant,fmt_name", [("avx512", f) for f in STEMS] + [("avx512vnni", f) for f in VNNI])
def test_avx512_through_simde_matches_scalar(request, variant, fmt_name, rows, cols):
    lib = request.getfixturevalue("lib" if variant == "avx512" else "vnni_lib")
    fmt = formats.get(fmt_name)
    rng = np.random.default_rng(rows * 31 + cols)
    w = fmt.quantise(rng.standard_normal((rows, cols)) / np.sqrt(cols))
    x = rng.standard_normal(cols).astype(np.float32)
    act = formats.prepare(fmt, x)
    ref = formats.gemv(w, x, flavour="scalar", act=act)
    y = _avx512_gemv(lib, fmt, w, act, variant)
    if fmt.exact:
        np.testing.assert_array_equal(y, ref)
    else:
        bound = np.abs(fmt.dequantise(w)) @ np.abs(fmt.act_reference(x))
        assert np.all(np.abs(y - ref) <= fmt.rtol * bound + 1e-6)


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("fmt_name", ["ternary-mad", "ternary-lut"])
def test_avx512_ternary_extremes_through_simde(lib, fmt_name, sign):
    """|q| = 127 and all products of one sign: the largest int16 partial sums."""
    fmt = formats.get(fmt_name)
    codes = np.ones((65, 4100), dtype=np.int8)
    codes[1] = -1
    x = np.full(4100, sign, dtype=np.float32)
    w = fmt.from_ternary(codes, 0.5)
    act = formats.prepare(fmt, x)
    np.testing.assert_array_equal(_avx512_gemv(lib, fmt, w, act), formats.gemv(w, x, flavour="scalar", act=act))


# ---------------------------------------------------------------------------------- attn family
_P = ctypes.c_void_p


def _ptr(a):
    return _P(a.ctypes.data)


@pytest.mark.parametrize("kv,hd", [("f16", 10), ("f16", 64), ("f16", 130), ("q8_0", 32), ("q8_0", 96)])
@pytest.mark.parametrize("n,g", [(1, 1), (17, 3), (70, 4), (257, 5)])
def test_avx512_attention_through_simde_matches_scalar(attn_lib, kv, hd, n, g):
    rng = np.random.default_rng(hd * n + g)
    K = attn.kv_pack(rng.standard_normal((n, hd)).astype(np.float32), kv)
    V = attn.kv_pack(rng.standard_normal((n, hd)).astype(np.float32), kv)
    q = rng.standard_normal((g, hd)).astype(np.float32)
    i64, f32 = ctypes.c_int64, ctypes.c_float

    s = np.empty((g, n), np.float32)
    getattr(attn_lib, f"bmk_attn_scores_{kv}_avx512")(_ptr(q), i64(g), _ptr(K), i64(n), i64(hd), f32(0.125),
                                                      _ptr(s), i64(n))
    ref = attn.scores(q, K, n, kv, scale=0.125, flavour="scalar")
    np.testing.assert_allclose(s, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())

    p = s[0].copy()
    attn_lib.bmk_softmax_avx512(_ptr(p), i64(n))
    np.testing.assert_allclose(p, attn.softmax(s[0], flavour="scalar"), rtol=2e-6, atol=1e-12)

    probs = np.stack([attn.softmax(r, flavour="scalar") for r in s])
    out = np.empty((g, hd), np.float32)
    getattr(attn_lib, f"bmk_attn_values_{kv}_avx512")(_ptr(probs), i64(n), i64(g), _ptr(V), i64(n), i64(hd),
                                                      _ptr(out))
    ref = attn.values(probs, V, n, hd, kv, flavour="scalar")
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())

    gate, up = (rng.standard_normal(n * 3) * 4).astype(np.float32), rng.standard_normal(n * 3).astype(np.float32)
    y = np.empty_like(gate)
    attn_lib.bmk_swiglu_avx512(_ptr(gate), _ptr(up), _ptr(y), i64(gate.size))
    np.testing.assert_allclose(y, attn.swiglu(gate, up, flavour="scalar"), rtol=4e-6, atol=1e-7)
