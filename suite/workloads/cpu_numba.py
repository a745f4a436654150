"""The numba programs of ``hwbench validate`` on the CPU: the loops a numba user writes (saxpy, a 3-D 7-point
stencil, a CSR sparse matrix-vector product, a matmul in tiles, an all-pairs n-body step), each compiled outside the
timing, with the check of its output. ``cpu.run_cpu_workloads`` sets them up, times and validates them like the
NumPy programs; the counts are in ``hwbench.tools.workload_counts``."""

from __future__ import annotations

import numba
import numpy as np

from .result import count_label
from .workload import STENCIL_C0, STENCIL_C1, Workload, all_equal, check_matmul, fail, random_array

MATMUL_BLOCK = 64  # the tiled matmul's tile: 64 rows of C by 64 k; B's 64 x n slice (512 KiB at n = 1024) in L2
SPMV_PER_ROW, SPMV_BAND = 16, 128  # non-zeros per row, at column offsets in [-BAND, BAND) around the diagonal
NBODY_SOFTENING2 = 0.01  # eps^2: keeps the self-pair's force zero and close pairs finite


@numba.njit(parallel=True, fastmath=True, cache=False)
def _saxpy_kernel(a, x, y):
    """y = a x + y, as a numba user writes it; fastmath lets LLVM contract it into FMA and vectorise it."""
    for i in numba.prange(x.size):
        y[i] = a * x[i] + y[i]


def saxpy(n: int) -> Workload:
    x, y = np.full(n, 0.5, dtype=np.float32), np.ones(n, dtype=np.float32)
    scalar = np.float32(1.0)
    _saxpy_kernel(scalar, x[:16], np.ones(16, dtype=np.float32))  # compile outside the timing
    calls = [0]
    name = f"numba_saxpy_{count_label(n)}"

    def call() -> None:
        _saxpy_kernel(scalar, x, y)
        calls[0] += 1

    def check() -> None:  # y grows by 0.5 per call: exact in fp32 while below 2^23
        all_equal(name, y, np.float32(1.0 + 0.5 * calls[0]))

    library = f"numba {numba.__version__} (njit, parallel=True, fastmath=True)"
    return Workload(name, "saxpy", (n,), library, f"y = a x + y in place, {n} fp32", call, check,
                     precision="fp32")


@numba.njit(parallel=True, cache=False)
def _apply_seven_point(u, out):
    """The 3-D 7-point stencil a numba user writes: planes split across the threads, rows vectorised by LLVM. Three
    planes stay in the last-level cache while a plane is computed, so DRAM sees each point read once."""
    nz, ny, nx = u.shape
    for k in numba.prange(1, nz - 1):
        for j in range(1, ny - 1):
            for i in range(1, nx - 1):
                out[k, j, i] = STENCIL_C0 * u[k, j, i] + STENCIL_C1 * (
                    ((((u[k - 1, j, i] + u[k + 1, j, i]) + u[k, j - 1, i]) + u[k, j + 1, i]) + u[k, j, i - 1])
                    + u[k, j, i + 1])


def stencil7(side: int) -> Workload:
    u, out = random_array((side, side, side), 5), np.zeros((side, side, side))
    _apply_seven_point(u[:4, :4, :4], np.zeros((4, 4, 4)))  # compile outside the timing
    name = f"numba_stencil7_{side}"

    def check() -> None:
        reference = np.zeros_like(u)
        reference[1:-1, 1:-1, 1:-1] = STENCIL_C0 * u[1:-1, 1:-1, 1:-1] + STENCIL_C1 * (
            ((((u[:-2, 1:-1, 1:-1] + u[2:, 1:-1, 1:-1]) + u[1:-1, :-2, 1:-1]) + u[1:-1, 2:, 1:-1])
             + u[1:-1, 1:-1, :-2]) + u[1:-1, 1:-1, 2:])
        if not np.allclose(out, reference, rtol=1e-12, atol=0.0):
            worst = np.unravel_index(np.argmax(np.abs(out - reference)), out.shape)
            fail(name, f"out{tuple(int(i) for i in worst)} = {out[worst]!r}, expected {reference[worst]!r}")

    library = f"numba {numba.__version__} (njit, parallel=True, prange over planes)"
    return Workload(name, "stencil7", (side, side, side), library,
                     f"7-point stencil out = {STENCIL_C0} u + {STENCIL_C1} (6 neighbours), {side}^3, fp64",
                     lambda: _apply_seven_point(u, out), check, roof="add")  # multiplies and adds: no FMA


@numba.njit(parallel=True, cache=False)
def _csr_matvec(pointers, columns, values, x, y):
    """y = A x over CSR arrays, rows split across the threads: the loop of every CSR SpMV. Without fastmath the
    row's sum keeps its order, so LLVM runs it as scalar multiplies and adds (the gather of x does not vectorise)."""
    for row in numba.prange(y.size):
        total = 0.0
        for k in range(pointers[row], pointers[row + 1]):
            total += values[k] * x[columns[k]]
        y[row] = total


def spmv(rows: int) -> Workload:
    """A banded random sparse matrix: SPMV_PER_ROW non-zeros per row at random offsets within SPMV_BAND of the
    diagonal (clipped to the matrix), so each row reads x irregularly but x is read once from DRAM."""
    rng = np.random.default_rng(6)
    offsets = rng.integers(-SPMV_BAND, SPMV_BAND, (rows, SPMV_PER_ROW))
    columns = np.clip(np.arange(rows)[:, None] + offsets, 0, rows - 1).astype(np.int32).ravel()
    values = rng.random(columns.size)
    pointers = np.arange(0, columns.size + 1, SPMV_PER_ROW, dtype=np.int64)
    x, y = rng.random(rows), np.zeros(rows)
    _csr_matvec(pointers[:3], columns, values, x, np.zeros(2))  # compile outside the timing
    name = f"numba_spmv_csr_{count_label(rows)}"

    def check() -> None:
        reference = (values * x[columns]).reshape(rows, SPMV_PER_ROW).sum(axis=1)
        if not np.allclose(y, reference, rtol=1e-12, atol=0.0):
            worst = int(np.argmax(np.abs(y - reference)))
            fail(name, f"y[{worst}] = {y[worst]!r}, expected {reference[worst]!r}")

    library = f"numba {numba.__version__} (njit, parallel=True, prange over rows)"
    return Workload(name, "spmv_csr", (rows, columns.size), library,
                     f"CSR y = A x, {rows} rows, {SPMV_PER_ROW} non-zeros per row within {SPMV_BAND} of the diagonal, "
                     "fp64 values, int32 columns", lambda: _csr_matvec(pointers, columns, values, x, y), check,
                     roof="scalar_add")


@numba.njit(parallel=True, fastmath=True, cache=False)
def _tiled_matmul(a, b, c, block):
    """C = A B in tiles of ``block`` rows of C (one prange task each) by ``block``-deep slices of k, the loop nest a
    numba user writes after reading about cache blocking: for each row i of the tile and each k of the slice,
    C[i, :] += A[i, k] B[k, :] over the whole row, so the innermost loop is n long, starts at 0 (no negative-index
    wrap-around) and LLVM vectorises it (fastmath: FMA). The slice of B (block x n) stays in L2 while the tile's
    rows pass over it; a row of C stays in L1. (Tiles along j too would leave an inner loop of ``block``
    iterations behind a slice construction per k: measured 2x slower on the Zen 5 guest.)"""
    n = a.shape[0]
    for ib in numba.prange(n // block):
        for i in range(ib * block, (ib + 1) * block):
            c_row = c[i]
            for j in range(n):
                c_row[j] = 0.0
        for k0 in range(0, n, block):
            for i in range(ib * block, (ib + 1) * block):
                c_row = c[i]  # row views: contiguous, indexed from 0
                a_row = a[i]
                for k in range(k0, k0 + block):
                    aik = a_row[k]
                    b_row = b[k]
                    for j in range(n):
                        c_row[j] += aik * b_row[j]


def blocked_matmul(n: int) -> Workload:
    a, b, c = random_array((n, n), 7), random_array((n, n), 8), np.zeros((n, n))
    _tiled_matmul(a[:MATMUL_BLOCK, :MATMUL_BLOCK], b[:MATMUL_BLOCK, :MATMUL_BLOCK],
                  np.zeros((MATMUL_BLOCK, MATMUL_BLOCK)), MATMUL_BLOCK)  # compile outside the timing
    name = f"numba_matmul_blocked_{n}"

    library = f"numba {numba.__version__} (njit, parallel=True, fastmath=True, {MATMUL_BLOCK} x {MATMUL_BLOCK} tiles)"
    return Workload(name, "matmul_blocked", (n,), library, f"C = A B in {MATMUL_BLOCK}-wide tiles, {n} x {n}, fp64",
                     lambda: _tiled_matmul(a, b, c, MATMUL_BLOCK), lambda: check_matmul(name, a, b, c))


@numba.njit(parallel=True, fastmath=True, cache=False)
def _accelerations(x, y, z, m, ax, ay, az, eps2):
    """One all-pairs gravitational step (G = 1): a_i = sum_j m_j d_ij / (|d_ij|^2 + eps^2)^(3/2), bodies split
    across the threads, the inner loop vectorised by LLVM (fastmath: FMA, and a reassociated sum)."""
    n = x.size
    for i in numba.prange(n):
        xi, yi, zi = x[i], y[i], z[i]
        sx = sy = sz = np.float32(0.0)
        for j in range(n):
            dx, dy, dz = x[j] - xi, y[j] - yi, z[j] - zi
            inverse = np.float32(1.0) / np.sqrt(dx * dx + dy * dy + dz * dz + eps2)
            s = m[j] * inverse * inverse * inverse
            sx += dx * s
            sy += dy * s
            sz += dz * s
        ax[i], ay[i], az[i] = sx, sy, sz


def nbody(n: int) -> Workload:
    rng = np.random.default_rng(9)
    x, y, z = (rng.random(n, dtype=np.float32) for _ in range(3))
    m = rng.random(n, dtype=np.float32) + np.float32(0.5)
    ax, ay, az = (np.zeros(n, dtype=np.float32) for _ in range(3))
    eps2 = np.float32(NBODY_SOFTENING2)
    _accelerations(x[:8], y[:8], z[:8], m[:8], ax[:8].copy(), ay[:8].copy(), az[:8].copy(), eps2)  # compile
    name = f"numba_nbody_{n}"

    def check() -> None:  # every body against a float64 reference (in blocks of 256); fp32 with approximate rsqrt
        positions = np.stack([x, y, z]).astype(np.float64)
        masses = m.astype(np.float64)
        got = np.stack([ax, ay, az]).astype(np.float64)
        for start in range(0, n, 256):
            d = positions[:, None, :] - positions[:, start:start + 256, None]  # 3 x block x n
            s = masses / (np.sum(d * d, axis=0) + float(eps2)) ** 1.5
            reference = np.einsum("kij,ij->ki", d, s)
            scale = np.linalg.norm(reference, axis=0)
            bad = np.flatnonzero(np.any(np.abs(got[:, start:start + 256] - reference) > 1e-3 * scale + 1e-6, axis=0))
            if bad.size:
                i = start + int(bad[0])
                fail(name, f"a[{i}] = {got[:, i].tolist()}, expected {reference[:, bad[0]].tolist()}")

    library = f"numba {numba.__version__} (njit, parallel=True, fastmath=True)"
    return Workload(name, "nbody", (n,), library, f"all-pairs gravitational accelerations of {n} bodies, fp32",
                     lambda: _accelerations(x, y, z, m, ax, ay, az, eps2), check, precision="fp32")
