"""The transfer family: host <-> device copies (h2d, d2h) of the catalog's ``bytes`` between pinned host
memory (cudaHostAlloc through ``cupy.cuda.alloc_pinned_memory``) and device memory, ``cudaMemcpyAsync`` on
the session's stream (nvbandwidth's host_to_device / device_to_host copy-engine cases).

Validation: the copied bytes equal a non-constant pattern, so a copy that moved nothing cannot pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..catalog import Kernel
from ..errors import MeasurementError
from ..kernel_spec import TransferLaunch
from ..stats import KernelResult
from ..timing import Work
from .family import GpuContext, GpuFamily, GpuFamilyResult, each_kernel

MEMCPY_HOST_TO_DEVICE, MEMCPY_DEVICE_TO_HOST = 1, 2  # cudaMemcpyKind (driver_types.h)
DIRECTIONS = {"h2d": MEMCPY_HOST_TO_DEVICE, "d2h": MEMCPY_DEVICE_TO_HOST}  # Kernel.level -> memcpy kind


def pattern(nbytes: int) -> np.ndarray:
    """Bytes of a multiplicative hash mod 251: no run of equal bytes, different from zeroed memory."""
    return (np.arange(nbytes, dtype=np.uint64) * 2654435761 % 251).astype(np.uint8)


def run(session: GpuContext, kernels: Sequence[Kernel]) -> GpuFamilyResult:
    return each_kernel(session, kernels, _copy)


def _copy(session: GpuContext, kernel: Kernel) -> KernelResult:
    cp = session.cp
    nbytes = kernel.launch_as(TransferLaunch).nbytes
    runtime = cp.cuda.runtime
    pinned = cp.cuda.alloc_pinned_memory(nbytes)
    host = np.frombuffer(pinned, dtype=np.uint8, count=nbytes)
    expected = pattern(nbytes)
    device = cp.empty(nbytes, dtype=cp.uint8)
    kind = DIRECTIONS[kernel.level]
    if kind == MEMCPY_HOST_TO_DEVICE:
        host[:] = expected
        source, target = pinned.ptr, device.data.ptr
    else:
        device.set(expected)
        source, target = device.data.ptr, pinned.ptr

    def launch() -> None:
        runtime.memcpyAsync(target, source, nbytes, kind, session.stream.ptr)

    def check() -> None:
        session.stream.synchronize()
        moved = cp.asnumpy(device) if kind == MEMCPY_HOST_TO_DEVICE else host
        if not np.array_equal(moved, expected):
            raise MeasurementError(f"{kernel.name} output check failed: the copied bytes differ from the source")

    details = {"bytes": nbytes, "host_memory": "pinned (cudaHostAlloc)"}
    return session.time_and_check(kernel, launch, check, Work(nbytes, nbytes, nbytes), details)


FAMILY = GpuFamily("gpu", "transfer", run)
