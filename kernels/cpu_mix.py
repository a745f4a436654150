"""Compute peaks without FMA for the CPU: vector add, vector multiply and scalar add chains in llvmlite IR.

The roofs Intel Advisor draws beside the FMA peak ("DP Vector Add Peak", "Scalar Add Peak"): code whose inner
loop adds or multiplies without fusing (a reduction, a stencil written without ``fastmath``) cannot reach the
FMA roof, and on cores whose adders and multipliers sit on other pipes than the FMA units (Zen: FADD on pipes 2
and 3, FMUL/FMA on 0 and 1) it is bound by those pipes instead.

Each of ``chains`` accumulators (a vector of ``lanes`` elements; ``lanes = 1``: scalar registers) runs one
instruction per step, alternating so that every value is exact and the checksum has a closed form:

* ``add``: x = x + b, then x = x - b (``vaddpd``/``vsubpd``, one FP add each; b = 1/2, x near 1: exact);
* ``mul``: x = x * 2, then x = x * 1/2 (``vmulpd``; powers of two: exact).

So after an even number of steps every lane is back at its start and the result is the sum of the starts
(``expected_checksum``). 1 FLOP per lane per instruction. The loop-carried chains depend on the loop's trip
count, so LLVM cannot fold them (fast-math flags are not set: ``x + b - b`` is not reassociated).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from llvmlite import ir
from numba import njit

from .cpu_fma import probe_round
from .cpu_llvm import LANE_STEP, float_chains_intrinsic, llvm_float_type, read_timestamp

OPERATIONS = ("add", "mul")
ADD_STEP = 0.5  # x + 1/2 - 1/2 on x in [1, 2): exact in fp32 and fp64
MUL_STEP = 2.0  # x * 2 * 1/2: exact
FLOPS_PER_LANE = 1
STEPS_PER_ITERATION = 2  # one iteration: the forward and the inverse instruction on every chain


def flops_per_iteration(lanes: int, chains: int) -> int:
    """FLOPs of one loop iteration: two instructions, 1 FLOP per lane, on every chain."""
    return STEPS_PER_ITERATION * FLOPS_PER_LANE * lanes * chains


def expected_checksum(lanes: int, chains: int) -> float:
    """Every lane returns to its start after each iteration: the sum of the starts."""
    return float(np.sum(1.0 + LANE_STEP * np.arange(lanes * chains, dtype=np.float64)))


def operands(operation: str, precision: str) -> tuple:
    """(forward, inverse, x0) of ``operation`` in ``precision``: the kernels' run-time arguments."""
    dtype = {"fp64": np.float64, "fp32": np.float32}[precision]
    forward, inverse = (ADD_STEP, ADD_STEP) if operation == "add" else (MUL_STEP, 1.0 / MUL_STEP)
    return dtype(forward), dtype(inverse), dtype(1.0)


def _emit_step(operation: str, builder: ir.IRBuilder, value: ir.Value, forward: ir.Value,
               inverse: ir.Value) -> ir.Value:
    if operation == "add":
        return builder.fsub(builder.fadd(value, forward), forward)
    return builder.fmul(builder.fmul(value, forward), inverse)


def _chains_intrinsic(operation: str, precision: str, lanes: int, chains: int):
    float_type = llvm_float_type(precision)
    value_type = float_type if lanes == 1 else ir.VectorType(float_type, lanes)
    return float_chains_intrinsic("mix", precision, value_type, chains, functools.partial(_emit_step, operation))


@functools.cache
def mix_kernel(operation: str, precision: str, lanes: int, chains: int) -> Callable[..., float]:
    """A compiled ``kernel(n_iter, forward, inverse, x0) -> checksum`` (``operands`` gives the arguments) running
    ``chains`` chains of ``operation`` on ``lanes``."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; known: {', '.join(OPERATIONS)}")
    chains_op = _chains_intrinsic(operation, precision, lanes, chains)

    @njit(nogil=True)
    def kernel(n_iter, forward, inverse, x0):
        return chains_op(n_iter, forward, inverse, x0)

    return kernel


@functools.cache
def mix_clock_kernel(operation: str, precision: str, lanes: int, chains: int):
    """``kernel(n_iter, n_blocks, n_mul_blocks, forward, inverse, x0, block_ticks, add_ticks, mul_ticks) ->
    (checksum, adds, muls)``:
    ``len(add_ticks)`` rounds of a block of ``n_iter`` iterations (timed into ``block_ticks``) followed by the clock
    probe's add and multiply chains (``cpu_fma.probe_round``), as the FMA family's probe runs."""
    chains_op = _chains_intrinsic(operation, precision, lanes, chains)

    @njit(nogil=True)
    def kernel(n_iter, n_blocks, n_mul_blocks, forward, inverse, x0, block_ticks, add_ticks, mul_ticks):
        checksum = 0.0
        adds = muls = 0
        for i in range(add_ticks.size):
            start = read_timestamp()
            checksum += chains_op(n_iter, forward, inverse, x0)
            block_ticks[i] = read_timestamp() - start
            round_adds, round_muls = probe_round(n_blocks, n_mul_blocks, add_ticks, mul_ticks, i)
            adds += round_adds
            muls += round_muls
        return checksum, adds, muls

    return kernel
