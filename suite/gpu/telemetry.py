"""GPU telemetry through NVML (nvidia-ml-py): a background sampler and the clock-event (throttle) reasons.

The sampler reads SM and memory clocks, power, temperature and the clock-event reasons every
``interval_s`` while the kernels run; each measurement window (start and end on ``time.monotonic``) is then
summarized from the samples inside it. hwbench only reads: it never changes clocks or power limits.

Reason bits: NVML's ``nvmlClocksEventReason*`` (formerly ``nvmlClocksThrottleReason*``) constants, nvml.h.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field

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
    sm_mhz: float
    memory_mhz: float
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
    mask = 0
    for s in inside:
        mask |= s.reasons
    return WindowSummary(
        samples=len(inside),
        sm_mhz=float(statistics.median(s.sm_mhz for s in inside)),
        sm_mhz_min=float(min(s.sm_mhz for s in inside)),
        memory_mhz=float(statistics.median(s.memory_mhz for s in inside)),
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
        by_bus = getattr(pynvml, "nvmlDeviceGetHandleByPciBusId_v2", None)
        self.handle = (by_bus(pci_bus_id.encode()) if pci_bus_id and by_bus else
                       pynvml.nvmlDeviceGetHandleByIndex(index))
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="hwbench-nvml")
        reasons = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
        self._reasons = reasons or pynvml.nvmlDeviceGetCurrentClocksThrottleReasons

    def _optional(self, read, scale: float = 1.0) -> float | None:
        try:
            return read() / scale
        except self.nvml.NVMLError:
            return None

    def sample(self) -> Sample:
        nvml, handle = self.nvml, self.handle
        return Sample(
            t=time.monotonic(),
            sm_mhz=float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)),
            memory_mhz=float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM)),
            power_w=self._optional(lambda: nvml.nvmlDeviceGetPowerUsage(handle), 1000.0),
            temperature_c=self._optional(lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
            reasons=int(self._reasons(handle)),
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
