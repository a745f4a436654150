"""The cache sweep: plateau detection and naming on synthetic curves, the memory.l1/l2/l3 entries and the
caches section from a hand-made sweep, their schema, the kernels' validation, and one small real sweep."""

from __future__ import annotations

import dataclasses

import jsonschema
import numpy as np
import pytest

from conftest import cpu_profile, make_measurement
from hwbench import catalog
from hwbench.errors import MeasurementError
from hwbench.profile import json_schema
from hwbench.profile.levels import curve_plateaus, find_runs, level_of
from hwbench.record import CacheSweep, SweepCurve

KIB, MIB = 2**10, 2**20
CACHES = {"l1d": 32 * KIB, "l2": 512 * KIB, "l3": 32 * MIB}
SIZES = [4 * KIB * 2**i for i in range(16)]  # 4 KiB .. 128 MiB


def curve_of(rates, threads=1, kernel="cache_read", sizes=SIZES, traffic=1.0) -> SweepCurve:
    return SweepCurve(kernel, kernel.removeprefix("cache_"), threads,
                      tuple((size * threads, rate, rate * 0.98) for size, rate in zip(sizes, rates)), traffic)


# L1 4-32 KiB, L2 64-256 KiB, a transition at 512 KiB, L3 1-16 MiB, a transition, DRAM 64-128 MiB.
CLEAN = [200, 200, 200, 200, 100, 100, 100, 80, 60, 60, 60, 60, 60, 35, 20, 20]


def levels_of(curve, caches=CACHES, l3_total=32 * MIB):
    return {p.level: (p.low_bytes, p.high_bytes) for p in curve_plateaus(curve, caches, l3_total)}


def test_clean_three_level_curve():
    assert find_runs(CLEAN) == [(0, 3), (4, 6), (8, 12), (14, 15)]
    assert levels_of(curve_of(CLEAN)) == {"l1": (4 * KIB, 32 * KIB), "l2": (64 * KIB, 256 * KIB),
                                          "l3": (MIB, 16 * MIB), "dram": (64 * MIB, 128 * MIB)}


def test_noisy_curve_keeps_its_levels():
    rng = np.random.default_rng(12)
    noisy = [rate * (1 + rng.uniform(-0.06, 0.06)) for rate in CLEAN]
    assert set(levels_of(curve_of(noisy))) == {"l1", "l2", "l3", "dram"}
    plateau = next(p for p in curve_plateaus(curve_of(noisy), CACHES, 32 * MIB) if p.level == "l1")
    assert plateau.best_gbps == max(noisy[:4])


def test_curve_without_a_clear_l3():
    # L2 falls straight to DRAM speed: what lies between is a slope, never flat over two sizes.
    rates = [200, 200, 200, 200, 100, 100, 100, 70, 50, 37, 28, 21, 20, 20, 20, 20]
    assert levels_of(curve_of(rates)) == {"l1": (4 * KIB, 32 * KIB), "l2": (64 * KIB, 256 * KIB),
                                          "dram": (8 * MIB, 128 * MIB)}


def test_single_point_has_no_plateau():
    assert find_runs([123.0]) == []
    assert curve_plateaus(curve_of([123.0]), CACHES, 32 * MIB) == []
    assert find_runs([]) == []


def test_same_name_keeps_the_longer_plateau():
    # Two runs both inside the L3: the longer wins.
    rates = [200, 200, 100, 100, 60, 60, 40, 40, 40, 40, 20, 20]
    sizes = [4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 2 * MIB, 4 * MIB, 8 * MIB, 12 * MIB, 16 * MIB,
             64 * MIB, 128 * MIB]
    l3 = next(p for p in curve_plateaus(curve_of(rates, sizes=sizes), CACHES, 32 * MIB) if p.level == "l3")
    assert (l3.low_bytes, l3.high_bytes, l3.points) == (4 * MIB, 16 * MIB, 4)


def test_naming_by_cache_sizes_per_thread():
    assert level_of(32 * KIB, 1, CACHES, 32 * MIB) == "l1"
    assert level_of(32 * KIB + 1, 1, CACHES, 32 * MIB) == "l2"
    assert level_of(512 * KIB, 1, CACHES, 32 * MIB) == "l2"
    assert level_of(32 * MIB, 1, CACHES, 32 * MIB) == "l3"
    assert level_of(32 * MIB, 2, CACHES, 32 * MIB) == "dram"  # two threads share one L3: 16 MiB each
    assert level_of(16 * MIB, 2, CACHES, 32 * MIB) == "l3"
    assert level_of(MIB, 1, {"l1d": 32 * KIB, "l2": 512 * KIB, "l3": None}, None) == "dram"
    # The all-threads curve is named per thread: 2 x 32 KiB total is still the L1.
    assert levels_of(curve_of(CLEAN, threads=2))["l1"] == (8 * KIB, 64 * KIB)


def sweep(curves) -> CacheSweep:
    return CacheSweep(tuple(curves), {"threads": [1, 2], "top_bytes": 128 * MIB, "seconds": 4.0,
                                      "call_seconds": 0.0015},
                      {"l1": {"cache_read": 64.0, "cache_triad": 96.0},
                       "l2": {"cache_read": 32.0, "cache_triad": 32.0}},
                      {"l1": "ports", "l2": "fill", "l3": "not modelled"})


@pytest.fixture
def swept_profile():
    from hwbench.cpu.smbios import DramTheory

    run = dataclasses.replace(make_measurement(), cache_sweep=sweep([
        curve_of(CLEAN), curve_of([r * 2 for r in CLEAN], threads=2),
        curve_of([r * 3 for r in CLEAN], threads=2, kernel="cache_triad", traffic=4 / 3)]))
    return cpu_profile(run, DramTheory(76.8, "SMBIOS type 17: test"))


def test_builder_writes_cache_levels(swept_profile):
    memory = swept_profile["memory"]
    assert list(memory) == ["l1", "l2", "l3", "dram"]
    assert memory["dram"]["kernel"] == "copy_nt"  # STREAM's, as without a sweep
    l1 = memory["l1"]
    assert l1["kernel"] == "cache_triad" and l1["measured_gbps"] == 600.0 and l1["threads"] == 2
    assert l1["working_set_bytes"] == [8 * KIB, 64 * KIB]
    assert l1["working_set_per_thread_bytes"] == [4 * KIB, 32 * KIB]
    # 2 cores x 2600 MHz x 96 bytes per cycle; the clock is clock.scalar_mhz (3700 MHz: the probe alone, as the
    # cache kernels run no FMA), not the 3750 MHz under FMA load
    assert l1["theoretical_gbps"] == pytest.approx(499.2)
    assert l1["clock_mhz"] == 3700.0 and l1["clock_source"].startswith("clock.scalar_mhz")
    assert l1["bytes_per_cycle_per_core"] == pytest.approx(600 / 3.7 / 2, abs=0.01)  # 600 GB/s / 3.7 GHz / 2
    assert l1["efficiency_at_measured_clock"] == pytest.approx(600 / 3.7 / 2 / 96, abs=1e-4)
    assert "measurement_error" not in l1
    assert memory["l1"]["measured_traffic_gbps"] == pytest.approx(800.0)
    assert memory["l3"]["theoretical_gbps"] is None and memory["l3"]["theoretical_source"] == "not modelled"
    caches = swept_profile["caches"]
    assert caches["sizes"]["l1d"] == 49152
    assert [c["threads"] for c in caches["curves"]] == [1, 2, 2]
    assert len(caches["curves"][0]["best_gbps"]) == 16
    assert {p["level"] for p in caches["plateaus"]} == {"l1", "l2", "l3", "dram"}


def test_profile_with_caches_matches_schema(swept_profile):
    jsonschema.Draft202012Validator(json_schema()).validate(swept_profile)
    bad = {**swept_profile, "caches": {**swept_profile["caches"], "plateaus": [
        {**swept_profile["caches"]["plateaus"][0], "level": "l4"}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(json_schema()).validate(bad)
    bad_memory = {**swept_profile, "memory": {**swept_profile["memory"], "l1": {
        **swept_profile["memory"]["l1"], "working_set_bytes": [1]}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(json_schema()).validate(bad_memory)


def test_no_sweep_no_new_keys(profile_data):
    assert "caches" not in profile_data and set(profile_data["memory"]) == {"dram"}


def test_caches_group_selects_the_sweep():
    assert catalog.groups("cpu")["caches"] == ("cache_read", "cache_copy", "cache_triad")
    assert {k.family for k in catalog.select("cpu", "caches")} == {"caches"}
    assert "cache_read" in [k.name for k in catalog.select("cpu", None)]


# The kernels ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["read", "copy", "triad"])
def test_kernels_compute_their_closed_form(form):
    from hwbench.cpu import caches
    from hwbench.kernels import cpu_cache

    kernel_fn = cpu_cache.cache_kernel(form, 4, 8)
    buffer = caches.huge_aligned_empty(4096)
    n, stride = caches.layout(form, 8 * KIB, 32)
    arrays = caches.arrays_of(buffer, form, n, stride)
    caches.prepare(form, arrays)
    total = kernel_fn(*arrays, caches.SCALAR, 3)
    caches.check(form, [arrays], [total], 3)  # no error
    if form == "read":
        with pytest.raises(MeasurementError):
            caches.check(form, [arrays], [total + 1.0], 3)
    else:
        (arrays[1] if form == "copy" else arrays[0])[5] = -1.0  # one wrong element
        with pytest.raises(MeasurementError):
            caches.check(form, [arrays], [total], 3)


@pytest.mark.slow
def test_small_real_sweep(monkeypatch):
    """A few sizes on this machine: structure and validation only, no speed assertions."""
    from hwbench.cpu import caches
    from hwbench.cpu.session import CpuOptions, measure_families
    from hwbench.profile.levels import cache_levels

    monkeypatch.setattr(caches, "sweep_sizes", lambda smallest, top, threads: [4 * KIB, 8 * KIB, 256 * KIB])
    run = measure_families(CpuOptions(kernels=catalog.select("cpu", "cache_read,cache_triad"), threads=1))
    sweep_run = run.cache_sweep
    assert [(c.kernel, c.threads, len(c.points)) for c in sweep_run.curves] == [("cache_read", 1, 3),
                                                                             ("cache_triad", 1, 3)]
    assert all(best > 0 and median > 0 for c in sweep_run.curves for _, best, median in c.points)
    device = {"caches": run.cpu.caches, "l3_total_bytes": run.cpu.l3_total_bytes, "cores": 1}
    entries, section = cache_levels(sweep_run, device, {"scalar_mhz": 3000.0}, [])
    assert len(section["curves"]) == 2 and set(entries) <= {"l1", "l2", "l3"}


def test_show_prints_the_cache_table_from_the_profile():
    """Every figure of the cache table is the profile's: the Zen 3 run committed in results/."""
    from pathlib import Path

    from rich.console import Console

    from hwbench.profile import Profile
    from hwbench.tools.render import caches_table, print_table

    data = Profile.load(Path(__file__).parent.parent / "results" / "ci-kvm-amd-epyc-zen3-2c.yaml").data
    console = Console(width=150, record=True, color_system=None)
    print_table(caches_table(data), console)
    rows = {line.split()[0]: line.split() for line in console.export_text().splitlines()
            if line.strip().startswith(("l1 ", "l2 ", "l3 ", "dram "))}
    l1 = data["memory"]["l1"]
    one_thread = max(p["best_gbps"] for p in data["caches"]["plateaus"] if p["level"] == "l1" and p["threads"] == 1)
    assert rows["l1"][1:3] == ["32", "KiB"] and rows["l1"][-4:] == [
        f"{l1['measured_stream_gbps']:,.1f}", f"{one_thread:,.1f}", f"{l1['bytes_per_cycle_per_core']:.1f}",
        f"{l1['bytes_per_cycle_per_core_theoretical']:.1f}"]
    assert rows["dram"][2:4] == ["(STREAM", "arrays)"] and rows["l3"][-1] == "-"  # no paper L3 figure
