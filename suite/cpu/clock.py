"""The CPU clock probe's primitives: a dependent integer-add chain timed by the time-stamp counter.

A chain of dependent 1-cycle adds retires one add per cycle, so ``adds / seconds`` is the core clock.
Interleaved with FMA blocks on every selected core (``fma.fma_with_clock_probe``), the chain runs while the
core is in the FMA workload's frequency state (AVX-512 licence, power and thermal limits): that clock, and
FLOP per cycle = FLOP/s / (cores x clock), is what explains a ceiling below the paper figure. The
invariant TSC ticks at a fixed rate whatever the core clock; it is calibrated against the OS clock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import MeasurementError
from ..kernels import cpu_fma

CLOCK_PROBE_BLOCKS = 150  # x ADDS_PER_BLOCK = 30k dependent adds per probe: ~10 us, rdtsc overhead under 0.5%
FMA_BLOCK_SECONDS = 200e-6  # FMA work between two probes: the cores spend ~95% of the time in FMA
ROUND_SECONDS = 210e-6  # one FMA block and one probe


@dataclass(frozen=True)
class ClockResult:
    method: str
    tsc_mhz: float
    scalar_mhz: float | None  # add chain alone on every selected core
    under_load_mhz: dict[str, float]  # precision -> clock while the FMA kernel runs on every core


@dataclass(frozen=True)
class ProbedRun:
    """One call of the FMA kernel with the interleaved clock probe (see ``fma_with_clock_probe``)."""

    seconds: float  # whole call, probes included
    clock_mhz: float  # median over threads
    probe_seconds: float  # time in the probes, mean over threads
    flops: int


def calibrate_timestamp_hz(seconds: float = 0.05) -> float:
    """Ticks per second of the time-stamp counter, against the OS monotonic clock."""
    cpu_fma.timestamp_now()
    t0, p0 = cpu_fma.timestamp_now(), time.perf_counter()
    time.sleep(seconds)
    t1, p1 = cpu_fma.timestamp_now(), time.perf_counter()
    return (t1 - t0) / (p1 - p0)


def median_clock_mhz(counts: Sequence[Sequence[int]], tsc_hz: float, expected_adds: int) -> float:
    """Median over threads of adds / (ticks / tsc_hz): each (adds, ticks) pair is one thread's probes."""
    clocks = []
    for adds, ticks in counts:
        if adds != expected_adds:
            raise MeasurementError(f"clock probe ran {adds} adds, expected {expected_adds}")
        clocks.append(adds / (ticks / tsc_hz) / 1e6)
    return float(np.median(clocks))
