"""CPU selection and pinning, and parsing what the kernel reports about the CPU."""

from __future__ import annotations

import pytest

from hwbench.cpu.machine import nominal_clock, parse_cpuinfo, parse_size, read_caches
from hwbench.cpu.pinning import LogicalCpu, format_cpu_list, order_cpus, parse_cpu_list, select_cpus
from hwbench.errors import UsageError


def test_parse_and_format_cpu_lists():
    assert parse_cpu_list("0-3,8") == [0, 1, 2, 3, 8]
    assert format_cpu_list([8, 0, 1, 2, 3]) == "0-3,8"
    for bad in ("a", "3-1", "1,1", "-1"):
        with pytest.raises(UsageError):
            parse_cpu_list(bad)


# Two packages of two cores with SMT: CPU n and n+4 are siblings.
TOPOLOGY = [LogicalCpu(cpu, package=(cpu % 4) // 2, core=cpu % 2) for cpu in range(8)]


def test_compact_and_spread_orders():
    assert order_cpus(TOPOLOGY, "compact") == [0, 1, 2, 3, 4, 5, 6, 7]
    assert order_cpus(TOPOLOGY, "spread") == [0, 2, 1, 3, 4, 6, 5, 7]


def test_select_cpus_defaults_to_one_thread_per_core(tmp_path):
    sysfs = tmp_path
    for entry in TOPOLOGY:
        topo = sysfs / f"cpu{entry.cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text(str(entry.package))
        (topo / "core_id").write_text(str(entry.core))
    allowed = set(range(8))
    assert select_cpus(allowed=allowed, sysfs=sysfs) == [0, 1, 2, 3]
    assert select_cpus(threads=2, pinning="spread", allowed=allowed, sysfs=sysfs) == [0, 2]
    assert select_cpus(threads=6, allowed=allowed, sysfs=sysfs) == [0, 1, 2, 3, 4, 5]
    assert select_cpus(cpus="5,6", allowed=allowed, sysfs=sysfs) == [5, 6]


@pytest.mark.parametrize("kwargs, message", [
    ({"threads": 0}, "at least 1"),
    ({"threads": 9}, "exceeds"),
    ({"cpus": "9"}, "may not use"),
    ({"cpus": "0,1", "threads": 3}, "disagrees"),
    ({"pinning": "scatter"}, "compact or spread"),
])
def test_select_cpus_rejects_bad_input(kwargs, message):
    with pytest.raises(UsageError, match=message):
        select_cpus(allowed=set(range(8)), **kwargs)


def test_parse_cpuinfo_first_block():
    text = ("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
            "model name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\ncpu MHz\t\t: 2500.000\n"
            "flags\t\t: fpu avx2 avx512f\n\nprocessor\t: 1\nmodel name\t: other\n")
    fields = parse_cpuinfo(text)
    assert fields["model name"].startswith("Intel(R) Xeon(R) Gold 6248")
    assert fields["flags"] == "fpu avx2 avx512f"


def test_nominal_clock_sources(tmp_path):
    assert nominal_clock({"model name": "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"}, tmp_path) == (2500.0,
                                                                                                  "brand string")
    mhz, source = nominal_clock({"model name": "AMD EPYC", "cpu MHz": "2596.120"}, tmp_path)
    assert mhz == pytest.approx(2596.12) and "TSC" in source
    freq = tmp_path / "cpu0" / "cpufreq"
    freq.mkdir(parents=True)
    (freq / "cpuinfo_max_freq").write_text("3700000\n")
    assert nominal_clock({"model name": "x @ 2.50GHz"}, tmp_path) == (3700.0, "sysfs cpufreq cpuinfo_max_freq")


def test_caches_from_sysfs(tmp_path):
    for cpu, l3_shared in ((0, "0-1"), (1, "0-1"), (2, "2-3")):
        for index, (level, kind, size) in enumerate([("1", "Data", "48K"), ("1", "Instruction", "32K"),
                                                     ("2", "Unified", "1024K"), ("3", "Unified", "32768K")]):
            d = tmp_path / f"cpu{cpu}" / "cache" / f"index{index}"
            d.mkdir(parents=True)
            for name, value in (("level", level), ("type", kind), ("size", size),
                                ("shared_cpu_list", l3_shared if level == "3" else str(cpu))):
                (d / name).write_text(value + "\n")
    caches, l3_total = read_caches(tmp_path)
    assert caches == {"l1d": 48 * 1024, "l2": 2**20, "l3": 32 * 2**20}
    assert l3_total == 64 * 2**20  # two distinct L3 instances
    assert parse_size("2M") == 2 * 2**20
