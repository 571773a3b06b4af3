import pytest

from bmbench import gemv_case, hosts


def test_stream_set_exceeds_four_llc():
    n = gemv_case.stream_count(1 << 20)
    assert n * (1 << 20) >= 4 * hosts.llc_bytes() and n >= 2


def test_shapes_are_the_bitmamba_projections():
    assert gemv_case.SHAPES["1b.in_proj"] == (2 * 4096 + 3 * 32, 2048)
    assert gemv_case.SHAPES["255m.in_proj"] == (2 * 2048 + 3 * 16, 1024)
    with pytest.raises(ValueError, match="unknown shape"):
        gemv_case.shape_of({"shape": "7b.in_proj"})


@pytest.mark.parametrize("regime", ["cache", "stream"])
def test_gemv_case_records_metrics(regime):
    spec = dict(case_id="k/x", suite="k", kind="gemv", warmup=0, repetitions=3,
                params=dict(format="f32", flavour="avx2" if "avx2" in _runnable() else "scalar",
                            threads=1, rows=32, cols=64, regime=regime),
                probe={"dram_read": {"1": {"value": 10.0}}, "cache_read": {"L1": {"1": {"value": 40.0}}}})
    c = gemv_case.run_case(spec)
    m = c.metrics
    assert m["time_per_call"].unit == "us" and len(m["time_per_call"].samples) == 3
    assert m["weight_gbps"].value == pytest.approx(32 * 64 * 4 / m["time_per_call"].value / 1e3, rel=0.5)
    # 8 KiB: an in-cache matrix is set against the L1 plateau, never against DRAM
    if regime == "cache":
        assert c.extra["bound_level"] == "L1" and "pct_of_dram_read" not in m
        assert m["pct_of_cache_read"].value == pytest.approx(2.5 * m["weight_gbps"].value, rel=0.3)
    else:
        assert c.extra["bound_level"] == "DRAM" and "pct_of_cache_read" not in m
        assert m["pct_of_dram_read"].value == pytest.approx(10 * m["weight_gbps"].value, rel=0.3)
    assert 0 <= m["rel_rms_error"].value < 1e-6  # f32 is exact to float rounding
    assert c.extra["bpw"] == 32


def _runnable():
    from bmbench import dispatch
    return dispatch.runnable_flavours()
