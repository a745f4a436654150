"""The clock the cores reach now, beside a program: the clock half of ``hwbench validate``'s host state on a CPU.

The profile's ``clock.scalar_mhz`` is the add chain alone on every selected core (``fma.measure_clock``). On a
shared host that clock moves with the other guests' load (a boost clock is a share of the package's power), so a
compute roof measured minutes earlier can be off by the ratio of the two clocks: on the 2-vCPU Zen 5 KVM guest,
NumPy's 2048 x 2048 matmul ran at 124.6 GFLOP/s (median) in a ``validate`` run about 90 s after the profile had
timed the same call at 102.5 (median; series E, ``docs/validation.md``), and in series F the clock probed beside
the programs ran 0.97-1.05x the profile's. ``ClockNow.sample`` runs the same two chains
(``cpu_fma.scalar_clock_kernel``: the add chain, cross-checked by the multiply chain, timed by the time-stamp
counter) on the programs' threads, not pinned as the programs are not, for about ``PROBE_SECONDS``, and applies
the profile's check (``clock.probe_problem``): a clock that cannot be believed is never a figure, only the reason
it was refused. ``hwbench.tools.validate`` scales the compute roof by the ratio of this clock to the profile's; the
verdict never reads it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..kernels import cpu_fma
from ..kernels.cpu_llvm import ADDS_PER_BLOCK, CLOCK_SUPPORTED
from .clock import CLOCK_PROBE_BLOCKS, calibrate_timestamp_hz, new_ticks, probe_problem
from .fma import MUL_BLOCKS, chain_clocks

PROBE_SECONDS = 0.05  # per program: 16 programs add under a second to a validate run
ASSUMED_HZ = 3e9  # sizes the rounds (a slower clock takes longer, a faster one less)


class ClockNow:
    """The add chain alone on ``threads`` threads, ``rounds`` probe rounds of about 20 us each."""

    def __init__(self, threads: int, nominal_mhz: float | None) -> None:
        self.threads = threads
        self.nominal_mhz = nominal_mhz
        # One round: CLOCK_PROBE_BLOCKS x ADDS_PER_BLOCK adds, then a multiply chain of about as many cycles.
        self.rounds = max(1, int(PROBE_SECONDS * ASSUMED_HZ / (2 * CLOCK_PROBE_BLOCKS * ADDS_PER_BLOCK)))
        self.tsc_hz = calibrate_timestamp_hz() if CLOCK_SUPPORTED else None
        if CLOCK_SUPPORTED:
            cpu_fma.scalar_clock_kernel(1, 1, *new_ticks(1))  # compile outside any probe

    def sample(self, pool: ThreadPoolExecutor) -> tuple[float | None, str | None]:
        """(the add chain's MHz now, median over rounds and then over threads; None) or (None, why the clock
        cannot be given: no timestamp intrinsic for this machine, or the profile's check refuses it,
        ``probe_problem``)."""
        if self.tsc_hz is None:
            return None, "no time-stamp counter intrinsic for this machine's architecture (kernels/cpu_llvm.py)"
        buffers = [new_ticks(self.rounds) for _ in range(self.threads)]
        counts = list(pool.map(lambda ticks: cpu_fma.scalar_clock_kernel(CLOCK_PROBE_BLOCKS, MUL_BLOCKS, *ticks),
                               buffers))
        add_mhz, mul_mhz = chain_clocks(counts, buffers, self.tsc_hz)
        problem = probe_problem("beside a program", add_mhz, mul_mhz, self.nominal_mhz)
        return (None, problem) if problem else (round(add_mhz, 1), None)
