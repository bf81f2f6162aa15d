"""What the benchmarks read of the machine's CPU (/proc/stat): busy time and the hypervisor's steal."""

import pytest

from superapp import bench

# user nice system idle iowait irq softirq steal guest guest_nice, in clock ticks
PROC_STAT = "cpu  1000 20 300 5000 40 5 6 70 0 0\ncpu0 500 10 150 2500 20 2 3 35 0 0\n"


class FakePath:
    def __init__(self, path):
        self.path = path

    def read_text(self):
        if self.path != "/proc/stat":
            raise FileNotFoundError(self.path)
        return PROC_STAT


def test_busy_is_everything_but_idle_and_iowait_and_steal_is_its_own_column(monkeypatch):
    monkeypatch.setattr(bench, "Path", FakePath)
    monkeypatch.setattr(bench, "_CLOCK_TICKS", 100)
    assert bench.machine_busy_s() == pytest.approx((1000 + 20 + 300 + 5 + 6 + 70) / 100)
    assert bench.machine_steal_s() == pytest.approx(0.7)


def test_without_proc_stat_both_read_zero(monkeypatch):
    class Missing(FakePath):
        def read_text(self):
            raise OSError("no /proc")

    monkeypatch.setattr(bench, "Path", Missing)
    assert bench.machine_busy_s() == 0.0
    assert bench.machine_steal_s() == 0.0
