"""Latency kernels for the CPU: a dependent-load chase, a bandwidth injector, and a cache-line ping-pong.

**Chase** (lmbench's ``lat_mem_rd``, with a random order as in Intel MLC): a working set of ``n`` cache lines
holds one 8-byte pointer at the start of each line; the pointers form one random cycle through every line: the
lines in a uniformly random order (a random permutation), each pointing at the next in that order and the last at the
first. Every cycle through the n lines is equally likely, as with Sattolo's algorithm (Sattolo 1986, Inf. Proc.
Letters 22(6)), which gives the same distribution as a successor array; keeping the order instead lets every
link be checked with independent loads, and says where a chase of any length must end. The timed
loop is ``p = *p``: each load's address is the previous load's value, so the loads cannot overlap and a
load's time is its load-to-use latency. The order is random, so no prefetcher can run ahead. The loop is
written as llvmlite IR (``numba.extending.intrinsic``), ``unroll`` dependent loads per trip (the catalog's; the
loop counter, compare and branch run beside the chain), each a plain
``mov (%reg), %reg``: numba's ``buf[p]`` would add a wrap-around select (negative index) or a scaled index to
every step, a cycle or more on the dependent path (``tests/test_latency.py`` checks the assembly).

**Injector** (MLC's loaded latency): moves bursts of its DRAM-sized arrays (``TRAFFIC``: reads, or reads with
plain or non-temporal writes), then spins ``delay`` time-stamp ticks, until the chaser's stop flag or a time-stamp
deadline; a larger delay injects less bandwidth. It says when it runs (a ready word) so the chase can wait for it.

**Ping-pong** (c2clat's method, Erik Rigtorp): two threads on two cores; one stores round ``m`` into line A and
waits for the other to echo ``m`` into line B. A round trip moves each line between the two cores' caches
once, so one-way core-to-core latency = round-trip time / 2. Loads and stores are LLVM atomics (acquire,
release) so the spin loops re-read memory; every spin has a time-stamp deadline, so a preempted partner
ends a round with an error instead of a hang.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .cpu_llvm import I64, emit_counted_loop, read_timestamp, read_timestamp_unfenced

LINE_BYTES = 64  # x86-64 and Arm server cores; one pointer per line, at its start
WORDS_PER_LINE = LINE_BYTES // 8
SPIN_CHECK = 1024  # spins between two deadline checks in the ping-pong (rdtsc costs tens of cycles)
TIMED_OUT = -1


def random_order(n: int, seed: int) -> np.ndarray:
    """The ``n`` lines in a uniformly random order (NumPy's PCG64 permutation: no JIT compilation, 2 M lines in
    tens of milliseconds)."""
    return np.random.default_rng(seed).permutation(n)


def link(buffer: np.ndarray, order: np.ndarray, base: int) -> None:
    """Line ``order[k]`` points at line ``order[k + 1]``, the last at the first: one cycle through every line, in
    random order. Run by the thread that will chase it (first touch: its pages come from that thread's node)."""
    buffer[order * WORDS_PER_LINE] = base + np.roll(order, -1) * LINE_BYTES


def check_links(buffer: np.ndarray, order: np.ndarray, base: int) -> int:
    """How many lines are right, or 0 unless ``order`` is a permutation of the n lines: line ``order[k]`` must
    point at ``order[k + 1]``. n means the chain is one cycle through every line: a chase from ``order[0]``
    visits ``order[0], order[1], ...`` and is back at its start after exactly n loads. Independent loads, so the
    check runs at memory bandwidth, not at one latency per line."""
    n = order.size
    if order.min() < 0 or order.max() >= n or np.bincount(order, minlength=n).max() != 1:
        return 0
    return int(np.count_nonzero(buffer[order * WORDS_PER_LINE] == base + np.roll(order, -1) * LINE_BYTES))


def _chase_intrinsic(unroll: int):
    """``p = *p``, ``steps`` times (a multiple of ``unroll``), from address ``start``; returns the last ``p``."""

    @intrinsic
    def chase_loop(typingctx, start, steps):
        sig = types.int64(types.int64, types.int64)

        def codegen(context, builder, signature, args):
            first, count = args
            pointer = I64.as_pointer()
            trips = builder.sdiv(count, ir.Constant(I64, unroll))

            def trip(values: list[ir.Value]) -> list[ir.Value]:  # ``unroll`` dependent loads
                value = values[0]
                for _ in range(unroll):
                    value = builder.load(builder.inttoptr(value, pointer), align=8)
                return [value]

            (result,) = emit_counted_loop(builder, "chase", trips, [first], trip)
            return result

        return sig, codegen

    return chase_loop


@functools.cache
def chase_kernel(unroll: int) -> Callable[[int, int], int]:
    """The compiled chase ``chase(start, steps) -> end address``: ``steps`` dependent loads from ``start``,
    ``unroll`` per loop trip (``steps`` a multiple of it: ``round_steps``)."""
    loop = _chase_intrinsic(unroll)

    @njit(nogil=True)
    def chase(start, steps):
        return loop(start, steps)

    return chase


def round_steps(steps: int, unroll: int) -> int:
    """``steps`` rounded up to a whole number of loop trips of ``unroll`` loads."""
    return max(unroll, -(-steps // unroll) * unroll)


@njit(nogil=True, fastmath=True)
def _sum(chunk: np.ndarray) -> float:
    """The sum of ``chunk`` (from index 0, so LLVM vectorises it; indices from an offset did not)."""
    total = 0.0
    for i in range(chunk.size):
        total += chunk[i]
    return total


@njit(nogil=True, fastmath=True)
def _sum4(a: np.ndarray, lo: int, hi: int) -> float:
    """The sum of ``a[lo + k * q : hi + k * q]`` for k = 0..3, ``q = a.size // 4``, in one loop: four independent
    sequential streams in flight side by side."""
    q = a.size // 4
    w = a[lo:hi]
    x = a[lo + q:hi + q]
    y = a[lo + 2 * q:hi + 2 * q]
    z = a[lo + 3 * q:hi + 3 * q]
    total = 0.0
    for i in range(w.size):
        total += w[i] + x[i] + y[i] + z[i]
    return total


# The traffic an injector's bursts move (as Intel MLC's traffic types, its ``-W`` option; MLC injects reads only
# unless told otherwise): reads only, or reads with writes, the writes plain (each line read for ownership, then
# written back) or non-temporal (streamed to memory, no read). Each is a burst over ``[lo, hi)`` of the injector's
# arrays a, b, c (64-byte aligned, every element 1.0); the positions wrap at len(a) / streams.
TRAFFIC = {
    "read": "reads of one sequential stream: sum(a)",
    "read4": "reads of four sequential streams side by side (four quarters of a)",
    "copy": "c = a, plain stores: 2 reads (a, c read for ownership) : 1 write",
    "copy_nt": "c = a, non-temporal stores: 1 read : 1 write",
    "triad": "a = b + 0 * c, plain stores: 3 reads (b, c, a read for ownership) : 1 write",
    "triad_nt": "a = b + 0 * c, non-temporal stores: 2 reads : 1 write",
}
TRAFFIC_BYTES = {"read": 8, "read4": 32, "copy": 24, "copy_nt": 16, "triad": 32, "triad_nt": 24}
"""Bytes each traffic moves to or from memory per burst element (plain stores count their read for ownership and
their write-back)."""
TRAFFIC_STREAMS = {"read": 1, "read4": 4}
TRAFFIC_ARRAYS = {"read": (0,), "read4": (0,), "copy": (0, 2), "copy_nt": (0, 2), "triad": (0, 1, 2),
                  "triad_nt": (0, 1, 2)}
"""Which of a, b, c each traffic touches (the others may be empty)."""


@functools.cache
def injector(traffic: str) -> Callable[..., tuple[int, float, int]]:
    """The compiled injector of ``traffic`` (``TRAFFIC``): ``inject(a, b, c, burst, delay_ticks, ready_address,
    stop_address, deadline_ticks) -> (bursts, sum, started_ticks)`` stores 1 at ``ready_address`` (the chaser
    waits for every injector's word) and moves ``burst`` elements per burst (wrapping), spins
    ``delay_ticks``, until the word at ``stop_address`` is non-zero (the chaser is done) or the time-stamp counter
    passes ``deadline_ticks``. The sum is of what the reads returned (read traffic; 0 for the others, whose arrays
    are checked afterwards), so the loads cannot be removed; ``started_ticks`` is the time stamp of its first burst
    (a thread started after the chase began did not load all of it)."""
    from . import cpu_stream

    if traffic not in TRAFFIC:
        raise ValueError(f"unknown injection traffic {traffic!r}; one of {', '.join(TRAFFIC)}")
    streams = TRAFFIC_STREAMS.get(traffic, 1)
    writes = {"copy": cpu_stream.copy, "triad": cpu_stream.triad,  # STREAM's kernels, 8 float64 per NT store
              "copy_nt": cpu_stream.nontemporal_kernel("copy", 8),
              "triad_nt": cpu_stream.nontemporal_kernel("triad", 8)}.get(traffic)

    if traffic == "read":
        @njit(nogil=True)
        def burst_of(a, b, c, lo, hi):
            return _sum(a[lo:hi])
    elif traffic == "read4":
        @njit(nogil=True)
        def burst_of(a, b, c, lo, hi):
            return _sum4(a, lo, hi)
    else:
        write = writes

        @njit(nogil=True)
        def burst_of(a, b, c, lo, hi):
            write(a, b, c, 0.0, lo, hi)
            return 0.0

    @njit(nogil=True)
    def inject(a, b, c, burst, delay_ticks, ready_address, stop_address, deadline_ticks):
        total = 0.0
        bursts = 0
        position = 0
        span = a.size // streams
        started = read_timestamp()
        _store_release(ready_address, 1)
        while _load_acquire(stop_address) == 0 and read_timestamp_unfenced() < deadline_ticks:
            total += burst_of(a, b, c, position, position + burst)
            bursts += 1
            position += burst
            if position + burst > span:
                position = 0
            if delay_ticks > 0:
                began = read_timestamp_unfenced()
                while read_timestamp_unfenced() - began < delay_ticks:
                    pass
        return bursts, total, started

    return inject


@njit(nogil=True)
def wait_for_all(address: int, count: int, deadline_ticks: int) -> bool:
    """Spin until the ``count`` int64 words from ``address`` are all non-zero (every injector has started), or
    False once the time-stamp counter passes ``deadline_ticks``."""
    for k in range(count):
        while _load_acquire(address + 8 * k) == 0:  # type: ignore[call-arg]  # numba stub, see _load_acquire
            if read_timestamp_unfenced() > deadline_ticks:
                return False
    return True


@njit(nogil=True)
def wait_until(ticks: int) -> None:
    """Spin until the time-stamp counter reaches ``ticks`` (without the GIL)."""
    while read_timestamp() < ticks:  # type: ignore[call-arg]  # numba stub, see _load_acquire
        pass


@njit(nogil=True)
def signal(address: int) -> None:
    """Store 1 at ``address`` (release): tells the injectors to stop."""
    _store_release(address, 1)  # type: ignore[call-arg]  # numba stub, see _load_acquire


# numba's stub types an intrinsic's call with its typing function's signature (``typingctx`` first), but jitted
# code calls it without ``typingctx``: the calls below carry a targeted ``type: ignore[call-arg]`` for that.
@intrinsic
def _load_acquire(typingctx, address):
    sig = types.int64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.load_atomic(builder.inttoptr(args[0], I64.as_pointer()), "acquire", 8)

    return sig, codegen


@intrinsic
def _store_release(typingctx, address, value):
    sig = types.void(types.int64, types.int64)

    def codegen(context, builder, signature, args):
        builder.store_atomic(args[1], builder.inttoptr(args[0], I64.as_pointer()), "release", 8)
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True)
def _wait_for(address: int, value: int, deadline_ticks: int) -> bool:
    spins = 0
    while _load_acquire(address) != value:  # type: ignore[call-arg]  # numba stub, see _load_acquire
        spins += 1
        if spins % SPIN_CHECK == 0 and read_timestamp_unfenced() > deadline_ticks:
            return False
    return True


@njit(nogil=True)
def ping(line_a: int, line_b: int, rounds: int, deadline_ticks: int) -> int:
    """The initiating side: store round ``m`` into A, wait for it in B. Returns the rounds completed, or
    ``TIMED_OUT``."""
    for m in range(rounds):
        _store_release(line_a, m)  # type: ignore[call-arg]  # numba stub, see _load_acquire
        if not _wait_for(line_b, m, deadline_ticks):
            return TIMED_OUT
    return rounds


@njit(nogil=True)
def pong(line_a: int, line_b: int, rounds: int, deadline_ticks: int) -> int:
    """The echoing side: wait for round ``m`` in A, store it into B."""
    for m in range(rounds):
        if not _wait_for(line_a, m, deadline_ticks):
            return TIMED_OUT
        _store_release(line_b, m)  # type: ignore[call-arg]  # numba stub, see _load_acquire
    return rounds


@njit(nogil=True)
def read_timestamp_now() -> int:
    """The time-stamp counter, callable from Python."""
    return read_timestamp()  # type: ignore[call-arg]  # numba stub, see _load_acquire


@njit(nogil=True)
def reset_lines(lines: np.ndarray) -> None:
    """Both ping-pong lines to -1 (no round yet)."""
    for i in range(lines.size):
        lines[i] = -1
