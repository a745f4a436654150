"""What every CPU program of ``hwbench validate`` is made of: the set-up workload (one call of the real code and the
check of its output), the stencils' coefficients, the helpers the checks share, and the one timing loop of the CPU
programs (``time_calls``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import MeasurementError
from ..stats import RepetitionPolicy
from ..timing import Sample, time_kernel

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
    raise MeasurementError(f"{name} output check failed: {what}; no figure is reported")


def all_equal(name: str, array: np.ndarray, expected: float) -> None:
    wrong = np.flatnonzero(array != expected)
    if wrong.size:
        fail(name, f"[{int(wrong[0])}] = {array[wrong[0]]!r}, expected {expected!r} ({wrong.size} wrong)")


def check_matmul(name: str, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    """C = A B: the checksum identity sum(A B) = (1^T A)(B 1) over every entry, then ``SAMPLED_ENTRIES`` entries
    against a float64 reference computed without BLAS. Inputs in [0, 1): no cancellation, so a relative bound
    holds."""
    n = a.shape[0]
    expected = float(a.sum(axis=0) @ b.sum(axis=1))
    if not abs(float(c.sum()) - expected) <= 1e-9 * expected:
        fail(name, f"checksum {float(c.sum())!r}, expected {expected!r}")
    rng = np.random.default_rng(3)
    for i, j in zip(rng.integers(0, n, SAMPLED_ENTRIES), rng.integers(0, n, SAMPLED_ENTRIES)):
        reference = float(np.sum(a[i, :] * b[:, j]))
        if not abs(float(c[i, j]) - reference) <= 1e-9 * reference:
            fail(name, f"C[{i}, {j}] = {float(c[i, j])!r}, expected {reference!r}")


def time_calls(call: Callable[[], object], policy: RepetitionPolicy) -> tuple[float, ...]:
    """The seconds of one ``call`` in each sample: ``time_kernel`` sizes the samples and asks for back-to-back
    calls, timed together by ``time.perf_counter`` (the programs are the user's code: no device timer to ask)."""

    def run(calls: int) -> Sample:
        started = time.perf_counter()
        for _ in range(calls):
            call()
        return Sample(time.perf_counter() - started)

    timing = time_kernel(run, policy)
    return tuple(seconds / timing.calls_per_sample for seconds in timing.seconds)
