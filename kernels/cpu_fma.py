"""FMA-peak kernels for the CPU: independent vector FMA chains in llvmlite IR, and the clock probe.

Each of ``chains`` accumulators is a SIMD vector of ``lanes`` elements updated as ``x = fma(x, a, b)``.
The FMA units are kept full when ``chains >= latency x units`` (4 cycles x 2 units on Haswell..Sapphire
Rapids and Zen 2..5, so 8; Neoverse V1/V2 have 4 units of 128 bits, so 16). Every call returns the sum of
all lanes of all chains, so no FMA can be removed as dead code, and that sum has a closed form
(``expected_checksum``) used to validate the run.

The map ``x -> a*x + b`` with ``0 < a < 1`` converges to ``c = b / (1 - a)`` and never overflows or
reaches denormals, so the timing does not depend on the data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from llvmlite import ir
from numba import njit
from numba.extending import intrinsic

from .cpu_llvm import (
    I64,
    declare_vector_fma,
    dependent_add_chain,
    horizontal_sum,
    llvm_float_type,
    numba_float_type,
    read_timestamp,
    splat,
)

# The recurrence's constants: a = 3/4, b = 1/2, fixed point c = 2. All exact in binary.
FMA_A = 0.75
FMA_B = 0.5
LANE_STEP = 1.0 / 1024.0  # initial value of lane l is x0 + l * LANE_STEP, so every lane differs
FLOPS_PER_FMA = 2


def flops_per_iteration(lanes: int, chains: int) -> int:
    """FLOPs one loop iteration does: one FMA (2 FLOPs) on every lane of every chain."""
    return FLOPS_PER_FMA * lanes * chains


def expected_checksum(n_iter: int, x0: float, lanes: int, chains: int) -> float:
    """Closed form of the kernel's result: sum over lanes of ``c + a**n * (x_l - c)``."""
    c = FMA_B / (1.0 - FMA_A)
    starts = x0 + LANE_STEP * np.arange(lanes * chains, dtype=np.float64)
    return float(np.sum(c + FMA_A**n_iter * (starts - c)))


def _fma_chains_intrinsic(precision: str, lanes: int, chains: int):
    float_type = llvm_float_type(precision)
    vector_type = ir.VectorType(float_type, lanes)
    nb_float = numba_float_type(precision)

    @intrinsic
    def fma_chains(typingctx, n_iter, a, b, x0):
        sig = nb_float(n_iter, a, b, x0)

        def codegen(context, builder, signature, args):
            n, a_value, b_value, x0_value = args
            fma = declare_vector_fma(builder.module, vector_type)
            va, vb = splat(builder, a_value, vector_type), splat(builder, b_value, vector_type)
            starts = []
            for chain in range(chains):
                vec = ir.Constant(vector_type, ir.Undefined)
                for lane in range(lanes):
                    offset = ir.Constant(float_type, LANE_STEP * (chain * lanes + lane))
                    vec = builder.insert_element(vec, builder.fadd(x0_value, offset),
                                                 ir.Constant(ir.IntType(32), lane))
                starts.append(vec)
            entry = builder.block
            loop = builder.append_basic_block("fma.loop")
            done = builder.append_basic_block("fma.done")
            builder.cbranch(builder.icmp_signed(">", n, ir.Constant(I64, 0)), loop, done)
            builder.position_at_end(loop)
            index = builder.phi(I64)
            accumulators = [builder.phi(vector_type) for _ in range(chains)]
            updated = [builder.call(fma, [acc, va, vb]) for acc in accumulators]
            next_index = builder.add(index, ir.Constant(I64, 1))
            index.add_incoming(ir.Constant(I64, 0), entry)
            index.add_incoming(next_index, loop)
            for acc, start, new in zip(accumulators, starts, updated):
                acc.add_incoming(start, entry)
                acc.add_incoming(new, loop)
            builder.cbranch(builder.icmp_signed("<", next_index, n), loop, done)
            builder.position_at_end(done)
            finals = []
            for start, new in zip(starts, updated):
                final = builder.phi(vector_type)
                final.add_incoming(start, entry)
                final.add_incoming(new, loop)
                finals.append(final)
            return horizontal_sum(builder, finals)

        return sig, codegen

    return fma_chains


@functools.cache
def fma_kernel(precision: str, lanes: int, chains: int) -> Callable[[int, float, float, float], float]:
    """A compiled ``kernel(n_iter, a, b, x0) -> checksum`` running ``chains`` FMA chains of ``lanes``."""
    chains_op = _fma_chains_intrinsic(precision, lanes, chains)

    @njit(nogil=True)
    def kernel(n_iter, a, b, x0):
        return chains_op(n_iter, a, b, x0)

    return kernel


@functools.cache
def fma_clock_kernel(precision: str, lanes: int, chains: int):
    """A compiled ``kernel(n_outer, n_iter, n_blocks, a, b, x0) -> (checksum, adds, ticks)``.

    Alternates an FMA block of ``n_iter`` iterations with a short dependent add chain timed by the
    time-stamp counter. The chain runs while the core is still in the FMA workload's frequency state
    (AVX-512 licence, power and thermal limits), and the other cores keep running FMA blocks, so
    ``adds / (ticks / tsc_hz)`` is the clock under FMA load.
    """
    chains_op = _fma_chains_intrinsic(precision, lanes, chains)

    @njit(nogil=True)
    def kernel(n_outer, n_iter, n_blocks, a, b, x0):
        checksum = 0.0
        adds = 0
        ticks = 0
        for _ in range(n_outer):
            checksum += chains_op(n_iter, a, b, x0)
            start = read_timestamp()
            adds += dependent_add_chain(n_blocks)
            ticks += read_timestamp() - start
        return checksum, adds, ticks

    return kernel


@njit(nogil=True)
def scalar_clock_kernel(n_outer, n_blocks):
    """The add chain alone: the clock with no vector load (the highest turbo the cores reach)."""
    adds = 0
    ticks = 0
    for _ in range(n_outer):
        start = read_timestamp()
        adds += dependent_add_chain(n_blocks)
        ticks += read_timestamp() - start
    return adds, ticks


@njit(nogil=True)
def timestamp_now():
    return read_timestamp()


def dtype_of(precision: str) -> type[np.floating]:
    return {"fp64": np.float64, "fp32": np.float32}[precision]
