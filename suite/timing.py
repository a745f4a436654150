"""The one timing path of every kernel on every device: warm up, calibrate, sample, check.

A device session hands over three things per kernel:

* ``run(calls) -> Sample``: run ``calls`` back-to-back calls of the kernel and say how long they took (the
  CPU pool times the slowest thread; a GPU records CUDA events around the batch) and, where the device can
  say, the clock read while they ran;
* ``check()``: raise ``MeasurementError`` unless the kernel's output is right (BabelStream's
  ``check_solution``): a wrong result is an error, never a number;
* the work of one call (bytes, FLOPs), from the catalog.

``time_and_check`` applies the repetition policy (likwid-bench, hyperfine: at least ``min_repetitions``
samples *and* ``min_seconds`` of measured time, capped at ``max_repetitions``), keeps every sample, and
returns a ``KernelResult``. Warm-up calls are run and discarded: they absorb JIT compilation, module
loading, page-table and frequency ramp-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .catalog import Kernel
from .stats import KernelResult, RepetitionPolicy, summarize


@dataclass(frozen=True)
class Sample:
    """One timed sample: its seconds and, where the device reads one during the sample, a clock in MHz."""

    seconds: float
    clock_mhz: float | None = None


Run = Callable[[int], Sample]


@dataclass(frozen=True)
class Timing:
    """The timed samples of one kernel, the calls each covered, and the monotonic window they span."""

    samples: tuple[Sample, ...]
    calls_per_sample: int
    started: float  # time.monotonic() before the first timed sample
    ended: float  # and after the last

    @property
    def seconds(self) -> list[float]:
        return [sample.seconds for sample in self.samples]


def time_kernel(run: Run, policy: RepetitionPolicy, sample_seconds: float | None = None) -> Timing:
    """Warm up, size each sample, then sample per ``policy``.

    With ``sample_seconds`` (GPU launches of microseconds), the first call is untimed (module load, library
    heuristics), a second is timed alone, and each sample then covers enough calls for ``sample_seconds``.
    Without it (CPU kernels, sized by their own iteration count or arrays), every sample is one call."""
    calls = 1
    if sample_seconds is not None:
        run(1)
        calls = max(1, round(sample_seconds / max(run(1).seconds, 1e-7)))
    for _ in range(policy.warmups):
        run(calls)
    samples: list[Sample] = []
    measured = 0.0
    started = time.monotonic()
    while len(samples) < policy.max_repetitions and (
        len(samples) < policy.min_repetitions or measured < policy.min_seconds
    ):
        sample = run(calls)
        samples.append(sample)
        measured += sample.seconds
    return Timing(tuple(samples), calls, started, time.monotonic())


def pass_policy(policy: RepetitionPolicy, passes: int, first: bool) -> RepetitionPolicy:
    """One of ``passes`` interleaved passes' share of ``policy``: its repetitions and seconds split evenly, the
    repetition counts rounded up (so the passes together may take up to ``passes - 1`` samples more than the
    policy's cap), the warm-ups in the first pass only."""
    return RepetitionPolicy(warmups=policy.warmups if first else 0,
                            min_repetitions=-(-policy.min_repetitions // passes),
                            min_seconds=policy.min_seconds / passes,
                            max_repetitions=-(-policy.max_repetitions // passes))


def joined(timings: Sequence[Timing]) -> Timing:
    """The samples of several timings of one kernel (its interleaved passes) as one, spanning them all."""
    if not timings or len({t.calls_per_sample for t in timings}) != 1:
        raise ValueError("join timings of the same kernel with the same calls per sample")
    return Timing(tuple(s for t in timings for s in t.samples), timings[0].calls_per_sample, timings[0].started,
                  timings[-1].ended)


@dataclass(frozen=True)
class Work:
    """The work of one call of a kernel, counted as the catalog says."""

    working_set_bytes: int
    bytes_stream: int | None = None  # STREAM convention
    bytes_traffic: int | None = None  # with write-allocate reads
    flops: int = 0

    @classmethod
    def of_stream(cls, kernel: Kernel, elements: int) -> Work:
        """A bandwidth kernel over ``elements`` per array: the catalog's bytes and FLOPs per element."""
        return cls(kernel.bytes_stream * elements, kernel.bytes_stream * elements, kernel.bytes_traffic * elements,
                   kernel.flops_per_element * elements)

    @property
    def rated(self) -> float:
        """What the rate counts: bytes (STREAM convention) for bandwidth kernels, else FLOPs."""
        return self.bytes_stream if self.bytes_stream is not None else self.flops


@dataclass(frozen=True)
class TimedKernel:
    """What ``time_and_check`` returns: the result and the timing behind it (for telemetry windows)."""

    result: KernelResult
    timing: Timing


def time_and_check(kernel: Kernel, run: Run, check: Callable[[], None], work: Work, policy: RepetitionPolicy,
                   details: dict[str, Any] | None = None, sample_seconds: float | None = None,
                   name: str | None = None) -> TimedKernel:
    """Time ``kernel`` per ``policy``, check its output, and return its result (every sample kept)."""
    timing = time_kernel(run, policy, sample_seconds)
    check()
    return timed_result(kernel, timing, work, details, sample_seconds, name)


def timed_result(kernel: Kernel, timing: Timing, work: Work, details: dict[str, Any] | None = None,
                 sample_seconds: float | None = None, name: str | None = None) -> TimedKernel:
    """The result of a checked ``timing`` of ``kernel`` (``time_and_check``'s, or the joined passes of kernels
    timed in interleaved passes, as STREAM's own loop times its four kernels)."""
    summary = summarize(work.rated * timing.calls_per_sample, timing.seconds)
    shown = dict(details or {})
    if sample_seconds is not None:
        shown["launches_per_sample"] = timing.calls_per_sample
    clocks = tuple(s.clock_mhz for s in timing.samples)
    result = KernelResult(
        name=name or kernel.name, precision=kernel.precision, level=kernel.level, unit=kernel.unit, summary=summary,
        working_set_bytes=work.working_set_bytes, bytes_stream=work.bytes_stream, bytes_traffic=work.bytes_traffic,
        flops=work.flops, validated=True, details=shown,
        sample_clocks_mhz=clocks if any(c is not None for c in clocks) else ())
    return TimedKernel(result, timing)
