"""NCCL all-reduce bus bandwidth between the GPUs of all ranks, as nccl-tests' all_reduce_perf measures it,
through CuPy's NCCL bindings (``cupy.cuda.nccl``).

One communicator member per GPU: rank ``first_rank + k`` is this process's k-th GPU, ``members`` in all; the
NCCL unique id is made by one process and handed to all (the caller does that, over MPI: this module imports
no MPI). Per message size: ``WARMUP`` untimed all-reduces, then ``ITERATIONS`` back-to-back out-of-place float32
sum all-reduces between CUDA events on each GPU's stream (nccl-tests' defaults: -w 5 -n 20); time = the events'
span / iterations, averaged over every member (nccl-tests' default ``-a 1``, by the caller's ``average``).

nccl-tests' PERFORMANCE.md: algbw = S / t; for all-reduce, busbw = algbw x 2(n-1)/n, the bandwidth each link
must carry for a ring or tree algorithm to achieve it, comparable with the hardware's peak link bandwidth
whatever n.

Validation: member r sends the value r + 1 everywhere, so every element of every result must be n(n+1)/2
(exact in float32 for any n below 2^12); a wrong sum is a MeasurementError.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import MeasurementError
from ..stats import significant

WARMUP, ITERATIONS = 5, 20  # nccl-tests: -w 5 -n 20
SIZES = {True: tuple(1 << k for k in range(10, 27, 4)),  # --quick: 1 KiB .. 64 MiB by x16
         False: tuple(1 << k for k in range(10, 31, 2))}  # 1 KiB .. 1 GiB by x4
ELEMENT_BYTES = 4  # float32


def bus_bandwidth_gbps(algorithm_gbps: float, members: int) -> float:
    """nccl-tests' busbw for all-reduce: algbw x 2(n-1)/n (PERFORMANCE.md, "AllReduce")."""
    return algorithm_gbps * 2 * (members - 1) / members


def algorithm_bandwidth_gbps(size_bytes: int, seconds: float) -> float:
    """nccl-tests' algbw: S / t, in GB/s (10^9 bytes)."""
    return size_bytes / seconds / 1e9


def nccl_module(cp: Any) -> Any:
    """``cp.cuda.nccl`` of the CuPy module in hand (imported on first use); a MeasurementError when this CuPy
    has no NCCL (CuPy 14 imports ``cupy.cuda.nccl`` without the library, with ``available`` False)."""
    nccl = getattr(cp.cuda, "nccl", None)
    if nccl is None:
        try:
            from cupy.cuda import nccl  # type: ignore[no-redef]  # the same module, imported where not yet loaded
        except ImportError:
            nccl = None
    if nccl is None or not getattr(nccl, "available", True):
        raise MeasurementError("NCCL all-reduce: this CuPy has no NCCL (pip install nvidia-nccl-cu12, or CuPy's "
                               "conda package); the MPI figures are kept")
    return nccl


def make_unique_id() -> Any:
    """An NCCL unique id (one process makes it; the caller hands it to every member)."""
    import cupy as cp

    return nccl_module(cp).get_unique_id()


def measure_allreduce(indices: Sequence[int], first_rank: int, members: int, unique_id: Any,
                      average: Callable[[float], float], quick: bool = False) -> dict:
    """The NCCL part of the ``interconnect`` section, as seen from this process's GPUs ``indices``."""
    import cupy as cp

    nccl = nccl_module(cp)
    comms, streams, send, receive = [], [], [], []
    largest = max(SIZES[quick]) // ELEMENT_BYTES
    nccl.groupStart()
    for k, index in enumerate(indices):
        with cp.cuda.Device(index):
            comms.append(nccl.NcclCommunicator(members, unique_id, first_rank + k))
    nccl.groupEnd()
    for k, index in enumerate(indices):
        with cp.cuda.Device(index):
            streams.append(cp.cuda.Stream(non_blocking=True))
            with streams[k]:  # the fills on the stream the all-reduces run on: ordered before them
                send.append(cp.empty(largest, dtype=cp.float32))
                send[k].fill(float(first_rank + k + 1))
                receive.append(cp.empty(largest, dtype=cp.float32))
                receive[k].fill(0.0)
    expected = members * (members + 1) / 2
    rows: list[dict] = []
    wrong: str | None = None
    for size in SIZES[quick]:
        count = size // ELEMENT_BYTES

        def all_reduce(count: int = count) -> None:
            nccl.groupStart()
            for k, index in enumerate(indices):
                with cp.cuda.Device(index):
                    comms[k].allReduce(send[k].data.ptr, receive[k].data.ptr, count, nccl.NCCL_FLOAT32,
                                       nccl.NCCL_SUM, streams[k].ptr)
            nccl.groupEnd()

        for _ in range(WARMUP):
            all_reduce()
        events = []
        for k, index in enumerate(indices):
            with cp.cuda.Device(index):
                events.append((cp.cuda.Event(), cp.cuda.Event()))
                events[k][0].record(streams[k])
        for _ in range(ITERATIONS):
            all_reduce()
        seconds = []
        for k, index in enumerate(indices):
            with cp.cuda.Device(index):
                events[k][1].record(streams[k])
                events[k][1].synchronize()
                seconds.append(cp.cuda.get_elapsed_time(*events[k]) / 1e3 / ITERATIONS)
                result = receive[k][:count]
                if not (float(result.min()) == expected == float(result.max())) and wrong is None:
                    wrong = (f"NCCL all-reduce of {size} bytes on cuda:{index}: the sum is not {expected:g} "
                             "everywhere; no figure is reported")
        local = sum(seconds) / len(seconds)
        mean_seconds = average(local)  # a collective: taken for every size, even after a wrong sum, so no
        # member is left waiting; the error is raised once every size is done
        algbw = algorithm_bandwidth_gbps(size, mean_seconds)
        rows.append({"bytes": size, "time_us": significant(mean_seconds * 1e6), "algbw_gbps": significant(algbw),
                     "busbw_gbps": significant(bus_bandwidth_gbps(algbw, members))})
    if wrong is not None:
        raise MeasurementError(wrong)
    version = nccl.get_version() if hasattr(nccl, "get_version") else None
    return {
        "members": members, "nccl_version": version,
        "method": (f"nccl-tests all_reduce_perf's method: out-of-place float32 sum, {WARMUP} warm-up and "
                   f"{ITERATIONS} timed all-reduces between CUDA events per size, time averaged over members; "
                   "every result checked (member r sends r + 1; the sum is n(n+1)/2)"),
        "counting": "algbw = bytes / time; busbw = algbw x 2(n-1)/n (nccl-tests PERFORMANCE.md); GB/s = 10^9 B/s",
        "sizes": rows,
    }
