"""The latency family on NVIDIA GPUs (kernels/cuda/latency.cu): one thread chases a random cycle through shared
memory, L1 (``__ldg``), L2 and HBM (``__ldcg``), timed in SM cycles with ``clock64()``.

Each level's chain is one random cycle through lines of ``LINE_BYTES`` (a random order of the lines, each line's
first word holding the index of the next line's first word: a uniformly random cyclic permutation, as Sattolo's
algorithm gives). Sizes: shared and L1 from the catalog (within every SM's shared memory and L1 since Volta),
L2 ``l2_share`` of the L2, HBM ``dram_l2_multiple`` x the L2. The kernel walks ``warm`` loads untimed (the whole
cycle for the on-chip levels and L2, so the lines are resident; a few for HBM, so every timed line is cold), then
``steps`` timed loads. Validation: the index it ends at must be the cycle's element ``warm + steps`` places
after the start. Nanoseconds: cycles at the SM clock NVML read over the samples (its median).

Beyond this GPU's memory (nvbandwidth's ``host_device_latency_sm`` and ``device_to_device_latency_sm`` method): the
same single thread chases a chain of ``remote_bytes`` with ``__ldcv`` (never served from a cache) in pinned host
memory (level ``h2d``: ``cupy.cuda.alloc_pinned_memory``, a cudaHostAlloc buffer, which a kernel reads at its host
address; CUDA C++ Programming Guide, "Unified Virtual Address Space": pointers returned by cudaHostAlloc() can be used
directly from within kernels) and, where the machine has a peer GPU this one may access
(``cudaDeviceCanAccessPeer``), in that peer's memory through peer access (level ``d2d``). Validated as the others; a
machine without a peer says so in the run's definition.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..catalog import Kernel
from ..errors import MeasurementError
from ..kernel_spec import GpuChaseLaunch
from ..record import LatencyPoint, LatencyRecord
from .family import GpuContext, GpuFamily, GpuFamilyResult

LINE_BYTES = 128  # an L1 line of every NVIDIA GPU since Volta
WORD_BYTES = 4
SEED = 20260101


def random_cycle(lines: int, stride_words: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(the chain: ``lines`` x ``stride_words`` uint32, line k's first word the index of the next line's first
    word; the cycle's order of first-word indices). One cycle through every line."""
    order = np.random.default_rng(seed).permutation(lines).astype(np.int64) * stride_words
    chain = np.zeros(lines * stride_words, dtype=np.uint32)
    chain[order] = np.roll(order, -1)
    return chain, order


def level_plan(session: GpuContext, kernel: Kernel) -> list[tuple[str, str, int]]:
    """(level, entry, bytes) of every chase: shared, L1, L2, HBM."""
    launch = kernel.launch_as(GpuChaseLaunch)
    l2 = session.gpu.l2_bytes
    return [("shared", "chase_shared", launch.shared_bytes), ("l1", "chase_global_ldg", launch.l1_bytes),
            ("l2", "chase_global_cg", int(l2 * launch.l2_share)),
            ("dram", "chase_global_cg", int(l2 * launch.dram_l2_multiple))]


def peer_of(session: GpuContext) -> int | None:
    """The first other GPU whose memory this one may read (``cudaDeviceCanAccessPeer``), or None."""
    runtime = session.cp.cuda.runtime
    index = session.gpu.index
    for other in range(runtime.getDeviceCount()):
        if other != index and runtime.deviceCanAccessPeer(index, other):
            return other
    return None


def enable_peer_access(session: GpuContext, peer: int) -> None:
    """Let this GPU read ``peer``'s memory; already enabled (by the links family) is fine."""
    runtime = session.cp.cuda.runtime
    try:
        runtime.deviceEnablePeerAccess(peer)
    except runtime.CUDARuntimeError as error:
        if "PeerAccessAlreadyEnabled" not in str(error):
            raise


def remote_chains(session: GpuContext, chain: np.ndarray) -> tuple[list[tuple[str, Any, Any]], str]:
    """([(level, the chain's copy there, what keeps it alive)], which peer) for pinned host memory and, where there is
    one, a peer GPU: the chain argument is the host buffer's address (a pointer-sized integer) or the peer's array."""
    cp = session.cp
    pinned = cp.cuda.alloc_pinned_memory(chain.nbytes)
    np.frombuffer(pinned, dtype=np.uint32, count=chain.size)[:] = chain
    found: list[tuple[str, Any, Any]] = [("h2d", np.uint64(pinned.ptr), pinned)]
    peer = peer_of(session)
    if peer is not None:
        enable_peer_access(session, peer)
        with cp.cuda.Device(peer):
            on_peer = cp.asarray(chain)
            cp.cuda.Device(peer).synchronize()  # the copy is done before this GPU's stream reads it
        found.append(("d2d", on_peer, on_peer))
        return found, f"cuda:{peer}, through peer access"
    return found, "not measured: no other GPU this one may access (cudaDeviceCanAccessPeer)"


def chase_samples(session: GpuContext, kernel: Kernel, level: str, function: Any, chain: Any, words: int,
                  order: np.ndarray, warm: int, steps: int, shared_bytes: int = 0) -> tuple[float, ...]:
    """Cycles per load of each sample; the end index checked against the cycle every time."""
    cp = session.cp
    cycles = cp.zeros(1, dtype=np.int64)
    end = cp.zeros(1, dtype=np.uint32)
    lines = len(order)
    expected = int(order[(warm + steps) % lines])
    samples = []
    for _ in range(kernel.launch_as(GpuChaseLaunch).samples):
        if level == "shared":
            function((1,), (256,), (chain, np.int32(words), np.int32(warm), np.int32(steps), np.uint32(order[0]),
                                    cycles, end), shared_mem=shared_bytes)
        else:
            function((1,), (32,), (chain, np.int32(warm), np.int32(steps), np.uint32(order[0]), cycles, end))
        session.stream.synchronize()
        if int(cp.asnumpy(end)[0]) != expected:
            raise MeasurementError(f"latency chase over {level} ({lines} lines) ended at index "
                                   f"{int(cp.asnumpy(end)[0])}, expected {expected}: no figure is reported")
        samples.append(float(cp.asnumpy(cycles)[0]) / steps)
    return tuple(samples)


def planned_steps(session: GpuContext, kernels: Sequence[Kernel]) -> int:
    """One progress step: the family's one chase kernel runs every level."""
    return 1


def run(session: GpuContext, kernels: Sequence[Kernel]) -> GpuFamilyResult:
    """Chase every level; the figures go to the result's ``latency`` (a chase is not a bandwidth kernel)."""
    kernel = kernels[0]
    session.step(kernel.name)
    cp, launch = session.cp, kernel.launch_as(GpuChaseLaunch)
    unroll = kernel.constants["UNROLL"]
    steps = launch.steps // unroll * unroll
    module = session.module(kernel)
    sampler = getattr(session, "sampler", None)
    started = time.monotonic()
    points = []
    for level, entry, size in level_plan(session, kernel):
        stride = 1 if level == "shared" else LINE_BYTES // WORD_BYTES
        lines = max(unroll, size // (stride * WORD_BYTES))
        chain, order = random_cycle(lines, stride)
        warm = steps if level == "dram" else -(-lines // unroll) * unroll
        samples = chase_samples(session, kernel, level, module.get_function(entry), cp.asarray(chain), chain.size,
                                order, warm, steps, chain.nbytes)
        points.append((level, lines * stride * WORD_BYTES, samples))
    stride = LINE_BYTES // WORD_BYTES
    lines = max(unroll, launch.remote_bytes // LINE_BYTES)
    chain, order = random_cycle(lines, stride)
    remotes, peer = remote_chains(session, chain)
    for level, remote, _alive in remotes:
        samples = chase_samples(session, kernel, level, module.get_function("chase_remote"), remote, chain.size,
                                order, unroll, steps)
        points.append((level, lines * LINE_BYTES, samples))
    mhz = session.gpu.max_sm_mhz
    source = "NVML max SM clock (a single thread does not lower it)"
    if sampler is not None:
        sampler.mark()
        window = sampler.window(started, time.monotonic())
        if window.sm_mhz:
            mhz, source = window.sm_mhz, "NVML SM clock, median over the chases"
    if not mhz:
        session.warnings.append("latency: NVML gave no SM clock, so GPU latencies are in cycles only")
    latency = LatencyRecord(
        tuple(LatencyPoint(size, tuple(c / mhz * 1e3 for c in cycles) if mhz else tuple(cycles), level,
                           cycles) for level, size, cycles in points),
        {"sm_clock_mhz": mhz, "sm_clock_source": source, "steps": steps, "line_bytes": LINE_BYTES, "d2d_peer": peer,
         "samples": launch.samples,
         "method": "one thread chases a random cycle of line indices (j = chain[j]), clock64() around the timed "
                   "loads; shared memory (the chain copied in), L1 (__ldg), L2 and HBM (__ldcg); h2d: pinned host "
                   "memory and d2d: a peer GPU's memory through peer access (__ldcv, nvbandwidth's "
                   "host_device_latency_sm / device_to_device_latency_sm); the end index checked against the cycle"})
    return GpuFamilyResult(latency=latency)


FAMILY = GpuFamily("gpu", "latency", run, planned_steps)


__all__ = ["FAMILY", "level_plan", "peer_of", "random_cycle", "run"]
