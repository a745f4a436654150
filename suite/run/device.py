"""One device's part of ``hwbench run``: its session, then its profile. The run path's only call into the
device sessions (``cpu/session.py``, ``gpu/session.py``) and into the builder:

    RunOptions + 'cpu' | 'cuda:N'  ->  the device's session (kernels from the catalog)  ->  SessionRecord
                                   ->  profile.build.build_profile(record, Host.current())  ->  profile data

Both the one-device path and the many-device path (``cluster.devices``, under ``--mpi`` too) measure each device
through ``measure_device`` here; nothing else in the run path knows a session's options.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import UsageError
from ..record import ProgressCallback


@dataclass(frozen=True)
class RunOptions:
    """What ``hwbench run`` was asked for; ``threads``, ``cpus`` and ``pinning`` apply to the CPU only."""

    kernels: str | None = None
    quick: bool = False
    threads: int | None = None
    cpus: str | None = None
    pinning: str = "compact"
    sustain: tuple[float, float] | None = None  # (seconds per kernel, sampling interval)


def gpu_options(options: RunOptions) -> RunOptions:
    """The options a GPU takes in a multi-device run: --threads, --cpus and --pinning are the CPU's."""
    return replace(options, threads=None, cpus=None, pinning="compact")


def measure_device(target: str, options: RunOptions, progress: ProgressCallback | None = None) -> dict:
    """Run the session of ``target`` ('cpu' or 'cuda:N') and return its profile data."""
    from .. import catalog
    from ..profile.build import build_profile
    from ..record import Host

    if target == "cpu":
        from ..console import warn
        from ..cpu.numba_environment import numba_environment_notes

        for note in numba_environment_notes():  # first: the session's modules import numba
            warn(note)
        from ..cpu.session import CpuOptions, measure_cpu

        cpu_options = CpuOptions(kernels=catalog.select("cpu", options.kernels, options.quick), threads=options.threads,
                                 cpus=options.cpus, pinning=options.pinning, quick=options.quick,
                                 sustain_seconds=options.sustain and options.sustain[0],
                                 sustain_interval=options.sustain[1] if options.sustain else 1.0)
        record = measure_cpu(cpu_options, progress)
    else:
        if options.threads is not None or options.cpus is not None or options.pinning != "compact":
            raise UsageError("--threads, --cpus and --pinning apply to --device cpu only; drop them for a GPU")
        from ..gpu.session import measure_gpu

        record = measure_gpu(int(target.split(":")[1]), catalog.select("gpu", options.kernels), options.quick,
                             progress, options.sustain and options.sustain[0],
                             options.sustain[1] if options.sustain else 1.0)
    # A plain dict from here up: the run path (cli, cluster, machine_load) adds keys of its own to it.
    return dict(build_profile(record, Host.current()))
