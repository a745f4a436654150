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

from .cpu_llvm import (
    ADDS_PER_BLOCK,
    LANE_STEP,
    declare_vector_fma,
    dependent_add_chain,
    dependent_mul_chain,
    float_chains_intrinsic,
    llvm_float_type,
    read_timestamp,
)

# The recurrence's constants: a = 3/4, b = 1/2, fixed point c = 2. All exact in binary.
FMA_A = 0.75
FMA_B = 0.5
FLOPS_PER_FMA = 2


def flops_per_iteration(lanes: int, chains: int) -> int:
    """FLOPs one loop iteration does: one FMA (2 FLOPs) on every lane of every chain."""
    return FLOPS_PER_FMA * lanes * chains


def expected_checksum(n_iter: int, x0: float, lanes: int, chains: int) -> float:
    """Closed form of the kernel's result: sum over lanes of ``c + a**n * (x_l - c)``."""
    c = FMA_B / (1.0 - FMA_A)
    starts = x0 + LANE_STEP * np.arange(lanes * chains, dtype=np.float64)
    return float(np.sum(c + FMA_A**n_iter * (starts - c)))


def _fma_step(builder: ir.IRBuilder, value: ir.Value, a: ir.Value, b: ir.Value) -> ir.Value:
    return builder.call(declare_vector_fma(builder.module, value.type), [value, a, b])


def _fma_chains_intrinsic(precision: str, lanes: int, chains: int):
    vector_type = ir.VectorType(llvm_float_type(precision), lanes)
    return float_chains_intrinsic("fma", precision, vector_type, chains, _fma_step)


@functools.cache
def fma_kernel(precision: str, lanes: int, chains: int) -> Callable[[int, float, float, float], float]:
    """A compiled ``kernel(n_iter, a, b, x0) -> checksum`` running ``chains`` FMA chains of ``lanes``."""
    chains_op = _fma_chains_intrinsic(precision, lanes, chains)

    @njit(nogil=True)
    def kernel(n_iter, a, b, x0):
        return chains_op(n_iter, a, b, x0)

    return kernel


@njit(nogil=True)
def probe_round(n_blocks, n_mul_blocks, add_ticks, mul_ticks, i):
    """One probe round: the add chain then the multiply chain, each timed by the TSC into ``add_ticks[i]`` and
    ``mul_ticks[i]``. Returns (adds run, multiply steps whose product came out right)."""
    start = read_timestamp()
    adds = dependent_add_chain(n_blocks, 1)
    middle = read_timestamp()
    product = dependent_mul_chain(n_mul_blocks, 1)
    end = read_timestamp()
    add_ticks[i] = middle - start
    mul_ticks[i] = end - middle
    return adds, n_mul_blocks * ADDS_PER_BLOCK if product == 1 else 0


@functools.cache
def fma_clock_kernel(precision: str, lanes: int, chains: int):
    """A compiled ``kernel(n_iter, n_blocks, n_mul_blocks, a, b, x0, add_ticks, mul_ticks) -> (checksum, adds,
    muls)`` running ``len(add_ticks)`` rounds.

    Each round is an FMA block of ``n_iter`` iterations, then the add chain of ``n_blocks`` blocks and the
    multiply chain of ``n_mul_blocks``, each timed by the time-stamp counter into ``add_ticks[round]`` and
    ``mul_ticks[round]``. The chains run while the core is still in the FMA workload's frequency state
    (AVX-512 licence, power and thermal limits), and the other cores keep running FMA blocks, so
    ``steps x latency / seconds`` of either chain in a round is the clock under FMA load. Per-round ticks let
    the CPU session take the median over rounds: a round in which the thread was descheduled is an outlier, not
    a slower clock. ``muls`` counts only steps whose product came out right.
    """
    chains_op = _fma_chains_intrinsic(precision, lanes, chains)

    @njit(nogil=True)
    def kernel(n_iter, n_blocks, n_mul_blocks, a, b, x0, add_ticks, mul_ticks):
        checksum = 0.0
        adds = muls = 0
        for i in range(add_ticks.size):
            checksum += chains_op(n_iter, a, b, x0)
            round_adds, round_muls = probe_round(n_blocks, n_mul_blocks, add_ticks, mul_ticks, i)
            adds += round_adds
            muls += round_muls
        return checksum, adds, muls

    return kernel


@njit(nogil=True)
def scalar_clock_kernel(n_blocks, n_mul_blocks, add_ticks, mul_ticks):
    """The two chains alone, ``len(add_ticks)`` rounds: the clock with no vector load (the highest turbo the
    cores reach). Returns (adds, muls) and fills the per-round ticks, as ``fma_clock_kernel`` does."""
    adds = muls = 0
    for i in range(add_ticks.size):
        round_adds, round_muls = probe_round(n_blocks, n_mul_blocks, add_ticks, mul_ticks, i)
        adds += round_adds
        muls += round_muls
    return adds, muls


@njit(nogil=True)
def timestamp_now():
    return read_timestamp()


def dtype_of(precision: str) -> type[np.floating]:
    table: dict[str, type[np.floating]] = {"fp64": np.float64, "fp32": np.float32}
    return table[precision]
