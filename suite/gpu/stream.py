"""The STREAM family (copy, scale, add, triad, dot in fp64 and fp32) on NVIDIA GPUs: kernels of
``kernels/cuda/stream.cu``, in the launch shapes the catalog lists (the L2 family, ``l2.py``, runs the same
file's l2_read through the launch-shape sweep here).

Launch shape: the grid and block that reach the bandwidth ceiling differ by device and kernel (on
an H100, one vector per thread in 1024-thread blocks beat one wave of grid-stride blocks by 6%), so each
STREAM kernel first runs a short untimed sweep: ``sweep_launches`` launches of every catalog shape, round
robin, each timed alone with CUDA events; the shape of the lowest median wins (a shape within ``TIE`` of it
counts as tied, and ties go to the simplest, the catalog's earlier). Only the winner is then timed through
``hwbench.timing``, validated, and recorded in the result's ``details["launch"]`` with every candidate's rate.
ERT and gpu-benches sweep their launches the same way.

Set-up: three arrays of max(4 x L2, 1 GiB) bytes each (gpu-benches issue 6: DRAM arrays at least 4x the
L2), capped so that the three fit in 60% of free device memory, filled with STREAM's initial values; every
array holds a whole number of 16-byte vectors (double2 / float4) per block of every shape. The check is
STREAM's scalar replay (BabelStream's check_solution); dot is checked through its per-block partial sums
(the first ``grid`` of them: the sweep's larger grids leave partials beyond).

Scalars are passed to raw kernels as NumPy scalars of the kernel's type: CuPy passes a Python float as a
double and checks nothing, so a float kernel would read garbage.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..catalog import Kernel
from ..check import STREAM_INITIAL, STREAM_SCALAR, check_close, replay_stream
from ..errors import MeasurementError
from ..kernel_spec import GpuStreamLaunch, VectorLaunch
from ..stats import KernelResult, Timeline
from ..timing import Run, Work
from .family import GpuContext, GpuFamily, GpuFamilyResult, Launch
from .theory import launch_blocks

L2_MULTIPLE = 4  # DRAM arrays at least 4x the L2 (gpu-benches issue 6)
MIN_ARRAY_BYTES = 1 << 30  # per array; bigger arrays amortize the tail of each launch
MEMORY_FRACTION = 0.6  # the three STREAM arrays may take at most this share of free device memory
DTYPES = {"fp64": np.float64, "fp32": np.float32}  # Kernel.precision -> element type of the arrays
TOLERANCE = {"fp64": 1e-12, "fp32": 1e-6}  # relative, of every written element
DOT_TOLERANCE = {"fp64": 1e-9, "fp32": 1e-4}  # relative, of the sum of the partial sums
TIMING = "CUDA events around back-to-back launches on one stream"
TIE = 0.002  # sweep medians within 0.2% of the fastest are tied: the simplest of them wins
ONE_PASS, GRID_STRIDE = "one vector per thread", "grid-stride"


@dataclass(frozen=True)
class Shape:
    """A launch shape of the catalog: ``block`` threads per block, and ``waves`` of a grid-stride launch (SMs x
    resident blocks x waves), or None for one vector per thread (a grid that covers the array in one pass)."""

    block: int
    waves: int | None

    @property
    def mode(self) -> str:
        return ONE_PASS if self.waves is None else GRID_STRIDE

    @property
    def label(self) -> str:
        waves = f"{self.waves} wave{'' if self.waves == 1 else 's'}"
        return f"{self.block} x {ONE_PASS if self.waves is None else waves}"

    def grid(self, sms: int, max_threads_per_sm: int, n_vec: int, resident: int | None = None) -> int:
        """Blocks of the launch over ``n_vec`` vectors: enough for one vector per thread, or SMs x resident
        blocks x waves, never more than one pass needs (a block without a vector would only cost).
        ``resident``: blocks per SM from the occupancy API (registers included), else the thread limit."""
        one_pass = max(1, -(-n_vec // self.block))
        if self.waves is None:
            return one_pass
        return min(one_pass, launch_blocks(sms, max_threads_per_sm, self.block, waves=self.waves, resident=resident))


def shapes(kernel: Kernel) -> tuple[Shape, ...]:
    """The catalog's launch shapes of ``kernel``, simplest first."""
    return tuple(Shape(shape.block, shape.waves) for shape in kernel.launch_as(VectorLaunch).shapes)


def granule(kernel: Kernel) -> int:
    """Bytes the largest block of ``kernel``'s shapes covers with one vector per thread: arrays are a multiple
    of it, so every vector is whole and a one-pass grid has no idle thread, whatever the block."""
    return kernel.launch_as(VectorLaunch).vector_bytes * max(shape.block for shape in shapes(kernel))


def choose(seconds: Mapping[Shape, Sequence[float]]) -> Shape:
    """The shape of the lowest median time; shapes within ``TIE`` of it are tied and the first (in catalog
    order, the simplest) wins."""
    medians = {shape: statistics.median(times) for shape, times in seconds.items()}
    fastest = min(medians.values())
    return next(shape for shape, median in medians.items() if median <= fastest * (1 + TIE))


def sweep(runs: Mapping[Shape, Callable[[], float]], launches: int) -> dict[Shape, list[float]]:
    """Seconds per launch of every shape, ``launches`` samples each, round robin (a drift of clocks or temperature
    then touches every shape alike); one untimed sample first (lazy module loading lands there)."""
    seconds: dict[Shape, list[float]] = {shape: [] for shape in runs}
    next(iter(runs.values()))()
    for _ in range(launches):
        for shape, run in runs.items():
            seconds[shape].append(run())
    return seconds


SWEEP_BATCH_SECONDS = 0.002  # each sweep sample: back-to-back launches for about this long
MAX_SWEEP_BATCH = 64


def batch_calls(one_launch_seconds: float) -> int:
    """Launches per sweep sample: enough back-to-back launches for ``SWEEP_BATCH_SECONDS`` (a single launch of a
    few hundred microseconds carries 10-20 us of host-side jitter, far above the 0.2% tie rule)."""
    if one_launch_seconds <= 0:
        return MAX_SWEEP_BATCH
    return max(1, min(MAX_SWEEP_BATCH, round(SWEEP_BATCH_SECONDS / one_launch_seconds)))


@dataclass(frozen=True)
class Tuned:
    """The chosen launch of a kernel: its shape and grid, and every candidate's sweep rate."""

    shape: Shape
    grid: int
    rates: dict[str, float]  # shape label -> GB/s, median of the sweep; empty without a sweep
    launches: int = 0

    def details(self) -> dict:
        launch = {"block": self.shape.block, "grid": self.grid, "mode": self.shape.mode, "waves": self.shape.waves}
        if self.rates:
            launch["candidates"] = self.rates
            launch["sweep"] = (f"{self.launches} untimed launches per shape, round robin, CUDA events; the lowest "
                               f"median wins, within {TIE:.1%} the simplest shape")
        return {"blocks": self.grid, "block": self.shape.block, "launch": launch}


def autotune(session: GpuContext, kernel: Kernel, launch_for: Callable[[int, int], Launch], n_vec: int,
             rated_bytes: float) -> Tuned:
    """The fastest of ``kernel``'s shapes over ``n_vec`` vectors, by the sweep (``launch_for(grid, block)``
    makes the launch; ``rated_bytes`` per launch gives the rates). A kernel with one shape is not swept."""
    grids = {shape: grid_of(session, kernel, shape, n_vec) for shape in shapes(kernel)}
    if len(grids) == 1:
        shape, grid = next(iter(grids.items()))
        return Tuned(shape, grid, {})
    runners = {shape: session.runner(launch_for(grid, shape.block)) for shape, grid in grids.items()}
    launches = kernel.launch_as(GpuStreamLaunch).sweep_launches
    calls = batch_calls(min(run(1).seconds for run in runners.values()))  # untimed: sizes the batches
    seconds = sweep({shape: partial(_per_launch, run, calls) for shape, run in runners.items()}, launches)
    rates = {shape.label: round(rated_bytes / statistics.median(times) / 1e9, 1) for shape, times in seconds.items()}
    winner = choose(seconds)
    return Tuned(winner, grids[winner], rates, launches)


def _per_launch(run: Run, calls: int) -> float:
    """Seconds per launch of one sweep sample: ``calls`` back-to-back launches."""
    return run(calls).seconds / calls


def grid_of(session: GpuContext, kernel: Kernel, shape: Shape, n_vec: int) -> int:
    """``shape``'s grid over ``n_vec`` vectors on the session's GPU, with the loaded kernel's occupancy."""
    gpu = session.gpu
    resident = session.resident_blocks(kernel, shape.block) if shape.waves is not None else None
    return shape.grid(gpu.sms, gpu.max_threads_per_sm, n_vec, resident=resident)


def max_grid(session: GpuContext, kernel: Kernel, n_vec: int) -> int:
    """The largest grid of ``kernel``'s shapes over ``n_vec`` vectors: the length its partial sums need."""
    return max(grid_of(session, kernel, shape, n_vec) for shape in shapes(kernel))


def stream_array_bytes(l2_bytes: int, free_bytes: int, granule: int) -> tuple[int, list[str]]:
    """Bytes per STREAM array: max(4 x L2, 1 GiB), capped so three arrays fit in 60% of free memory; a
    multiple of ``granule`` (16 bytes x the largest block) so every vector is whole."""
    warnings = []
    wanted = max(L2_MULTIPLE * l2_bytes, MIN_ARRAY_BYTES)
    cap = int(free_bytes * MEMORY_FRACTION / 3)
    if wanted > cap:
        wanted = cap
        if wanted < L2_MULTIPLE * l2_bytes:
            warnings.append(f"STREAM arrays capped at {cap / 2**20:.0f} MiB by free device memory, under 4x the "
                            f"L2 ({l2_bytes / 2**20:.0f} MiB): DRAM figures may include L2 hits; free GPU memory")
    return max(granule, wanted // granule * granule), warnings


def array_bytes_for(session: GpuContext, kernel: Kernel) -> tuple[int, list[str]]:
    """Bytes per STREAM array on the session's GPU for ``kernel``'s granule, and the warnings of the choice."""
    return stream_array_bytes(session.gpu.l2_bytes, session.gpu.free_bytes, granule(kernel))


def by_precision(kernels: Sequence[Kernel]) -> dict[str, list[Kernel]]:
    """The kernels grouped by precision (one set of arrays each), in catalog order."""
    grouped: dict[str, list[Kernel]] = {}
    for kernel in kernels:
        grouped.setdefault(kernel.precision, []).append(kernel)
    return grouped


def run(session: GpuContext, kernels: Sequence[Kernel]) -> GpuFamilyResult:
    """Every selected STREAM kernel, precision by precision, on arrays allocated once per precision (of one size,
    chosen for the first kernel)."""
    cp = session.cp
    array_bytes, warnings = array_bytes_for(session, kernels[0])
    session.warnings.extend(warnings)
    results = []
    for precision, chosen in by_precision(kernels).items():
        dtype = DTYPES[precision]
        n = array_bytes // np.dtype(dtype).itemsize
        arrays = {key: cp.full(n, value, dtype=dtype) for key, value in STREAM_INITIAL.items()}
        n_vec = array_bytes // chosen[0].launch_as(VectorLaunch).vector_bytes
        partial = cp.zeros(max(max_grid(session, kernel, n_vec) for kernel in chosen), dtype=dtype)
        state = dict(STREAM_INITIAL)
        for kernel in chosen:
            session.step(kernel.name)
            results.append(_time_one(session, kernel, arrays, partial, state, n, array_bytes))
        del arrays, partial
        cp.get_default_memory_pool().free_all_blocks()
    return GpuFamilyResult(tuple(results), array_bytes=array_bytes)


def _time_one(session: GpuContext, kernel: Kernel, arrays: dict, partial, state: dict, n: int,
                 array_bytes: int) -> KernelResult:
    function = session.module(kernel).get_function(kernel.entry)
    n_vec = array_bytes // kernel.launch_as(VectorLaunch).vector_bytes
    a, b, c = arrays["a"], arrays["b"], arrays["c"]
    scalar = DTYPES[kernel.precision](STREAM_SCALAR)
    args = (a, b, partial, np.int64(n_vec)) if kernel.form == "dot" else (a, b, c, scalar, np.int64(n_vec))

    def launch_for(grid: int, block: int) -> Launch:
        return lambda: function((grid,), (block,), args)

    work = Work.of_stream(kernel, n)
    tuned = autotune(session, kernel, launch_for, n_vec, work.rated)

    def check() -> None:
        session.stream.synchronize()
        check_stream(session.cp, kernel, arrays, partial[:tuned.grid], state, n)

    details = {"elements": int(n), "vector_bytes": kernel.launch_as(VectorLaunch).vector_bytes, **tuned.details(),
               "traffic_model": kernel.traffic_model(), "timing": TIMING}
    return session.time_and_check(kernel, launch_for(tuned.grid, tuned.shape.block), check, work, details)


def check_stream(cp, kernel: Kernel, arrays: dict, partial, state: dict, n: int) -> None:
    """Every written element against the scalar replay of the kernels run so far (dot: the sum of the
    per-block partial sums against n x a x b)."""
    precision = kernel.precision
    if kernel.form == "dot":
        check_close(f"dot ({precision})", [float(cp.sum(partial, dtype=cp.float64))],
                    n * state["a"] * state["b"], DOT_TOLERANCE[precision])
        return
    target, value = replay_stream(kernel.form, state)
    deviation = float(cp.max(cp.abs(arrays[target] - value)))
    if not deviation <= TOLERANCE[precision] * abs(value):
        raise MeasurementError(f"{kernel.form} ({precision}) output check failed: array {target} deviates from "
                               f"{value} by {deviation:g}; no figure is reported")


def sustain(session: GpuContext, kernel: Kernel, seconds: float, interval: float) -> Timeline:
    """Triad (fp64) kept busy for ``seconds`` on fresh arrays of the session's STREAM size, in the shape its own
    sweep chose; checked afterwards."""
    cp = session.cp
    array_bytes, _ = array_bytes_for(session, kernel)  # the warnings were the stream family's
    n = array_bytes // kernel.element_bytes
    a, b, c = (cp.full(n, value, dtype=DTYPES[kernel.precision]) for value in STREAM_INITIAL.values())
    function = session.module(kernel).get_function(kernel.entry)
    n_vec = array_bytes // kernel.launch_as(VectorLaunch).vector_bytes
    args = (a, b, c, DTYPES[kernel.precision](STREAM_SCALAR), np.int64(n_vec))

    def launch_for(grid: int, block: int) -> Launch:
        return lambda: function((grid,), (block,), args)

    tuned = autotune(session, kernel, launch_for, n_vec, kernel.bytes_stream * n)
    launch = launch_for(tuned.grid, tuned.shape.block)
    timeline = session.sustain(kernel, launch, kernel.bytes_stream * n, seconds, interval)
    session.stream.synchronize()
    _, value = replay_stream(kernel.form, dict(STREAM_INITIAL))
    check_close(f"sustained {kernel.name}", [float(cp.min(a)), float(cp.max(a))], value, 1e-12)
    return timeline


FAMILY = GpuFamily("gpu", "stream", run, sustained_kernel="triad", sustain=sustain)
