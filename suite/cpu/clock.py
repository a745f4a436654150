"""The CPU clock probe's primitives: dependent integer chains timed by the time-stamp counter, and the check
that decides whether their clock can be believed.

A chain of dependent 1-cycle adds retires one add per cycle, so ``adds / seconds`` is the core clock; a chain
of dependent 3-cycle multiplies (2 on Neoverse) gives it a second time. If the two disagree by more than
``CROSS_CHECK_TOLERANCE`` (a core folded or fused one chain), or the clock is beyond any shipping core, the
probe has failed: the profile then gives no clock, no FLOP per cycle and no theory at the measured clock.
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
CROSS_CHECK_TOLERANCE = 0.05  # the add and multiply chains must agree within 5%
MAX_PLAUSIBLE_MHZ = 6500.0  # above any shipping core's boost clock (2026: about 6.2 GHz)
MAX_OVER_NOMINAL = 1.6  # no boost clock is this far above the nominal one
FMA_BLOCK_SECONDS = 200e-6  # FMA work between two probes: the cores spend ~95% of the time in FMA
ROUND_SECONDS = 210e-6  # one FMA block and one probe


@dataclass(frozen=True)
class ClockResult:
    method: str
    tsc_mhz: float
    scalar_mhz: float | None  # add chain alone on every selected core
    under_load_mhz: dict[str, float]  # precision -> clock while the FMA kernel runs on every core
    cross_check_mhz: dict[str, float] | None = None  # "scalar" and precision -> the multiply chain's clock
    failure: str | None = None  # why the probe cannot be believed; None when both chains agree
    # precision -> GFLOP/s of the FMA blocks of the probed run itself: the rate measured with the clock above,
    # in the same call on the same cores (FLOP per cycle divides this pair, never figures from two moments).
    under_load_gflops: dict[str, float] | None = None
    # precision -> the probed runs behind under_load_*, first to last (the FMA family measures again when a
    # probed run and its ceiling's headline disagree; stability.py)
    probed: dict[str, tuple[ProbedRun, ...]] | None = None
    # precision -> the noise of under_load_mhz: the spread of the clocks of every call of its probed runs
    under_load_noise: dict[str, float] | None = None

    @property
    def trusted_under_load(self) -> dict[str, float]:
        """The clocks under load that FLOP per cycle may be computed from: none when the probe failed."""
        return {} if self.failure else self.under_load_mhz


def probe_problem(state: str, add_mhz: float, mul_mhz: float, nominal_mhz: float | None) -> str | None:
    """Why a probe's clock cannot be believed, or None. ``state``: where it ran ("alone", "under fp64")."""
    if abs(add_mhz - mul_mhz) > CROSS_CHECK_TOLERANCE * mul_mhz:
        return (f"{state}, the add chain gives {add_mhz:.0f} MHz and the multiply chain {mul_mhz:.0f} MHz, more "
                f"than {CROSS_CHECK_TOLERANCE:.0%} apart: this core folds or fuses one of the chains")
    top = max(add_mhz, mul_mhz)
    if top > MAX_PLAUSIBLE_MHZ:
        return f"{state}, the chains give {top:.0f} MHz, above any shipping core ({MAX_PLAUSIBLE_MHZ:.0f} MHz)"
    if nominal_mhz and top > MAX_OVER_NOMINAL * nominal_mhz:
        return (f"{state}, the chains give {top:.0f} MHz, over {MAX_OVER_NOMINAL}x the nominal {nominal_mhz:.0f} "
                "MHz")
    return None


@dataclass(frozen=True)
class ProbedRun:
    """One call of the FMA kernel with the interleaved clock probe (see ``fma_with_clock_probe``)."""

    seconds: float  # whole call, probes included
    clock_mhz: float  # add chain, median over threads
    probe_seconds: float  # time in the probes, mean over threads
    flops: int
    mul_clock_mhz: float  # multiply chain, median over threads (the cross-check)
    on_cpu: float = 1.0  # the lowest over threads of CPU time / wall time (contention.on_cpu)
    call_clocks: tuple[float, ...] = ()  # the clock of each call of a probed run (fma.probed_run)

    @property
    def gflops(self) -> float:
        """The rate of the FMA blocks alone: the probes' time (about 5%) is subtracted."""
        return self.flops / (self.seconds - self.probe_seconds) / 1e9


def calibrate_timestamp_hz(seconds: float = 0.05) -> float:
    """Ticks per second of the time-stamp counter, against the OS monotonic clock."""
    cpu_fma.timestamp_now()
    t0, p0 = cpu_fma.timestamp_now(), time.perf_counter()
    time.sleep(seconds)
    t1, p1 = cpu_fma.timestamp_now(), time.perf_counter()
    return (t1 - t0) / (p1 - p0)


@dataclass(frozen=True)
class ChainTicks:
    """One thread's probe rounds of one chain: steps per round, the steps that ran right, ticks per round."""

    steps_per_round: int
    steps_done: int
    ticks: np.ndarray  # one entry per round


def new_ticks(rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-round tick buffers (add chain, multiply chain) for one thread's probe kernel."""
    return np.zeros(rounds, dtype=np.int64), np.zeros(rounds, dtype=np.int64)


def median_clock_mhz(threads: Sequence[ChainTicks], tsc_hz: float, latency: int = 1) -> float:
    """Median over threads of each thread's median over rounds of steps x latency / (ticks / tsc_hz).

    The median over rounds drops the rounds in which the thread was descheduled (they take longer, never
    shorter); on a shared machine one preemption in a 10 us chain would otherwise pull the clock down."""
    clocks = []
    for chain in threads:
        expected = chain.steps_per_round * len(chain.ticks)
        if chain.steps_done != expected:
            raise MeasurementError(f"clock probe ran {chain.steps_done} chain steps correctly, expected {expected}")
        per_round = chain.steps_per_round * latency / (chain.ticks / tsc_hz) / 1e6
        clocks.append(float(np.median(per_round)))
    return float(np.median(clocks))
