"""The dependent-load chase on the CPU (kernels/cpu_latency.py): the huge-page buffer, the validated random
cycle through a working set's cache lines, and one point of the idle-latency sweep.

The buffer is one anonymous mapping aligned on 2 MiB with ``madvise(MADV_HUGEPAGE)``, so that TLB misses do not
add a page walk to every DRAM load where the kernel grants huge pages; ``/proc/self/smaps`` says how much of it
the kernel granted (``AnonHugePages``). A chain is linked by the thread that chases it (first touch), checked
link by link (``check_links``: one cycle through every line, so back at its start after exactly n loads), and
every chase continues where the last ended and must end at the line the order puts there. A point runs whole on
the chasing CPU's pinned worker through ``timing.time_kernel``.
"""

from __future__ import annotations

import mmap
import re
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..errors import MeasurementError
from ..kernels import cpu_latency
from ..record import LatencyPoint
from ..stats import RepetitionPolicy
from ..timing import Sample, time_kernel
from .family import CpuContext

T = TypeVar("T")

HUGE_PAGE = 2 * 2**20  # x86-64 and AArch64 (4 KiB base pages) transparent huge page
SMAPS = Path("/proc/self/smaps")
SEED = 20260101  # the permutation's seed: the same chain in every run, so runs compare the same walk
PROBE_LOADS = 1 << 16  # the untimed chase that sizes a point's samples: 70 us in L1, 10 ms in DRAM


class HugeBuffer:
    """An anonymous private mapping of ``nbytes`` (rounded up to huge pages), 2 MiB aligned, advised
    ``MADV_HUGEPAGE``, seen as int64 words. Untouched: the chase's ``link`` first-touches it."""

    def __init__(self, nbytes: int):
        size = -(-nbytes // HUGE_PAGE) * HUGE_PAGE
        self._map = mmap.mmap(-1, size + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        raw = np.frombuffer(self._map, dtype=np.uint8)
        offset = (-raw.ctypes.data) % HUGE_PAGE
        self.advised = False
        if hasattr(mmap, "MADV_HUGEPAGE"):
            try:
                self._map.madvise(mmap.MADV_HUGEPAGE, offset, size)
                self.advised = True
            except OSError:
                pass
        self.words = raw[offset:offset + size].view(np.int64)
        self.address = int(self.words.ctypes.data)
        self.nbytes = size

    def huge_bytes(self, smaps: Path = SMAPS) -> int | None:
        """Bytes of this mapping backed by transparent huge pages (``AnonHugePages``), None if unreadable."""
        return anon_huge_bytes(self.address, smaps)


def anon_huge_bytes(address: int, smaps: Path = SMAPS) -> int | None:
    """``AnonHugePages`` of the mapping holding ``address`` in an smaps file, in bytes; None if not found."""
    try:
        text = smaps.read_text()
    except OSError:
        return None
    inside = False
    for line in text.splitlines():
        header = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
        if header:
            inside = int(header.group(1), 16) <= address < int(header.group(2), 16)
        elif inside and line.startswith("AnonHugePages:"):
            return int(line.split()[1]) * 1024
    return None


def sweep_sizes(smallest: int, top: int, steps: Sequence[float], dense_below: int | None = None) -> list[int]:
    """Working sets from ``smallest`` to ``top``: each power of two times every factor in ``steps`` (1, 1.5) below
    ``dense_below`` (the last-level cache: beyond it the curve is DRAM's, and each point costs a chain of
    millions of lines), powers of two from there; whole cache lines, ascending."""
    sizes: set[int] = set()
    power = smallest
    while power <= top:
        for factor in steps if dense_below is None or power < dense_below else (1.0,):
            size = int(power * factor) // cpu_latency.LINE_BYTES * cpu_latency.LINE_BYTES
            if smallest <= size <= top:
                sizes.add(size)
        power *= 2
    return sorted(sizes)


def top_working_set(context: CpuContext, llc_multiple: int) -> int:
    """``llc_multiple`` x the last-level cache the chasing core shares (the L3 instance, else its L2), a power
    of two at least 64 MiB, capped at a quarter of available memory."""
    caches = context.cpu.caches
    llc = caches.get("l3") or caches.get("l2") or 16 * 2**20
    wanted = 1 << max(26, (llc_multiple * llc - 1).bit_length())
    while wanted > context.cpu.available_memory_bytes // 4 and wanted > 2**20:
        wanted //= 2
    return wanted


class Chain:
    """A random cycle through the first ``n`` lines of a buffer, chased from line ``order[0]``. Every chase
    continues where the last one ended (a chase restarted at the first line would revisit the same few lines,
    which then sit in a cache); after ``loads`` loads in all it must be at line ``order[loads mod n]``."""

    def __init__(self, context: CpuContext, buffer: HugeBuffer, working_set: int, unroll: int, worker: int = 0,
                 order: np.ndarray | None = None):
        self.context, self.buffer, self.worker = context, buffer, worker
        self.unroll, self.chase = unroll, cpu_latency.chase_kernel(unroll)
        self.n = working_set // cpu_latency.LINE_BYTES
        self.order = cpu_latency.random_order(self.n, SEED) if order is None else order
        self._on(worker, partial(cpu_latency.link, buffer.words, self.order, buffer.address))
        right = self._on(worker, partial(cpu_latency.check_links, buffer.words, self.order, buffer.address))
        if right != self.n:
            raise MeasurementError(f"latency chase over {self.n} lines is not one cycle through every line "
                                   f"({right} lines linked right); no figure is reported")
        self.position = self.address_of(0)
        self.loads = 0

    def address_of(self, loads: int) -> int:
        """Where a chase from the start is after ``loads`` loads."""
        return self.buffer.address + int(self.order[loads % self.n]) * cpu_latency.LINE_BYTES

    def _on(self, worker: int, task: Callable[[], T]) -> T:
        tasks: list[Callable[[], object]] = [task if i == worker else idle for i in range(len(self.context.cpus))]
        result: T = self.context.pool.run(tasks)[1][worker]  # the pool returns worker i's task's own result
        return result

    def on_worker(self, task: Callable[[], T]) -> T:
        """Run ``task`` on the chasing CPU's worker thread (pinned), and return what it returns."""
        return self._on(self.worker, task)

    def timed(self, steps: int) -> float:
        """Seconds of one chase of ``steps`` loads from where the last one ended; call it on the chasing CPU."""
        seconds, end = timed_chase(self.chase, self.position, steps)
        self.advance(end, steps)
        return seconds

    def advance(self, end: int, steps: int) -> None:
        """Check where a chase of ``steps`` loads ended, and continue from there."""
        self.loads += steps
        expected = self.address_of(self.loads)
        if end != expected:
            raise MeasurementError(f"latency chase over {self.n} lines ended at {end:#x} after {self.loads} loads, "
                                   f"expected {expected:#x}: a load returned a wrong pointer; no figure is reported")
        self.position = end


def idle() -> None:
    return None


def timed_chase(chase: Callable[[int, int], int], start: int, steps: int) -> tuple[float, int]:
    began = time.perf_counter()
    end = chase(start, steps)
    return time.perf_counter() - began, end


def measure_point(chain: Chain, sample_seconds: float, policy: RepetitionPolicy) -> LatencyPoint:
    """Samples of ns per load over one chain, every chase's end checked: the whole point runs on the chasing CPU's
    pinned worker (one hand-over to the pool per point, not one per sample)."""
    return chain.on_worker(partial(_measure_here, chain, sample_seconds, policy))


def _measure_here(chain: Chain, sample_seconds: float, policy: RepetitionPolicy) -> LatencyPoint:
    probe = cpu_latency.round_steps(PROBE_LOADS, chain.unroll)
    seconds = chain.timed(probe)
    steps = cpu_latency.round_steps(int(sample_seconds / max(seconds / probe, 1e-10)), chain.unroll)

    def run(calls: int) -> Sample:
        return Sample(sum(chain.timed(steps) for _ in range(calls)))

    timing = time_kernel(run, policy)
    return LatencyPoint(chain.n * cpu_latency.LINE_BYTES, tuple(t / steps * 1e9 for t in timing.seconds))


__all__ = ["Chain", "HugeBuffer", "anon_huge_bytes", "idle", "measure_point", "sweep_sizes", "timed_chase",
           "top_working_set"]
