"""Run the CPU kernels on pinned threads, validate every result, and collect the samples.

Order of a run: inspect the CPU, choose the CPUs, start one pinned worker per CPU, allocate the STREAM
arrays and have each worker first-touch its own slice (prefault + NUMA placement), then measure each
selected kernel, then the clock. Nothing here formats output or computes ceilings (see ``ceilings``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..errors import MeasurementError
from ..kernels import cpu_fma, cpu_stream
from ..kernels.cpu_llvm import ADDS_PER_BLOCK, CLOCK_SUPPORTED
from ..cpu.machine import CpuInfo, inspect_cpu
from ..cpu.pinning import physical_core_count, read_topology, select_cpus
from ..catalog import BANDWIDTH_SPECS, BandwidthSpec, select_kernels
from ..stats import KernelResult, RepetitionPolicy, repeat_timed, spread_warning, summarize
from ..profile.sustained import Timeline
from ..cpu.theory import CoreModel, assumed_core, identify_core
from ..validation import STREAM_INITIAL, STREAM_SCALAR, check_close, replay_stream

STREAM_KERNELS = ("copy", "scale", "add", "triad", "dot")
NT_KERNELS = ("copy_nt", "scale_nt", "add_nt", "triad_nt")
FMA_KERNELS = ("fma_fp64", "fma_fp32")
CPU_KERNELS = STREAM_KERNELS + NT_KERNELS + FMA_KERNELS
KERNEL_GROUPS = {"stream": STREAM_KERNELS, "nt": NT_KERNELS, "fma": FMA_KERNELS, "all": CPU_KERNELS}

MIN_ARRAY_BYTES = 64 * 2**20
LLC_MULTIPLE = 4  # STREAM rule: each array at least 4x the total last-level cache
MEMORY_FRACTION = 0.6  # the three arrays may take at most this share of available memory
CLOCK_PROBE_BLOCKS = 150  # x ADDS_PER_BLOCK = 30k dependent adds per probe: ~10 us, rdtsc overhead under 0.5%


@dataclass(frozen=True)
class CpuRunOptions:
    kernels: tuple[str, ...] = CPU_KERNELS
    threads: int | None = None
    cpus: str | None = None
    pinning: str = "compact"
    quick: bool = False
    array_bytes: int | None = None  # per array; default from the cache sizes (tests use smaller)
    sustain_seconds: float | None = None  # per sustained kernel; None: no sustained run
    sustain_interval: float = 1.0


@dataclass(frozen=True)
class ClockResult:
    method: str
    tsc_mhz: float
    scalar_mhz: float | None  # add chain alone on every selected core
    under_load_mhz: dict[str, float]  # precision -> clock while the FMA kernel runs on every core


@dataclass(frozen=True)
class CpuMeasurement:
    cpu: CpuInfo
    core: CoreModel
    core_known: bool
    cpus: list[int]
    physical_cores: int
    pinning: str
    quick: bool
    policy: RepetitionPolicy
    array_elements: int
    results: list[KernelResult]
    clock: ClockResult | None
    warnings: list[str]
    sustained: tuple[Timeline, ...] = ()
    sustained_seconds: float | None = None
    sustained_interval: float | None = None


@dataclass(frozen=True)
class ProbedRun:
    """One call of the FMA kernel with the interleaved clock probe (see CpuRunner.fma_with_clock_probe)."""

    seconds: float  # whole call, probes included
    clock_mhz: float  # median over threads
    probe_seconds: float  # time in the probes, mean over threads
    flops: int


ProgressCallback = Callable[[str, int, int], None]


def resolve_kernels(spec: str | None) -> tuple[str, ...]:
    """'triad,fma' -> ('triad', 'fma_fp64', 'fma_fp32'), in the canonical order; unknown names exit 2."""
    return select_kernels(spec, CPU_KERNELS, KERNEL_GROUPS)


def array_elements(cpu: CpuInfo, threads: int, array_bytes: int | None) -> tuple[int, list[str]]:
    """Elements per STREAM array: at least 4x the last-level cache, capped by available memory, and a
    multiple of 8 x threads so every thread's slice starts on a 64-byte boundary."""
    warnings = []
    llc = cpu.l3_total_bytes or (cpu.caches.get("l2") or 0) * cpu.physical_cores
    wanted = array_bytes or max(LLC_MULTIPLE * llc, MIN_ARRAY_BYTES)
    cap = int(cpu.available_memory_bytes * MEMORY_FRACTION / 3)
    if wanted > cap:
        warnings.append(f"STREAM arrays capped at {cap / 2**20:.0f} MiB each by available memory; "
                        f"{wanted / 2**20:.0f} MiB wanted: free memory for a DRAM-bound measurement")
        wanted = cap
    if llc and wanted < LLC_MULTIPLE * llc:
        warnings.append(f"STREAM arrays of {wanted / 2**20:.1f} MiB are under 4x the last-level cache "
                        f"({llc / 2**20:.0f} MiB): bandwidth kernels may measure the cache, not DRAM")
    granule = 8 * threads
    return max(granule, wanted // 8 // granule * granule), warnings


def _chunks(n: int, parts: int) -> list[tuple[int, int]]:
    """Split [0, n) into ``parts`` ranges whose bounds are multiples of 8 (n is a multiple of 8*parts)."""
    size = n // parts
    return [(i * size, (i + 1) * size) for i in range(parts)]


class CpuRunner:
    def __init__(self, options: CpuRunOptions, progress: ProgressCallback | None = None):
        self.options = options
        self.progress = progress or (lambda label, index, total: None)
        self.policy = RepetitionPolicy.for_mode(options.quick)
        self.cpu = inspect_cpu()
        self.cpus = select_cpus(options.threads, options.cpus, options.pinning)
        self.physical_cores = physical_core_count(read_topology(set(self.cpus)))
        known = identify_core(self.cpu)
        self.core = known or assumed_core(self.cpu)
        self.core_known = known is not None
        self.lanes64 = self.core.simd_bits // 64
        self.warnings: list[str] = []

    def run(self) -> CpuMeasurement:
        from ..cpu.workers import PinnedPool

        kernels = self.options.kernels
        bandwidth = [k for k in kernels if k in BANDWIDTH_SPECS]
        fma = [k for k in kernels if k in FMA_KERNELS]
        clock_steps = 1 if fma and CLOCK_SUPPORTED else 0
        sustain = self.options.sustain_seconds
        sustain_bandwidth = sustained_bandwidth_kernel(bandwidth) if sustain else None
        sustain_fma = fma[0] if sustain and fma and CLOCK_SUPPORTED else None
        total = (len(bandwidth) + len(fma) + clock_steps + (1 if bandwidth else 0) + (sustain_bandwidth is not None)
                 + (sustain_fma is not None))
        step = 0
        results: list[KernelResult] = []
        timelines: list[Timeline] = []
        n = 0
        with PinnedPool(self.cpus) as pool:
            if bandwidth:
                self.progress("allocate and first-touch arrays", step, total)
                n, warnings = array_elements(self.cpu, len(self.cpus), self.options.array_bytes)
                self.warnings += warnings
                arrays = self.allocate_arrays(pool, n)
                step += 1
                state = dict(STREAM_INITIAL)
                for name in bandwidth:
                    self.progress(name, step, total)
                    results.append(self._measure_bandwidth(pool, name, arrays, state))
                    step += 1
                if sustain_bandwidth:
                    self.progress(f"sustained {sustain_bandwidth} ({sustain:g} s)", step, total)
                    timelines.append(self._sustain_bandwidth(pool, sustain_bandwidth, arrays, state))
                    step += 1
                del arrays
            for name in fma:
                self.progress(name, step, total)
                results.append(self._measure_fma(pool, name.split("_")[1]))
                step += 1
            clock = None
            if clock_steps:
                self.progress("clock", step, total)
                clock = self._measure_clock(pool, [name.split("_")[1] for name in fma])
            elif fma:
                self.warnings.append(f"clock not measured: no add-chain probe for {self.cpu.arch}")
            if sustain_fma:
                step += 1
                self.progress(f"sustained {sustain_fma} ({sustain:g} s)", step, total)
                timelines.insert(0, self._sustain_fma(pool, sustain_fma.split("_")[1]))
            self.progress("done", total, total)
        for result in results:
            warning = spread_warning(result.name, result.summary, self.options.quick)
            if warning:
                self.warnings.append(warning)
        return CpuMeasurement(self.cpu, self.core, self.core_known, self.cpus, self.physical_cores,
                              self.options.pinning, self.options.quick, self.policy, n, results, clock,
                              self.warnings, tuple(timelines), self.options.sustain_seconds,
                              self.options.sustain_interval if timelines else None)

    # STREAM -------------------------------------------------------------------------------------

    def allocate_arrays(self, pool, n: int) -> dict[str, np.ndarray]:
        arrays = {name: cpu_stream.aligned_empty(n) for name in STREAM_INITIAL}
        bounds = _chunks(n, len(self.cpus))
        for name, value in STREAM_INITIAL.items():
            pool.run([partial(cpu_stream.fill, arrays[name], value, lo, hi) for lo, hi in bounds])
        return arrays

    def stream_tasks(self, name: str, arrays: dict[str, np.ndarray]) -> tuple[BandwidthSpec, str, list]:
        """(spec, form, one task per worker) of bandwidth kernel ``name``; each task does its thread's slice."""
        spec = BANDWIDTH_SPECS[name]
        form = name.removesuffix("_nt")
        kernel = (cpu_stream.nontemporal_kernel(form, self.lanes64) if spec.nontemporal
                  else cpu_stream.TEMPORAL_KERNELS[form])
        a, b, c = arrays["a"], arrays["b"], arrays["c"]
        return spec, form, [partial(kernel, a, b, c, STREAM_SCALAR, lo, hi) for lo, hi in _chunks(a.size,
                                                                                                 len(self.cpus))]

    def _measure_bandwidth(self, pool, name: str, arrays: dict[str, np.ndarray], state: dict) -> KernelResult:
        spec, form, tasks = self.stream_tasks(name, arrays)
        n = arrays["a"].size
        last: list[float] = []

        def once() -> float:
            seconds, partials = pool.run(tasks)
            last[:] = partials
            return seconds

        seconds = repeat_timed(once, self.policy)
        validate_stream(form, arrays, state, sum(last), n)
        return KernelResult(
            name=name, precision="fp64", level=spec.level, unit="GB/s",
            summary=summarize(spec.bytes_stream * n, seconds),
            working_set_bytes=(spec.reads + spec.writes) * spec.element_bytes * n,
            bytes_stream=spec.bytes_stream * n, bytes_traffic=spec.bytes_traffic * n,
            flops=spec.flops_per_element * n, validated=True,
            details={"elements": n, "nontemporal": spec.nontemporal, **_traffic_detail(spec)},
        )

    def _sustain_bandwidth(self, pool, name: str, arrays: dict[str, np.ndarray], state: dict) -> Timeline:
        """Run bandwidth kernel ``name`` back to back for ``sustain_seconds``; one sample per interval.

        Repeating a STREAM kernel leaves its arrays as one run does (no kernel reads the array it writes),
        so one scalar replay validates the whole sustained run."""
        spec, form, tasks = self.stream_tasks(name, arrays)
        n = arrays["a"].size
        timeline = Timeline(name, "GB/s")
        last: list[float] = []
        start = time.perf_counter()
        while (now := time.perf_counter()) - start < self.options.sustain_seconds:
            busy, repetitions = 0.0, 0
            while time.perf_counter() - now < self.options.sustain_interval:
                seconds, last = pool.run(tasks)
                busy += seconds
                repetitions += 1
            timeline.add(now - start, spec.bytes_stream * n * repetitions / busy / 1e9)
        validate_stream(form, arrays, state, sum(last), n)
        return timeline

    def _sustain_fma(self, pool, precision: str) -> Timeline:
        """The FMA kernel with the clock probe, on every selected core, for ``sustain_seconds``; each
        interval gives one throughput sample (validated) and the clock under that load."""
        run = self.fma_with_clock_probe(pool, precision, calibrate_timestamp_hz())
        rounds = max(1, int(self.options.sustain_interval / 210e-6))
        timeline = Timeline(f"fma_{precision}", "GFLOP/s")
        start = time.perf_counter()
        while (now := time.perf_counter()) - start < self.options.sustain_seconds:
            probed = run(rounds)
            # The rate over the FMA blocks alone: the probes' time (about 5%) is subtracted, so the sustained
            # figure is comparable with compute.<precision>.measured_gflops.
            timeline.add(now - start, probed.flops / (probed.seconds - probed.probe_seconds) / 1e9, probed.clock_mhz)
            rounds = max(1, round(rounds * self.options.sustain_interval / probed.seconds))  # keep to the interval
        return timeline

    # FMA ----------------------------------------------------------------------------------------

    def fma_shape(self, precision: str) -> tuple[int, int]:
        """(lanes, chains): the full-rate vector width, and chains to cover latency x units (see cpu_fma)."""
        lanes = self.core.simd_bits // (64 if precision == "fp64" else 32)
        chains = 16 if self.cpu.arch in ("aarch64", "arm64") else 12
        return lanes, chains

    def _measure_fma(self, pool, precision: str) -> KernelResult:
        lanes, chains = self.fma_shape(precision)
        kernel = cpu_fma.fma_kernel(precision, lanes, chains)
        dtype = cpu_fma.dtype_of(precision)
        a, b, x0 = dtype(cpu_fma.FMA_A), dtype(cpu_fma.FMA_B), dtype(1.0)
        n_iter = self.calibrate_iterations(pool, kernel, (a, b, x0), 0.02 if self.options.quick else 0.05)
        tasks = [partial(kernel, n_iter, a, b, x0) for _ in self.cpus]
        last: list[float] = []

        def once() -> float:
            seconds, sums = pool.run(tasks)
            last[:] = sums
            return seconds

        seconds = repeat_timed(once, self.policy)
        expected = cpu_fma.expected_checksum(n_iter, 1.0, lanes, chains)
        check_close(f"fma_{precision}", last, expected, 1e-4 if precision == "fp32" else 1e-9)
        flops = cpu_fma.flops_per_iteration(lanes, chains) * n_iter * len(self.cpus)
        return KernelResult(
            name=f"fma_{precision}", precision=precision, level="core", unit="GFLOP/s",
            summary=summarize(flops, seconds), working_set_bytes=0, bytes_stream=None,
            bytes_traffic=None, flops=flops, validated=True,
            details={"simd_bits": lanes * (64 if precision == "fp64" else 32), "lanes": lanes,
                     "chains": chains, "iterations_per_thread": n_iter,
                     "flop_counting": f"2 FLOP per FMA x {lanes} lanes x {chains} chains x iterations x threads"},
        )

    def calibrate_iterations(self, pool, kernel, args: tuple, target_seconds: float) -> int:
        """Iterations per call so that one call takes about ``target_seconds`` (JIT compile included in
        the first, discarded, call)."""
        probe = 100_000
        pool.run([partial(kernel, probe, *args) for _ in self.cpus])
        seconds, _ = pool.run([partial(kernel, probe, *args) for _ in self.cpus])
        return max(probe, int(probe * target_seconds / max(seconds, 1e-6)))

    # Clock --------------------------------------------------------------------------------------

    def fma_with_clock_probe(self, pool, precision: str, tsc_hz: float) -> Callable[[int], ProbedRun]:
        """``run(rounds)``: on every selected core, ``rounds`` x (an FMA block of ~200 us, then a ~10 us
        dependent add chain timed by the TSC), so the cores spend ~95% of the time in FMA and the chain
        measures the clock of that state. Every call's checksums are validated."""
        lanes, chains = self.fma_shape(precision)
        kernel = cpu_fma.fma_clock_kernel(precision, lanes, chains)
        dtype = cpu_fma.dtype_of(precision)
        args = (dtype(cpu_fma.FMA_A), dtype(cpu_fma.FMA_B), dtype(1.0))
        iterations = self.calibrate_iterations(pool, cpu_fma.fma_kernel(precision, lanes, chains), args, 200e-6)
        block_checksum = cpu_fma.expected_checksum(iterations, 1.0, lanes, chains)
        block_flops = cpu_fma.flops_per_iteration(lanes, chains) * iterations * len(self.cpus)

        def run(rounds: int) -> ProbedRun:
            seconds, replies = pool.run([partial(kernel, rounds, iterations, CLOCK_PROBE_BLOCKS, *args)
                                         for _ in self.cpus])
            check_close(f"fma_{precision} with clock probe", [r[0] for r in replies], rounds * block_checksum,
                        1e-4 if precision == "fp32" else 1e-9)
            clock = median_clock_mhz([r[1:] for r in replies], tsc_hz, rounds * CLOCK_PROBE_BLOCKS * ADDS_PER_BLOCK)
            probe_seconds = float(np.mean([r[2] for r in replies])) / tsc_hz
            return ProbedRun(seconds, clock, probe_seconds, rounds * block_flops)

        return run

    def _measure_clock(self, pool, precisions: Sequence[str]) -> ClockResult:
        tsc_hz = calibrate_timestamp_hz()
        blocks = CLOCK_PROBE_BLOCKS
        duration = 0.25 if self.options.quick else 1.0
        # Scalar: the add chain alone, on every selected core at once.
        cpu_fma.scalar_clock_kernel(1, 1)
        # Sized for about half of ``duration`` at up to 3 GHz (one add per cycle); slower clocks take longer.
        outer = max(1, int(duration * 3e9 / (blocks * ADDS_PER_BLOCK) / 2))
        _, counts = pool.run([partial(cpu_fma.scalar_clock_kernel, outer, blocks) for _ in self.cpus])
        scalar = median_clock_mhz(counts, tsc_hz, outer * blocks * ADDS_PER_BLOCK)
        under_load = {}
        rounds = max(1, int(duration / 210e-6))
        for precision in precisions:
            under_load[precision] = self.fma_with_clock_probe(pool, precision, tsc_hz)(rounds).clock_mhz
        return ClockResult(
            method=f"dependent chain of 1-cycle integer adds ({blocks * ADDS_PER_BLOCK} per probe) timed with "
                   "the invariant time-stamp counter, interleaved with the FMA kernel on every selected core",
            tsc_mhz=tsc_hz / 1e6, scalar_mhz=scalar, under_load_mhz=under_load)


def sustained_bandwidth_kernel(bandwidth: Sequence[str]) -> str | None:
    """The bandwidth kernel of a sustained run: triad when selected, else the first that writes memory."""
    if "triad" in bandwidth:
        return "triad"
    return next((name for name in bandwidth if name != "dot"), None)


def _traffic_detail(spec: BandwidthSpec) -> dict:
    allocate = "none (non-temporal stores)" if spec.nontemporal else f"{spec.writes} write-allocate read(s)"
    return {"bytes_per_element_stream": spec.bytes_stream, "bytes_per_element_traffic": spec.bytes_traffic,
            "traffic_model": f"{spec.reads} read(s) + {spec.writes} write(s) + {allocate}, 8 bytes each"}


def validate_stream(form: str, arrays: dict[str, np.ndarray], state: dict[str, float], dot_sum: float,
                    n: int) -> None:
    """Check every element the kernel wrote (or dot's sum) against the scalar replay; raise on mismatch."""
    if form == "dot":
        check_close("dot", [dot_sum], n * state["a"] * state["b"], 1e-9)
        return
    target, value = replay_stream(form, state)
    deviation = cpu_stream.max_deviation(arrays[target], value)
    if not deviation <= 1e-12 * abs(value):
        raise MeasurementError(f"{form} validation failed: array {target} deviates from {value} by "
                               f"{deviation:g}; the kernel computed a wrong result, so no figure is reported")


def calibrate_timestamp_hz(seconds: float = 0.05) -> float:
    """Ticks per second of the time-stamp counter, against the OS monotonic clock."""
    cpu_fma.timestamp_now()
    t0, p0 = cpu_fma.timestamp_now(), time.perf_counter()
    time.sleep(seconds)
    t1, p1 = cpu_fma.timestamp_now(), time.perf_counter()
    return (t1 - t0) / (p1 - p0)


def median_clock_mhz(counts: Sequence[Sequence[int]], tsc_hz: float, expected_adds: int) -> float:
    """Median over threads of adds / (ticks / tsc_hz): each (adds, ticks) pair is one thread's probes."""
    clocks = []
    for adds, ticks in counts:
        if adds != expected_adds:
            raise MeasurementError(f"clock probe ran {adds} adds, expected {expected_adds}")
        clocks.append(adds / (ticks / tsc_hz) / 1e6)
    return float(np.median(clocks))
