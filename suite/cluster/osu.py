"""MPI point-to-point latency and bandwidth between two ranks, by the OSU micro-benchmarks' method
(osu_latency and osu_bw, OSU Micro-Benchmarks user guide, "Point-to-Point MPI Benchmarks"):

* latency (osu_latency): the sender sends a message and waits for the same size back; after ``skip`` warm-up
  round trips, ``iterations`` timed ones; latency = elapsed / (2 x iterations), one way, in microseconds;
* bandwidth (osu_bw): the sender posts a window of ``WINDOW`` non-blocking sends, the receiver as many
  receives, then a 4-byte reply closes the window; after ``skip`` warm-up windows, ``iterations`` timed ones;
  bandwidth = size x WINDOW x iterations / elapsed (10^6 bytes per MB: osu_bw prints MB/s; hwbench gives GB/s,
  10^9 bytes).

Message sizes: powers of two from 1 byte to 4 MiB. Iterations as OSU's defaults (10,000 small / 1,000 large
for latency, 100 / 20 windows for bandwidth, sizes above 8 KiB being large), a tenth of them with --quick.
The received bytes of the last message of each size are checked against the sender's pattern: a wrong
message is a MeasurementError, never a figure.

The functions take an mpi4py communicator and the ``MPI`` module, so this module imports no MPI itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MeasurementError
from ..stats import significant

SIZES = tuple(1 << k for k in range(23))  # 1 B .. 4 MiB
LARGE = 8192  # OSU: above this, the large-message iteration counts
WINDOW = 64  # osu_bw's window of outstanding messages
LATENCY_ITERATIONS = {"small": (100, 10000), "large": (10, 1000)}  # (skip, iterations): OSU defaults
BANDWIDTH_ITERATIONS = {"small": (10, 100), "large": (2, 20)}
TAG = 1


def one_way_latency_us(elapsed_s: float, iterations: int) -> float:
    """osu_latency: half the mean round trip, in microseconds."""
    return elapsed_s * 1e6 / (2 * iterations)


def window_bandwidth_gbps(size: int, iterations: int, elapsed_s: float, window: int = WINDOW) -> float:
    """osu_bw: bytes sent in all timed windows per second, in GB/s (10^9 bytes)."""
    return size * window * iterations / elapsed_s / 1e9


def iterations(size: int, table: dict[str, tuple[int, int]], quick: bool) -> tuple[int, int]:
    skip, count = table["large" if size > LARGE else "small"]
    return (max(1, skip // 10), max(2, count // 10)) if quick else (skip, count)


def _pattern(size: int, seed: int) -> np.ndarray:
    return ((np.arange(size, dtype=np.uint32) * 31 + seed) % 251).astype(np.uint8)


def _check(buffer: np.ndarray, size: int, seed: int, what: str, peer: int) -> None:
    if not np.array_equal(buffer[:size], _pattern(size, seed)):
        raise MeasurementError(f"MPI {what}: the {size}-byte message from rank {peer} arrived altered; no figure "
                               "is reported")


def latency(comm: Any, mpi: Any, peer: int, sender: bool, quick: bool, sizes=SIZES) -> list[dict]:
    """osu_latency between this rank and ``peer``; the sender returns the figures, the other an empty list."""
    top = max(sizes)
    out, back = _pattern(top, 7), np.zeros(top, dtype=np.uint8)
    found = []
    for size in sizes:
        skip, count = iterations(size, LATENCY_ITERATIONS, quick)
        comm.Barrier()
        start = 0.0
        for i in range(skip + count):
            if i == skip:
                start = mpi.Wtime()
            if sender:
                comm.Send([out[:size], mpi.BYTE], dest=peer, tag=TAG)
                comm.Recv([back[:size], mpi.BYTE], source=peer, tag=TAG)
            else:
                comm.Recv([back[:size], mpi.BYTE], source=peer, tag=TAG)
                comm.Send([back[:size], mpi.BYTE], dest=peer, tag=TAG)
        elapsed = mpi.Wtime() - start
        _check(back, size, 7, "latency", peer)
        back[:size] = 0
        if sender:
            found.append({"bytes": size, "latency_us": significant(one_way_latency_us(elapsed, count)),
                          "iterations": count})
    return found


def bandwidth(comm: Any, mpi: Any, peer: int, sender: bool, quick: bool, sizes=SIZES) -> list[dict]:
    """osu_bw from this rank (the sender) to ``peer``; the sender returns the figures."""
    top = max(sizes)
    out = _pattern(top, 11)
    inbox = np.zeros((WINDOW, top), dtype=np.uint8)
    ack = np.zeros(4, dtype=np.uint8)
    found = []
    for size in sizes:
        skip, count = iterations(size, BANDWIDTH_ITERATIONS, quick)
        comm.Barrier()
        start = 0.0
        for i in range(skip + count):
            if i == skip:
                start = mpi.Wtime()
            if sender:
                requests = [comm.Isend([out[:size], mpi.BYTE], dest=peer, tag=TAG) for _ in range(WINDOW)]
                mpi.Request.Waitall(requests)
                comm.Recv([ack, mpi.BYTE], source=peer, tag=TAG + 1)
            else:
                requests = [comm.Irecv([inbox[w, :size], mpi.BYTE], source=peer, tag=TAG) for w in range(WINDOW)]
                mpi.Request.Waitall(requests)
                comm.Send([ack, mpi.BYTE], dest=peer, tag=TAG + 1)
        elapsed = mpi.Wtime() - start
        if not sender:
            _check(inbox[WINDOW - 1], size, 11, "bandwidth", peer)
        if sender:
            found.append({"bytes": size, "gbps": significant(window_bandwidth_gbps(size, count, elapsed)),
                          "iterations": count, "window": WINDOW})
    return found


@dataclass(frozen=True)
class PairResult:
    ranks: tuple[int, int]
    hosts: tuple[str, str]
    latency: list[dict]
    bandwidth: list[dict]


def measure_pairs(comm: Any, mpi: Any, host: str, quick: bool, sizes=SIZES) -> list[PairResult]:
    """Rank 0 against every other rank in turn (the others wait at the barriers); every rank calls this and
    rank 0 gets every pair's figures (the others get theirs too, sent back by rank 0)."""
    rank, size = comm.Get_rank(), comm.Get_size()
    hosts = comm.allgather(host)
    pairs = []
    for peer in range(1, size):
        if rank in (0, peer):
            other = peer if rank == 0 else 0
            found_latency = latency(comm, mpi, other, rank == 0, quick, sizes)
            found_bandwidth = bandwidth(comm, mpi, other, rank == 0, quick, sizes)
        else:
            found_latency = found_bandwidth = []
            for _ in sizes:  # the per-size barriers of latency and bandwidth
                comm.Barrier()
            for _ in sizes:
                comm.Barrier()
        pairs.append(PairResult((0, peer), (hosts[0], hosts[peer]), found_latency, found_bandwidth))
    return comm.bcast(pairs if rank == 0 else None, root=0)
