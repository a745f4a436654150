"""The on-chip family on NVIDIA GPUs: shared-memory and L1 bandwidth (kernels/cuda/onchip.cu).

Each block reads a 32 KiB buffer (``VECTORS`` float4) ``passes`` times: ``shared_read`` from its own shared
array (filled from global memory once per launch), ``l1_read`` from one small global buffer through the
read-only data path, held in every SM's L1 after the first pass. The grid is ``waves`` x (SMs x resident
blocks), so every SM is busy. Bytes counted: passes x the buffer's bytes x blocks (what the SMs load from
shared memory or L1; the one fill of shared memory per block from L2 is not counted, 1/passes of the total).

Validation: the buffer holds ``value`` everywhere, so every thread's sum is passes x (VECTORS / BLOCK) x 4 x
value, exact in float below 2^24; every thread's sum is checked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..catalog import Kernel
from ..errors import MeasurementError
from ..kernel_spec import OnchipLaunch
from ..stats import KernelResult
from ..timing import Work
from .family import GpuContext, GpuFamily, GpuFamilyResult, each_kernel

COUNTING = "passes x buffer bytes x blocks: what the SMs load from shared memory or L1 (the fill from L2 not counted)"


def expected_sum(kernel: Kernel) -> float:
    """Each thread's sum: passes x vectors per thread x 4 components x value."""
    constants, launch = kernel.constants, kernel.launch_as(OnchipLaunch)
    return float(launch.passes * constants["VECTORS"] // constants["BLOCK"] * 4 * launch.value)


def run(session: GpuContext, kernels: Sequence[Kernel]) -> GpuFamilyResult:
    """shared_read and l1_read, each timed and validated on every thread's sum."""
    return each_kernel(session, kernels, _time_onchip)


def _time_onchip(session: GpuContext, kernel: Kernel) -> KernelResult:
    cp = session.cp
    block, vectors = kernel.constants["BLOCK"], kernel.constants["VECTORS"]
    passes = np.int32(kernel.launch_as(OnchipLaunch).passes)
    if expected_sum(kernel) >= 2**24:
        raise ValueError(f"{kernel.name}: passes x vectors per thread is too large to validate exactly in float")
    blocks = session.blocks(kernel)
    source = cp.full(vectors * 4, kernel.launch_as(OnchipLaunch).value, dtype=np.float32)
    out = cp.zeros(blocks * block, dtype=np.float32)
    function = session.module(kernel).get_function(kernel.entry)
    buffer_bytes = vectors * 16

    def launch() -> None:
        function((blocks,), (block,), (source, out, passes))

    def check() -> None:
        session.stream.synchronize()
        sums = cp.asnumpy(out)
        wrong = np.flatnonzero(sums != expected_sum(kernel))
        if wrong.size:
            raise MeasurementError(f"{kernel.name} output check failed: {wrong.size} of {sums.size} threads summed "
                                   f"{sums[wrong[0]]:g}, not {expected_sum(kernel):g}; no figure is reported")

    bytes_read = int(passes) * buffer_bytes * blocks
    details = {"buffer_bytes": buffer_bytes, "blocks": blocks, "block": block, "passes": int(passes),
               "traffic_model": COUNTING}
    return session.time_and_check(kernel, launch, check, Work(buffer_bytes, bytes_read, bytes_read), details)


__all__ = ["FAMILY", "expected_sum", "run"]


FAMILY = GpuFamily("gpu", "onchip", run)
