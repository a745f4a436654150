"""The latency family on NVIDIA GPUs (kernels/cuda/latency.cu): one thread chases a random cycle through shared
memory, L1 (``__ldg``), L2 and HBM (``__ldcg``), timed in SM cycles with ``clock64()``.

Each level's chain is one random cycle through lines of ``LINE_BYTES`` (a random order of the lines, each line's
first word holding the index of the next line's first word: a uniformly random cyclic permutation, as Sattolo's
algorithm gives). Sizes: shared and L1 from the catalog (within every SM's shared memory and L1 since Volta),
L2 ``l2_share`` of the L2, HBM ``dram_l2_multiple`` x the L2. The kernel walks ``warm`` loads untimed (the whole
cycle for the on-chip levels and L2, so the lines are resident; a few for HBM, so every timed line is cold), then
``steps`` timed loads. Validation: the index it ends at must be the cycle's element ``warm + steps`` places
after the start. Nanoseconds: cycles at the SM clock NVML read over the samples (its median).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..catalog import Kernel
from ..errors import MeasurementError
from ..measurement import LatencyPoint, LatencyRun
from ..stats import KernelResult
from .family import GpuContext

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
    launch = kernel.launch
    l2 = session.gpu.l2_bytes
    return [("shared", "chase_shared", launch["shared_bytes"]), ("l1", "chase_global_ldg", launch["l1_bytes"]),
            ("l2", "chase_global_cg", int(l2 * launch["l2_share"])),
            ("dram", "chase_global_cg", int(l2 * launch["dram_l2_multiple"]))]


def measure(session: GpuContext, kernels: Sequence[Kernel]) -> list[KernelResult]:
    """Chase every level; the figures go to the session's ``latency_run`` (a chase is not a bandwidth kernel)."""
    kernel = kernels[0]
    session.step(kernel.name)
    cp, launch = session.cp, kernel.launch
    unroll = kernel.constants["UNROLL"]
    steps = launch["steps"] // unroll * unroll
    module = session.module(kernel)
    sampler = getattr(session, "sampler", None)
    started = time.monotonic()
    points = []
    for level, entry, size in level_plan(session, kernel):
        stride = 1 if level == "shared" else LINE_BYTES // WORD_BYTES
        lines = max(unroll, size // (stride * WORD_BYTES))
        chain, order = random_cycle(lines, stride)
        warm = steps if level == "dram" else -(-lines // unroll) * unroll
        device_chain = cp.asarray(chain)
        cycles = cp.zeros(1, dtype=np.int64)
        end = cp.zeros(1, dtype=np.uint32)
        function = module.get_function(entry)
        expected = int(order[(warm + steps) % lines])
        samples = []
        for _ in range(launch["samples"]):
            if level == "shared":
                function((1,), (256,), (device_chain, np.int32(chain.size), np.int32(warm), np.int32(steps),
                                        np.uint32(order[0]), cycles, end), shared_mem=chain.nbytes)
            else:
                function((1,), (32,), (device_chain, np.int32(warm), np.int32(steps), np.uint32(order[0]), cycles,
                                       end))
            session.stream.synchronize()
            if int(cp.asnumpy(end)[0]) != expected:
                raise MeasurementError(f"latency chase over {level} ({lines} lines) ended at index "
                                       f"{int(cp.asnumpy(end)[0])}, expected {expected}: no figure is reported")
            samples.append(float(cp.asnumpy(cycles)[0]) / steps)
        points.append((level, lines * stride * WORD_BYTES, tuple(samples)))
    mhz = session.gpu.max_sm_mhz
    source = "NVML max SM clock (a single thread does not lower it)"
    if sampler is not None:
        sampler.mark()
        window = sampler.window(started, time.monotonic())
        if window.sm_mhz:
            mhz, source = window.sm_mhz, "NVML SM clock, median over the chases"
    if not mhz:
        session.warnings.append("latency: NVML gave no SM clock, so GPU latencies are in cycles only")
    latency = LatencyRun(
        tuple(LatencyPoint(size, tuple(c / mhz * 1e3 for c in cycles) if mhz else tuple(cycles), level,
                           cycles) for level, size, cycles in points),
        {"sm_clock_mhz": mhz, "sm_clock_source": source, "steps": steps, "line_bytes": LINE_BYTES,
         "samples": launch["samples"],
         "method": "one thread chases a random cycle of line indices (j = chain[j]), clock64() around the timed "
                   "loads; shared memory (the chain copied in), L1 (__ldg), L2 and HBM (__ldcg); the end index "
                   "checked against the cycle"})
    session.latency_run = latency
    return []


__all__ = ["level_plan", "measure", "random_cycle"]
