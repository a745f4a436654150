"""What a GPU kernel family receives from the session: the GPU side of ``hwbench.family``.

A family module (``stream``, ``l2``, ``fma``, ``tensor``, ...) declares its ``FAMILY`` (a ``GpuFamily``: name,
planned steps, sustained kernel with its ``sustain(session, kernel, seconds, interval) -> Timeline``, and
``run(session, kernels) -> GpuFamilyResult``). It never imports the session (the session lists the families in
``session.FAMILIES``): it sees the session through ``GpuContext``, and reads every launch shape (block, waves,
iterations, passes, sizes, bytes) from its ``catalog.Kernel``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..catalog import Kernel
from ..family import Family, FamilyResult
from ..stats import KernelResult, RepetitionPolicy, Timeline
from ..timing import Run, Work


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    compute_capability: tuple[int, int]
    sms: int
    max_threads_per_sm: int
    l2_bytes: int
    memory_bytes: int
    free_bytes: int
    bus_width_bits: int | None
    max_sm_mhz: float | None
    max_memory_mhz: float | None
    clock_source: str
    driver: str | None
    cuda_runtime: str
    cupy_version: str
    power_limit_w: float | None


Launch = Callable[[], None]


class GpuContext(Protocol):
    """The session as a family sees it: CuPy, the device facts, the stream every launch goes on, and the one
    timing path (``time_and_check``: CUDA events around batches, NVML window, result with clocks)."""

    cp: Any  # the cupy module
    gpu: GpuInfo
    stream: Any  # cupy.cuda.Stream; raw kernels launch on the current stream, so families launch inside it
    quick: bool
    policy: RepetitionPolicy
    warnings: list[str]  # the session's warnings log (a family's figures go in its GpuFamilyResult)

    def step(self, label: str) -> None:
        """Report the next progress step."""

    def module(self, kernel: Kernel) -> Any:
        """The compiled ``cupy.RawModule`` of ``kernel.module`` (compiled once per module)."""

    def blocks(self, kernel: Kernel) -> int:
        """Blocks of ``kernel``'s launch (FMA): SMs x resident blocks of BLOCK threads x the catalog's waves."""

    def resident_blocks(self, kernel: Kernel, block: int) -> int:
        """Blocks of ``block`` threads of ``kernel``'s loaded function one SM holds at once (the driver's
        occupancy API: threads, registers and shared memory)."""

    def runner(self, launch: Launch) -> Run:
        """``run(calls)``: CUDA events around ``calls`` back-to-back launches (the timer ``time_and_check`` uses;
        the STREAM family's untimed launch-shape sweep uses it too)."""

    def time_and_check(self, kernel: Kernel, launch: Launch, check: Callable[[], None], work: Work,
                       details: dict[str, Any], name: str | None = None) -> KernelResult:
        """Time ``launch`` through ``hwbench.timing`` and attach the NVML summary of the timed window."""

    def sustain(self, kernel: Kernel, launch: Launch, work: float, seconds: float, interval: float) -> Timeline:
        """Keep ``launch`` busy for ``seconds``, one timeline sample (with NVML's view) per ``interval``."""


# A GPU family reports no clock of its own: NVML's clocks ride on each kernel result (KernelResult.clocks_mhz).
GpuFamilyResult = FamilyResult[None]
GpuFamily = Family[GpuContext, None]


def each_kernel(session: GpuContext, kernels: Sequence[Kernel],
                time_one: Callable[[GpuContext, Kernel], KernelResult]) -> GpuFamilyResult:
    """A family whose kernels share no set-up: report each as a progress step, then time it."""
    results = []
    for kernel in kernels:
        session.step(kernel.name)
        results.append(time_one(session, kernel))
    return GpuFamilyResult(tuple(results))
