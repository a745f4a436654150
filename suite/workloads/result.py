"""``WorkloadRun``: what one workload of ``hwbench validate`` ran and how long it took (no counts, no prediction).

The record names the computation (``kind``) and its shape; ``hwbench.tools.validate`` turns those into
closed-form FLOP and byte counts. Keeping the counting there, away from the code that runs, means the same
formulas serve the CPU and the GPU, and they are tested on hand-made records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The computations ``hwbench.tools.validate`` can count (its COUNTS table has one formula per kind).
KINDS = ("matmul", "stencil5", "dot", "sum", "triad_two_pass", "axpy", "random_walk", "hash_walk")
LATENCY_KINDS = ("random_walk", "hash_walk")  # predicted from the latency ceilings, kept out of the roofline verdict


@dataclass(frozen=True)
class WorkloadRun:
    """One timed workload. ``seconds`` is the median of ``samples``, each the time of one call.

    ``shape``: (n,) for a matmul of n x n matrices and for the vector kinds (n elements), (rows, cols) for the
    stencil. ``precision`` is the profile's compute key whose roof the workload runs on (fp64, fp32,
    tensor_fp16, ...). ``threads``: the CPU cores it ran on (None on a GPU)."""

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

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown workload kind {self.kind!r}; known: {', '.join(KINDS)}")


def count_label(n: int) -> str:
    """A short name for an element count: 16Mi for 16 x 2^20, 4Ki for 4 x 2^10, else the number."""
    for unit, shift in (("Mi", 20), ("Ki", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)
