"""Cache-bandwidth kernels for the CPU: read (sum), copy and triad over a private, cache-sized buffer.

Each kernel makes ``passes`` passes over arrays of ``n`` float64 and has one signature,
``kernel(a, b, c, scalar, passes) -> float``:

    read:  sum(a), every pass          (returns the sum: passes x n x value when a holds one value)
    copy:  b = a                       (returns 0.0)
    triad: a = b + scalar * c          (returns 0.0; idempotent, so any number of passes leaves one result)

They are written as llvmlite IR (``numba.extending.intrinsic``), as the FMA kernel is, so that every load
and store is a full-width aligned vector and the loop body holds ``unroll`` of them: the sum keeps
``unroll`` independent vector accumulators (an add's latency x the FP add ports is at most 8 on current
x86 and Arm cores), which is what reaching the L1's load ports takes. Plain numba with ``fastmath``
vectorises the sum with four accumulators only. The accumulators carry across passes, so no pass can be
removed as redundant. The loads and stores are volatile: LLVM may not turn the copy into a ``memcpy``
call (glibc switches to non-temporal stores for large copies) or merge passes.

Contract with the caller: every array is aligned on the vector width and ``n`` is a multiple of
``lanes x unroll`` (``granule``); elements past the last multiple are not touched.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .cpu_llvm import I64, horizontal_sum, splat

FORMS = ("read", "copy", "triad")
CacheKernel = Callable[[np.ndarray, np.ndarray, np.ndarray, float, int], float]


def granule(lanes: int, unroll: int) -> int:
    """Elements per trip of the loop: arrays hold a multiple of this."""
    return lanes * unroll


def _body(form: str, builder: ir.IRBuilder, vector_at, scalar_vec, accumulators: list, unroll: int,
          align: int) -> list:
    """One trip: ``unroll`` vectors of the form; returns the updated accumulators (read only)."""
    def load(array, k):
        return builder.load(vector_at(array, k), align=align)

    def store(value, array, k):
        builder.store(value, vector_at(array, k), align=align).volatile = True

    updated = []
    for k in range(unroll):
        if form == "read":
            loaded = load(0, k)
            loaded.volatile = True
            updated.append(builder.fadd(accumulators[k], loaded))
        elif form == "copy":
            loaded = load(0, k)
            loaded.volatile = True
            store(loaded, 1, k)
        else:  # triad
            y, z = load(1, k), load(2, k)
            y.volatile = z.volatile = True
            store(builder.fadd(y, builder.fmul(scalar_vec, z)), 0, k)
    return updated


def _cache_intrinsic(form: str, lanes: int, unroll: int):
    vector_type = ir.VectorType(ir.DoubleType(), lanes)
    align = 8 * lanes
    count = unroll if form == "read" else 0  # accumulators

    @intrinsic
    def cache_loop(typingctx, a, b, c, scalar, passes):
        sig = types.float64(a, b, c, scalar, passes)

        def codegen(context, builder, signature, args):
            arrays = [context.make_array(signature.args[k])(context, builder, args[k]) for k in range(3)]
            data = [array.data for array in arrays]
            scalar_vec = splat(builder, args[3], vector_type)
            passes_value = args[4]
            step = ir.Constant(I64, lanes * unroll)
            n_main = builder.mul(builder.sdiv(arrays[0].nitems, step), step)
            zero = ir.Constant(vector_type, [0.0] * lanes)
            entry = builder.block
            outer = builder.append_basic_block("cache.pass")
            inner = builder.append_basic_block("cache.trip")
            latch = builder.append_basic_block("cache.latch")
            done = builder.append_basic_block("cache.done")
            runs = builder.and_(builder.icmp_signed(">", passes_value, ir.Constant(I64, 0)),
                                builder.icmp_signed(">", n_main, ir.Constant(I64, 0)))
            builder.cbranch(runs, outer, done)

            builder.position_at_end(outer)
            pass_index = builder.phi(I64)
            outer_acc = [builder.phi(vector_type) for _ in range(count)]
            builder.branch(inner)

            builder.position_at_end(inner)
            index = builder.phi(I64)
            inner_acc = [builder.phi(vector_type) for _ in range(count)]

            def vector_at(array, k):
                element = builder.add(index, ir.Constant(I64, k * lanes))
                return builder.bitcast(builder.gep(data[array], [element]), vector_type.as_pointer())

            updated = _body(form, builder, vector_at, scalar_vec, inner_acc, unroll, align)
            next_index = builder.add(index, step)
            builder.cbranch(builder.icmp_signed("<", next_index, n_main), inner, latch)

            builder.position_at_end(latch)
            next_pass = builder.add(pass_index, ir.Constant(I64, 1))
            builder.cbranch(builder.icmp_signed("<", next_pass, passes_value), outer, done)

            pass_index.add_incoming(ir.Constant(I64, 0), entry)
            pass_index.add_incoming(next_pass, latch)
            index.add_incoming(ir.Constant(I64, 0), outer)
            index.add_incoming(next_index, inner)
            for o_acc, i_acc, new in zip(outer_acc, inner_acc, updated):
                o_acc.add_incoming(zero, entry)
                o_acc.add_incoming(new, latch)
                i_acc.add_incoming(o_acc, outer)
                i_acc.add_incoming(new, inner)

            builder.position_at_end(done)
            if not count:
                return ir.Constant(ir.DoubleType(), 0.0)
            finals = []
            for new in updated:
                final = builder.phi(vector_type)
                final.add_incoming(zero, entry)
                final.add_incoming(new, latch)
                finals.append(final)
            return horizontal_sum(builder, finals)

        return sig, codegen

    return cache_loop


@functools.cache
def cache_kernel(form: str, lanes: int, unroll: int) -> CacheKernel:
    """The compiled ``kernel(a, b, c, scalar, passes) -> float`` of ``form`` with ``lanes`` float64 per
    vector and ``unroll`` vectors per trip."""
    if form not in FORMS:
        raise ValueError(f"unknown cache kernel form {form!r}")
    loop = _cache_intrinsic(form, lanes, unroll)

    @njit(nogil=True)
    def kernel(a, b, c, scalar, passes):
        return loop(a, b, c, scalar, passes)

    return kernel


@njit(nogil=True)
def fill(array, value):
    """Set every element (first touch by the pinned worker that owns ``array``, and the kernel's inputs)."""
    for i in range(array.size):
        array[i] = value
