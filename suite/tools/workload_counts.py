"""The closed-form work of ``hwbench validate``'s programs: FLOPs and compulsory bytes per call, and the byte
convention that matches the roof they are divided by. Pure functions of a ``WorkloadRun``'s kind and shape."""

from __future__ import annotations

from dataclasses import dataclass

from ..workloads.result import WorkloadRun


@dataclass(frozen=True)
class Counts:
    """The closed-form work of one call. ``bytes_allocated``: bytes written to lines the workload did not read
    first; a CPU's normal store reads such a line before writing it (write-allocate), a GPU's does not."""

    flops: int
    bytes_read: int
    bytes_written: int
    bytes_allocated: int
    working_set_bytes: int
    formula: str

    def bytes_moved(self, convention: str) -> int:
        """``stream``: each array read or written once (STREAM's convention); ``traffic``: plus write-allocate."""
        extra = self.bytes_allocated if convention == "traffic" else 0
        return self.bytes_read + self.bytes_written + extra

    def write_share(self, convention: str) -> float:
        """Written bytes over bytes moved, in ``convention`` (``Profile.memory_roof`` picks the roof by it)."""
        moved = self.bytes_moved(convention)
        return self.bytes_written / moved if moved else 0.0


# The n-body interaction count of Nyland, Harris and Prins, "Fast N-Body Simulation with CUDA", GPU Gems 3, ch. 31:
# 20 FLOPs per pair (3 subtractions, 3 multiplies and 3 adds for r^2 + eps^2, a reciprocal square root counted
# as 2 (sqrt and divide), 2 multiplies for 1/r^3, 1 for m/r^3, 3 multiplies and 3 adds into the acceleration).
NBODY_FLOPS_PER_PAIR = 20
SPMV_INDEX_BYTES, SPMV_POINTER_BYTES = 4, 8  # CSR column indices int32, row pointers int64
HISTOGRAM_KEY_BYTES, HISTOGRAM_COUNT_BYTES = 4, 8  # int32 keys, int64 counts (cupy.bincount's output)


def counts(run: WorkloadRun) -> Counts:
    """The FLOPs and compulsory bytes of ``run``, in closed form (each array touched once; caches reuse the rest).

    matmul, matmul_blocked C = A B of n x n: 2n^3 FLOPs (n^3 multiply-adds: the GEMM count of LAPACK Working Note
    41 and of every BLAS benchmark), A and B read, C written (beta = 0: C is not read), 3n^2 elements.
    stencil5 on rows x cols: each of the (rows-2)(cols-2) interior points takes 2 multiplications and 4
    additions (the expression as written: c0 u + c1 (N + S + W + E)); the grid is read once and the interior
    written once (neighbouring rows stay in cache).
    stencil7 on nz x ny x nx: c0 u + c1 (6 neighbours), 2 multiplications and 6 additions per interior point;
    grid read once (three planes stay in cache), interior written once.
    dot: n multiplications and n additions (2n: BLAS ddot's count), two vectors read.
    sum: n - 1 additions, one vector read.
    triad_two_pass, a = b + s c written as a = s c; a += b: 2n FLOPs; pass one reads c and writes a (lines not
    read first), pass two reads a and b and writes a (lines just read): 3n elements read, 2n written, n of them
    write-allocated.
    axpy z = a x + y (one fused elementwise kernel): 2n FLOPs, x and y read, z written.
    add c = a + b: n FLOPs, a and b read, c written. scale b = s a: n FLOPs, a read, b written.
    saxpy y = a x + y in place: 2n FLOPs, x and y read, y written (lines just read: no write-allocate).
    spmv_csr y = A x, rows x rows with nnz non-zeros: 2 nnz FLOPs; values (element size), column indices (int32)
    and row pointers (int64, rows + 1) read once, x read once (the band of columns keeps it in cache), y written.
    scan_two_pass, an inclusive prefix sum of n elements in p slices (np.cumsum on each slice, then the carry of
    the slices before it added to each later slice): (n - p) + (n - n0) additions, n0 = ceil(n / p) the first
    slice's length; pass one reads x and writes y (not read first), pass two reads and writes y past the first
    slice.
    scan, a single-pass inclusive prefix sum of n elements (cupy.cumsum): n - 1 additions; x read, y written.
    histogram of n keys into b bins (cupy.bincount): n increments (integer additions, counted as operations; the
    compute term is negligible beside the memory term either way); the int32 keys read, the b int64 counts written.
    nbody, one all-pairs acceleration step of n bodies: 20 FLOPs per pair (NBODY_FLOPS_PER_PAIR) over n^2 pairs
    (self-pairs included, as the kernel computes them: softening makes their force zero); x, y, z and mass read,
    three acceleration arrays written."""
    size = run.element_bytes
    if run.kind in ("matmul", "matmul_blocked"):
        (n,) = run.shape
        return Counts(2 * n**3, 2 * n * n * size, n * n * size, n * n * size, 3 * n * n * size,
                      "2n^3 FLOPs; A, B read, C written: 3n^2 elements")
    if run.kind == "stencil5":
        rows, cols = run.shape
        interior = (rows - 2) * (cols - 2)
        return Counts(6 * interior, rows * cols * size, interior * size, interior * size,
                      (rows * cols + interior) * size,
                      "6 FLOPs per interior point; grid read once, interior written once")
    if run.kind == "stencil7":
        nz, ny, nx = run.shape
        interior = (nz - 2) * (ny - 2) * (nx - 2)
        return Counts(8 * interior, nz * ny * nx * size, interior * size, interior * size,
                      (nz * ny * nx + interior) * size,
                      "8 FLOPs per interior point; grid read once, interior written once")
    if run.kind == "spmv_csr":
        rows, nnz = run.shape
        read = nnz * (size + SPMV_INDEX_BYTES) + (rows + 1) * SPMV_POINTER_BYTES + rows * size
        return Counts(2 * nnz, read, rows * size, rows * size, read + rows * size,
                      "2 FLOPs per non-zero; values, int32 columns, int64 row pointers and x read once, y written")
    if run.kind == "scan_two_pass":
        n, parts = run.shape
        first = -(-n // parts)
        return Counts((n - parts) + (n - first), (n + n - first) * size, (n + n - first) * size, n * size,
                      2 * n * size, "(n - p) + (n - n0) additions; x read, y written; y past the first slice read "
                                    "and written again")
    if run.kind == "histogram":
        n, bins = run.shape
        return Counts(n, n * HISTOGRAM_KEY_BYTES, bins * HISTOGRAM_COUNT_BYTES, bins * HISTOGRAM_COUNT_BYTES,
                      n * HISTOGRAM_KEY_BYTES + bins * HISTOGRAM_COUNT_BYTES,
                      "n increments; int32 keys read, int64 counts written")
    if run.kind == "nbody":
        (n,) = run.shape
        return Counts(NBODY_FLOPS_PER_PAIR * n * n, 4 * n * size, 3 * n * size, 3 * n * size, 7 * n * size,
                      "20 FLOPs per pair (GPU Gems 3, ch. 31), n^2 pairs; x, y, z, m read, 3 accelerations written")
    (n,) = run.shape
    table = {  # kind -> (FLOPs, elements read, elements written, written without being read, distinct elements)
        "dot": (2 * n, 2 * n, 0, 0, 2 * n, "2n FLOPs; two vectors read"),
        "sum": (n - 1, n, 0, 0, n, "n - 1 FLOPs; one vector read"),
        "triad_two_pass": (2 * n, 3 * n, 2 * n, n, 3 * n, "2n FLOPs; c read, a written; a, b read, a written"),
        "axpy": (2 * n, 2 * n, n, n, 3 * n, "2n FLOPs; x, y read, z written"),
        "add": (n, 2 * n, n, n, 3 * n, "n FLOPs; a, b read, c written"),
        "scale": (n, n, n, n, 2 * n, "n FLOPs; a read, b written"),
        "saxpy": (2 * n, 2 * n, n, 0, 2 * n, "2n FLOPs; x, y read, y written in place"),
        "scan": (n - 1, n, n, n, 2 * n, "n - 1 FLOPs; x read, y written"),
    }
    flops, read, written, allocated, distinct, formula = table[run.kind]
    return Counts(flops, read * size, written * size, allocated * size, distinct * size, formula)


def byte_convention(device: str, level: str) -> str:
    """The byte count that matches the roof: a CPU's ``memory.dram.measured_gbps`` counts actual traffic
    (write-allocate reads included, profile ``counting``), its ``memory.l1``-``l3`` count the loads and stores
    a kernel issues (STREAM convention); a GPU's stores allocate no read, so its two counts are the same."""
    return "traffic" if device == "cpu" and level == "dram" else "stream"
