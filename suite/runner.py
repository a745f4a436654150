"""``hwbench run``: pick the device, run its session, and build the profile: one path for every device.

    --device  ->  resolve_device  ->  CPU or GPU session (kernels from the catalog)  ->  SessionRecord
              ->  profile.build.build_profile(measurement, Host.current())  ->  profile dict

The CLI parses and prints; the sessions measure; the builder writes the format. This module only joins them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UsageError
from .record import ProgressCallback

CUDA_INSTALL_HINT = "pip install 'hwbench[cuda]'"


def cuda_device_count(selection: str = "cuda") -> int:
    """Number of CUDA devices CuPy sees; raises UsageError when CuPy or the driver is missing (naming the
    ``--device`` value the user gave, ``selection``)."""
    try:
        import cupy
    except ImportError:
        raise UsageError(f"--device cuda needs CuPy, which is not installed: {CUDA_INSTALL_HINT}") from None
    try:
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception as error:  # CUDARuntimeError without a driver, among others
        raise UsageError(f"--device {selection}: no usable NVIDIA GPU or driver ({error}); use --device cpu"
                         ) from None


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
    count = cuda_device_count(f"cuda:{index}")
    if index >= count:
        have = f"cuda:0 to cuda:{count - 1}" if count else "no CUDA GPU"
        raise UsageError(f"--device {text}: this machine has {have}; pick one of those or --device cpu")
    return f"cuda:{index}"


MULTI_DEVICE = ("cuda:all", "all")  # selections that measure several devices, one profile each


def is_multi_device(text: str) -> bool:
    return text.strip().lower() in MULTI_DEVICE


def expand_devices(text: str) -> list[str]:
    """The devices a ``--device`` selection measures: 'cuda:all' is every CUDA GPU (at least one), 'all' every
    GPU and then the CPU; any other selection is one device (``resolve_device``)."""
    name = text.strip().lower()
    if name == "cuda:all":
        count = cuda_device_count(name)
        if count == 0:
            raise UsageError("--device cuda:all: this machine has no CUDA GPU; use --device cpu")
        return [f"cuda:{index}" for index in range(count)]
    if name == "all":
        try:
            count = cuda_device_count()
        except UsageError:
            count = 0
        return [*(f"cuda:{index}" for index in range(count)), "cpu"]
    return [resolve_device(text)]


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
    from .profile.build import build_profile
    from .record import Host

    if target == "cpu":
        from .cpu.session import CpuOptions, measure_cpu

        cpu_options = CpuOptions(kernels=catalog.select("cpu", options.kernels, options.quick), threads=options.threads,
                                 cpus=options.cpus, pinning=options.pinning, quick=options.quick,
                                 sustain_seconds=options.sustain and options.sustain[0],
                                 sustain_interval=options.sustain[1] if options.sustain else 1.0)
        measurement = measure_cpu(cpu_options, progress)
    else:
        if options.threads is not None or options.cpus is not None or options.pinning != "compact":
            raise UsageError("--threads, --cpus and --pinning apply to --device cpu only; drop them for a GPU")
        from .gpu.session import measure_gpu

        measurement = measure_gpu(int(target.split(":")[1]), catalog.select("gpu", options.kernels), options.quick,
                                  progress, options.sustain and options.sustain[0],
                                  options.sustain[1] if options.sustain else 1.0)
    # A plain dict from here up: the run path (cli, cluster, machine_load) adds keys of its own to it.
    return dict(build_profile(measurement, Host.current()))


def validation_target(profile, device: str | None) -> str:
    """The device ``hwbench validate`` runs on: ``--device`` when given (it must be the profile's), else the
    profile's device, else 'auto'. ``profile`` is a ``hwbench.Profile`` or None."""
    from .tools.validate import check_profile_fits

    target = resolve_device(profile.device_id if device is None and profile is not None else device or "auto")
    if profile is not None:
        check_profile_fits(profile, target)
    return target


def run_validation(profile, label: str, target: str, quick: bool, progress: ProgressCallback | None = None) -> dict:
    """``hwbench validate``: run the real workloads on ``target`` at the sizes and on the cores of the profile's
    roofs, then build the report (``hwbench.tools.validate``). ``profile`` is a ``hwbench.Profile``."""
    import datetime as dt
    import os

    from .stats import RepetitionPolicy
    from .tools.validate import build_report, check_profile_fits

    check_profile_fits(profile, target)
    policy, device = RepetitionPolicy.for_mode(quick), profile.data["device"]
    if target == "cpu":
        from .cpu.machine import inspect_cpu
        from .workloads.cpu import CpuPlan, run_cpu_workloads

        threads = (profile.data.get("run") or {}).get("threads") or len(os.sched_getaffinity(0))
        llc = device.get("l3_total_bytes") or (device.get("caches") or {}).get("l3") or 32 << 20
        runs = run_cpu_workloads(int(threads), CpuPlan.for_machine(int(llc), quick), policy, progress)
        name = inspect_cpu().name
    else:
        from .workloads.gpu import GpuPlan, open_device, run_gpu_workloads

        cp, name = open_device(int(target.split(":")[1]))
        l2 = (device.get("caches") or {}).get("l2") or 50 << 20
        runs = run_gpu_workloads(cp, GpuPlan.for_device(int(l2), cp.cuda.runtime.memGetInfo()[0], quick), policy,
                                 progress)
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return build_report(profile, runs, name, label, created)
