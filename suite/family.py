"""The family protocol: what every kernel family of both devices declares, and the one result it returns.

A *family* is the kernels that share set-up (arrays, a compiled module, a clock probe). Each family module
of ``hwbench.cpu`` and ``hwbench.gpu`` declares one ``Family`` (its ``FAMILY``): its name (the catalog's
``Kernel.family``), its planned progress steps, its sustained kernel (or none) with the function that keeps it
busy, and ``run(context, kernels) -> FamilyResult``. A session lists its families in one tuple and runs any of
them through ``Plan``: no family is a special case, and a family hands everything it measured back in its
``FamilyResult`` (kernel results, curves, sweeps, latency records), never by writing onto the session. The
context a family receives (``cpu.family.CpuContext``, ``gpu.family.GpuContext``) carries what the family
measures with, the progress report and the run's warnings log.

The shape follows BabelStream's ``Stream<T>`` (one interface every model implements) and nvbandwidth's
``Testcase`` list (a session is the list of the cases it runs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from . import catalog
from .catalog import Kernel
from .record import CacheSweep, IntensityCurve, LatencyRecord
from .stats import KernelResult, Timeline

Context = TypeVar("Context")  # what a family measures with: cpu.family.CpuContext, gpu.family.GpuContext
Clock = TypeVar("Clock")  # a device's own clock record (the CPU's add-chain probe, cpu.clock.ClockResult)


@dataclass(frozen=True)
class FamilyResult(Generic[Clock]):
    """Everything one family measured. ``results`` are its checked kernel results, each one of the family's
    selected kernels; the rest are what a family measures besides kernel figures."""

    results: tuple[KernelResult, ...] = ()
    array_bytes: int | None = None  # bytes per STREAM array (the stream family)
    cache_sweep: CacheSweep | None = None  # the working-set sweep (the CPU caches family)
    intensity_curves: tuple[IntensityCurve, ...] = ()  # the measured roofline curves (the intensity families)
    latency: LatencyRecord | None = None  # the chases, loaded curve and matrices (the latency families)
    # low-precision kernel -> why this device does not run it (its instruction or library is missing)
    instruction_skipped: Mapping[str, str] = field(default_factory=dict[str, str])
    clock: Clock | None = None  # the device's clock measured by this family (CPU: the add-chain probe)


Runner = Callable[[Context, Sequence[Kernel]], FamilyResult[Clock]]
Planner = Callable[[Context, Sequence[Kernel]], int]
# Keep the family's sustained kernel busy for ``seconds``, one timeline sample per ``interval``; its output checked
# after.
Sustainer = Callable[[Context, Kernel, float, float], Timeline]


def one_step_per_kernel(context: object, kernels: Sequence[Kernel]) -> int:
    """The planned steps of a family that reports one progress step per kernel."""
    return len(kernels)


@dataclass(frozen=True)
class Family(Generic[Context, Clock]):
    """One kernel family of one device. ``run`` reports ``planned_steps(context, kernels)`` progress steps and
    returns a result per selected kernel it could run (a kernel the device lacks is named in
    ``instruction_skipped`` or the warnings, never given a figure). ``sustain`` keeps ``sustained_kernel`` busy;
    the session calls it once, after every family ran, when a sustained run is asked for and the family is
    selected (whether or not that kernel is)."""

    device: str  # "cpu" or "gpu", as the catalog names it
    name: str  # the catalog's Kernel.family
    run: Runner[Context, Clock]
    planned_steps: Planner[Context] = one_step_per_kernel
    sustained_kernel: str | None = None
    sustain: Sustainer[Context] | None = None

    def __post_init__(self) -> None:
        if (self.sustained_kernel is None) != (self.sustain is None):
            raise ValueError(f"{self.device} family {self.name}: a sustained kernel needs its sustain function")
        names = {kernel.name for kernel in self.kernels}
        if not names:
            raise ValueError(f"{self.device} family {self.name}: no kernel of the catalog is in it")
        if self.sustained_kernel is not None and self.sustained_kernel not in names:
            raise ValueError(f"{self.device} family {self.name}: its sustained kernel {self.sustained_kernel} is "
                             "not one of its kernels")

    @property
    def kernels(self) -> tuple[Kernel, ...]:
        """The family's kernels in the catalog, in catalog order."""
        return tuple(kernel for kernel in catalog.kernels(self.device) if kernel.family == self.name)


@dataclass(frozen=True)
class Plan(Generic[Context, Clock]):
    """The selected families of one session, each with its selected kernels, in catalog order, and the
    sustained run asked for (``sustain_seconds`` per sustained kernel, or None)."""

    families: tuple[tuple[Family[Context, Clock], tuple[Kernel, ...]], ...]
    sustain_seconds: float | None = None
    sustain_interval: float = 1.0

    @classmethod
    def of(cls, families: Sequence[Family[Context, Clock]], kernels: Sequence[Kernel],
           sustain_seconds: float | None = None, sustain_interval: float = 1.0) -> Plan[Context, Clock]:
        """``kernels`` grouped by their family; a kernel whose family is not in ``families`` is a programming
        error (``catalog.by_family``)."""
        table = {family.name: family for family in families}
        grouped = catalog.by_family(kernels, table)
        return cls(tuple((table[name], tuple(chosen)) for name, chosen in grouped.items()), sustain_seconds,
                   sustain_interval)

    @property
    def sustained(self) -> tuple[Family[Context, Clock], ...]:
        """The selected families with a sustained kernel, when a sustained run is asked for: compute kernels
        first (the order the profile lists the timelines in)."""
        if not self.sustain_seconds:
            return ()
        chosen = [family for family, _ in self.families if family.sustained_kernel is not None]
        return tuple(sorted(chosen, key=lambda family: _sustained(family).unit != "GFLOP/s"))

    def steps(self, context: Context) -> int:
        """Progress steps of ``run``: every family's planned steps and one per sustained kernel."""
        return sum(family.planned_steps(context, kernels) for family, kernels in self.families) + len(self.sustained)

    def run(self, context: Context, step: Callable[[str], None]
            ) -> tuple[list[FamilyResult[Clock]], tuple[Timeline, ...]]:
        """Every family's result in plan order, then the sustained timelines (``step`` reports each)."""
        results = [family.run(context, kernels) for family, kernels in self.families]
        timelines = []
        for family in self.sustained:
            assert family.sustain is not None and self.sustain_seconds  # Family.__post_init__, sustained
            step(f"sustained {family.sustained_kernel} ({self.sustain_seconds:g} s)")
            timelines.append(family.sustain(context, _sustained(family), self.sustain_seconds, self.sustain_interval))
        return results, tuple(timelines)


def _sustained(family: Family[Context, Clock]) -> Kernel:
    assert family.sustained_kernel is not None
    return catalog.kernel(family.device, family.sustained_kernel)


def merged(results: Sequence[FamilyResult[Clock]]) -> FamilyResult[Clock]:
    """The families' results as one: kernel results, curves and skipped kernels in plan order; the single-valued
    records (array size, sweep, latency, clock) from the last family that reports one."""
    merged_skipped: dict[str, str] = {}
    for result in results:
        merged_skipped.update(result.instruction_skipped)
    return FamilyResult(
        results=tuple(kernel for result in results for kernel in result.results),
        array_bytes=_last(result.array_bytes for result in results),
        cache_sweep=_last(result.cache_sweep for result in results),
        intensity_curves=tuple(curve for result in results for curve in result.intensity_curves),
        latency=_last(result.latency for result in results),
        instruction_skipped=merged_skipped,
        clock=_last(result.clock for result in results),
    )


Value = TypeVar("Value")


def _last(values: Iterable[Value | None]) -> Value | None:
    found = None
    for value in values:
        found = value if value is not None else found
    return found


__all__ = ["Family", "FamilyResult", "Plan", "merged", "one_step_per_kernel"]
