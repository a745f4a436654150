"""``hwbench run``: pick the device, run its session, and build the profile: one path for every device.

    --device  ->  resolve_device  ->  CPU or GPU session (kernels from the catalog)  ->  Measurement
              ->  profile.build.build_profile(measurement, Host.current())  ->  profile dict

The CLI parses and prints; the sessions measure; the builder writes the format. This module only joins them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UsageError
from .measurement import ProgressCallback

CUDA_INSTALL_HINT = "pip install 'hwbench[cuda]'"


def cuda_device_count() -> int:
    """Number of CUDA devices CuPy sees; raises UsageError when CuPy or the driver is missing."""
    try:
        import cupy
    except ImportError:
        raise UsageError(f"--device cuda needs CuPy, which is not installed: {CUDA_INSTALL_HINT}") from None
    try:
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception as error:  # CUDARuntimeError without a driver, among others
        raise UsageError(f"--device cuda: no usable NVIDIA GPU or driver ({error}); use --device cpu") from None


def resolve_device(text: str) -> str:
    """Normalise ``text`` to 'cpu' or 'cuda:N'; 'auto' picks the first usable CUDA GPU, else the CPU."""
    name = text.strip().lower()
    if name == "auto":
        try:
            return "cuda:0" if cuda_device_count() > 0 else "cpu"
        except UsageError:
            return "cpu"
    if name == "cpu":
        return "cpu"
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if not match:
        raise UsageError(f"--device {text!r} is not known: use cpu, cuda, cuda:N or auto")
    index = int(match.group(1) or 0)
    count = cuda_device_count()
    if index >= count:
        have = f"cuda:0 to cuda:{count - 1}" if count else "no CUDA GPU"
        raise UsageError(f"--device {text}: this machine has {have}; pick one of those or --device cpu")
    return f"cuda:{index}"


@dataclass(frozen=True)
class RunOptions:
    """What ``hwbench run`` was asked for; ``threads``, ``cpus`` and ``pinning`` apply to the CPU only."""

    kernels: str | None = None
    quick: bool = False
    threads: int | None = None
    cpus: str | None = None
    pinning: str = "compact"
    sustain: tuple[float, float] | None = None  # (seconds per kernel, sampling interval)




def measure(target: str, options: RunOptions, progress: ProgressCallback | None = None) -> dict:
    """Run the measurement of ``target`` ('cpu' or 'cuda:N') and return its profile data."""
    from . import catalog
    from .measurement import Host
    from .profile.build import build_profile

    if target == "cpu":
        from .cpu.session import CpuRunOptions, measure_cpu

        cpu_options = CpuRunOptions(kernels=catalog.select("cpu", options.kernels), threads=options.threads,
                                    cpus=options.cpus, pinning=options.pinning, quick=options.quick,
                                    sustain_seconds=options.sustain and options.sustain[0],
                                    sustain_interval=options.sustain[1] if options.sustain else 1.0)
        measurement = measure_cpu(cpu_options, progress)
    else:
        if options.threads is not None or options.cpus is not None or options.pinning != "compact":
            raise UsageError("--threads, --cpus and --pinning apply to --device cpu only; drop them for a GPU")
        from .gpu.session import measure_gpu

        measurement = measure_gpu(int(target.split(":")[1]), catalog.select("gpu", options.kernels), options.quick,
                                  progress, options.sustain)
    return build_profile(measurement, Host.current())
