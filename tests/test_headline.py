"""Honest headlines: a ceiling is a confirmed best that one lucky sample cannot make, the
builder uses it, and a sustained timeline is compared with the run's own ceiling of the same kernel."""

from __future__ import annotations

import dataclasses

import jsonschema
import pytest

from conftest import cpu_profile, make_measurement
from hwbench.cpu.smbios import DramTheory
from hwbench.profile import json_schema
from hwbench.profile.sustained import RunCeiling, below_ceiling_warnings, sustained_section
from hwbench.stats import CEILING_RULE, RateSummary, Timeline, ceiling_rank, confirmed_best

DRAM = DramTheory(76.8, "SMBIOS type 17: test")


# The rule ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count, rank", [(1, 1), (2, 2), (3, 2), (10, 2), (20, 2), (21, 3), (100, 10), (222, 23)])
def test_ceiling_rank_is_ten_percent_and_at_least_two(count, rank):
    assert ceiling_rank(count) == rank


def test_one_lucky_sample_cannot_raise_the_headline():
    steady = [60.0, 61.0, 62.0, 61.5, 60.5, 62.2, 61.8, 60.2, 61.1, 62.1] * 2  # 20 samples, best 62.2
    lucky = [*steady[:-1], 125.0]  # one sample at twice the rate (116.7 GB/s one run, 60.1 the next)
    assert RateSummary(tuple(lucky)).best == 125.0
    assert RateSummary(tuple(lucky)).ceiling == 62.2  # the second witness decides
    assert RateSummary(tuple(steady)).ceiling == 62.2


def test_a_clean_run_keeps_its_best():
    clean = RateSummary((239.6, 240.0, 239.9, 239.8, 239.7, 239.9, 239.5, 239.8, 239.9, 239.7))
    assert clean.ceiling == pytest.approx(clean.best, rel=0.001)
    assert RateSummary((42.0,)).ceiling == 42.0  # one sample is its own ceiling
    assert confirmed_best([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError):
        confirmed_best([])


def test_many_lucky_samples_are_a_ceiling():
    """At least K samples reaching a rate confirm it: 10% of the samples at the top is not luck."""
    samples = [50.0] * 18 + [70.0] * 2
    assert RateSummary(tuple(samples)).ceiling == 70.0


# The builder --------------------------------------------------------------------------------------------


def lucky(run, name: str, samples: tuple[float, ...]):
    return dataclasses.replace(run, results=[dataclasses.replace(r, summary=RateSummary(samples))
                                             if r.name == name else r for r in run.results])


def test_the_builder_uses_the_confirmed_best_and_keeps_the_best():
    run = lucky(make_measurement(), "fma_fp64", (230.0, 240.0, 235.0, 240.0, 300.0))  # one lucky 300
    data = cpu_profile(run, DRAM)
    fp64 = data["compute"]["fp64"]
    assert fp64["measured_gflops"] == 240.0 and fp64["flop_per_cycle"] == pytest.approx(32.0)
    kernel = next(k for k in data["kernels"] if k["name"] == "fma_fp64")
    assert (kernel["ceiling"], kernel["best"]) == (240.0, 300.0)
    assert data["headline_rule"] == CEILING_RULE
    jsonschema.Draft202012Validator(json_schema()).validate(data)


def test_a_lucky_bandwidth_sample_does_not_pick_the_dram_ceiling():
    """Issue 11: scale's single best sample x 1.5 became the DRAM ceiling. Here triad's lucky 50 GB/s (66.7
    GB/s traffic) would have beaten copy_nt's 52; its confirmed best (36 x 32/24 = 48) does not."""
    run = lucky(make_measurement(), "triad", (35.0, 36.0, 35.5, 36.0, 50.0))
    dram = cpu_profile(run, DRAM)["memory"]["dram"]
    assert dram["kernel"] == "copy_nt" and dram["measured_gbps"] == 52.0
    assert dram["stream_kernel"] == "copy_nt" and dram["measured_stream_gbps"] == 52.0


# Sustained vs the run's own ceiling ----------------------------------------------------------------------


def fp64_timeline(rates, clock: float | None) -> Timeline:
    line = Timeline("fma_fp64", "GFLOP/s")
    for i, rate in enumerate(rates):
        line.add(float(i), rate, clock)
    return line


def test_a_timeline_far_below_the_ceiling_at_the_same_clock_warns():
    """Issue 11: a fp64 timeline ran at ~121 GFLOP/s for its whole length while the profile's ceiling was
    241.9 at the same clock, and nothing said so (burst and sustained agreed, so no drop warning)."""
    rates = [121.0, 120.5, 121.3, 120.8, 121.1] * 4
    ceiling = RunCeiling(241.9, 0.004, 3450.0, "compute.fp64.measured_gflops")
    section = sustained_section([fp64_timeline(rates, 3448.0)], 20.0, 1.0, "test", {"fma_fp64": ceiling})
    entry = section["kernels"]["fma_fp64"]
    assert entry["ceiling"] == 241.9 and entry["ceiling_key"] == "compute.fp64.measured_gflops"
    assert entry["of_ceiling"] == pytest.approx(121.0 / 241.9, abs=1e-3)
    (warning,) = below_ceiling_warnings(section)
    assert "121.0 GFLOP/s sustained is 50% below this run's own ceiling of it, 241.9 GFLOP/s" in warning
    assert "the same clock, so not throttling" in warning


def test_a_timeline_below_the_ceiling_at_a_lower_clock_is_throttling():
    ceiling = RunCeiling(240.0, 0.0, 3700.0, "compute.fp64.measured_gflops")
    section = sustained_section([fp64_timeline([200.0] * 20, 3100.0)], 20.0, 1.0, "test", {"fma_fp64": ceiling})
    (warning,) = below_ceiling_warnings(section)
    assert "clock 3700 MHz for the ceiling, 3100 MHz sustained: the clock dropped, throttling" in warning


def test_a_gap_inside_the_noise_or_the_threshold_does_not_warn():
    noisy = RunCeiling(240.0, 0.08, None, "compute.fp64.measured_gflops")  # the ceiling's samples spread 8%
    section = sustained_section([fp64_timeline([223.0] * 20, None)], 20.0, 1.0, "test", {"fma_fp64": noisy})
    assert below_ceiling_warnings(section) == []  # 7% gap, inside hypot(0, 8%)
    tight = RunCeiling(240.0, 0.0, None, "compute.fp64.measured_gflops")
    section = sustained_section([fp64_timeline([232.0] * 20, None)], 20.0, 1.0, "test", {"fma_fp64": tight})
    assert below_ceiling_warnings(section) == []  # 3% gap, under the 5% threshold
    section = sustained_section([fp64_timeline([200.0] * 20, None)], 20.0, 1.0, "test", {"fma_fp64": tight})
    (warning,) = below_ceiling_warnings(section)
    assert "no clock to tell throttling from other work" in warning


def test_the_profile_compares_its_timelines_with_its_own_ceilings():
    from conftest import TEST_HOST
    from hwbench.cpu.session import to_record
    from hwbench.profile.build import build_profile

    fma = fp64_timeline([120.0] * 20, 3750.0)
    triad = Timeline("triad", "GB/s")
    for i in range(20):
        triad.add(float(i), 35.8)
    run = dataclasses.replace(make_measurement(), sustained=(fma, triad), sustain_seconds=20.0,
                              sustain_interval=1.0)
    data = build_profile(to_record(run, DRAM), TEST_HOST)
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    kernels = data["sustained"]["kernels"]
    assert kernels["fma_fp64"]["ceiling"] == data["compute"]["fp64"]["measured_gflops"] == 240.0
    assert kernels["fma_fp64"]["ceiling_clock_mhz"] == 3750.0 and kernels["fma_fp64"]["of_ceiling"] == 0.5
    # triad's own ceiling in the STREAM convention the timeline counts (memory.dram is copy_nt's)
    assert kernels["triad"]["ceiling"] == 36.0 and kernels["triad"]["ceiling_key"] == "kernels[triad].ceiling"
    assert "burst is the start of the timeline, not the ceiling" in data["sustained"]["definitions"]
    warnings = [w for w in data["warnings"] if w.startswith("sustained fma_fp64")]
    assert len(warnings) == 1 and "240.0 GFLOP/s (compute.fp64.measured_gflops)" in warnings[0]
    assert not any(w.startswith("sustained triad") for w in data["warnings"])  # 0.6% below, inside the noise
