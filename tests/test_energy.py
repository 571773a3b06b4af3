import os

import pytest

from bmbench import energy

PMIC_OUTPUT = """\
     3V7_WL_SW_A current(0)=0.10000000A
       3V3_SYS_A current(1)=0.20000000A
        VDD_CORE_A current(7)=2.00000000A
     3V7_WL_SW_V volt(8)=3.70000000V
       3V3_SYS_V volt(9)=3.30000000V
        VDD_CORE_V volt(15)=0.80000000V
        EXT5V_V volt(24)=5.10000000V
        BATT_V volt(25)=0.00000000V
"""


def _zone(root, name, label, energy_uj, max_uj, mode=0o444):
    z = root / name
    z.mkdir(parents=True)
    (z / "name").write_text(label + "\n")
    (z / "max_energy_range_uj").write_text(f"{max_uj}\n")
    e = z / "energy_uj"
    e.write_text(f"{energy_uj}\n")
    e.chmod(mode)
    return z


def test_pmic_power_is_sum_of_rail_products():
    # hand-computed: 0.1*3.7 + 0.2*3.3 + 2.0*0.8 = 0.37 + 0.66 + 1.6
    assert energy.parse_pmic(PMIC_OUTPUT) == pytest.approx(2.63)


def test_pmic_garbage_is_unavailable():
    with pytest.raises(energy.Unavailable):
        energy.parse_pmic("error=1 error_msg=\"Command not registered\"\n")


def test_rapl_delta_and_wraparound(tmp_path):
    _zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000, 262_143_328_850)
    _zone(tmp_path, "intel-rapl:0:0", "core", 5, 262_143_328_850)  # subzone: not double counted
    zones = energy.rapl_zones(tmp_path)
    assert [z.name for z in zones] == ["package-0"]
    assert energy.rapl_delta_j(zones, [1_000_000], [3_500_000]) == pytest.approx(2.5)
    # wrapped: from 262_143_000_000 up to the max, then 500_000 past zero
    assert energy.rapl_delta_j(zones, [262_143_000_000], [500_000]) == pytest.approx(
        (328_850 + 500_000) * 1e-6)


def test_rapl_meter_reads_fixture(tmp_path):
    z = _zone(tmp_path, "intel-rapl:0", "package-0", 10_000_000, 2**32)
    m = energy.EnergyMeter(tmp_path)
    assert m.source == "rapl:package-0"
    with m:
        (z / "energy_uj").write_text("14000000\n")
    assert m.joules == pytest.approx(4.0)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_rapl_permission_denied(tmp_path):
    _zone(tmp_path, "intel-rapl:0", "package-0", 1, 10, mode=0o000)
    with pytest.raises(energy.Unavailable, match="permission denied"):
        energy.rapl_zones(tmp_path)


def test_rapl_permission_denied_as_root(tmp_path, monkeypatch):
    _zone(tmp_path, "intel-rapl:0", "package-0", 1, 10)
    real = energy.Path.read_text

    def deny(self, *a, **k):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)

    monkeypatch.setattr(energy.Path, "read_text", deny)
    with pytest.raises(energy.Unavailable, match="permission denied"):
        energy.rapl_zones(tmp_path)


def test_no_powercap_is_unavailable(tmp_path):
    with pytest.raises(energy.Unavailable, match="does not exist"):
        energy.rapl_zones(tmp_path / "missing")


def test_estimate_arithmetic():
    # 0.05 s/token at util 0.5 between 2 W and 8 W -> 5 W x 0.05 = 0.25 J; 1e9 B x 10 pJ/B = 0.01 J
    e = energy.estimate_j_per_token(0.05, 0.5, 2.0, 8.0, 1e9, 10.0)
    assert e["value"] == pytest.approx(0.26) and e["cpu_j"] == pytest.approx(0.25)
    assert "pJ/byte" in e["method"]
