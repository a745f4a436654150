"""GPU telemetry through NVML (nvidia-ml-py): a background sampler and the clock-event (throttle) reasons.

The sampler reads SM and memory clocks, power, temperature and the clock-event reasons every
``interval_s`` while the kernels run; each measurement window (start and end on ``time.monotonic``) is then
summarized from the samples inside it. hwbench only reads: it never changes clocks or power limits.

Reason bits: NVML's ``nvmlClocksEventReason*`` (formerly ``nvmlClocksThrottleReason*``) constants, nvml.h.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .pci import nvml_bus_id

# nvml.h: nvmlClocksEventReason* bit masks, with what each means for a measurement.
CLOCK_EVENT_REASONS: dict[int, str] = {
    0x0001: "gpu_idle",
    0x0002: "applications_clocks_setting",
    0x0004: "sw_power_cap",
    0x0008: "hw_slowdown",
    0x0010: "sync_boost",
    0x0020: "sw_thermal_slowdown",
    0x0040: "hw_thermal_slowdown",
    0x0080: "hw_power_brake_slowdown",
    0x0100: "display_clock_setting",
}
IDLE = 0x0001


def decode_reasons(mask: int) -> list[str]:
    """Names of the bits set in an NVML clock-event reason mask (unknown bits as hex)."""
    names = [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit]
    unknown = mask & ~sum(CLOCK_EVENT_REASONS)
    if unknown:
        names.append(f"unknown_0x{unknown:x}")
    return names


def is_throttled(mask: int) -> bool:
    """A sample is flagged when any reason other than idle is set."""
    return bool(mask & ~IDLE)


@dataclass(frozen=True)
class Sample:
    t: float  # time.monotonic()
    sm_mhz: float | None  # None where NVML could not read it
    memory_mhz: float | None
    power_w: float | None
    temperature_c: float | None
    reasons: int


@dataclass(frozen=True)
class WindowSummary:
    """The telemetry of one timed window."""

    samples: int
    sm_mhz: float | None  # median
    sm_mhz_min: float | None
    memory_mhz: float | None
    power_w: float | None  # mean
    temperature_c: float | None  # max
    reasons: list[str] = field(default_factory=list)  # union over the window
    throttled_samples: int = 0

    def as_dict(self) -> dict:
        return {"samples": self.samples, "sm_mhz": self.sm_mhz, "sm_mhz_min": self.sm_mhz_min,
                "memory_mhz": self.memory_mhz, "power_w": self.power_w, "temperature_c": self.temperature_c,
                "clock_event_reasons": self.reasons, "throttled_samples": self.throttled_samples}


def summarize_window(samples: list[Sample], start: float, end: float) -> WindowSummary:
    inside = [s for s in samples if start <= s.t <= end]
    if not inside:
        return WindowSummary(0, None, None, None, None, None)
    powers = [s.power_w for s in inside if s.power_w is not None]
    temperatures = [s.temperature_c for s in inside if s.temperature_c is not None]
    sm = [s.sm_mhz for s in inside if s.sm_mhz is not None]
    memory = [s.memory_mhz for s in inside if s.memory_mhz is not None]
    mask = 0
    for s in inside:
        mask |= s.reasons
    return WindowSummary(
        samples=len(inside),
        sm_mhz=float(statistics.median(sm)) if sm else None,
        sm_mhz_min=float(min(sm)) if sm else None,
        memory_mhz=float(statistics.median(memory)) if memory else None,
        power_w=round(statistics.fmean(powers), 1) if powers else None,
        temperature_c=max(temperatures) if temperatures else None,
        reasons=decode_reasons(mask & ~IDLE),
        throttled_samples=sum(1 for s in inside if is_throttled(s.reasons)),
    )


class NvmlSampler:
    """Samples one GPU in a daemon thread between ``start()`` and ``stop()``."""

    def __init__(self, index: int, interval_s: float = 0.05, pci_bus_id: str | None = None):
        import pynvml  # nvidia-ml-py

        self.nvml = pynvml
        pynvml.nvmlInit()
        # NVML numbers every GPU of the node and ignores CUDA_VISIBLE_DEVICES: under Slurm's GPU binding each
        # rank's cuda:0 is another GPU, so the device is found by its PCI bus id (CUDA's) wherever one is known.
        # nvidia-ml-py's name is nvmlDeviceGetHandleByPciBusId (it calls the C library's _v2 itself).
        self.handle = (pynvml.nvmlDeviceGetHandleByPciBusId(nvml_bus_id(pci_bus_id)) if pci_bus_id else
                       pynvml.nvmlDeviceGetHandleByIndex(index))
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="hwbench-nvml")
        reasons = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
        self._reasons = reasons or pynvml.nvmlDeviceGetCurrentClocksThrottleReasons
        self.failed_reads: dict[str, str] = {}  # query -> its first NVML error (a query a GPU does not support)

    def _optional(self, read, scale: float = 1.0) -> float | None:
        try:
            return read() / scale
        except self.nvml.NVMLError:
            return None

    def _guarded(self, name: str, read, scale: float = 1.0) -> float | None:
        """One NVML query of the sampler: an NVML error (a query this GPU or driver does not support) gives None
        and is remembered once, so it never ends the sampler thread or the timing path."""
        try:
            return read() / scale
        except self.nvml.NVMLError as error:
            self.failed_reads.setdefault(name, str(error) or type(error).__name__)
            return None

    def sample(self) -> Sample:
        nvml, handle = self.nvml, self.handle
        reasons = self._guarded("clock-event reasons", lambda: self._reasons(handle))
        return Sample(
            t=time.monotonic(),
            sm_mhz=self._guarded("SM clock", lambda: float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))),
            memory_mhz=self._guarded("memory clock",
                                     lambda: float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM))),
            power_w=self._guarded("power", lambda: nvml.nvmlDeviceGetPowerUsage(handle), 1000.0),
            temperature_c=self._guarded("temperature",
                                        lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
            reasons=int(reasons or 0),
        )

    def mark(self) -> Sample:
        """Take one sample now, from the caller's thread (the background thread keeps sampling too), and
        return it: the timing path pairs each timed batch with the SM clock read while it ran."""
        sample = self.sample()
        self.samples.append(sample)
        return sample

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.interval_s)

    def start(self) -> NvmlSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def read_failures(self) -> list[str]:
        """The warning about the NVML queries that failed while sampling (none: no warning)."""
        if not self.failed_reads:
            return []
        failed = "; ".join(f"{name} ({error})" for name, error in self.failed_reads.items())
        return [f"NVML could not read {failed}: those samples have no such value"]

    def window(self, start: float, end: float) -> WindowSummary:
        return summarize_window(list(self.samples), start, end)

    # Static facts ------------------------------------------------------------------------------------

    def max_clocks_mhz(self) -> tuple[float | None, float | None]:
        nvml, handle = self.nvml, self.handle
        return (self._optional(lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_SM)),
                self._optional(lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_MEM)))

    def bus_width_bits(self) -> int | None:
        read = getattr(self.nvml, "nvmlDeviceGetMemoryBusWidth", None)
        value = self._optional(lambda: read(self.handle)) if read else None
        return int(value) if value else None

    def driver_version(self) -> str | None:
        try:
            version = self.nvml.nvmlSystemGetDriverVersion()
        except self.nvml.NVMLError:
            return None
        return version.decode() if isinstance(version, bytes) else str(version)

    def pcie_link(self) -> dict:
        """The widest link the device and the system support (NVML max link generation and width)."""
        nvml, handle = self.nvml, self.handle
        generation = self._optional(lambda: nvml.nvmlDeviceGetMaxPcieLinkGeneration(handle))
        width = self._optional(lambda: nvml.nvmlDeviceGetMaxPcieLinkWidth(handle))
        return {"generation": int(generation) if generation else None, "width": int(width) if width else None}

    def power_limit_w(self) -> float | None:
        return self._optional(lambda: self.nvml.nvmlDeviceGetEnforcedPowerLimit(self.handle), 1000.0)


# Pre-checks: what spoils figures, as DCGM's diagnostics check it before a run ----------------------------------


def prechecks(nvml: Any, handle: Any, pid: int | None = None) -> list[str]:
    """Warnings about the state the GPU is measured in, read from NVML before the first kernel (DCGM's
    diagnostic pre-checks read the same): MIG mode on (the figures are the instance's), ECC off or pending a
    change, other processes on the GPU, persistence mode off, clock-event reasons other than idle while idle.
    A query the GPU does not support is skipped."""
    pid = os.getpid() if pid is None else pid

    def read(query):
        try:
            return query()
        except nvml.NVMLError:
            return None

    warnings = []
    mig = read(lambda: nvml.nvmlDeviceGetMigMode(handle))
    if mig is not None and mig[0] == nvml.NVML_DEVICE_MIG_ENABLE:
        warnings.append("pre-check: MIG mode is enabled: the figures are those of this MIG instance (its share of "
                        "SMs, L2 and memory bandwidth), not of the whole GPU")
    ecc = read(lambda: nvml.nvmlDeviceGetEccMode(handle))
    if ecc is not None and ecc[0] != ecc[1]:
        warnings.append(f"pre-check: ECC is {'on' if ecc[0] else 'off'} with a change to "
                        f"{'on' if ecc[1] else 'off'} pending a reboot: the memory figures change after it")
    elif ecc is not None and not ecc[0]:
        warnings.append("pre-check: ECC is off: memory figures are higher than with ECC on, as most data-centre "
                        "GPUs run")
    processes = read(lambda: nvml.nvmlDeviceGetComputeRunningProcesses(handle)) or []
    others = sorted({int(p.pid) for p in processes if int(p.pid) != pid})
    if others:
        warnings.append(f"pre-check: {len(others)} other process(es) use this GPU (pid {', '.join(map(str, others))})"
                        ": they share its SMs and memory bandwidth; the figures may be low")
    persistence = read(lambda: nvml.nvmlDeviceGetPersistenceMode(handle))
    if persistence is not None and persistence != nvml.NVML_FEATURE_ENABLED:
        warnings.append("pre-check: persistence mode is off: the driver may reinitialise the GPU between runs "
                        "(nvidia-smi -pm 1 keeps it loaded)")
    current = (getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)  # NVML 12.2+; the older name:
               or nvml.nvmlDeviceGetCurrentClocksThrottleReasons)
    reasons = read(lambda: current(handle))
    if reasons is not None and is_throttled(int(reasons)):
        warnings.append(f"pre-check: clocks held down while idle ({', '.join(decode_reasons(int(reasons) & ~IDLE))})"
                        ": an application clock, power or thermal limit is in force before any kernel runs")
    return warnings
