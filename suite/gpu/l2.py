"""The L2 family (l2_read) on NVIDIA GPUs: grid-stride reads of a buffer of ``l2_share`` of the L2, ``passes``
times per launch (``kernels/cuda/stream.cu``), in the launch shape the STREAM family's sweep chooses
(``stream.autotune``), checked through the per-block partial sums (the first ``grid`` of them: the sweep's
larger grids leave partials beyond).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..catalog import Kernel
from ..check import check_close
from ..kernel_spec import L2ReadLaunch, VectorLaunch
from ..stats import KernelResult
from ..timing import Work
from .family import GpuContext, GpuFamily, GpuFamilyResult, Launch, each_kernel
from .stream import DTYPES, autotune, granule, max_grid


def run(session: GpuContext, kernels: Sequence[Kernel]) -> GpuFamilyResult:
    """Every selected L2 kernel, each on its own buffer."""
    return each_kernel(session, kernels, _time_one)


def _time_one(session: GpuContext, kernel: Kernel) -> KernelResult:
    cp, gpu = session.cp, session.gpu
    size = granule(kernel)
    buffer_bytes = max(size, int(gpu.l2_bytes * kernel.launch_as(L2ReadLaunch).l2_share) // size * size)
    n = buffer_bytes // kernel.element_bytes
    buffer = cp.ones(n, dtype=DTYPES[kernel.precision])
    n_vec = buffer_bytes // kernel.launch_as(VectorLaunch).vector_bytes
    partial = cp.zeros(max_grid(session, kernel, n_vec), dtype=DTYPES[kernel.precision])
    passes = np.int32(kernel.launch_as(L2ReadLaunch).passes)
    function = session.module(kernel).get_function(kernel.entry)
    bytes_read = int(passes) * buffer_bytes

    def launch_for(grid: int, block: int) -> Launch:
        return lambda: function((grid,), (block,), (buffer, partial, np.int64(n_vec), passes))

    tuned = autotune(session, kernel, launch_for, n_vec, bytes_read)

    def check() -> None:
        session.stream.synchronize()
        check_close(kernel.name, [float(cp.sum(partial[:tuned.grid]))], float(int(passes) * n), 1e-12)

    share = _share(kernel.launch_as(L2ReadLaunch).l2_share)
    details = {"buffer_bytes": buffer_bytes, "l2_bytes": gpu.l2_bytes, "passes": int(passes), **tuned.details(),
               "traffic_model": f"passes x buffer bytes read; the buffer is {share} of the L2"}
    return session.time_and_check(kernel, launch_for(tuned.grid, tuned.shape.block), check,
                           Work(buffer_bytes, bytes_read, bytes_read), details)


def _share(fraction: float) -> str:
    return {0.25: "a quarter", 0.5: "half"}.get(fraction, f"{fraction:.0%}")


FAMILY = GpuFamily("gpu", "l2", run)


__all__ = ["FAMILY", "run"]
