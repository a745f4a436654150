"""Turn a GPU measurement into profile data: theoretical and measured ceilings side by side, per clock.

Same schema as the CPU profile. ``compute`` has fp64, fp32, fp16, bf16 (FMA kernels) and tensor_fp16,
tensor_bf16, tensor_tf32, tensor_fp64 (cuBLAS); ``memory`` has dram (device memory, HBM or GDDR), l2, h2d and
d2h. Every compute ceiling records the SM clock NVML saw while it ran and its FLOP per cycle per SM; memory
ceilings record bytes per cycle of the clock that drives them. A ceiling measured while NVML reported any
clock-event reason other than idle (power cap, thermal, ...) is flagged.
"""

from __future__ import annotations

import datetime as dt
import platform

from .ceilings import kernel_entry, profile_header
from .gpu_runner import GpuMeasurement
from .gpu_theory import dram_gbps, peak_gflops, sm_model
from .stats import KernelResult
from .sustain import sustained_extra
from .telemetry import WindowSummary
from .theory import ridge_point

COMPUTE_KERNELS = {"fp64": "fma_fp64", "fp32": "fma_fp32", "fp16": "fma_fp16", "bf16": "fma_bf16",
                   "tensor_fp16": "matmul_fp16", "tensor_bf16": "matmul_bf16", "tensor_tf32": "matmul_tf32",
                   "tensor_fp64": "matmul_fp64"}


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _flag(name: str, window: WindowSummary | None, max_sm_mhz: float | None, warnings: list[str]) -> bool:
    if window is None or not window.throttled_samples:
        return False
    clock = (f"; SM clock median {window.sm_mhz:.0f} MHz of {max_sm_mhz:.0f} max"
             if window.sm_mhz and max_sm_mhz else "")
    warnings.append(f"{name}: clock-event reasons {', '.join(window.reasons) or 'set'} in "
                    f"{window.throttled_samples} of {window.samples} NVML samples{clock}: the figure is the "
                    "throttled one (power or thermal limits as the card is set up; hwbench changes none)")
    return True


def _compute_entry(m: GpuMeasurement, precision: str, result: KernelResult, warnings: list[str]) -> dict:
    gpu = m.gpu
    model = sm_model(*gpu.compute_capability)
    per_cycle = model.per_cycle(precision) if model else None
    window = m.telemetry.get(result.name)
    clock = window.sm_mhz if window else None
    theoretical = peak_gflops(gpu.sms, gpu.max_sm_mhz, per_cycle)
    at_clock = peak_gflops(gpu.sms, clock, per_cycle)
    measured = result.summary.best
    measured_per_cycle = measured * 1e3 / (gpu.sms * clock) if clock else None
    cc = f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}"
    source = (f"{gpu.sms} SMs x {per_cycle} FLOP/cycle/SM ({model.name}: {model.source}) x {gpu.max_sm_mhz:.0f} "
              f"MHz ({gpu.clock_source})" if theoretical else
              f"unknown: no {precision} figure for compute capability {cc} in hwbench's table" if not per_cycle
              else "unknown: NVML gave no max SM clock")
    return {
        "kernel": result.name,
        "theoretical_gflops": _round(theoretical),
        "theoretical_source": source,
        "theoretical_at_measured_clock_gflops": _round(at_clock),
        "measured_gflops": _round(measured),
        "efficiency": _round(measured / theoretical, 4) if theoretical else None,
        "efficiency_at_measured_clock": _round(measured / at_clock, 4) if at_clock else None,
        "clock_mhz": _round(clock, 1),
        "clock_source": "NVML SM clock, median over the timed window" if clock else None,
        "flop_per_cycle": _round(measured_per_cycle, 2),
        "flop_per_cycle_theoretical": per_cycle,
        "per": "SM",
        "throttled": _flag(result.name, window, gpu.max_sm_mhz, warnings),
    }


def pcie_gbps(generation: int | None, width: int | None) -> float | None:
    """One direction of a PCIe link: lanes x transfer rate x encoding / 8 (PCI-SIG base specifications:
    2.5, 5, 8, 16, 32, 64 GT/s for generations 1-6; 8b/10b to gen 2, 128b/130b from gen 3; gen 6's FLIT
    mode is counted as 242/256)."""
    rates = {1: 2.5, 2: 5.0, 3: 8.0, 4: 16.0, 5: 32.0, 6: 64.0}
    if not generation or not width or generation not in rates:
        return None
    encoding = 0.8 if generation <= 2 else 242 / 256 if generation == 6 else 128 / 130
    return width * rates[generation] * encoding / 8


def _memory_entries(m: GpuMeasurement, warnings: list[str]) -> dict:
    gpu = m.gpu
    by_level: dict[str, list[KernelResult]] = {}
    for result in m.results:
        if result.unit == "GB/s":
            by_level.setdefault(result.level, []).append(result)
    memory = {}
    for level, results in by_level.items():
        top = max(results, key=lambda r: r.summary.best)
        window = m.telemetry.get(top.name)
        if level == "dram":
            theory = dram_gbps(gpu.max_memory_mhz, gpu.bus_width_bits)
            source = (f"2 x {gpu.max_memory_mhz:.0f} MHz ({gpu.clock_source}) x {gpu.bus_width_bits} bits / 8"
                      if theory else "unknown: NVML gave no max memory clock or bus width")
            clock, clock_name = (window.memory_mhz if window else None), "memory"
        elif level in ("h2d", "d2h"):
            link = m.details.get("pcie", {})
            theory = pcie_gbps(link.get("generation"), link.get("width"))
            source = (f"PCIe gen {link['generation']} x{link['width']}, one direction" if theory else
                      "unknown: NVML gave no PCIe link (NVLink-C2C or a virtual GPU?)")
            clock, clock_name = None, None
        else:
            theory, source = None, "not published by NVIDIA; measured only"
            clock, clock_name = (window.sm_mhz if window else None), "SM"
        measured = top.summary.best
        memory[level] = {
            "theoretical_gbps": _round(theory),
            "theoretical_source": source,
            "measured_gbps": _round(measured),
            "kernel": top.name,
            "counting": "bytes read + written by the kernel (GPU stores allocate no read); STREAM convention",
            "efficiency": _round(measured / theory, 4) if theory else None,
            "clock_mhz": _round(clock, 1),
            "bytes_per_cycle": _round(measured * 1e3 / clock, 1) if clock else None,
            "bytes_per_cycle_clock": clock_name,
            "throttled": _flag(top.name, window, gpu.max_sm_mhz, warnings),
        }
    return memory


def gpu_profile(m: GpuMeasurement, now: dt.datetime | None = None) -> dict:
    """The schema-1 profile of a GPU measurement (a plain dict, ready for YAML)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    gpu = m.gpu
    warnings = list(m.warnings)
    model = sm_model(*gpu.compute_capability)
    cc = f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}"
    if model is None:
        warnings.append(f"compute capability {cc} is not in hwbench's table: theoretical compute peaks are "
                        "unknown; report the GPU to get it added")
    by_name = {r.name: r for r in m.results}
    compute = {precision: _compute_entry(m, precision, by_name[kernel], warnings)
               for precision, kernel in COMPUTE_KERNELS.items() if kernel in by_name}
    memory = _memory_entries(m, warnings)
    dram = memory.get("dram", {})
    ridge = {precision: {"theoretical": _round(ridge_point(entry["theoretical_gflops"], dram.get("theoretical_gbps"))),
                         "measured": _round(ridge_point(entry["measured_gflops"], dram.get("measured_gbps")))}
             for precision, entry in compute.items()}
    compute_clocks = [e["clock_mhz"] for e in compute.values() if e["clock_mhz"]]
    extra = sustained_extra(
        list(m.sustained), m.sustained_seconds, m.sustained_interval,
        "NVML SM clock, median over each interval; power, temperature and clock-event reasons alongside", warnings)
    return {
        **profile_header(now),
        "device": {
            "id": f"cuda:{gpu.index}", "name": gpu.name, "vendor": "NVIDIA", "arch": f"sm_{cc.replace('.', '')}",
            "compute_capability": cc, "sms": gpu.sms, "max_threads_per_sm": gpu.max_threads_per_sm,
            "caches": {"l2": gpu.l2_bytes}, "memory_bytes": gpu.memory_bytes, "bus_width_bits": gpu.bus_width_bits,
            "max_sm_mhz": gpu.max_sm_mhz, "max_memory_mhz": gpu.max_memory_mhz, "power_limit_w": gpu.power_limit_w,
            "driver": gpu.driver, "cuda_runtime": gpu.cuda_runtime, "cupy": gpu.cupy_version,
            "sm_model": {"name": model.name, "source": model.source} if model else None,
            "os": f"{platform.system()} {platform.release()}",
        },
        "run": {
            "threads": None, "cpus": None, "pinning": None, "prefault": True, "quick": m.quick,
            "array_bytes": m.array_bytes,
            "repetitions": m.policy.as_dict(),
            "timing": "CUDA events around batches of back-to-back launches; first launch (compile, load) untimed",
        },
        "clock": {
            "nominal_mhz": _round(gpu.max_sm_mhz, 1), "nominal_source": gpu.clock_source,
            "measured_mhz": _round(min(compute_clocks), 1) if compute_clocks else None,
            "measured_under": "compute kernels: NVML SM clock, median per timed window, lowest over kernels"
            if compute_clocks else None,
            "max_memory_mhz": _round(gpu.max_memory_mhz, 1),
        },
        "compute": compute,
        "memory": memory,
        "ridge_point": ridge,
        "kernels": [kernel_entry(r) for r in m.results],
        **extra,
        "warnings": warnings,
    }


