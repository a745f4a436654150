"""The statistics of repeated measurements, and the results every device session returns.

Policy (likwid-bench and hyperfine): warm up, then repeat until there are at least ``min_repetitions``
samples *and* ``min_seconds`` of measured time, capped at ``max_repetitions`` (``hwbench.timing`` applies
it). Every sample is kept; best, median, min, max, the coefficient of variation and the spread near the
top are derived from them. ``work_rate`` is the one place a rate is derived from an amount and a time.

The headline of a kernel (``RateSummary.ceiling``, the figure behind ``measured_gflops`` and ``measured_gbps``)
is a *confirmed best*, not the single best sample: the K-th highest sample, K = max(2, ceil(10% of the
samples)), i.e. the highest rate that at least K samples reached. One lucky sample (a timer quirk, a
neighbour that paused for a moment) cannot set it; on a clean run the top samples agree and it is within
their spread of the best. ERT reports a ceiling only when repeated trials agree, and pyperf never reports a
lone best for the same reason; the K-th highest keeps "best of N" for a quiet machine while needing a
second witness on a noisy one (about the 90th percentile for many samples, the second best for few).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

GIGA = 1e9
CEILING_SHARE = 0.10  # the headline is reached by at least this share of the samples...
CEILING_MIN_SAMPLES = 2  # ...and by at least this many (with fewer samples: the lowest of them)
CEILING_RULE = ("confirmed best: the K-th highest sample of the kernel, K = max(2, ceil(10% of its samples)), "
                "i.e. the highest rate at least K samples reached (about the 90th percentile for many samples, "
                "the second best for few), so one lucky sample cannot make the ceiling; kernels[].best keeps the "
                "single best sample")
SPREAD_RULE = "(ceiling - median) / ceiling of each run's samples"
# A sample whose slowest thread was on its CPU less than this share of its wall time ran contended: its rate
# describes the other work on the core, not the machine (cpu/contention.py, cpu/stability.py).
CONTENDED_ON_CPU = 0.90
HIGH_SPREAD_CV = 0.05  # pyperf warns at a standard deviation above 10% of the mean; ceilings need tighter


@dataclass(frozen=True)
class RepetitionPolicy:
    warmups: int = 2
    min_repetitions: int = 10
    min_seconds: float = 1.0
    max_repetitions: int = 1000

    def as_dict(self) -> dict[str, Any]:
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
    def ceiling(self) -> float:
        """The headline: a confirmed best (``CEILING_RULE``), never above ``best``."""
        return confirmed_best(self.samples)

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


def rounded(value: float | None, digits: int = 3) -> float | None:
    """``value`` rounded for a profile, or None when it is unknown."""
    return None if value is None else round(float(value), digits)


def significant(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant digits, for figures spanning decades (a 1-byte message's GB/s is 1e-5,
    which ``rounded`` would make 0.0)."""
    return float(f"{value:.{digits}g}")


def work_rate(amount: float, seconds: float) -> float:
    """Bytes or FLOPs per second, in units of 1e9 (GB/s, GFLOP/s). The one place rates are derived."""
    if seconds <= 0:
        raise ValueError(f"non-positive duration {seconds!r}")
    return amount / seconds / GIGA


def ceiling_rank(count: int) -> int:
    """K of ``CEILING_RULE`` for ``count`` samples: max(2, ceil(10% of them)), at most ``count``."""
    return min(count, max(CEILING_MIN_SAMPLES, math.ceil(round(CEILING_SHARE * count, 9))))


def confirmed_best(samples: Sequence[float]) -> float:
    """The K-th highest of ``samples`` (``CEILING_RULE``): the highest rate that K samples reached."""
    if not samples:
        raise ValueError("no samples")
    return sorted(samples, reverse=True)[ceiling_rank(len(samples)) - 1]


def top_spread(samples: Sequence[float]) -> float:
    """(ceiling - median) / ceiling: how far the upper half of the samples spreads below the headline.

    The noise of a headline that several samples confirm is the spread of the samples between it and the
    median, not of all of them: one descheduled repetition barely moves the median and cannot widen it, and
    one lucky sample is above the ceiling and cannot either (the compare gate and sustained summaries use
    this; ``SPREAD_RULE``)."""
    if len(samples) < 2:
        return 0.0
    ceiling = confirmed_best(samples)
    return max(0.0, float((ceiling - statistics.median(samples)) / ceiling)) if ceiling > 0 else 0.0


def uncontended_samples(samples: Sequence[float], on_cpu: Sequence[float] | None) -> list[float]:
    """The samples whose threads stayed on their CPUs (``on_cpu`` at or above ``CONTENDED_ON_CPU``), where each
    sample has its share and at least K of them (``ceiling_rank``) did; otherwise all of them."""
    if not on_cpu or len(on_cpu) != len(samples):
        return list(samples)
    kept = [x for x, share in zip(samples, on_cpu) if share >= CONTENDED_ON_CPU]
    return kept if len(kept) >= ceiling_rank(len(samples)) else list(samples)


def ceiling_on_cpu(samples: Sequence[float], on_cpu: Sequence[float] | None) -> float | None:
    """The median on-CPU share of the samples the ceiling rule reads (the K highest), where each sample has one."""
    if not samples or not on_cpu or len(on_cpu) != len(samples):
        return None
    top = sorted(zip(samples, on_cpu), reverse=True)[:ceiling_rank(len(samples))]
    return statistics.median(share for _, share in top)


def summarize(work: float, seconds: Sequence[float]) -> RateSummary:
    """Rates of ``work`` bytes or FLOPs done in each sample's seconds, in GB/s or GFLOP/s."""
    return RateSummary(tuple(work_rate(work, t) for t in seconds))


SPREAD_CAUSE = "other programs or noisy neighbours are competing for the cores or memory"


def spread_remedy(quick: bool) -> str:
    more = "run without --quick for more repetitions" if quick else "run again when the machine is idle"
    return f"close them, pick idle cores with --cpus, or {more}"


def spread_warning(name: str, summary: RateSummary, quick: bool = False,
                   threshold: float = HIGH_SPREAD_CV) -> str | None:
    """A warning with its remedy when the samples of ``name`` spread more than ``threshold``."""
    if summary.cv <= threshold:
        return None
    return (f"{name}: high spread (cv {summary.cv:.1%} over {summary.repetitions} repetitions); {SPREAD_CAUSE}: "
            f"{spread_remedy(quick)}")


def spread_warnings(results: Sequence[KernelResult], quick: bool = False) -> list[str]:
    """One warning for every result whose samples spread more than ``HIGH_SPREAD_CV``: the cause and its remedy
    once, naming each kernel with its cv (pyperf's and hyperfine's checks warn per cause, not per benchmark).
    Every kernel's own cv stays in the profile's kernel list."""
    spread = [r for r in results if r.summary.cv > HIGH_SPREAD_CV]
    if len(spread) <= 1:
        return [w for r in spread if (w := spread_warning(r.name, r.summary, quick))]
    named = ", ".join(f"{r.name} (cv {r.summary.cv:.1%})" for r in spread)
    return [f"high spread in {len(spread)} kernels: {named}; {SPREAD_CAUSE}: {spread_remedy(quick)}"]


@dataclass(frozen=True)
class KernelResult:
    """One validated kernel: its samples and the work of one call. ``clocks_mhz`` holds the clocks read while
    it ran (CPU: ``core`` from the add-chain probe; GPU: NVML ``sm`` and ``memory``, medians of the timed
    window); ``throttle_note`` says why a GPU figure is a throttled one (None when it is not)."""

    name: str
    precision: str
    level: str
    unit: str
    summary: RateSummary
    working_set_bytes: int
    bytes_stream: int | None  # per call, STREAM convention
    bytes_traffic: int | None  # per call, with write-allocate reads
    flops: int  # per call
    validated: bool
    details: dict[str, Any] = field(default_factory=dict[str, Any])
    clocks_mhz: dict[str, float] = field(default_factory=dict)
    throttle_note: str | None = None
    sample_clocks_mhz: tuple[float | None, ...] = ()  # the clock read during each sample, where the device can
    paired_gflops: float | None = None  # a rate measured with clocks_mhz, in the same run (the CPU's probed FMA run)
    # What else ran while it was measured (CPU: each sample's on-CPU share, the contention of each batch's window)
    contention: dict[str, Any] | None = None
    # Whether the ceiling agrees with its probed run (CPU FMA kernels: cpu/stability.py); "unstable" means no
    # FLOP per cycle may be derived from it
    stability: dict[str, Any] | None = None


def result_noise(result: KernelResult) -> float:
    """The noise of a result's ceiling (``top_spread``) over its uncontended samples where each sample's on-CPU
    share was recorded (``contention.on_cpu``): a sample the run's own evidence shows was slowed by other work
    on the core is explained, not noise; without that evidence, over every sample."""
    on_cpu = (result.contention or {}).get("on_cpu")
    return top_spread(uncontended_samples(result.summary.samples, on_cpu))


@dataclass
class Timeline:
    """Samples of one kernel over a sustained run; ``extra`` holds other per-sample series (GPU telemetry)."""

    kernel: str
    unit: str
    t_s: list[float] = field(default_factory=list)  # start of each interval, from the start of the run
    rate: list[float] = field(default_factory=list)  # throughput over each interval, in ``unit``
    clock_mhz: list[float | None] = field(default_factory=list)
    extra: dict[str, list[object]] = field(default_factory=dict)

    def add(self, t_s: float, rate: float, clock_mhz: float | None = None, **extra: object) -> None:
        self.t_s.append(t_s)
        self.rate.append(rate)
        self.clock_mhz.append(clock_mhz)
        for key, value in extra.items():
            self.extra.setdefault(key, []).append(value)
