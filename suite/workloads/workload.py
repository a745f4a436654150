"""What every CPU program of ``hwbench validate`` is made of: the set-up workload (one call of the real code and the
check of its output), the stencils' coefficients, and the helpers the checks share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import MeasurementError

# The 5-point stencil out = C0 u + C1 (north + south + west + east): 2 multiplications and 4 additions per
# interior point, as written (the counts in hwbench.tools.workload_counts). Powers of two keep the reference exact.
STENCIL_C0, STENCIL_C1 = 0.5, 0.125
SAMPLED_ENTRIES = 32  # matmul entries checked one by one against a float64 reference, besides the checksum
ELEMENT_BYTES = {"fp64": 8, "fp32": 4}


@dataclass(frozen=True)
class Workload:
    """A set-up workload: one call of the real code, and the check of its output."""

    name: str
    kind: str
    shape: tuple[int, ...]
    library: str
    description: str
    call: Callable[[], object]
    check: Callable[[], None]
    roof: str = "fma"  # what its inner loop executes (WorkloadRun.roof)
    precision: str = "fp64"


def random_array(shape: Sequence[int], seed: int) -> np.ndarray:
    """Uniform [0, 1) float64, first-touched (written) before any timing."""
    return np.random.default_rng(seed).random(tuple(shape))


def fail(name: str, what: str) -> None:
    raise MeasurementError(f"{name} validation failed: {what}; no figure is reported")


def all_equal(name: str, array: np.ndarray, expected: float) -> None:
    wrong = np.flatnonzero(array != expected)
    if wrong.size:
        fail(name, f"[{int(wrong[0])}] = {array[wrong[0]]!r}, expected {expected!r} ({wrong.size} wrong)")
