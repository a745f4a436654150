"""The host's state beside each CPU program of ``hwbench validate``: the profile's DRAM roof kernels timed again.

On a shared host the DRAM bandwidth a guest gets moves with the other guests' traffic: on the 2-vCPU Zen 5 KVM
guest the STREAM ``dot`` kernel's median was 44.8 GB/s in one profile and 66.7 in one made four hours later, and
within that later profile its samples ran at 68-73 GB/s for some stretches and 39-43 for others. A profile is one
snapshot of that state; a program timed minutes later meets another. So before each program,
``HostState.sample`` times the STREAM kernels the profile's DRAM roofs come from (copy, scale, add, triad, dot:
``kernels/cpu_stream.py``, the same code) in ``ROUNDS`` interleaved rounds, as the profile's STREAM passes are
(each kernel warmed up by one untimed call, then ``CALLS`` timed calls), on the program's threads and over arrays
of the programs' vector length (``CpuPlan.vector_elements``: 4x the last-level cache, 2x with ``--quick``).
``hwbench.tools.validate`` divides each median by the profile's median of the same kernel: the host's state
while the program ran, relative to the profile's, which separates the roofline's error from the host's drift. It
never enters the verdict, which reads the profile alone.

Timed as the programs are, not as the profile's kernels: a call is timed around the thread pool's dispatch of
one slice per thread (``ThreadPoolExecutor``, threads not pinned; under 1% of a call at DRAM size), where the
profile's pinned workers time from the earliest start to the latest end.

Counting: STREAM's bytes per element (copy 16, scale 16, add 24, triad 24, dot 16), as the profile's ``kernels[]``
medians; only ratios of the two are used. Every round starts from STREAM's initial values and each kernel is
checked against the scalar replay (BabelStream's check_solution): a wrong result raises ``MeasurementError``.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np

from ..catalog import STREAM_FORMS
from ..check import STREAM_INITIAL, STREAM_SCALAR, check_stream
from ..kernels import cpu_stream

ROUNDS = 3  # interleaved rounds per program; in each, every kernel once untimed, then CALLS timed calls
CALLS = 2  # 6 samples per kernel and program: about 0.7 s at 128 MiB arrays on the Zen 5 guest
FORMS = tuple(STREAM_FORMS)  # copy, scale, add, triad, dot: the profile's DRAM roof kernels with normal stores


def bytes_per_element(form: str) -> int:
    """STREAM's count: every float64 element the kernel reads and writes, once (no write-allocate)."""
    reads, writes, _ = STREAM_FORMS[form]
    return (reads + writes) * 8


def _fill_slice(array: np.ndarray, value: float, bound: tuple[int, int]) -> None:
    cpu_stream.fill(array, value, *bound)


class HostState:
    """Three STREAM arrays of about ``elements`` float64 (a multiple of 8 x ``threads``: every thread's slice starts
    on a 64-byte boundary), filled by the pool that times the kernels on them."""

    def __init__(self, elements: int, pool: ThreadPoolExecutor, threads: int) -> None:
        granule = 8 * threads
        self.n = max(granule, elements // granule * granule)
        self.pool: ThreadPoolExecutor = pool
        self.bounds = cpu_stream.chunks(self.n, threads)
        self.arrays = {name: cpu_stream.aligned_empty(self.n) for name in STREAM_INITIAL}
        self._fill()

    def _fill(self) -> None:
        for name, value in STREAM_INITIAL.items():  # map() runs to the end inside each iteration
            list(self.pool.map(partial(_fill_slice, self.arrays[name], value), self.bounds))

    def _call(self, form: str) -> tuple[float, float]:
        """(seconds, dot's sum; 0 for the others) of one call of ``form``, every thread on its slice."""
        kernel = cpu_stream.TEMPORAL_KERNELS[form]
        a, b, c = self.arrays["a"], self.arrays["b"], self.arrays["c"]
        started = time.perf_counter()
        sums = list(self.pool.map(lambda bound: kernel(a, b, c, STREAM_SCALAR, *bound), self.bounds))
        return time.perf_counter() - started, float(sum(sums))

    def sample(self) -> dict[str, float]:
        """Each kernel's median GB/s (STREAM counting) over ``ROUNDS`` interleaved rounds, every kernel checked."""
        rates: dict[str, list[float]] = {form: [] for form in FORMS}
        for _ in range(ROUNDS):
            self._fill()  # untimed: every round replays from the initial values
            state = dict(STREAM_INITIAL)
            for form in FORMS:
                self._call(form)  # warm-up: no kernel reads what it writes, so every call gives one result
                for _ in range(CALLS):
                    seconds, total = self._call(form)
                    rates[form].append(bytes_per_element(form) * self.n / seconds / 1e9)
                check_stream(form, self.arrays, state, total, self.n, cpu_stream.max_deviation)
        return {form: round(statistics.median(values), 3) for form, values in rates.items()}
