"""hwbench's kernels as plain callables, for pytest-benchmark (or any other timer) in a project's own CI.

    from hwbench.benchmarking import cpu_workload

    def test_triad(benchmark):
        with cpu_workload("triad") as work:
            benchmark.pedantic(work, rounds=20, warmup_rounds=2)
            work.validate()  # a wrong result fails the test instead of giving a number
            benchmark.extra_info.update(work.info(benchmark.stats.stats.min))

Each call of a workload runs its kernel once on every pinned thread (the same code, pinning and first-touch
as ``hwbench run``); ``work_per_call`` is the bytes (STREAM convention) or FLOPs of one call. Time is
pytest-benchmark's, so ``--benchmark-compare-fail=min:5%`` fails the run when the fastest call got 5%
slower than the saved baseline.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .cpu.session import FMA_KERNELS, CpuRunner, CpuRunOptions, array_elements, validate_stream
from .errors import UsageError
from .kernels import cpu_fma
from .catalog import BANDWIDTH_SPECS, work_rate
from .validation import STREAM_INITIAL, check_close
from .cpu.workers import PinnedPool


class CpuWorkload:
    """One kernel, set up and ready to call: ``with cpu_workload(name) as work: work()``."""

    def __init__(self, kernel: str, threads: int | None = None, cpus: str | None = None,
                 array_bytes: int | None = None, fma_seconds: float = 0.02):
        if kernel not in BANDWIDTH_SPECS and kernel not in FMA_KERNELS:
            raise UsageError(f"unknown kernel {kernel!r}; choose from {', '.join([*BANDWIDTH_SPECS, *FMA_KERNELS])}")
        self.kernel = kernel
        self.runner = CpuRunner(CpuRunOptions(kernels=(kernel,), threads=threads, cpus=cpus,
                                              array_bytes=array_bytes))
        self.array_bytes = array_bytes
        self.fma_seconds = fma_seconds
        self.pool: PinnedPool | None = None
        self._last: list = []

    def __enter__(self) -> CpuWorkload:
        self.pool = PinnedPool(self.runner.cpus)
        try:
            if self.kernel in BANDWIDTH_SPECS:
                self._set_up_bandwidth()
            else:
                self._set_up_fma()
        except BaseException:
            self.pool.close()
            raise
        return self

    def _set_up_bandwidth(self) -> None:
        n, _ = array_elements(self.runner.cpu, len(self.runner.cpus), self.array_bytes)
        self.arrays = self.runner.allocate_arrays(self.pool, n)
        spec, self.form, self.tasks = self.runner.stream_tasks(self.kernel, self.arrays)
        self.unit = "GB/s"
        self.work_per_call = spec.bytes_stream * n
        self.pool.run(self.tasks)  # compile outside any timing

    def _set_up_fma(self) -> None:
        precision = self.kernel.split("_")[1]
        lanes, chains = self.runner.fma_shape(precision)
        kernel = cpu_fma.fma_kernel(precision, lanes, chains)
        dtype = cpu_fma.dtype_of(precision)
        args = (dtype(cpu_fma.FMA_A), dtype(cpu_fma.FMA_B), dtype(1.0))
        iterations = self.runner.calibrate_iterations(self.pool, kernel, args, self.fma_seconds)
        self.tasks = [partial(kernel, iterations, *args) for _ in self.runner.cpus]
        self.expected = cpu_fma.expected_checksum(iterations, 1.0, lanes, chains)
        self.tolerance = 1e-4 if precision == "fp32" else 1e-9
        self.unit = "GFLOP/s"
        self.work_per_call = cpu_fma.flops_per_iteration(lanes, chains) * iterations * len(self.runner.cpus)

    def __call__(self) -> None:
        _, self._last = self.pool.run(self.tasks)

    def validate(self) -> None:
        """Raise ``MeasurementError`` unless the last call computed the right result."""
        if not self._last:
            raise RuntimeError("validate() before the workload was called")
        if self.kernel in FMA_KERNELS:
            check_close(self.kernel, self._last, self.expected, self.tolerance)
        else:
            # Every call of one STREAM kernel leaves the arrays as one call does: replay it once.
            validate_stream(self.form, self.arrays, dict(STREAM_INITIAL), float(np.sum(self._last)),
                            self.arrays["a"].size)

    def rate(self, seconds: float) -> float:
        """GB/s or GFLOP/s of one call that took ``seconds``."""
        return work_rate(self.work_per_call, seconds)

    def info(self, seconds: float | None = None) -> dict:
        """What to record next to the timing (pytest-benchmark's ``extra_info``)."""
        info = {"kernel": self.kernel, "unit": self.unit, "work_per_call": self.work_per_call,
                "threads": len(self.runner.cpus), "cpus": self.runner.cpus}
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
