"""The clock probe's cross-check, on synthetic probe timings: a folded or impossible clock is a
failed probe, never a clock; a failed probe leaves no FLOP per cycle and no theory at the measured clock."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import cpu_profile, make_measurement
from hwbench.cpu.clock import ChainTicks, ClockResult, median_clock_mhz, probe_problem
from hwbench.cpu.smbios import DramTheory
from hwbench.errors import MeasurementError
from hwbench.kernels import cpu_fma
from hwbench.kernels.cpu_llvm import ADDS_PER_BLOCK, MACHINE

TSC_HZ = 2.1e9


def ticks_for(steps: int, latency: int, mhz: float) -> int:
    """TSC ticks a chain of ``steps`` steps of ``latency`` cycles takes at ``mhz``."""
    return round(steps * latency / (mhz * 1e6) * TSC_HZ)


def rounds(steps: int, latency: int, mhz: float, n: int = 9, preempted: int = 0) -> ChainTicks:
    """``n`` probe rounds of a chain at ``mhz``; ``preempted`` of them each lost 4 ms to another task."""
    ticks = np.full(n, ticks_for(steps, latency, mhz), dtype=np.int64)
    ticks[:preempted] += round(4e-3 * TSC_HZ)
    return ChainTicks(steps, steps * n, ticks)


def test_chains_that_agree_give_their_clock():
    add = median_clock_mhz([rounds(30_000, 1, 2600.0), rounds(30_000, 1, 2620.0)], TSC_HZ)
    mul = median_clock_mhz([rounds(10_000, 3, 2610.0)], TSC_HZ, latency=3)
    assert add == pytest.approx(2610.0, rel=1e-4) and mul == pytest.approx(2610.0, rel=1e-4)
    assert probe_problem("alone", add, mul, nominal_mhz=2100.0) is None


def test_descheduled_rounds_do_not_lower_the_clock():
    # On a shared VM a thread can lose a scheduler tick inside a 10 us chain; the old total-ticks rule then
    # reported a clock far too low (and FLOP per cycle above the hardware's).
    assert median_clock_mhz([rounds(30_000, 1, 2600.0, n=9, preempted=3)], TSC_HZ) == pytest.approx(2600.0, rel=1e-4)


def test_a_folded_add_chain_fails_the_probe():
    # The 16-core Xeon of ../shared/profiles: 'add $1' folded in the renamer read as 11,818 MHz while a
    # register-register chain and an imul chain gave 2.5-2.7 GHz.
    problem = probe_problem("under fma_fp64", 11818.0, 2600.0, nominal_mhz=2100.0)
    assert "more than 5% apart" in problem and "under fma_fp64" in problem


@pytest.mark.parametrize("add, mul, nominal, words", [
    (7000.0, 7010.0, None, "above any shipping core"),
    (3500.0, 3500.0, 2000.0, "over 1.6x the nominal"),
    (2600.0, 2760.0, 2100.0, "more than 5% apart"),
])
def test_impossible_or_disagreeing_clocks_fail(add, mul, nominal, words):
    assert words in probe_problem("alone", add, mul, nominal)


def test_five_percent_apart_is_still_agreement():
    assert probe_problem("alone", 2600.0, 2600.0 / 1.049, 2100.0) is None


def test_a_chain_that_ran_short_is_an_error():
    short = ChainTicks(30_000, 29_800, np.full(1, 10_000, dtype=np.int64))
    with pytest.raises(MeasurementError, match="expected 30000"):
        median_clock_mhz([short], TSC_HZ)


def test_failed_probe_leaves_no_per_cycle_figures():
    run = make_measurement()
    failed = dataclasses.replace(run.clock, failure="alone, the add chain gives 11818 MHz ...")
    assert failed.trusted_under_load == {}
    results = [dataclasses.replace(r, clocks_mhz={}) for r in run.results]  # what the FMA family then records
    data = cpu_profile(dataclasses.replace(run, clock=failed, results=results), DramTheory(76.8, "test"))
    fp64 = data["compute"]["fp64"]
    assert fp64["flop_per_cycle"] is None and fp64["theoretical_at_measured_clock_gflops"] is None
    assert fp64["clock_mhz"] is None and fp64["measured_gflops"] == 240.0  # the ceiling itself stands
    assert data["clock"]["measured_mhz"] is None and data["clock"]["probe_status"].startswith("failed")
    assert data["clock"]["untrusted_mhz"]["fp64"] == 3750.0


def test_clock_result_of_a_good_probe_is_trusted():
    good = ClockResult("m", 2100.0, 2600.0, {"fp64": 2500.0}, {"scalar": 2590.0, "fp64": 2510.0})
    assert good.trusted_under_load == {"fp64": 2500.0}


@pytest.mark.skipif(MACHINE not in ("x86_64", "amd64"), reason="the x86-64 fences: lfence around rdtsc")
def test_every_timestamp_of_the_probe_is_fenced():
    """The probe's time stamps are ordered with the chains they bracket: each ``rdtsc`` of the compiled probe sits
    between two ``lfence`` (kernels/cpu_llvm.py, _FENCED_TIMESTAMP). Unfenced, each stamp was taken while the chain
    before it still ran, and the add chain read 2.65% below the multiply chain on the Zen 5 guest."""
    add_ticks, mul_ticks = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    assert cpu_fma.scalar_clock_kernel(1, 1, add_ticks, mul_ticks) == (ADDS_PER_BLOCK, ADDS_PER_BLOCK)
    assert add_ticks[0] > 0 and mul_ticks[0] > 0
    lines = [line.split()[0] for line in next(iter(cpu_fma.scalar_clock_kernel.inspect_asm().values())).splitlines()
             if line.strip() and not line.strip().startswith((".", "#"))]
    stamps = [i for i, op in enumerate(lines) if op == "rdtsc"]
    assert stamps and all(lines[i - 1] == "lfence" and lines[i + 1] == "lfence" for i in stamps)
