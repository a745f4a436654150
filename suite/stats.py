"""Repetition policy and the statistics of repeated measurements.

Policy (likwid-bench and hyperfine): warm up, then repeat until there are at least ``min_repetitions``
samples *and* ``min_seconds`` of measured time, capped at ``max_repetitions``. Every sample is kept;
best, median, min, max and the coefficient of variation are derived from them.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .specs import work_rate

HIGH_SPREAD_CV = 0.05  # pyperf warns at a standard deviation above 10% of the mean; ceilings need tighter


@dataclass(frozen=True)
class RepetitionPolicy:
    warmups: int = 2
    min_repetitions: int = 10
    min_seconds: float = 1.0
    max_repetitions: int = 1000

    def as_dict(self) -> dict:
        return {"warmups": self.warmups, "min_repetitions": self.min_repetitions, "min_seconds": self.min_seconds,
                "max_repetitions": self.max_repetitions}

    @classmethod
    def for_mode(cls, quick: bool) -> RepetitionPolicy:
        return cls(warmups=1, min_repetitions=10, min_seconds=0.1) if quick else cls()


@dataclass(frozen=True)
class RateSummary:
    """Rates (per second, in the kernel's unit) of every repetition, and their summary."""

    samples: tuple[float, ...]

    @property
    def best(self) -> float:
        return max(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    @property
    def cv(self) -> float:
        """Coefficient of variation: sample standard deviation over mean (0 with one sample)."""
        if len(self.samples) < 2:
            return 0.0
        return statistics.stdev(self.samples) / statistics.fmean(self.samples)

    @property
    def repetitions(self) -> int:
        return len(self.samples)


def repeat_timed(run_once: Callable[[], float], policy: RepetitionPolicy) -> list[float]:
    """Call ``run_once`` (which returns the seconds it measured) per ``policy``; return the timed samples.

    Warm-up calls are run and discarded: they absorb JIT compilation, page-table and frequency ramp-up.
    """
    for _ in range(policy.warmups):
        run_once()
    seconds: list[float] = []
    while len(seconds) < policy.max_repetitions and (
        len(seconds) < policy.min_repetitions or sum(seconds) < policy.min_seconds
    ):
        seconds.append(run_once())
    return seconds


def summarize(work: float, seconds: Sequence[float]) -> RateSummary:
    """Rates of ``work`` bytes or FLOPs done in each sample's seconds, in GB/s or GFLOP/s."""
    return RateSummary(tuple(work_rate(work, t) for t in seconds))


def spread_warning(name: str, summary: RateSummary, quick: bool = False,
                   threshold: float = HIGH_SPREAD_CV) -> str | None:
    """A warning with its remedy when the samples of ``name`` spread more than ``threshold``."""
    if summary.cv <= threshold:
        return None
    more = "run without --quick for more repetitions" if quick else "run again when the machine is idle"
    return (
        f"{name}: high spread (cv {summary.cv:.1%} over {summary.repetitions} repetitions); other programs "
        f"or noisy neighbours are competing for the cores or memory: close them, pick idle cores with --cpus, "
        f"or {more}"
    )


@dataclass(frozen=True)
class KernelResult:
    name: str
    precision: str
    level: str
    unit: str
    summary: RateSummary
    working_set_bytes: int
    bytes_stream: int | None  # per repetition, STREAM convention
    bytes_traffic: int | None  # per repetition, with write-allocate reads
    flops: int  # per repetition
    validated: bool
    details: dict = field(default_factory=dict)
