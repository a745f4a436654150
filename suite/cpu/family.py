"""What a CPU kernel family receives from the session: the CPU side of ``hwbench.family``.

A family module (``stream``, ``fma``, ``caches``, ...) declares its ``FAMILY`` (a ``CpuFamily``: name, planned
steps, sustained kernel, ``run(context, kernels) -> CpuFamilyResult``) and measures with the ``CpuContext``.
It never imports the session: the session lists the families (``session.FAMILIES``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import catalog
from ..catalog import Kernel
from ..family import Family, FamilyResult
from ..stats import RepetitionPolicy
from ..timing import Run, Sample
from .clock import ClockResult
from .machine import CpuInfo
from .theory import CoreModel
from .workers import PinnedPool


@dataclass(frozen=True)
class CpuOptions:
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

    options: CpuOptions
    policy: RepetitionPolicy
    cpu: CpuInfo
    core: CoreModel
    cpus: list[int]
    pool: PinnedPool
    step: Callable[[str], None]  # report the next progress step
    warnings: list[str] = field(default_factory=list)


# A CPU family's result carries the clock it measured, if any (the FMA family's probe under load).
CpuFamilyResult = FamilyResult[ClockResult]
CpuFamily = Family[CpuContext, ClockResult]


def pool_runner(context: CpuContext, tasks: Sequence[Callable[[], Any]], last: list[Any]) -> Run:
    """``run(calls)`` for ``timing.time_kernel``: ``calls`` runs of ``tasks`` on the pinned pool, their seconds
    added up (each the slowest worker's), and the workers' last return values kept in ``last`` to check."""

    def run(calls: int) -> Sample:
        seconds = 0.0
        for _ in range(calls):
            elapsed, values = context.pool.run(tasks)
            seconds += elapsed
            last[:] = values
        return Sample(seconds)

    return run
