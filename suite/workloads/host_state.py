"""The host's state beside each CPU program of ``hwbench validate``: the profile's DRAM roof kernels timed again.

On a shared host the DRAM bandwidth a guest gets moves with the other guests' traffic: on the 2-vCPU Zen 5 KVM
guest the STREAM copy kernel read 20-60 GB/s within one 45-second profile run, and NumPy's ``np.add`` had a
median of 37 GB/s in one minute and 50-56 GB/s five minutes later (``scripts/dram_states.py``, results/dram-states/).
A profile is one snapshot of that state; a program timed minutes later meets another. So before each program,
``HostState.sample`` times the STREAM kernels the profile's DRAM roofs come from (copy, scale, add, triad, dot:
``kernels/cpu_stream.py``, the same code), in ``ROUNDS`` interleaved rounds as the profile's STREAM passes are
(each kernel warmed up by one untimed call, then ``CALLS`` timed calls), on the program's threads and over arrays
of the programs' size (at least 4x the last-level cache). ``hwbench.tools.validate`` divides each median by
the profile's median of the same kernel: the host's state while the program ran, relative to the profile's, which
separates the roofline's error from the host's drift. It never enters the verdict, which reads the profile alone.

Counting: STREAM's bytes per element (copy 16, scale 16, add 24, triad 24, dot 16), as the profile's ``kernels[]``
medians; only ratios of the two are used. Every round starts from STREAM's initial values and is checked against
the scalar replay (BabelStream's check_solution): a wrong result raises ``MeasurementError``.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from ..catalog import STREAM_FORMS
from ..check import STREAM_INITIAL, STREAM_SCALAR, check_close, replay_stream
from ..errors import MeasurementError
from ..kernels import cpu_stream

ROUNDS = 3  # interleaved rounds per program; each round: every kernel once untimed, then CALLS timed calls
CALLS = 2  # 6 samples per kernel and program: about 0.7 s at 128 MiB arrays on the Zen 5 guest
FORMS = tuple(STREAM_FORMS)  # copy, scale, add, triad, dot: the profile's DRAM roof kernels with normal stores


class HostState:
    """Three STREAM arrays of ``elements`` float64, first-touched by the threads that time them."""

    def __init__(self, elements: int, pool: ThreadPoolExecutor, threads: int) -> None:
        granule = 8 * threads  # every thread's slice starts on a 64-byte boundary
        self.n = max(granule, elements // granule * granule)
        self.pool = pool
        size = self.n // threads
        self.bounds = [(i * size, (i + 1) * size) for i in range(threads)]
        self.arrays = {name: cpu_stream.aligned_empty(self.n) for name in STREAM_INITIAL}
        self._fill()

    def _fill(self) -> None:
        for name, value in STREAM_INITIAL.items():
            list(self.pool.map(lambda bound, array=self.arrays[name], value=value:
                               cpu_stream.fill(array, value, *bound), self.bounds))

    def _call(self, form: str) -> tuple[float, float]:
        """(seconds, dot's sum) of one call of ``form`` over the arrays, every thread on its slice."""
        kernel = partial(cpu_stream.TEMPORAL_KERNELS[form], self.arrays["a"], self.arrays["b"], self.arrays["c"],
                         STREAM_SCALAR)
        started = time.perf_counter()
        sums = list(self.pool.map(lambda bound: kernel(*bound), self.bounds))
        return time.perf_counter() - started, float(sum(sums))

    def sample(self) -> dict[str, float]:
        """Each kernel's median GB/s (STREAM counting) over ``ROUNDS`` interleaved rounds, checked."""
        rates: dict[str, list[float]] = {form: [] for form in FORMS}
        for _ in range(ROUNDS):
            self._fill()  # untimed: every round replays from the initial values
            state = dict(STREAM_INITIAL)
            for form in FORMS:
                reads, writes, _ = STREAM_FORMS[form]
                self._call(form)  # warm-up: no kernel reads what it writes, so every call gives one result
                for _ in range(CALLS):
                    seconds, total = self._call(form)
                    rates[form].append((reads + writes) * 8 * self.n / seconds / 1e9)
                self._check(form, state, total)
        return {form: round(statistics.median(values), 3) for form, values in rates.items()}

    def _check(self, form: str, state: dict[str, float], total: float) -> None:
        if form == "dot":
            check_close("host state dot", [total], self.n * state["a"] * state["b"], 1e-9)
            return
        target, value = replay_stream(form, state)
        if not cpu_stream.max_deviation(self.arrays[target], value) <= 1e-12 * abs(value):
            raise MeasurementError(f"host state {form} output check failed: array {target} is not {value} "
                                   "everywhere; no figure is reported")

