"""``WorkloadRun``: what one workload of ``hwbench validate`` ran and how long it took (no counts, no prediction).

The record names the computation (``kind``) and its shape; ``hwbench.tools.workload_counts`` turns those into
closed-form FLOP and byte counts. Keeping the counting there, away from the code that runs, means the same
formulas serve the CPU and the GPU, and they are tested on hand-made records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..stats import confirmed_best

# The computations ``hwbench.tools.workload_counts.counts`` can count (one closed form per kind), and the latency
# kinds ``hwbench.tools.validate_latency`` predicts.
KINDS = ("matmul", "matmul_blocked", "stencil5", "stencil7", "dot", "sum", "triad_two_pass", "axpy", "add", "scale",
         "saxpy", "spmv_csr", "scan_two_pass", "scan", "histogram", "nbody", "random_walk", "hash_walk")
LATENCY_KINDS = ("random_walk", "hash_walk")  # predicted from the latency ceilings, kept out of the roofline verdict
# The compute roof a workload executes (``hwbench.Profile.compute_roof``): fma (fused multiply-add vectors), add or
# mul (vector adds or multiplies without FMA), scalar_add (scalar adds), gemm (the library's GEMM).
ROOFS = ("fma", "add", "mul", "scalar_add", "gemm")


@dataclass(frozen=True)
class WorkloadRun:
    """One timed workload. ``seconds`` is the median of ``samples``, each the time of one call.

    ``shape``: (n,) for a matmul of n x n matrices, the n-body's n bodies and the vector kinds (n elements), (rows,
    cols) for the 5-point stencil, (nz, ny, nx) for the 7-point one, (rows, nonzeros) for the sparse matrix-vector
    product, (n, parts) for the two-pass scan, (n, bins) for the histogram. ``precision`` is the profile's compute
    key whose roof the workload runs on (fp64, fp32, tensor_fp16, ...); ``roof`` the instructions its inner loop
    executes (``ROOFS``), named in the report. ``threads``: the CPU cores it ran on (None on a GPU)."""

    name: str
    device: str  # "cpu" or "gpu"
    kind: str  # one of KINDS
    shape: tuple[int, ...]
    precision: str
    element_bytes: int
    library: str  # who wrote the code that ran, e.g. "numpy 2.4 (OpenBLAS 0.3.31)"
    description: str
    seconds: float
    samples: tuple[float, ...] = ()
    threads: int | None = None
    details: dict = field(default_factory=dict)
    roof: str = "fma"

    @property
    def best_seconds(self) -> float:
        """The confirmed-best time: the K-th fastest of ``samples`` (``stats.CEILING_RULE`` read on rates), the rule
        every roof of a profile is chosen by, so that a program and the roofs it is predicted from are read alike.
        ``seconds`` (the median) when there are no samples."""
        rates = [1.0 / t for t in self.samples if t > 0]
        return 1.0 / confirmed_best(rates) if rates else self.seconds

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown workload kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.roof not in ROOFS:
            raise ValueError(f"{self.name}: unknown compute roof {self.roof!r}; known: {', '.join(ROOFS)}")


def count_label(n: int) -> str:
    """A short name for an element count: 16Mi for 16 x 2^20, 4Ki for 4 x 2^10, else the number."""
    for unit, shift in (("Mi", 20), ("Ki", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)
