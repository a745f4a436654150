"""What a CPU kernel family receives from the session and returns to it (see ``session.FAMILIES``).

A family module (``stream``, ``fma``, ``caches``, ``intensity``) exposes ``planned_steps(context, kernels)`` and
``run_family(context, kernels) -> FamilyRun``. It never imports the session: the session imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import catalog
from ..catalog import Kernel
from ..record import CacheSweep, IntensityCurve, LatencyRecord
from ..stats import KernelResult, RepetitionPolicy, Timeline
from ..timing import Run, Sample
from .clock import ClockResult
from .machine import CpuInfo
from .theory import CoreModel
from .workers import PinnedPool


@dataclass(frozen=True)
class CpuRunOptions:
    kernels: tuple[Kernel, ...] = catalog.kernels("cpu")
    threads: int | None = None
    cpus: str | None = None
    pinning: str = "compact"
    quick: bool = False
    array_bytes: int | None = None  # per array; default from the cache sizes (tests use smaller)
    sustain_seconds: float | None = None  # per sustained kernel; None: no sustained run
    sustain_interval: float = 1.0


@dataclass
class CpuContext:
    """The state every family measures with: options, the CPU, the pinned pool, warnings, progress."""

    options: CpuRunOptions
    policy: RepetitionPolicy
    cpu: CpuInfo
    core: CoreModel
    cpus: list[int]
    pool: PinnedPool
    step: Callable[[str], None]  # report the next progress step
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FamilyRun:
    results: list[KernelResult]
    timelines: list[Timeline] = field(default_factory=list)
    clock: ClockResult | None = None  # the FMA family's clock measurement
    array_elements: int | None = None  # the STREAM family's array length
    cache_sweep: CacheSweep | None = None  # the caches family's working-set sweep
    intensity_curves: tuple[IntensityCurve, ...] = ()  # the intensity family's roofline curves
    latency: LatencyRecord | None = None  # the latency family's chase, loaded curve and matrices


def pool_runner(context: CpuContext, tasks: Sequence[Callable[[], Any]], last: list[Any]) -> Run:
    """``run(calls)`` for ``timing.time_kernel``: ``calls`` runs of ``tasks`` on the pinned pool, their seconds
    added up (each the slowest worker's), and the workers' last return values kept in ``last`` to validate."""

    def run(calls: int) -> Sample:
        seconds = 0.0
        for _ in range(calls):
            elapsed, values = context.pool.run(tasks)
            seconds += elapsed
            last[:] = values
        return Sample(seconds)

    return run
