"""Roofline and projection arithmetic on hand-computed cases."""
import pytest

from bmbench import hosts, roofline
from bmbench.hosts import Figure, HostProfile


def _profile(**figs):
    f = {k: Figure(v, "", "test source") for k, v in figs.items()}
    return HostProfile(key="box", name="Box", arch="aarch64", figures=f)


def test_bound():
    # 20 GB/s over 250 MB per token = 80 tok/s
    assert roofline.bound_tok_s(20.0, 250e6) == pytest.approx(80.0)


def test_host_bandwidth_prefers_published_measurement():
    p = _profile(cores=4, dram_peak=17.1, measured_read_bandwidth={1: 9.3, 2: 13.2, 4: 11.6})
    assert roofline.host_read_bandwidth(p, 1)[0] == 9.3
    assert roofline.host_read_bandwidth(p, 3)[0] == 13.2  # largest published count <= 3
    bw, src = roofline.host_read_bandwidth(_profile(cores=4, dram_peak=50.0), 4)
    assert bw == pytest.approx(35.0) and "assumed" in src


def test_projection_bandwidth_limited():
    # here: 40 tok/s against a 50 tok/s bound (efficiency 0.8); host: 10 GB/s over 200 MB -> 50 bound
    p = _profile(cores=4, dram_peak=100.0, measured_read_bandwidth={1: 10.0}, freq_max=2.0, simd=["neon"])
    pr = roofline.project(p, measured_tok_s=40, local_bound_tok_s=50, bytes_per_token=200e6,
                          weights_per_token=1e9, threads=1, all_threads_here=2,
                          cycles_per_weight=0.1, local_simd_bytes=32)
    assert pr.threads == 1 and pr.bound_tok_s == pytest.approx(50.0)
    assert pr.bandwidth_tok_s == pytest.approx(40.0)
    # compute roof: cpw on a 16-byte SIMD host = 0.1 x 32/16 = 0.2 -> 1 x 2e9 / 0.2 / 1e9 = 10 tok/s
    assert pr.compute_tok_s == pytest.approx(10.0)
    assert pr.tok_s == pytest.approx(10.0) and pr.limited_by == "compute"
    assert pr.provenance == "projected" and "efficiency" in pr.method


def test_projection_all_threads_maps_to_all_cores_and_energy():
    p = _profile(cores=4, threads=4, dram_peak=40.0, power_idle=2.0, power_load=10.0, dram_energy=100.0)
    pr = roofline.project(p, measured_tok_s=10, local_bound_tok_s=20, bytes_per_token=1e9,
                          weights_per_token=1e9, threads=2, all_threads_here=2)
    # 0.7 x 40 = 28 GB/s -> 28 tok/s bound x 0.5 = 14 tok/s, no compute roof
    assert pr.threads == 4 and pr.tok_s == pytest.approx(14.0) and pr.compute_tok_s is None
    # energy: 10 W (util 1) x 1/14 s + 1e9 B x 100 pJ = 0.714 + 0.1 J
    assert pr.j_per_token == pytest.approx(10 / 14 + 0.1)


def test_shipped_profiles_project():
    for p in hosts.load_profiles().values():
        pr = roofline.project(p, measured_tok_s=10, local_bound_tok_s=20, bytes_per_token=3e8,
                              weights_per_token=1e9, threads=1, all_threads_here=2)
        assert pr.tok_s > 0 and pr.j_per_token and pr.j_per_token > 0


def test_simd_width():
    assert roofline.simd_bytes(["avx2", "fma"]) == 32
    assert roofline.simd_bytes(["avx512f"]) == 64
    assert roofline.simd_bytes(["neon", "dotprod"]) == 16
