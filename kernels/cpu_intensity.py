"""The arithmetic-intensity kernel for the CPU: the Empirical Roofline Toolkit's kernel in llvmlite IR.

Each element of an array is loaded, updated ``steps`` times, and stored back in place (ERT's
``kernel.c``: ``beta = beta * alpha + A[i]``-style work on data that streams through memory). Swept over
``steps``, it moves from bandwidth-bound to compute-bound, and its measured curve is the roofline.

One element costs one load and one store of ``element_bytes`` (the line it stores was just loaded, so no
write-allocate read is added) and does ``flops`` FLOPs:

    form "add":  x = x + beta                   1 FLOP per element   (steps = 1)
    form "fma":  x = fma(x, alpha, beta), x k   2k FLOPs per element (steps = k)

so the intensity is ``flops / (2 x element_bytes)`` FLOP per byte (fp64: 1/16 for the add, k/8 for k FMAs).

The loop body holds ``chains`` full-width vectors of consecutive elements, updated step by step in
interleaved order: ``chains`` independent dependency chains, as many as the FMA kernel needs to keep the
FMA units full (latency x units; kernels/cpu_fma.py), so that at large ``steps`` the kernel reaches the
compute roof, not the FMA latency.

Validation: the caller passes ``alpha = 1`` and ``beta = 1``, so every step adds exactly 1 and each element
holds its start value plus the number of steps applied to it (exact in binary while below 2^24 in fp32 and
2^53 in fp64). ``alpha`` is a run-time argument, so the compiler cannot turn the FMA into an add: the FMA
units do the same work for any operands.

Contract with the caller: ``a`` is aligned on the vector width and ``[lo, hi)`` holds a whole number of
``lanes x chains`` elements (``granule``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .cpu_llvm import I64, declare_vector_fma, llvm_float_type, splat

FORMS = ("add", "fma")
IntensityKernel = Callable[[np.ndarray, int, int, int, float, float, int], None]


def granule(lanes: int, chains: int) -> int:
    """Elements per trip of the loop: each worker's slice holds a multiple of this."""
    return lanes * chains


def flops_per_element(form: str, steps: int) -> int:
    """FLOPs one element receives in one pass: 1 for the add, 2 per FMA."""
    return 1 if form == "add" else 2 * steps


def _intensity_intrinsic(form: str, precision: str, lanes: int, chains: int):
    float_type = llvm_float_type(precision)
    vector_type = ir.VectorType(float_type, lanes)
    align = lanes * (8 if precision == "fp64" else 4)

    @intrinsic
    def intensity_loop(typingctx, a, lo, hi, steps, alpha, beta, passes):
        sig = types.void(a, lo, hi, steps, alpha, beta, passes)

        def codegen(context, builder, signature, args):
            array = context.make_array(signature.args[0])(context, builder, args[0])
            lo_value, hi_value, steps_value, alpha_value, beta_value, passes_value = args[1:]
            va, vb = splat(builder, alpha_value, vector_type), splat(builder, beta_value, vector_type)
            fma = declare_vector_fma(builder.module, vector_type)
            step = ir.Constant(I64, lanes * chains)
            zero = ir.Constant(I64, 0)
            entry = builder.block
            outer = builder.append_basic_block("intensity.pass")
            trip = builder.append_basic_block("intensity.trip")
            work = builder.append_basic_block("intensity.work") if form == "fma" else None
            store = builder.append_basic_block("intensity.store")
            latch = builder.append_basic_block("intensity.latch")
            done = builder.append_basic_block("intensity.done")
            runs = builder.and_(builder.icmp_signed(">", passes_value, zero), builder.icmp_signed("<", lo_value,
                                                                                                  hi_value))
            builder.cbranch(runs, outer, done)

            builder.position_at_end(outer)  # one pass over [lo, hi)
            pass_index = builder.phi(I64)
            builder.branch(trip)

            builder.position_at_end(trip)  # load ``chains`` vectors
            index = builder.phi(I64)
            pointers = [builder.bitcast(builder.gep(array.data, [builder.add(index, ir.Constant(I64, k * lanes))]),
                                        vector_type.as_pointer()) for k in range(chains)]
            loaded = [builder.load(pointer, align=align) for pointer in pointers]
            if form == "add":
                builder.branch(store)
            else:
                builder.cbranch(builder.icmp_signed(">", steps_value, zero), work, store)

            if form == "fma":
                builder.position_at_end(work)  # ``steps`` rounds of one FMA on every vector (fma form)
                count = builder.phi(I64)
                current = [builder.phi(vector_type) for _ in range(chains)]
                updated = [builder.call(fma, [value, va, vb]) for value in current]
                next_count = builder.add(count, ir.Constant(I64, 1))
                builder.cbranch(builder.icmp_signed("<", next_count, steps_value), work, store)
                count.add_incoming(zero, trip)
                count.add_incoming(next_count, work)
                for phi, start, new in zip(current, loaded, updated):
                    phi.add_incoming(start, trip)
                    phi.add_incoming(new, work)

            builder.position_at_end(store)  # store the vectors back in place
            if form == "add":
                results = [builder.fadd(value, vb) for value in loaded]
            else:
                results = []
                for start, new in zip(loaded, updated):
                    result = builder.phi(vector_type)
                    result.add_incoming(start, trip)
                    result.add_incoming(new, work)
                    results.append(result)
            for value, pointer in zip(results, pointers):
                builder.store(value, pointer, align=align)
            next_index = builder.add(index, step)
            builder.cbranch(builder.icmp_signed("<", next_index, hi_value), trip, latch)
            index.add_incoming(lo_value, outer)
            index.add_incoming(next_index, store)

            builder.position_at_end(latch)
            next_pass = builder.add(pass_index, ir.Constant(I64, 1))
            builder.cbranch(builder.icmp_signed("<", next_pass, passes_value), outer, done)
            pass_index.add_incoming(zero, entry)
            pass_index.add_incoming(next_pass, latch)

            builder.position_at_end(done)
            return context.get_dummy_value()

        return sig, codegen

    return intensity_loop


@functools.cache
def intensity_kernel(form: str, precision: str, lanes: int, chains: int) -> IntensityKernel:
    """The compiled ``kernel(a, lo, hi, steps, alpha, beta, passes)`` of ``form`` ("add" or "fma") on
    ``precision`` ("fp64" or "fp32") with ``lanes`` elements per vector and ``chains`` vectors per trip."""
    if form not in FORMS:
        raise ValueError(f"unknown intensity kernel form {form!r}")
    loop = _intensity_intrinsic(form, precision, lanes, chains)

    if precision == "fp32":  # the scalars must have the vector's element type
        @njit(nogil=True)
        def kernel(a, lo, hi, steps, alpha, beta, passes):
            loop(a, lo, hi, steps, np.float32(alpha), np.float32(beta), passes)
    else:
        @njit(nogil=True)
        def kernel(a, lo, hi, steps, alpha, beta, passes):
            loop(a, lo, hi, steps, np.float64(alpha), np.float64(beta), passes)

    return kernel


@njit(nogil=True)
def fill(array, value, lo, hi):
    """Set ``array[lo:hi]`` (first touch by the pinned worker that owns the slice)."""
    for i in range(lo, hi):
        array[i] = value


@njit(nogil=True)
def max_deviation(array, value):
    """Largest |element - value| (the validation of every element)."""
    worst = 0.0
    for i in range(array.size):
        worst = max(worst, abs(array[i] - value))
    return worst
