"""The arithmetic-intensity sweep on the CPU: the measured roofline curve (the Empirical Roofline Toolkit's
method; kernels/cpu_intensity.py).

Set-up: one array of ``llc_multiple`` x the last-level cache (at least ``min_bytes``), so that it lives in DRAM;
each pinned worker owns a contiguous slice of it and first-touches that slice. A point of the sweep is the
kernel at one FLOP count per element (the catalog's ``flops``): every worker updates its slice in place once
per call, all workers at once, timed by the pool (earliest start to latest end, as the STREAM kernels are).

Before each point the workers reset their slices to 0; every call adds exactly 1 per step (``alpha`` = ``beta``
= 1), so afterwards every element must equal the number of steps applied: the point is validated on every
element, or the run fails. Rates: FLOPs x elements / seconds, with the ceiling the confirmed best of the
samples (stats.CEILING_RULE), as for every kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from ..catalog import Kernel
from ..errors import MeasurementError
from ..kernel_spec import CpuIntensityLaunch, chains_on
from ..kernels import cpu_intensity, cpu_stream
from ..kernels.cpu_llvm import MACHINE
from ..kernels.cpu_stream import chunks
from ..record import IntensityCurve
from ..stats import RepetitionPolicy, summarize
from ..timing import time_kernel
from .family import CpuContext, CpuFamily, CpuFamilyResult, pool_runner

POLICY = RepetitionPolicy(warmups=1, min_repetitions=5, min_seconds=0.05, max_repetitions=20)
QUICK_POLICY = RepetitionPolicy(warmups=1, min_repetitions=3, min_seconds=0.02, max_repetitions=10)
MEMORY_FRACTION = 0.3  # the array may take at most this share of available memory
EXACT_STEPS = {"fp64": 2**53, "fp32": 2**24}  # an element counting steps in this type is exact below these
DTYPES = {"fp64": np.float64, "fp32": np.float32}
COUNTING = ("per element: one load and one store of the element (no write-allocate read: the line was just "
            "loaded) and 1 FLOP (one add) or 2k FLOPs (k FMAs); intensity = FLOPs / bytes per element")
METHOD = ("ERT's kernel: each element loaded, updated and stored in place; every pinned thread its own "
          "first-touched slice; one pass per call, timed from the earliest start to the latest end; ceiling "
          "the confirmed best of the samples; every element validated after each point")


def working_set_elements(context: CpuContext, kernel: Kernel) -> int:
    """Elements of the sweep's array: ``llc_multiple`` x the last-level cache, at least ``min_bytes``, capped by
    available memory, and a whole number of the kernel's trips per worker."""
    launch, cpu = kernel.launch_as(CpuIntensityLaunch), context.cpu
    llc = cpu.l3_total_bytes or (cpu.caches.get("l2") or 0) * cpu.physical_cores
    wanted = context.options.array_bytes or max(launch.llc_multiple * llc, launch.min_bytes)
    wanted = min(wanted, int(cpu.available_memory_bytes * MEMORY_FRACTION))
    granule = cpu_intensity.granule(lanes(context, kernel), chains(kernel)) * len(context.cpus)
    return max(granule, wanted // kernel.element_bytes // granule * granule)


def lanes(context: CpuContext, kernel: Kernel) -> int:
    return context.core.simd_bits // (8 * kernel.element_bytes)


def chains(kernel: Kernel) -> int:
    return chains_on(kernel.launch_as(CpuIntensityLaunch).chains, MACHINE)


def sweep_flops(context: CpuContext, kernel: Kernel) -> tuple[int, ...]:
    return kernel.launch_as(CpuIntensityLaunch).flops_for(context.options.quick)


def measure_point(context: CpuContext, kernel: Kernel, array: np.ndarray, flops: int) -> tuple[int, float, float]:
    """One point: (FLOPs per element, ceiling GFLOP/s, median GFLOP/s), every element validated."""
    form, steps = ("add", 1) if flops == 1 else ("fma", flops // 2)
    kernel_fn = cpu_intensity.intensity_kernel(form, kernel.precision, lanes(context, kernel), chains(kernel))
    bounds = chunks(array.size, len(context.cpus))
    context.pool.run([partial(cpu_intensity.fill, array, 0.0, lo, hi) for lo, hi in bounds])
    tasks = [partial(kernel_fn, array, lo, hi, steps, 1.0, 1.0, 1) for lo, hi in bounds]
    calls = {"count": 0}
    timed = pool_runner(context, tasks, [])
    policy = QUICK_POLICY if context.options.quick else POLICY

    def run(n_calls: int):
        if (calls["count"] + n_calls) * steps >= EXACT_STEPS[kernel.precision]:
            raise MeasurementError(f"{kernel.name}: {flops} FLOPs per element over too many calls to validate "
                                   "exactly; this is a bug in hwbench's repetition policy")
        calls["count"] += n_calls
        return timed(n_calls)

    timing = time_kernel(run, policy)
    expected = float(calls["count"] * steps)
    deviation = cpu_intensity.max_deviation(array, expected)
    if not deviation == 0.0:
        raise MeasurementError(f"{kernel.name} output check failed at {flops} FLOPs per element: an element deviates "
                               f"from {expected:g} by {deviation:g}; the kernel computed a wrong result, so no "
                               "figure is reported")
    summary = summarize(flops * array.size, timing.seconds)
    return flops, summary.ceiling, summary.median


def planned_steps(context: CpuContext, kernels: Sequence[Kernel]) -> int:
    """Progress steps of ``run``: allocation, then one per kernel."""
    return 1 + len(kernels)


def run(context: CpuContext, kernels: Sequence[Kernel]) -> CpuFamilyResult:
    context.step("allocate and first-touch the intensity array")
    n_bytes = max(working_set_elements(context, kernel) * kernel.element_bytes for kernel in kernels)
    buffer = cpu_stream.aligned_empty(n_bytes // 8)  # one buffer, viewed in each kernel's type
    context.pool.run([partial(cpu_intensity.fill, buffer, 0.0, lo, hi) for lo, hi in chunks(buffer.size,
                                                                                            len(context.cpus))])
    curves = []
    for kernel in kernels:
        context.step(f"{kernel.name} sweep")
        elements = working_set_elements(context, kernel)
        array = buffer.view(DTYPES[kernel.precision])[:elements]
        points = tuple(measure_point(context, kernel, array, flops) for flops in sweep_flops(context, kernel))
        curves.append(IntensityCurve(kernel.name, kernel.precision, kernel.level, elements * kernel.element_bytes,
                                     kernel.bytes_stream, COUNTING, points, METHOD))
    return CpuFamilyResult(intensity_curves=tuple(curves))


FAMILY = CpuFamily("cpu", "intensity", run, planned_steps)


__all__ = ["FAMILY", "planned_steps", "run", "measure_point"]
