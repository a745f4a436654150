"""The arithmetic-intensity sweep on NVIDIA GPUs: the measured roofline curve (the Empirical Roofline Toolkit's
method; kernels/cuda/intensity.cu).

For each precision and each level the catalog lists (``dram``: an array of ``dram_l2_multiple`` x the L2, at
least ``min_bytes``; ``l2``: ``l2_share`` of the L2), every FLOP count of the catalog is one point: the array is
reset to 0, the kernel is timed through ``hwbench.timing.time_kernel`` (CUDA events around batches of about
``SAMPLE_SECONDS``, as every GPU kernel), and the array is then checked on the device: with alpha = beta = 1
each launch adds exactly one per step, so every element must equal launches x steps. A wrong element is a
MeasurementError, never a point. The curves go to the family's result (``intensity_curves``; the profile's
``intensity_sweep``), not to the kernels table: a point is not a ceiling.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..catalog import Kernel
from ..errors import MeasurementError
from ..kernel_spec import GpuIntensityLaunch
from ..record import IntensityCurve
from ..stats import RepetitionPolicy, summarize
from ..timing import time_kernel
from .family import GpuContext, GpuFamily, GpuFamilyResult

POLICY = RepetitionPolicy(warmups=1, min_repetitions=5, min_seconds=0.05, max_repetitions=50)
QUICK_POLICY = RepetitionPolicy(warmups=1, min_repetitions=3, min_seconds=0.02, max_repetitions=20)
SAMPLE_SECONDS = 0.005  # each timed sample: back-to-back launches for about this long (as the session's)
MEMORY_FRACTION = 0.3  # the DRAM-sized array may take at most this share of free device memory
MIN_LAUNCH_BYTES = 1 << 30  # each launch moves at least this much (passes over the array): an L2-sized array's
# single pass (tens of MiB, 5-8 us) is as short as the host's launch cost
EXACT_STEPS = {"fp64": 2**53, "fp32": 2**24}
DTYPES = {"fp64": np.float64, "fp32": np.float32}
COUNTING = ("per element: one load and one store (GPU stores allocate no read) and 1 FLOP (one add) or 2k FLOPs "
            "(k FMAs); intensity = FLOPs / bytes per element")
METHOD = ("ERT's kernel: grid-stride launches of waves x SMs x resident blocks, each element updated in place, "
          f"passes over the array per launch so that a launch moves at least {MIN_LAUNCH_BYTES >> 20} MiB; CUDA "
          "events around batches of back-to-back launches; ceiling the confirmed best of the samples; every "
          "element checked on the device after each point")


def level_bytes(kernel: Kernel, level: str, l2_bytes: int, free_bytes: int) -> int:
    """Bytes of the array for ``level``: DRAM-sized (``dram_l2_multiple`` x L2, at least ``min_bytes``, capped by
    free memory) or L2-sized (``l2_share`` of the L2); a whole number of elements."""
    launch = kernel.launch_as(GpuIntensityLaunch)
    if level == "l2":
        wanted = int(l2_bytes * launch.l2_share)
    else:
        wanted = min(max(launch.dram_l2_multiple * l2_bytes, launch.min_bytes), int(free_bytes * MEMORY_FRACTION))
    return max(kernel.element_bytes, wanted // kernel.element_bytes * kernel.element_bytes)


EXACT_LAUNCHES = 4096  # launches per point that must stay exactly countable (far above a point's policy)


def passes_for(n_bytes: int, steps: int = 1, precision: str = "fp64") -> int:
    """Passes over an array of ``n_bytes`` per launch: each pass loads and stores every element (2 x n_bytes), and
    a launch moves at least ``MIN_LAUNCH_BYTES``, unless ``EXACT_LAUNCHES`` launches of ``steps`` adds per element
    and pass would leave the exact range of ``precision`` (a launch of many FLOPs per element is long anyway)."""
    wanted = -(-MIN_LAUNCH_BYTES // (2 * n_bytes))
    exact = EXACT_STEPS[precision] // (EXACT_LAUNCHES * steps)
    return max(1, min(wanted, exact))


def measure_point(session: GpuContext, kernel: Kernel, array, flops: int) -> tuple[int, float, float]:
    """One point: (FLOPs per element, ceiling GFLOP/s, median GFLOP/s), every element checked."""
    cp = session.cp
    dtype = DTYPES[kernel.precision]
    per_pass = 1 if flops == 1 else flops // 2
    passes = passes_for(array.nbytes, per_pass, kernel.precision)
    steps = per_pass * passes  # adds per element per launch
    n = array.size
    function = session.module(kernel).get_function(kernel.entry)
    blocks = session.blocks(kernel)
    block = kernel.constants["BLOCK"]
    array.fill(0)
    launches = {"count": 0}

    def launch() -> None:
        launches["count"] += 1
        function((blocks,), (block,), (array, np.int64(n), np.int32(flops), np.int32(passes), dtype(1.0),
                                       dtype(1.0)))

    timed = session.runner(launch)

    def run(calls: int):
        if (launches["count"] + calls) * steps >= EXACT_STEPS[kernel.precision]:
            raise MeasurementError(f"{kernel.name}: too many launches at {flops} FLOPs per element to validate "
                                   "exactly; this is a bug in hwbench's repetition policy")
        return timed(calls)

    timing = time_kernel(run, QUICK_POLICY if session.quick else POLICY, SAMPLE_SECONDS)
    session.stream.synchronize()
    expected = float(launches["count"] * steps)
    deviation = float(cp.max(cp.abs(array - dtype(expected))))
    if deviation != 0.0:
        raise MeasurementError(f"{kernel.name} output check failed at {flops} FLOPs per element: an element deviates "
                               f"from {expected:g} by {deviation:g}; no figure is reported")
    summary = summarize(flops * n * passes * timing.calls_per_sample, timing.seconds)
    return flops, summary.ceiling, summary.median


def run(session: GpuContext, kernels: Sequence[Kernel]) -> GpuFamilyResult:
    """Every selected precision at every level: curves, no kernel results (a point is not a kernel figure)."""
    cp, gpu = session.cp, session.gpu
    curves = []
    for kernel in kernels:
        flops_list = kernel.launch_as(GpuIntensityLaunch).flops_for(session.quick)
        for level in kernel.launch_as(GpuIntensityLaunch).levels:
            session.step(f"{kernel.name} sweep ({level})")
            n_bytes = level_bytes(kernel, level, gpu.l2_bytes, gpu.free_bytes)
            with session.stream:  # the memset of cp.zeros on the stream the kernel runs on: ordered before it
                array = cp.zeros(n_bytes // kernel.element_bytes, dtype=DTYPES[kernel.precision])
                points = tuple(measure_point(session, kernel, array, flops) for flops in flops_list)
            curves.append(IntensityCurve(kernel.name, kernel.precision, level, n_bytes, kernel.bytes_stream,
                                         COUNTING, points, METHOD))
            del array
    return GpuFamilyResult(intensity_curves=tuple(curves))


def planned_steps(session: GpuContext, kernels: Sequence[Kernel]) -> int:
    """Progress steps: one per kernel and level."""
    return sum(len(kernel.launch_as(GpuIntensityLaunch).levels) for kernel in kernels)


FAMILY = GpuFamily("gpu", "intensity", run, planned_steps)


__all__ = ["FAMILY", "level_bytes", "measure_point", "passes_for", "planned_steps", "run"]
