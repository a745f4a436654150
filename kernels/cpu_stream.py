"""STREAM kernels for the CPU (McCalpin's copy, scale, add, triad, plus dot), in numba with ``nogil``.

Every kernel has one signature, ``kernel(a, b, c, scalar, lo, hi) -> float``, and works on the index
range ``[lo, hi)`` of three float64 arrays, so one pinned thread per range runs them in parallel. Only
dot returns a value (its partial sum); the others return 0.0. The STREAM definitions:

    copy:  c = a          scale: b = s * c          add: c = a + b
    triad: a = b + s * c  dot:   sum(a * b)

Invariant that makes numba vectorise: each kernel takes slice views and loops ``range(view.size)``. A
loop over ``range(lo, hi)`` indexing the full arrays keeps numba's negative-index wraparound check, which
blocks LLVM's vectoriser (measured on the CI machine: 7-9 GB/s against 33-38 GB/s for the same triad).

The ``*_nt`` variants store with non-temporal hints (llvmlite IR, ``!nontemporal``), which bypass the
cache and so skip the write-allocate read of the destination. They need 64-byte aligned arrays and
ranges whose bounds are multiples of the vector length; the CPU session guarantees both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .cpu_llvm import I64, splat

ALIGN_BYTES = 64  # cache line; also the widest vector store (AVX-512)

StreamKernel = Callable[[np.ndarray, np.ndarray, np.ndarray, float, int, int], float]


@njit(nogil=True)
def copy(a, b, c, scalar, lo, hi):
    src = a[lo:hi]
    dst = c[lo:hi]
    for i in range(dst.size):
        dst[i] = src[i]
    return 0.0


@njit(nogil=True)
def scale(a, b, c, scalar, lo, hi):
    src = c[lo:hi]
    dst = b[lo:hi]
    for i in range(dst.size):
        dst[i] = scalar * src[i]
    return 0.0


@njit(nogil=True)
def add(a, b, c, scalar, lo, hi):
    x = a[lo:hi]
    y = b[lo:hi]
    dst = c[lo:hi]
    for i in range(dst.size):
        dst[i] = x[i] + y[i]
    return 0.0


@njit(nogil=True)
def triad(a, b, c, scalar, lo, hi):
    y = b[lo:hi]
    z = c[lo:hi]
    dst = a[lo:hi]
    for i in range(dst.size):
        dst[i] = y[i] + scalar * z[i]
    return 0.0


# reassoc lets LLVM split the sum into vector partial sums; the validation tolerance allows for it.
@njit(nogil=True, fastmath={"reassoc", "contract"})
def dot(a, b, c, scalar, lo, hi):
    x = a[lo:hi]
    y = b[lo:hi]
    total = 0.0
    for i in range(x.size):
        total += x[i] * y[i]
    return total


@njit(nogil=True)
def fill(array, value, lo, hi):
    """First touch: the pinned thread that will use ``array[lo:hi]`` writes it (NUMA placement, prefault)."""
    view = array[lo:hi]
    for i in range(view.size):
        view[i] = value


# Non-temporal variants: (destination, sources, expression) per STREAM kernel. Array indices: a=0, b=1, c=2.
_NT_FORMS = {
    "copy": (2, (0,), lambda bld, s, x: x[0]),
    "scale": (1, (2,), lambda bld, s, x: bld.fmul(s, x[0])),
    "add": (2, (0, 1), lambda bld, s, x: bld.fadd(x[0], x[1])),
    "triad": (0, (1, 2), lambda bld, s, x: bld.fadd(x[0], bld.fmul(s, x[1]))),
}


def _nt_intrinsic(form: str, lanes: int):
    dst_index, src_indices, expression = _NT_FORMS[form]
    vector_type = ir.VectorType(ir.DoubleType(), lanes)

    @intrinsic
    def nt_store_loop(typingctx, a, b, c, scalar, lo, hi):
        sig = types.void(a, b, c, scalar, lo, hi)

        def codegen(context, builder, signature, args):
            arrays = args[:3]
            scalar_value, lo_value, hi_value = args[3:]
            data = [context.make_array(signature.args[k])(context, builder, arrays[k]).data for k in range(3)]
            scalar_vec = splat(builder, scalar_value, vector_type)
            nontemporal = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])
            entry = builder.block
            loop = builder.append_basic_block("nt.loop")
            done = builder.append_basic_block("nt.done")
            builder.cbranch(builder.icmp_signed("<", lo_value, hi_value), loop, done)
            builder.position_at_end(loop)
            index = builder.phi(I64)
            index.add_incoming(lo_value, entry)

            def vector_at(k):
                return builder.bitcast(builder.gep(data[k], [index]), vector_type.as_pointer())

            loaded = [builder.load(vector_at(k), align=ALIGN_BYTES) for k in src_indices]
            store = builder.store(expression(builder, scalar_vec, loaded), vector_at(dst_index),
                                  align=ALIGN_BYTES)
            store.set_metadata("nontemporal", nontemporal)
            next_index = builder.add(index, ir.Constant(I64, lanes))
            index.add_incoming(next_index, loop)
            builder.cbranch(builder.icmp_signed("<", next_index, hi_value), loop, done)
            builder.position_at_end(done)
            # Non-temporal stores are weakly ordered: fence so the results are visible when we return.
            builder.fence("seq_cst")
            return context.get_dummy_value()

        return sig, codegen

    return nt_store_loop


@functools.cache
def nontemporal_kernel(form: str, lanes: int) -> StreamKernel:
    """The non-temporal-store variant of STREAM kernel ``form`` with ``lanes`` float64 per vector."""
    loop = _nt_intrinsic(form, lanes)

    @njit(nogil=True)
    def kernel(a, b, c, scalar, lo, hi):
        loop(a, b, c, scalar, lo, hi)
        return 0.0

    return kernel


TEMPORAL_KERNELS: dict[str, StreamKernel] = {
    "copy": copy, "scale": scale, "add": add, "triad": triad, "dot": dot,
}


def chunks(n: int, parts: int) -> list[tuple[int, int]]:
    """Split [0, n) into ``parts`` ranges, one per thread; with n a multiple of 8 x parts every bound is a multiple
    of 8 elements (64 bytes: the cache line and the widest vector), which the ``*_nt`` kernels need."""
    size = n // parts
    return [(i * size, (i + 1) * size) for i in range(parts)]


def aligned_empty(n: int, dtype: type = np.float64) -> np.ndarray:
    """An uninitialised array of ``n`` elements starting on a 64-byte boundary.

    The pages are not touched here: large allocations are lazily mapped, so the first write (done by
    ``fill`` on the pinned worker) decides where each page lives.
    """
    itemsize = np.dtype(dtype).itemsize
    raw = np.empty(n * itemsize + ALIGN_BYTES, dtype=np.uint8)
    offset = (-raw.ctypes.data) % ALIGN_BYTES
    return raw[offset:offset + n * itemsize].view(dtype)


@njit(nogil=True)
def max_deviation(array, value):
    """Largest |array[i] - value| (infinity if any element is NaN): the STREAM validation check."""
    worst = 0.0
    for i in range(array.size):
        deviation = abs(array[i] - value)
        if deviation != deviation:
            return np.inf
        if deviation > worst:
            worst = deviation
    return worst
