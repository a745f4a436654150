"""The CPU latency family: the chase kernel (one plain load per step, validated cycle), the sweep through the
session into a schema-valid profile, the level rule, the spread, the NUMA matrix on a stand-in topology, and
the table ``show`` prints. Figures here are whatever this machine gives; only structure and arithmetic are
asserted (speed is shown by scripts/compare_latency.py and docs/latency.md)."""

from __future__ import annotations

import os
import re

import jsonschema
import numpy as np
import pytest
from rich.console import Console

from hwbench import catalog
from hwbench.cpu import latency as cpu_latency_family
from hwbench.cpu.session import CpuOptions, measure_cpu
from hwbench.errors import MeasurementError
from hwbench.kernels import cpu_latency
from hwbench.profile import json_schema
from hwbench.profile.build import build_profile
from hwbench.profile.latency import level_points, summary
from hwbench.record import Host, LatencyPoint, LatencyRecord
from hwbench.tools.render_latency import latency_table

UNROLL = catalog.kernel("cpu", "latency_chase").launch.unroll


def linked(n: int) -> tuple[np.ndarray, np.ndarray, int]:
    buffer = np.zeros(n * cpu_latency.WORDS_PER_LINE, dtype=np.int64)
    base = int(buffer.ctypes.data)
    order = cpu_latency.random_order(n, 7)
    cpu_latency.link(buffer, order, base)
    return buffer, order, base


def test_chain_is_one_cycle_through_every_line():
    for n in (2, 3, 64, 1000):
        buffer, order, base = linked(n)
        assert cpu_latency.check_links(buffer, order, base) == n
        address, seen = base + int(order[0]) * 64, set()
        for _ in range(n):
            seen.add(address)
            address = int(buffer[(address - base) // 8])
        assert address == base + int(order[0]) * 64 and len(seen) == n  # back after exactly n loads, every line once


def test_chase_ends_where_the_order_says():
    n = 512
    buffer, order, base = linked(n)
    start = base + int(order[0]) * 64
    chase = cpu_latency.chase_kernel(UNROLL)
    steps = cpu_latency.round_steps(3 * n + 40, UNROLL)
    assert chase(start, steps) == base + int(order[steps % n]) * 64
    assert chase(start, n) == start  # a whole cycle returns to its start


def test_check_links_finds_a_broken_chain():
    n = 256
    buffer, order, base = linked(n)
    buffer[int(order[5]) * cpu_latency.WORDS_PER_LINE] = base + int(order[5]) * 64  # a line pointing at itself
    assert cpu_latency.check_links(buffer, order, base) == n - 1
    buffer, order, base = linked(n)
    order[3] = order[4]  # not a permutation
    assert cpu_latency.check_links(buffer, order, base) == 0


@pytest.mark.skipif(not cpu_latency_family.CLOCK_SUPPORTED, reason="x86-64 or AArch64 assembly")
def test_chase_loop_is_one_plain_load_per_step():
    chase = cpu_latency.chase_kernel(UNROLL)
    chase(0, 0)
    asm = chase.inspect_asm(chase.signatures[0])
    loads = [line.strip() for line in asm.splitlines() if re.search(r"\bmov\w*\s+\(%\w+\), %\w+|ldr\s+x\d+, \[x\d+\]",
                                                                  line)]
    assert len(loads) >= UNROLL
    pairs = [re.search(r"\((%\w+)\), (%\w+)", line) for line in loads]
    if all(pairs):  # x86: each load's address register is the previous load's destination (loop edges aside)
        chained = sum(after.group(1) == before.group(2) for before, after in zip(pairs, pairs[1:]))
        assert chained >= 0.9 * (len(pairs) - 1)
    scaled = [line for line in asm.splitlines() if re.search(r"\bmov\w*\s+-?\w*\(%\w+,%\w+,8\), %\w+", line)]
    assert not scaled  # no buf[p]-style scaled-index load on the chain


def test_sweep_sizes_and_huge_page_parse(tmp_path):
    assert cpu_latency_family.sweep_sizes(4096, 65536, (1.0,)) == [4096, 8192, 16384, 32768, 65536]
    assert cpu_latency_family.sweep_sizes(4096, 16384, (1.0, 1.5)) == [4096, 6144, 8192, 12288, 16384]
    assert cpu_latency_family.sweep_sizes(4096, 32768, (1.0, 1.5), 8192) == [4096, 6144, 8192, 16384, 32768]
    smaps = tmp_path / "smaps"
    smaps.write_text("7f0000000000-7f0000400000 rw-p 00000000 00:00 0\nSize: 4096 kB\nAnonHugePages:  2048 kB\n"
                     "7f0000400000-7f0000800000 rw-p 00000000 00:00 0\nAnonHugePages:  0 kB\n")
    assert cpu_latency_family.anon_huge_bytes(0x7F0000000100, smaps) == 2048 * 1024
    assert cpu_latency_family.anon_huge_bytes(0x7F0000400100, smaps) == 0
    assert cpu_latency_family.anon_huge_bytes(0x1000, smaps) is None


def test_summary_is_the_confirmed_best_with_its_spread():
    figure = summary([10.0, 11.0, 12.0, 20.0, 10.5])
    assert figure["latency_ns"] == pytest.approx(10.5)  # 2nd fastest of 5 (K = 2)
    assert figure["median_ns"] == 11.0
    assert figure["spread"] == pytest.approx(1 - 10.5 / 11.0, abs=1e-4)


def test_level_rule_takes_the_plateau_median():
    caches = {"l1d": 48 * 1024, "l2": 1 << 20, "l3": 32 << 20}
    latencies = {4096: 1.0, 8192: 1.1, 16384: 1.05, 32768: 1.2, 65536: 3.0, 131072: 3.5, 262144: 3.6,
                 524288: 4.4, 1 << 21: 12.0, 1 << 22: 14.0, 1 << 23: 15.0, 1 << 24: 16.0, 1 << 26: 100.0,
                 1 << 27: 110.0}
    points = [LatencyPoint(size, (ns,) * 3) for size, ns in latencies.items()]
    chosen = {level: p.working_set_bytes for level, p in level_points(points, caches).items()}
    assert chosen == {"l1": 16384, "l2": 131072, "l3": 1 << 22, "dram": 1 << 27}


def test_level_rule_with_a_shared_l3_smaller_than_sysfs_says():
    """A VM whose L3 holds 4 MiB of the 32 sysfs reports: 8 MiB and up are DRAM, and the L3 plateau ends early."""
    caches = {"l1d": 48 * 1024, "l2": 1 << 20, "l3": 32 << 20}
    latencies = {16384: 1.06, 32768: 1.06, 131072: 3.8, 262144: 3.8, 1 << 21: 12.5, 1 << 22: 14.0,
                 1 << 23: 150.0, 1 << 24: 155.0, 1 << 26: 160.0, 1 << 27: 165.0}
    points = [LatencyPoint(size, (ns,) * 3) for size, ns in latencies.items()]
    chosen = {level: p.working_set_bytes for level, p in level_points(points, caches).items()}
    assert chosen == {"l1": 16384, "l2": 131072, "l3": 1 << 21, "dram": 1 << 27}


def test_numa_matrix_on_a_stand_in_topology(tmp_path):
    for node, cpus in ((0, "0-1"), (1, "2-3"), (2, "")):  # node 2: memory only
        (tmp_path / f"node{node}").mkdir()
        (tmp_path / f"node{node}" / "cpulist").write_text(cpus + "\n")
    nodes = cpu_latency_family.numa_nodes([0, 1, 2, 3], tmp_path)
    assert nodes == {0: [0, 1], 1: [2, 3]}
    calls = []

    def chase_ns(chasing: int, touching: int) -> float:
        calls.append((chasing, touching))
        return 100.0 if chasing == touching else 180.0

    section = cpu_latency_family.numa_matrix(nodes, [0, 1, 2, 3], chase_ns)
    assert section["matrix_ns"] == {"0": {"0": 100.0, "1": 180.0}, "1": {"0": 180.0, "1": 100.0}}
    assert sorted(calls) == [(0, 0), (0, 2), (2, 0), (2, 2)]  # workers of each node's first CPU
    single = cpu_latency_family.numa_matrix(cpu_latency_family.numa_nodes([0, 1], tmp_path), [0, 1], chase_ns)
    assert single["matrix_ns"] is None and single["nodes"] == 1


@pytest.fixture
def small_latency(monkeypatch):
    """The family over 4 KiB to 1 MiB, two injection delays: the real kernels, little time."""
    monkeypatch.setattr(cpu_latency_family, "top_working_set", lambda context, multiple: 1 << 20)
    kernels = tuple(catalog.select("cpu", "latency"))
    return kernels


def test_cpu_latency_run_into_a_valid_profile(small_latency):
    measurement = measure_cpu(CpuOptions(kernels=small_latency, quick=True))
    data = build_profile(measurement, Host.current())
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    section = data["latency"]
    sizes = [point["working_set_bytes"] for point in section["curve"]]
    assert sizes[0] == 4096 and sizes[-1] == 1 << 20 and sizes == sorted(sizes)
    for point in section["curve"]:
        assert point["latency_ns"] <= point["median_ns"] and 0 <= point["spread"] < 1
        assert len(point["samples_ns"]) == small_latency[0].launch.quick_samples
    l1 = data["memory"]["l1"]
    assert l1["latency_ns"] > 0 and l1["latency_kernel"] == "latency_chase" and l1["measured_gbps"] is None
    if data["clock"]["scalar_mhz"]:
        assert l1["latency_cycles"] == pytest.approx(l1["latency_ns"] * data["clock"]["scalar_mhz"] / 1e3, abs=0.011)
    loaded = section["loaded"]
    assert loaded["injecting_cores"] == len(data["run"]["cpus"]) - 1
    if loaded["injecting_cores"]:
        assert len(loaded["points"]) == len(small_latency[1].launch.quick_delays_ticks) >= 5
        assert loaded["points"][-1]["delay_ticks"] == 0 and all(p["injected_gbps"] > 0 for p in loaded["points"])
        assert loaded["traffic"] == small_latency[1].launch.traffic and loaded["traffic_rule"]
        assert all(0 <= p["preempted_samples"] <= p["retaken_samples"] + len(p["samples_ns"]) for p in loaded["points"])
        c2c = section["core_to_core"]
        assert len(c2c["matrix_ns"]) == len(c2c["cpus"]) and c2c["matrix_ns"][0][1] > 0
    assert section["definition"]["huge_pages"]["advised"] in (True, False)
    assert section["numa"]["nodes"] >= 1
    text = Console(width=160, record=True, file=open("/dev/null", "w"))
    text.print(latency_table(data))
    shown = text.export_text()
    assert "load-to-use latency" in shown and "l1" in shown and "core to core" in shown
    if loaded["injecting_cores"]:
        assert f"injecting {loaded['traffic']} traffic" in " ".join(shown.split())


def test_corrupted_chain_is_an_error(small_latency, monkeypatch):
    real = cpu_latency.link

    def corrupt(buffer, order, base):
        real(buffer, order, base)
        buffer[int(order[1]) * cpu_latency.WORDS_PER_LINE] = base  # the second line now points at line 0

    monkeypatch.setattr(cpu_latency, "link", corrupt)
    with pytest.raises(MeasurementError, match="not one cycle"):
        measure_cpu(CpuOptions(kernels=(small_latency[0],), quick=True))


def test_a_wrong_end_is_an_error(small_latency, monkeypatch):
    real = cpu_latency.chase_kernel(UNROLL)
    monkeypatch.setattr(cpu_latency, "chase_kernel", lambda unroll: lambda start, steps: real(start, steps) + 64)
    with pytest.raises(MeasurementError, match="wrong pointer"):
        measure_cpu(CpuOptions(kernels=(small_latency[0],), quick=True))


def test_latency_levels_from_device_named_points():
    run = LatencyRecord((LatencyPoint(16384, (20.0, 21.0), "shared", (30.0, 31.5)),), {"sm_clock_mhz": 1500.0})
    data = {"device": {"id": "cuda:0"}, "clock": {}}
    from hwbench.profile.latency import latency_levels

    levels = latency_levels(run, data["device"], data["clock"], [])
    assert levels["shared"]["latency_cycles"] == 31.5 and levels["shared"]["latency_ns"] == 21.0


def test_a_cache_level_at_dram_latency_is_dropped_with_a_warning():
    caches = {"l1d": 48 * 1024, "l2": 1 << 20, "l3": 32 << 20}
    latencies = {16384: 1.06, 32768: 1.06, 131072: 3.8, 262144: 3.8, 1 << 21: 150.0, 1 << 22: 152.0,
                 1 << 23: 150.0, 1 << 24: 155.0, 1 << 26: 160.0, 1 << 27: 165.0}
    run = LatencyRecord(tuple(LatencyPoint(size, (ns,) * 3) for size, ns in latencies.items()), {})
    from hwbench.profile.latency import latency_levels

    warnings: list[str] = []
    levels = latency_levels(run, {"id": "cpu", "caches": caches}, {"scalar_mhz": 4000.0}, warnings)
    assert set(levels) == {"l1", "l2", "dram"} and "no l3 plateau" in warnings[0]
    assert levels["dram"]["latency_cycles"] == pytest.approx(165.0 * 4.0)


def test_no_huge_pages_is_said(small_latency, monkeypatch):
    monkeypatch.setattr(cpu_latency_family.HugeBuffer, "huge_bytes", lambda self, smaps=None: 0)
    data = build_profile(measure_cpu(CpuOptions(kernels=(small_latency[0],), quick=True)), Host.current())
    assert any("no transparent huge pages" in w and "AnonHugePages 0" in w for w in data["warnings"])
    assert data["latency"]["definition"]["huge_pages"]["granted_bytes"] == 0


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_numa_matrix_measured_on_a_stand_in_two_node_topology(small_latency, monkeypatch, tmp_path):
    """The real chase, with sysfs saying that the first two CPUs are on two nodes: each node's CPU chases a chain
    the other first-touched, and the profile keeps the 2 x 2 matrix."""
    first, second = sorted(os.sched_getaffinity(0))[:2]
    for node, cpu in ((0, first), (1, second)):
        (tmp_path / f"node{node}").mkdir()
        (tmp_path / f"node{node}" / "cpulist").write_text(f"{cpu}\n")
    monkeypatch.setattr(cpu_latency_family, "SYSFS_NODES", tmp_path)
    options = CpuOptions(kernels=(small_latency[0],), cpus=f"{first},{second}", quick=True)
    data = build_profile(measure_cpu(options), Host.current())
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    numa = data["latency"]["numa"]
    assert numa["nodes"] == 2 and numa["cpus"] == {"0": first, "1": second}
    assert all(numa["matrix_ns"][a][b] > 0 for a in ("0", "1") for b in ("0", "1"))


@pytest.mark.parametrize("traffic", sorted(cpu_latency.TRAFFIC))
def test_every_injection_traffic_moves_bursts_and_leaves_its_arrays_intact(traffic):
    """Each injector says it runs, moves bursts until its deadline (the chaser's stop flag never set), wrapping
    around arrays of one burst per stream, returns the exact sum of what it read (read traffics) and leaves every
    element 1.0 (writing traffics copy or compute 1.0). Nothing here depends on how fast it ran."""
    from hwbench.kernels.cpu_stream import aligned_empty

    burst, streams = 4096, cpu_latency.TRAFFIC_STREAMS.get(traffic, 1)
    arrays = [aligned_empty(burst * streams if k in cpu_latency.TRAFFIC_ARRAYS[traffic] else 0) for k in range(3)]
    for array in arrays:
        array.fill(1.0)
    stop, ready = np.zeros(8, dtype=np.int64), np.zeros(8, dtype=np.int64)
    inject = cpu_latency.injector(traffic)
    assert inject(*arrays, burst, 0, int(ready.ctypes.data), int(stop.ctypes.data), 0)[0] == 0  # past its deadline
    ready[0] = 0
    began = cpu_latency.read_timestamp_now()
    deadline = began + 10_000_000
    bursts, total, started = inject(*arrays, burst, 0, int(ready.ctypes.data), int(stop.ctypes.data), deadline)
    assert began <= started < deadline and ready[0] == 1 and bursts >= 1
    assert total == (bursts * burst * streams if traffic in cpu_latency.TRAFFIC_STREAMS else 0)
    assert all(np.all(array == 1.0) for array in arrays)
    with pytest.raises(ValueError, match="unknown injection traffic"):
        cpu_latency.injector("write_only")
