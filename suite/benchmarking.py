"""hwbench's kernels as plain callables, for pytest-benchmark (or any other timer) in a project's own CI.

    from hwbench.benchmarking import cpu_workload

    def test_triad(benchmark):
        with cpu_workload("triad") as work:
            benchmark.pedantic(work, rounds=20, warmup_rounds=2)
            work.check()  # a wrong result fails the test instead of giving a number
            # benchmark.stats is None under --benchmark-disable
            benchmark.extra_info.update(work.info(benchmark.stats.stats.min if benchmark.stats else None))

Each call of a workload runs its kernel once on every pinned thread (the same code, set-up
(``cpu.session.set_up``), pinning and first-touch as ``hwbench run``); ``work_per_call`` is the bytes (STREAM
convention) or FLOPs of one call. Time is pytest-benchmark's, so ``--benchmark-compare-fail=min:5%`` fails the
run when the fastest call got 5% slower than the saved baseline.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from . import catalog
from .check import STREAM_INITIAL, check_close
from .cpu import fma, stream
from .cpu.family import CpuContext, CpuOptions
from .cpu.session import set_up
from .cpu.workers import PinnedPool
from .errors import UsageError
from .kernels import cpu_fma
from .stats import RepetitionPolicy, work_rate

WORKLOAD_FAMILIES = ("stream", "fma")


class CpuWorkload:
    """One kernel, set up and ready to call: ``with cpu_workload(name) as work: work()``."""

    def __init__(self, kernel: str, threads: int | None = None, cpus: str | None = None,
                 array_bytes: int | None = None, fma_seconds: float = 0.02):
        # The sweep kernels (family "caches") are curves over many working sets, not one callable.
        names = [k.name for k in catalog.kernels("cpu") if k.family in WORKLOAD_FAMILIES]
        if kernel not in names:
            raise UsageError(f"unknown kernel {kernel!r}; choose from {', '.join(names)}")
        self.kernel = catalog.kernel("cpu", kernel)
        self.options = CpuOptions(kernels=(self.kernel,), threads=threads, cpus=cpus, array_bytes=array_bytes)
        self.cpu, self.core, _, self.cpus = set_up(self.options)  # the CPU session's own set-up
        self.fma_seconds = fma_seconds
        self.pool: PinnedPool | None = None
        self._last: list = []

    def __enter__(self) -> CpuWorkload:
        self.pool = PinnedPool(self.cpus)
        try:
            context = CpuContext(self.options, RepetitionPolicy(), self.cpu, self.core, self.cpus, self.pool,
                                 lambda label: None)
            if self.kernel.family == "stream":
                self._set_up_bandwidth(context)
            else:
                self._set_up_fma(context)
        except BaseException:
            self.pool.close()
            raise
        return self

    def _set_up_bandwidth(self, context: CpuContext) -> None:
        n, _ = stream.array_elements(self.cpu, len(self.cpus), self.options.array_bytes)
        self.arrays = stream.allocate_arrays(context.pool, n)
        self.tasks = stream.stream_tasks(self.kernel, self.arrays, len(self.cpus), self.core.simd_bits)
        self.unit = "GB/s"
        self.work_per_call = self.kernel.bytes_stream * n
        context.pool.run(self.tasks)  # compile outside any timing

    def _set_up_fma(self, context: CpuContext) -> None:
        lanes, chains = fma.fma_shape(context, self.kernel)
        kernel_fn = cpu_fma.fma_kernel(self.kernel.precision, lanes, chains)
        args = fma.fma_arguments(self.kernel)
        iterations = fma.calibrate_iterations(context, kernel_fn, args, self.fma_seconds)
        self.tasks = [partial(kernel_fn, iterations, *args) for _ in self.cpus]
        self.expected = cpu_fma.expected_checksum(iterations, 1.0, lanes, chains)
        self.tolerance = fma.fma_tolerance(self.kernel)
        self.unit = "GFLOP/s"
        self.work_per_call = cpu_fma.flops_per_iteration(lanes, chains) * iterations * len(self.cpus)

    def __call__(self) -> None:
        if self.pool is None:
            raise RuntimeError("call a workload inside its `with` block: outside it, its worker threads are closed")
        _, self._last = self.pool.run(self.tasks)

    def check(self) -> None:
        """Raise ``MeasurementError`` unless the last call computed the right result."""
        if not self._last:
            raise RuntimeError("check() before the workload was called")
        if self.kernel.family == "fma":
            check_close(self.kernel.name, self._last, self.expected, self.tolerance)
        else:
            # Every call of one STREAM kernel leaves the arrays as one call does: replay it once.
            stream.check_stream(self.kernel.form, self.arrays, dict(STREAM_INITIAL), float(np.sum(self._last)),
                                   self.arrays["a"].size)

    def rate(self, seconds: float) -> float:
        """GB/s or GFLOP/s of one call that took ``seconds``."""
        return work_rate(self.work_per_call, seconds)

    def info(self, seconds: float | None = None) -> dict:
        """What to record next to the timing (pytest-benchmark's ``extra_info``)."""
        info = {"kernel": self.kernel.name, "unit": self.unit, "work_per_call": self.work_per_call,
                "threads": len(self.cpus), "cpus": self.cpus}
        if seconds:
            info[self.unit] = round(self.rate(seconds), 3)
        return info

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        self.arrays = {}


def cpu_workload(kernel: str, threads: int | None = None, cpus: str | None = None, array_bytes: int | None = None,
                 fma_seconds: float = 0.02) -> CpuWorkload:
    """A CPU kernel ready to time: bandwidth kernels (copy ... triad_nt, dot) on STREAM arrays of
    ``array_bytes`` each (default: 4x the last-level cache), FMA kernels sized to ``fma_seconds`` a call."""
    return CpuWorkload(kernel, threads, cpus, array_bytes, fma_seconds)
