"""BIT2 checkpoints: tiny valid files round-trip exactly; broken ones fail with one line naming the
problem, the tensor and the offset."""
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from bmbench import formats
from bmbench.errors import BmbenchError
from bmbench.models import Reference, get_config, load_bit2, read_bit2_index, synthetic_weights, write_bit2
from bmbench.models.bit2 import (MAGIC, Ternary, bit2_schedule, read_bit2_tensors, synthetic_bit2_tensors,
                                 ternarise, weights_from_bit2_tensors)
from bmbench.models.config import bitmamba2_config

FORMAT_NAMES = list(formats.FORMATS)
TINY = get_config("tiny-bitmamba")
ODD = bitmamba2_config("odd", n_layers=1, d_model=12, n_heads=3, vocab=7)  # not registered


@pytest.fixture(params=FORMAT_NAMES)
def fmt_name(request):
    return request.param


@pytest.fixture(scope="module")
def tiny_tensors():
    return synthetic_bit2_tensors(TINY, seed=11)


@pytest.fixture
def tiny_file(tmp_path, tiny_tensors):
    path = tmp_path / "tiny.bin"
    write_bit2(path, tiny_tensors)
    return path


def _packed_bytes(w):
    return [p.data.tobytes() for _, p in w.projections()]


def _logits(w, tokens=(1, 200, 7, 7)):
    ref = Reference(w)
    st = ref.new_state()
    return np.array([ref.step(t, st) for t in tokens])


# ------------------------------------------------------------------------------ valid files
def test_header_and_bit_layout_by_hand(tmp_path):
    c = bitmamba2_config("h", n_layers=1, d_model=4, n_heads=2, vocab=3)
    t = synthetic_bit2_tensors(c, seed=0)
    codes = np.zeros((c.vocab, 4), np.int8)
    codes[0] = [-1, 0, 1, 1]  # w+1 = 0,1,2,2 -> bits 0 | 1<<2 | 2<<4 | 2<<6 = 0b10100100
    t["lm_head"] = Ternary(codes, 2.5)
    path = tmp_path / "h.bin"
    write_bit2(path, t)
    raw = path.read_bytes()
    assert raw[:20] == struct.pack("<5i", MAGIC, 3, 4, 1, 2) and raw[:4] == b"2TIB"
    _, recs = read_bit2_index(path)
    lm = recs[-1]
    assert lm.name == "lm_head" and lm.offset + 16 == lm.data_offset == len(raw) - 3
    assert raw[lm.offset:lm.data_offset] == struct.pack("<3if", 2, 3, 4, 2.5)
    assert raw[lm.data_offset] == 0b10100100 and raw[lm.data_offset + 1] == 0b01010101
    emb = recs[0]
    assert raw[emb.offset:emb.data_offset] == struct.pack("<4i", 0, 2, 3, 4)
    conv = next(r for r in recs if r.name == "layers.0.conv1d_weight")
    assert conv.shape == (8, 1, 4) and raw[conv.offset:conv.data_offset] == struct.pack("<5i", 0, 3, 8, 1, 4)
    _, back = read_bit2_tensors(path)
    np.testing.assert_array_equal(back["lm_head"].codes, codes)
    assert back["lm_head"].scale == 2.5 and back["lm_head"].s_w == 0.4


def test_file_size_and_order_follow_the_schedule(tiny_file):
    config, recs = read_bit2_index(tiny_file)
    assert config == TINY  # the header implies the registered tiny-bitmamba
    sched = bit2_schedule(TINY)
    assert [r.name for r in recs] == [n for n, _, _ in sched] and len(recs) == 1 + 9 * 2 + 3
    assert recs[-1].data_offset + recs[-1].nbytes == tiny_file.stat().st_size


def test_tensors_round_trip_exactly(tiny_file, tiny_tensors):
    config, back = read_bit2_tensors(tiny_file)
    assert set(back) == set(tiny_tensors)
    for name, t in tiny_tensors.items():
        if isinstance(t, Ternary):
            np.testing.assert_array_equal(back[name].codes, t.codes)
            assert back[name].scale == t.scale
        else:
            np.testing.assert_array_equal(back[name].reshape(t.shape), t)


def test_load_equals_the_in_memory_weights(tiny_file, tiny_tensors, fmt_name):
    # write -> load -> reference gives the same logits as the same tensors packed in memory
    loaded = load_bit2(tiny_file, fmt_name)
    direct = weights_from_bit2_tensors(TINY, tiny_tensors, fmt_name)
    assert loaded.format == fmt_name and loaded.config == TINY
    assert _packed_bytes(loaded) == _packed_bytes(direct)
    np.testing.assert_array_equal(_logits(loaded), _logits(direct))


def test_loaded_weights_are_codes_times_inverse_scale(tiny_file, tiny_tensors):
    w = load_bit2(tiny_file, "f32")
    t = tiny_tensors["layers.1.in_proj"]
    np.testing.assert_array_equal(formats.get("f32").dequantise(w.layers[1].in_proj),
                                  (t.codes * np.float32(1.0 / np.float32(t.scale))).astype(np.float64))
    np.testing.assert_array_equal(w.layers[0].conv_w, tiny_tensors["layers.0.conv1d_weight"].reshape(128, 4))
    np.testing.assert_array_equal(w.layers[1].D, tiny_tensors["layers.1.D"])
    assert w.lm_head_norm is not None and w.layers[0].D.shape == (TINY.d_inner,)


def test_model_weights_round_trip_through_a_file(tmp_path, ternary_format):
    # ternary-valued weights keep their codes and scales exactly
    w = synthetic_weights(TINY, ternary_format, seed=5)
    path = tmp_path / "w.bin"
    write_bit2(path, w)
    back = load_bit2(path, ternary_format)
    fmt = formats.get(ternary_format)
    for (_, a), (_, b) in zip(w.projections(), back.projections()):
        np.testing.assert_allclose(fmt.dequantise(b), fmt.dequantise(a), rtol=1e-7)
    np.testing.assert_allclose(_logits(back), _logits(w), rtol=1e-5, atol=1e-5)


def test_float_weights_are_ternarised_by_absmean(tmp_path):
    w = synthetic_weights(TINY, "f32", seed=5)
    path = tmp_path / "f.bin"
    write_bit2(path, w)
    _, back = read_bit2_tensors(path)
    W = formats.get("f32").dequantise(w.layers[0].out_proj)
    t = back["layers.0.out_proj"]
    assert t.scale == np.float32(1.0 / np.abs(W).mean())
    np.testing.assert_array_equal(t.codes, np.clip(np.rint(W / np.abs(W).mean()), -1, 1))
    assert set(np.unique(t.codes)) == {-1, 0, 1}
    assert ternarise(np.zeros((2, 4))).codes.tolist() == [[0] * 4] * 2


def test_unregistered_shape_gets_a_header_named_config(tmp_path):
    path = tmp_path / "odd.bin"
    write_bit2(path, synthetic_bit2_tensors(ODD, seed=1))
    w = load_bit2(path, "f32")
    assert w.config.name == "bit2-1x12-h3-v7" and w.config.d_inner == 24 and w.config.head_dim == 8
    assert np.all(np.isfinite(_logits(w, (0, 6))))


def test_config_mismatch_is_reported(tiny_file):
    with pytest.raises(BmbenchError, match="n_heads 4 .config 16."):
        load_bit2(tiny_file, "f32", config=bitmamba2_config("x", n_layers=2, d_model=64, n_heads=16, vocab=256))
    with pytest.raises(BmbenchError, match="not a BitMamba-2 shape"):
        load_bit2(tiny_file, "f32", config=get_config("tiny-mamba2"))
    assert load_bit2(tiny_file, "f32", config=TINY).config is TINY


# ------------------------------------------------------------------------------ broken files
def _rec(path, name):
    return next(r for r in read_bit2_index(path)[1] if r.name == name)


def _patch(path, offset, data):
    raw = bytearray(path.read_bytes())
    raw[offset:offset + len(data)] = data
    path.write_bytes(bytes(raw))


def _truncate(path, size):
    path.write_bytes(path.read_bytes()[:size])


def _expect(path, *fragments):
    with pytest.raises(BmbenchError) as e:
        load_bit2(path, "f32")
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg, msg
    for f in fragments:
        assert f in msg, msg
    return msg


def test_missing_and_short_files(tmp_path):
    with pytest.raises(BmbenchError, match="cannot read"):
        load_bit2(tmp_path / "nope.bin", "f32")
    p = tmp_path / "short.bin"
    p.write_bytes(struct.pack("<3i", MAGIC, 1, 2))
    _expect(p, "shorter than the 20-byte header")
    p.write_bytes(b"")
    _expect(p, "0 bytes")


def test_bad_magic(tiny_file):
    _patch(tiny_file, 0, struct.pack("<i", 0x42495431))
    _expect(tiny_file, "bad magic 0x42495431", "header", "offset 0")


@pytest.mark.parametrize("field,value,fragment", [
    (1, 0, "vocab = 0"), (2, -64, "d_model = -64"), (3, 0, "n_layers = 0"),
    (4, 3, "n_heads = 3 does not divide"), (2, 62, "not a multiple of 4")])
def test_bad_header_fields(tiny_file, field, value, fragment):
    _patch(tiny_file, 4 * field, struct.pack("<i", value))
    _expect(tiny_file, fragment, "header")


def test_header_that_disagrees_with_the_tensors(tiny_file):
    _patch(tiny_file, 4 * 3, struct.pack("<i", 3))  # 3 layers, the file holds 2
    # norm_f passes for layers.2.in_proj_norm (same shape); lm_head_norm is no ternary in_proj
    _expect(tiny_file, "type code 0, expected 2", "tensor layers.2.in_proj")
    _patch(tiny_file, 4 * 3, struct.pack("<i", 1))  # 1 layer: layer 1's tensors are left over
    _expect(tiny_file, "type code 2, expected 0", "tensor lm_head_norm")


def test_wrong_type_code(tiny_file):
    r, r2 = _rec(tiny_file, "layers.1.A_log"), _rec(tiny_file, "layers.0.in_proj")
    _patch(tiny_file, r.offset, struct.pack("<i", 7))
    _expect(tiny_file, "type code 7, expected 0", "layers.1.A_log", f"offset {r.offset}")
    _patch(tiny_file, r2.offset, struct.pack("<i", 0))
    _expect(tiny_file, "type code 0, expected 2", "layers.0.in_proj", f"offset {r2.offset}")  # the first


def test_wrong_float_dims(tiny_file):
    r = _rec(tiny_file, "layers.1.D")
    _patch(tiny_file, r.offset + 8, struct.pack("<i", 4))  # D per head instead of per channel
    _expect(tiny_file, "dims [4], expected [128]", "layers.1.D", f"offset {r.offset}")


def test_wrong_ndim(tiny_file):
    r = _rec(tiny_file, "layers.0.conv1d_weight")
    _patch(tiny_file, r.offset + 4, struct.pack("<i", 9))
    _expect(tiny_file, "ndim 9, expected 3", "layers.0.conv1d_weight")


def test_wrong_ternary_dims(tiny_file):
    r = _rec(tiny_file, "layers.1.out_proj")
    _patch(tiny_file, r.offset + 4, struct.pack("<2i", 128, 64))  # transposed
    _expect(tiny_file, "dims 128x64, expected 64x128", "layers.1.out_proj", f"offset {r.offset}")


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_scale(tiny_file, scale):
    r = _rec(tiny_file, "lm_head")
    _patch(tiny_file, r.offset + 12, struct.pack("<f", scale))
    _expect(tiny_file, "scale", "not a positive finite number", "lm_head")


@pytest.mark.parametrize("where", ["mid-data", "mid-record-header", "after-header", "one-byte-short"])
def test_truncated_files(tiny_file, where):
    recs = read_bit2_index(tiny_file)[1]
    by = {r.name: r for r in recs}
    cut, name = {
        "mid-data": (by["layers.1.in_proj"].data_offset + 100, "layers.1.in_proj"),
        "mid-record-header": (by["layers.0.dt_bias"].offset + 6, "layers.0.dt_bias"),
        "after-header": (20, "embedding"),
        "one-byte-short": (tiny_file.stat().st_size - 1, "lm_head"),
    }[where]
    _truncate(tiny_file, cut)
    _expect(tiny_file, "truncated", f"tensor {name}")


def test_code_value_3(tiny_file):
    r = _rec(tiny_file, "layers.1.out_proj")
    _patch(tiny_file, r.data_offset + 2 * 32 + 5, bytes([0b00110101]))  # row 2, byte 5, element 2
    msg = _expect(tiny_file, "code value 3", "row 2, column 22", "layers.1.out_proj",
                  f"byte offset {r.data_offset + 69}")
    assert f"offset {r.offset}" in msg


def test_non_finite_floats(tiny_file):
    r = _rec(tiny_file, "layers.0.A_log")
    _patch(tiny_file, r.data_offset + 4, struct.pack("<f", float("nan")))
    _expect(tiny_file, "non-finite", "layers.0.A_log")


def test_trailing_garbage(tiny_file):
    size = tiny_file.stat().st_size
    tiny_file.write_bytes(tiny_file.read_bytes() + b"\0" * 3)
    _expect(tiny_file, "trailing garbage: 3 bytes", f"offset {size}")


def test_truncated_real_size_header_fails_fast(tmp_path):
    # a bitmamba2-1b header with nothing behind it: named, and no giant allocation
    p = tmp_path / "1b.bin"
    p.write_bytes(struct.pack("<5i", MAGIC, 50257, 2048, 32, 32) + struct.pack("<4i", 0, 2, 50257, 2048))
    _expect(p, "truncated", "tensor embedding", "411705344 bytes")


def test_writer_rejects_incomplete_sources(tmp_path, tiny_tensors):
    t = dict(tiny_tensors)
    del t["layers.1.A_log"]
    with pytest.raises(BmbenchError, match="layers.1.A_log"):
        write_bit2(tmp_path / "x.bin", t)
    with pytest.raises(BmbenchError, match="not a BitMamba-2 shape"):
        write_bit2(tmp_path / "y.bin", synthetic_weights(get_config("tiny-mamba2"), "f32"))


# ------------------------------------------------------------------------------ memory
_PEAK_SCRIPT = r"""
import sys
from bmbench.engine import Engine
from bmbench.models import load_bit2

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM: the peak from here on is the load's and the decode's
base = status("VmRSS")
Engine(load_bit2(sys.argv[1], sys.argv[2]), threads=1).decode([1, 2], 2)
print(status("VmHWM") - base)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc/self/clear_refs")
@pytest.mark.parametrize("fmt", ["ternary-lut", "ternary-mad"])
def test_loading_holds_the_weights_once(tmp_path, fmt):
    """Load + decode peaks within the file size + 10% above the interpreter: no second copy of the
    embedding, no mapped file pages beside the repacked weights, no codes unpacked a byte per weight
    for a whole tensor (the loader before this peaked near twice the file)."""
    c = bitmamba2_config("mem", n_layers=3, d_model=2048, n_heads=16, vocab=6000)
    path = tmp_path / "mem.bin"
    write_bit2(path, synthetic_bit2_tensors(c, seed=1))
    size = path.stat().st_size
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(path), fmt], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    peak = int(out.stdout)
    assert peak <= 1.10 * size, f"peak {peak / 2**20:.1f} MiB above the interpreter for a {size / 2**20:.1f} MiB file"
