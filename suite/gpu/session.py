"""The GPU session: open the device and NVML, compile the CUDA modules, run each kernel family through the
one timing path, and hand a device-neutral ``SessionRecord`` (with the inputs of every theoretical figure) to
the profile builder.

Order of a session: open the device and NVML, compile every CUDA module the selected kernels need (NVRTC,
outside any timing, with the catalog's ``-D`` constants), then each selected family in catalog order through
the family protocol (``hwbench.family``); per kernel ``hwbench.timing`` runs one untimed launch, one timed
launch to size a batch of ~5 ms, warm-up batches and timed batches (CUDA events around back-to-back launches;
``runner`` below), checks the result, and the NVML summary of the timed window is attached. Sustained timelines last.
Nothing here formats output or computes ceilings (``hwbench.profile.build`` does, for both devices).

Raw kernels launch on CuPy's current stream, so every launch happens inside ``with self.stream``; the CUDA
events are recorded on that stream. The families run inside it too, so that their allocations and fills
(``cp.zeros``, ``fill``, ``set``: memsets, kernels and copies on CuPy's current stream) are ordered before the
launches: the session's stream is non-blocking, and nothing orders it after the legacy default stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from .. import catalog
from ..catalog import CudaModule, Kernel
from ..errors import UsageError
from ..family import Plan, merged
from ..kernel_spec import GridLaunch, MmaLaunch, TensorLaunch
from ..record import (
    ClockSection,
    DeviceSection,
    IntensityCurve,
    LatencyRecord,
    ProgressCallback,
    RunSection,
    SessionRecord,
    Sustained,
)
from ..stats import KernelResult, RepetitionPolicy, Timeline, rounded, spread_warnings
from ..timing import Run, Sample, Work, time_and_check
from . import fma, intensity, l2, latency, mma, onchip, stream, tensor, transfer
from .failures import checked_cupy, compile_failure, cuda_failure, is_missing_library, missing_library
from .family import GpuFamily, GpuInfo, Launch
from .telemetry import NvmlSampler, WindowSummary, prechecks
from .theory import compute_theory, launch_blocks, memory_theory, sm_model, tensor_theory

SAMPLE_SECONDS = 0.005  # each timed sample covers ~5 ms of back-to-back launches

# Every GPU family (``hwbench.family``). Adding a family: a module that declares its ``FAMILY``, one entry here,
# and its kernels in the catalog. The low-precision peaks (profile section instruction_peaks) come from the mma
# family and the tensor family's int8 / fp8 library GEMMs (``lowp_gemm``).
FAMILIES: tuple[GpuFamily, ...] = (stream.FAMILY, l2.FAMILY, fma.FAMILY, tensor.FAMILY, transfer.FAMILY,
                                   onchip.FAMILY, intensity.FAMILY, latency.FAMILY, mma.FAMILY)

SUSTAINED_CLOCK = "NVML SM clock, median over each interval; power, temperature and clock-event reasons alongside"
TIMING = "CUDA events around batches of back-to-back launches; first launch (compile, load) untimed"


__all__ = ["FAMILIES", "GpuInfo", "GpuResult", "GpuSession", "measure_gpu", "to_record", "with_telemetry"]


@dataclass(frozen=True)
class GpuResult:
    """The facts of one GPU session, before they are put in profile terms (``to_record``)."""

    gpu: GpuInfo
    quick: bool
    policy: RepetitionPolicy
    results: list[KernelResult]
    warnings: list[str]
    sustained: tuple[Timeline, ...] = ()
    sustain_seconds: float | None = None
    sustain_interval: float | None = None
    array_bytes: int | None = None
    pcie: dict | None = None  # NVML's widest PCIe link: generation, width
    intensity_sweep: tuple[IntensityCurve, ...] = ()  # the intensity family's roofline curves
    latency: LatencyRecord | None = None  # the latency family's chases
    instruction_skipped: dict[str, str] = field(default_factory=dict)  # low-precision kernel -> why not run here


def throttle_note(window: WindowSummary, max_sm_mhz: float | None) -> str | None:
    """Why a figure is a throttled one: NVML reported a clock-event reason other than idle while it ran."""
    if not window.throttled_samples:
        return None
    clock = (f"; SM clock median {window.sm_mhz:.0f} MHz of {max_sm_mhz:.0f} max"
             if window.sm_mhz and max_sm_mhz else "")
    return (f"clock-event reasons {', '.join(window.reasons) or 'set'} in {window.throttled_samples} of "
            f"{window.samples} NVML samples{clock}: the figure is the throttled one (power or thermal limits as "
            "the card is set up; hwbench changes none)")


def with_telemetry(result: KernelResult, window: WindowSummary, max_sm_mhz: float | None) -> KernelResult:
    """``result`` with the NVML summary of its timed window: details, clocks and the throttle note."""
    clocks = {key: mhz for key, mhz in (("SM", window.sm_mhz), ("memory", window.memory_mhz)) if mhz is not None}
    return replace(result, details={**result.details, "telemetry": window.as_dict()}, clocks_mhz=clocks,
                   throttle_note=throttle_note(window, max_sm_mhz))


class GpuSession:
    """One CUDA device with its NVML sampler; implements ``family.GpuContext`` for the family modules."""

    def __init__(self, index: int, kernels: Sequence[Kernel], quick: bool, progress: ProgressCallback | None = None,
                 sustain_seconds: float | None = None, sustain_interval: float = 1.0):
        cupy = checked_cupy(index)
        self.cp: Any = cupy
        self.index = index
        self.kernels = tuple(kernels)
        self.quick = quick
        self.sustain_seconds = sustain_seconds  # per sustained kernel; None: no sustained run
        self.sustain_interval = sustain_interval
        self.progress = progress or (lambda label, i, total: None)
        self.policy = RepetitionPolicy.for_mode(quick)
        self.device = cupy.cuda.Device(index)
        self.device.use()
        self.stream: Any = cupy.cuda.Stream(non_blocking=True)
        try:
            bus_id = getattr(cupy.cuda.runtime, "deviceGetPCIBusId", None)
            self.sampler = NvmlSampler(index, pci_bus_id=bus_id(index) if bus_id else None)
        except ImportError:
            raise UsageError("--device cuda needs nvidia-ml-py for clocks and throttle reasons: "
                             "pip install 'hwbench[cuda]'") from None
        except Exception as error:  # pynvml.NVMLError: no NVML library or driver
            raise UsageError(f"--device cuda:{index}: NVML is not usable ({error}); hwbench needs it to read "
                             "the clocks: install the NVIDIA driver's NVML") from None
        self.gpu = self._inspect()
        # DCGM-like pre-checks (MIG, ECC, other processes, persistence, clocks held down at idle): recorded.
        self.warnings: list[str] = prechecks(self.sampler.nvml, self.sampler.handle)
        self._resident: dict[tuple[str | None, int], int] = {}  # (entry, block) -> resident blocks per SM
        self._modules: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._step, self._total = 0, 0

    def _inspect(self) -> GpuInfo:
        cp, runtime = self.cp, self.cp.cuda.runtime
        props = runtime.getDeviceProperties(self.index)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        free, total = runtime.memGetInfo()
        max_sm, max_mem = self.sampler.max_clocks_mhz()
        bus = self.sampler.bus_width_bits() or self.device.attributes.get("GlobalMemoryBusWidth")
        version = runtime.runtimeGetVersion()
        return GpuInfo(
            index=self.index, name=name, compute_capability=(props["major"], props["minor"]),
            sms=props["multiProcessorCount"], max_threads_per_sm=props["maxThreadsPerMultiProcessor"],
            l2_bytes=props["l2CacheSize"], memory_bytes=total, free_bytes=free, bus_width_bits=bus,
            max_sm_mhz=max_sm, max_memory_mhz=max_mem,
            clock_source="NVML nvmlDeviceGetMaxClockInfo (SM and memory)",
            driver=self.sampler.driver_version(), cuda_runtime=f"{version // 1000}.{version % 1000 // 10}",
            cupy_version=cp.__version__, power_limit_w=self.sampler.power_limit_w(),
        )

    # What the families use (family.GpuContext) ------------------------------------------------------------

    def step(self, label: str) -> None:
        self.progress(label, self._step, self._total)
        self._step += 1

    def module(self, kernel: Kernel) -> Any:
        """The compiled RawModule of ``kernel.module``, once per (file, options)."""
        cuda: CudaModule | None = kernel.module
        if cuda is None:
            raise ValueError(f"{kernel.name} has no CUDA module in the catalog")
        options = cuda.compile_options()
        if cuda.source == catalog.MMA_CU.source:  # wgmma needs the arch-specific target (sm_90a)
            options += mma.ARCH_SPECIFIC_OPTIONS.get(self.gpu.compute_capability, ())
        key = (cuda.source, options)
        if key not in self._modules:
            source = resources.files("hwbench.kernels").joinpath(f"cuda/{cuda.source}").read_text()
            module = self.cp.RawModule(code=source, options=options)
            what = f"cuda:{self.index}: {cuda.source}"
            try:
                module.compile()  # NVRTC now, so no compile time lands in a timed window
            except self.cp.cuda.compiler.CompileException as error:
                raise compile_failure(what, error) from None
            except Exception as error:
                if is_missing_library(error):  # a driver-only node: CuPy without NVRTC
                    raise missing_library(what, error) from None
                raise
            self._modules[key] = module
        return self._modules[key]

    def resident_blocks(self, kernel: Kernel, block: int) -> int:
        """Blocks of ``block`` threads of ``kernel``'s loaded function per SM: the driver's occupancy API
        (``cuOccupancyMaxActiveBlocksPerMultiprocessor``: threads, the kernel's registers, shared memory)."""
        key = (kernel.entry, block)
        if key not in self._resident:
            function = self.module(kernel).get_function(kernel.entry)
            resident = self.cp.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(function.kernel.ptr, block, 0)
            self._resident[key] = max(1, int(resident))
        return self._resident[key]

    def blocks(self, kernel: Kernel) -> int:
        block = kernel.constants["BLOCK"]
        return launch_blocks(self.gpu.sms, self.gpu.max_threads_per_sm, block, waves=kernel.launch_as(GridLaunch).waves,
                             resident=self.resident_blocks(kernel, block))

    def runner(self, launch: Launch) -> Run:
        """``run(calls)`` for ``hwbench.timing``: CUDA events around ``calls`` back-to-back launches, and the
        SM clock of the NVML sample taken while they run."""
        cp = self.cp
        start, end = cp.cuda.Event(), cp.cuda.Event()

        def run(calls: int) -> Sample:
            with self.stream:
                start.record(self.stream)
                for _ in range(calls):
                    launch()
                end.record(self.stream)
                reading = self.sampler.mark()  # while the batch runs: every window has samples, however short
                end.synchronize()
            return Sample(cp.cuda.get_elapsed_time(start, end) / 1e3, reading.sm_mhz)

        return run

    def time_and_check(self, kernel: Kernel, launch: Launch, check: Callable[[], None], work: Work,
                       details: dict, name: str | None = None) -> KernelResult:
        if kernel.module is not None and "block" in details:  # the loaded kernel's occupancy, as launched
            details = {**details, "occupancy": {
                "registers_per_thread": int(self.module(kernel).get_function(kernel.entry).num_regs),
                "resident_blocks_per_sm": self.resident_blocks(kernel, details["block"]),
                "source": "RawKernel.num_regs; cuOccupancyMaxActiveBlocksPerMultiprocessor for the launch's block"}}
        measured = time_and_check(kernel, self.runner(launch), check, work, self.policy, details,
                                  SAMPLE_SECONDS, name)
        window = self.sampler.window(measured.timing.started, measured.timing.ended)
        return with_telemetry(measured.result, window, self.gpu.max_sm_mhz)

    def sustain(self, kernel: Kernel, launch: Launch, work: float, seconds: float, interval: float) -> Timeline:
        """Keep ``launch`` busy for ``seconds``; one sample per ``interval``, with NVML's view of it (the batch
        size follows the rate so that each sample lasts about ``interval``)."""
        cp = self.cp
        timeline = Timeline(kernel.name, kernel.unit)
        start_event, end_event = cp.cuda.Event(), cp.cuda.Event()
        with self.stream:
            launch()
            self.stream.synchronize()
            begin = time.monotonic()
            batch = 1
            while (now := time.monotonic()) - begin < seconds:
                start_event.record(self.stream)
                for _ in range(batch):
                    launch()
                end_event.record(self.stream)
                self.sampler.mark()
                end_event.synchronize()
                elapsed = cp.cuda.get_elapsed_time(start_event, end_event) / 1e3
                window = self.sampler.window(now, time.monotonic())
                timeline.add(now - begin, work * batch / elapsed / 1e9, window.sm_mhz, power_w=window.power_w,
                             temperature_c=window.temperature_c, memory_mhz=window.memory_mhz,
                             clock_event_reasons=window.reasons)
                batch = max(1, round(batch * interval / elapsed))
        self.stream.synchronize()
        return timeline

    # Measuring ----------------------------------------------------------------------------------------------

    def measure_families(self) -> GpuResult:
        """Time every selected kernel, family by family; every result checked."""
        plan = Plan.of(FAMILIES, self.kernels, self.sustain_seconds, self.sustain_interval)
        self._step, self._total = 0, plan.steps(self) + 1
        self.sampler.start()
        cuda_api = self.cp.cuda
        try:
            self.step("compile kernels (NVRTC)")
            for kernel in self.kernels:
                if kernel.module is not None:
                    self.module(kernel)
            with self.stream:  # allocations, fills and launches all on the session's stream: ordered
                families, timelines = plan.run(self, self.step)
            self.stream.synchronize()
            self.progress("done", self._total, self._total)
        except cuda_api.memory.OutOfMemoryError as error:
            raise UsageError(f"cuda:{self.index} is out of memory ({error}); free GPU memory (other processes) "
                             "or measure fewer kernels with --kernels") from None
        except (cuda_api.runtime.CUDARuntimeError, cuda_api.driver.CUDADriverError) as error:
            raise cuda_failure(f"cuda:{self.index}", error) from None
        finally:
            self.sampler.stop()
        found = merged(families)
        results = list(found.results)
        self.warnings += self.sampler.read_failures()
        self.warnings += spread_warnings(results, self.quick)
        return GpuResult(self.gpu, self.quick, self.policy, results, self.warnings, timelines, self.sustain_seconds,
                         self.sustain_interval if timelines else None, found.array_bytes, self.sampler.pcie_link(),
                         found.intensity_curves, found.latency, dict(found.instruction_skipped))


# The session in profile terms ----------------------------------------------------------------------


def to_record(result: GpuResult) -> SessionRecord:
    """The device-neutral record of a GPU session: its facts and the inputs of every paper figure."""
    gpu = result.gpu
    warnings = list(result.warnings)
    model = sm_model(*gpu.compute_capability)
    cc = f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}"
    if model is None:
        warnings.append(f"compute capability {cc} is not in hwbench's table: theoretical compute peaks are "
                        "unknown; report the GPU to get it added")
    device: DeviceSection = {
        "id": f"cuda:{gpu.index}", "name": gpu.name, "vendor": "NVIDIA", "arch": f"sm_{cc.replace('.', '')}",
        "compute_capability": cc, "sms": gpu.sms, "max_threads_per_sm": gpu.max_threads_per_sm,
        "caches": {"l2": gpu.l2_bytes}, "memory_bytes": gpu.memory_bytes, "bus_width_bits": gpu.bus_width_bits,
        "max_sm_mhz": gpu.max_sm_mhz, "max_memory_mhz": gpu.max_memory_mhz, "power_limit_w": gpu.power_limit_w,
        "driver": gpu.driver, "cuda_runtime": gpu.cuda_runtime, "cupy": gpu.cupy_version,
        "sm_model": {"name": model.name, "source": model.source} if model else None,
    }
    run_section: RunSection = {
        "threads": None, "cpus": None, "pinning": None, "prefault": True, "quick": result.quick,
        "array_bytes": result.array_bytes, "repetitions": result.policy.as_dict(), "timing": TIMING,
    }
    # Low-precision peaks (mma, int8 / fp8 library GEMMs) go to instruction_peaks, never to compute or its clock.
    lowp = {kernel.name: kernel.launch.data for kernel in catalog.kernels("gpu")
            if "lowp" in kernel.groups and isinstance(kernel.launch, (MmaLaunch, TensorLaunch))}
    instruction_theory = {r.name: tensor_theory(gpu, lowp[r.name], r.unit) for r in result.results if r.name in lowp}
    compute = [r for r in result.results if r.unit == "GFLOP/s" and r.name not in lowp]
    # The profile-wide clock is the FMA kernels' (lowest over them): tensor GEMMs run power-capped at clocks
    # of their own, which each tensor ceiling records; mixing them in made two identical H100 runs differ
    # by 6.5% (1605 vs 1710 MHz). Ceilings without FMA kernels fall back to every compute kernel.
    clocked = [r for r in compute if r.clocks_mhz.get("SM")]
    fma_clocks = [r.clocks_mhz["SM"] for r in clocked if not r.precision.startswith("tensor_")]
    compute_clocks = fma_clocks or [r.clocks_mhz["SM"] for r in clocked]
    clock: ClockSection = {
        "nominal_mhz": rounded(gpu.max_sm_mhz, 1), "nominal_source": gpu.clock_source,
        "measured_mhz": rounded(min(compute_clocks), 1) if compute_clocks else None,
        "measured_under": ("FMA kernels (not tensor GEMMs): NVML SM clock, median per timed window, lowest over "
                           "kernels" if fma_clocks else "tensor GEMMs (no FMA kernel selected): NVML SM clock, "
                           "median per timed window, lowest over kernels") if compute_clocks else None,
        "max_memory_mhz": rounded(gpu.max_memory_mhz, 1),
    }
    sustained = (Sustained(result.sustained, result.sustain_seconds, result.sustain_interval, SUSTAINED_CLOCK)
                 if result.sustained else None)
    return SessionRecord(device, run_section, clock, result.results,
                       {r.precision: compute_theory(gpu, r.precision) for r in compute},
                       memory_theory(gpu, result.pcie), warnings, sustained, reports_throttling=True,
                       intensity_sweep=result.intensity_sweep, latency=result.latency,
                       instruction_theory=instruction_theory, instruction_skipped=result.instruction_skipped)


def measure_gpu(index: int, kernels: tuple[Kernel, ...], quick: bool, progress: ProgressCallback | None = None,
                sustain_seconds: float | None = None, sustain_interval: float = 1.0) -> SessionRecord:
    """``hwbench run --device cuda:N``: time every selected kernel on GPU ``index`` and assemble."""
    session = GpuSession(index, kernels, quick, progress, sustain_seconds, sustain_interval)
    return to_record(session.measure_families())

