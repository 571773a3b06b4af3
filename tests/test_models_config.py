"""Model configs, the registry and the per model x format accounting (hand-computed figures)."""
import pytest

from bmbench import formats
from bmbench.errors import BmbenchError
from bmbench.models import account, get_config, list_configs, model_table
from bmbench.models.config import MambaConfig, bitmamba2_config


def test_registry_lists_the_published_and_tiny_models():
    names = list_configs()
    for n in ("bitmamba2-255m", "bitmamba2-1b", "mamba2-130m", "mamba2-370m", "mamba2-780m",
              "mamba2-1.3b", "mamba2-2.7b", "tiny-bitmamba", "tiny-mamba2"):
        assert n in names
        assert get_config(n).name == n


def test_unknown_model_names_the_known_ones():
    with pytest.raises(BmbenchError) as e:
        get_config("bitmamba2-7b")
    assert "bitmamba2-7b" in str(e.value) and "bitmamba2-1b" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("name,layers,d_model,heads,d_in_proj", [
    ("bitmamba2-255m", 24, 1024, 16, 2 * 2048 + 3 * 16),   # 4144
    ("bitmamba2-1b", 32, 2048, 32, 2 * 4096 + 3 * 32),     # 8288
])
def test_bitmamba2_shapes(name, layers, d_model, heads, d_in_proj):
    c = get_config(name)
    assert (c.n_layers, c.d_model, c.n_heads, c.d_inner, c.head_dim) == (layers, d_model, heads, 2 * d_model, 128)
    assert (c.d_state, c.n_groups, c.conv_bc, c.lm_head_norm, c.d_conv, c.vocab) == (1, heads, False, True, 4, 50257)
    assert c.d_in_proj == d_in_proj
    assert c.conv_dim == c.d_inner
    assert c.ssm_state_elems == c.d_inner  # B, C one scalar per head: d_inner floats per layer
    sp = c.in_proj_split
    assert [sp[k].stop - sp[k].start for k in "z x B C dt".split()] == [c.d_inner, c.d_inner, heads, heads, heads]
    assert sp["dt"].stop == d_in_proj


def test_mamba2_2_7b_shape():
    c = get_config("mamba2-2.7b")
    assert (c.n_layers, c.d_model, c.d_inner, c.head_dim, c.n_heads, c.d_state, c.n_groups) == \
        (64, 2560, 5120, 64, 80, 128, 1)
    assert c.conv_bc and not c.lm_head_norm and c.tie_embeddings and c.vocab == 50288
    assert c.conv_dim == 5120 + 2 * 128
    assert c.d_in_proj == 2 * 5120 + 2 * 128 + 80
    assert c.ssm_state_elems == 5120 * 128


@pytest.mark.parametrize("name,lo,hi", [
    ("bitmamba2-255m", 250e6, 260e6), ("bitmamba2-1b", 0.98e9, 1.05e9), ("mamba2-130m", 125e6, 135e6),
    ("mamba2-370m", 360e6, 375e6), ("mamba2-780m", 770e6, 790e6), ("mamba2-1.3b", 1.3e9, 1.4e9),
    ("mamba2-2.7b", 2.65e9, 2.75e9)])
def test_param_counts_match_the_model_names(name, lo, hi):
    assert lo <= get_config(name).n_params <= hi


def test_tiny_bitmamba_param_count_by_hand():
    c = get_config("tiny-bitmamba")  # 2 layers, d_model 64, d_inner 128, 4 heads, vocab 256
    per_layer = (64            # in_proj_norm
                 + 268 * 64    # in_proj: 2*128 + 3*4 rows
                 + 128 * 4     # conv_w
                 + 128         # conv_b
                 + 4 + 4       # dt_bias, A_log
                 + 128         # D per channel
                 + 128         # out_proj_norm
                 + 64 * 128)   # out_proj
    assert per_layer == 26312
    assert c.n_params == 256 * 64 + 2 * per_layer + 2 * 64 + 256 * 64 == 85520


@pytest.mark.parametrize("kw", [dict(head_dim=30), dict(n_groups=3), dict(d_conv=1), dict(vocab=0)])
def test_inconsistent_configs_are_rejected(kw):
    base = dict(name="x", n_layers=1, d_model=64, d_inner=128, n_heads=4, head_dim=32, d_state=16,
                n_groups=1, d_conv=4, vocab=256, conv_bc=True, lm_head_norm=False)
    with pytest.raises(BmbenchError):
        MambaConfig(**{**base, **kw})
    with pytest.raises(BmbenchError):
        bitmamba2_config("y", n_layers=1, d_model=64, n_heads=3, vocab=10)


def test_tiny_bitmamba_f32_accounting_by_hand():
    a = account("tiny-bitmamba", "f32")
    assert a.projection_bytes == 2 * (268 * 64 + 64 * 128) * 4 == 202752
    assert a.lm_head_bytes == 256 * 64 * 4 == 65536
    assert a.embedding_bytes == 256 * 64 * 4
    assert a.embedding_row_bytes == 64 * 4
    # per layer 64 + 512 + 128 + 4 + 4 + 128 + 128 = 968 floats; + norm_f + lm_head_norm
    assert a.vector_bytes == (2 * 968 + 64 + 64) * 4 == 8256
    assert a.ssm_state_bytes == 2 * 4 * 32 * 1 * 4 == 1024
    assert a.conv_state_bytes == 2 * 128 * 3 * 4 == 3072
    assert a.bytes_per_token == 202752 + 65536 + 256 + 8256 + 2 * 1024 + 2 * 3072 == 284992
    assert a.weight_bytes == 202752 + 65536 + 65536 + 8256
    assert a.memory_bytes == a.weight_bytes + 1024 + 3072
    assert a.params == 85520
    rec = a.as_dict()
    assert rec["bytes_per_token"] == 284992 and rec["bytes_per_token_breakdown"]["ssm_state"] == 2048


def test_mamba2_2_7b_state_traffic():
    a = account("mamba2-2.7b", "f32")
    assert a.bytes_per_token_breakdown()["ssm_state"] == 2 * 64 * 5120 * 128 * 4  # 320 MiB read + written
    assert a.ssm_state_bytes == 160 * 2**20
    half = account("mamba2-2.7b", "f32", state_dtype="f16")
    assert half.bytes_per_token_breakdown()["ssm_state"] == 2 * 64 * 5120 * 128 * 2
    with pytest.raises(BmbenchError):
        account("mamba2-2.7b", "f32", state_dtype="bf12")


@pytest.mark.parametrize("fmt_name", list(formats.FORMATS))
def test_accounting_uses_the_formats_packed_sizes(fmt_name):
    fmt = formats.get(fmt_name)
    c = get_config("bitmamba2-1b")
    a = account(c, fmt_name)
    assert a.projection_bytes == 32 * (fmt.data_bytes(8288, 2048) + fmt.data_bytes(2048, 4096))
    assert a.lm_head_bytes == fmt.data_bytes(50257, 2048)
    # the packed weights are about params x bpw / 8 (scales included in bpw)
    packed_params = 32 * (8288 * 2048 + 2048 * 4096) + 50257 * 2048
    assert a.projection_bytes + a.lm_head_bytes == pytest.approx(packed_params * fmt.bpw / 8, rel=0.02)
    assert a.bytes_per_token > a.projection_bytes + a.lm_head_bytes


def test_bitmamba2_1b_ternary_memory_near_the_published_figure(ternary_format):
    # 2-bit projections + fp32 embedding: bitmamba.c reports 621 MB for the 1B model (published)
    a = account("bitmamba2-1b", ternary_format)
    assert 560e6 < a.memory_bytes < 700e6


def test_model_table_covers_every_model_and_format():
    rows = model_table()
    assert len(rows) == len(list_configs()) * len(formats.FORMATS)
    assert all(r.bytes_per_token > 0 for r in rows)
