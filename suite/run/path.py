"""``hwbench run``: plan, measure, write and print, for one device, several (``--device cuda:all``, ``all``) and
the ranks of an MPI job (``--mpi``). The command line (``cli/run.py``) parses the flags and calls ``run``.

    plan.check_flags -> one device:  plan.resolve_device, plan.one_device_output  -> measure (its session,
                                     device.measure_device) -> output.write_and_print
                     -> several:     plan.expand_devices, plan.several_output -> cluster.devices.measure_devices
                                     (one session per device) -> output.write_and_print, each
                     -> --mpi:       cluster.mpi.run_mpi (the plan agreed by every rank, each rank's devices,
                                     the interconnect, the gather) -> rank 0: output.write_gathered,
                                     output.print_fleet

Everything the plan checks is checked before anything is measured. A device that fails among several does
not stop the others: their profiles are written, then the failure ends the command (exit 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from .. import machine_load, process
from ..cluster.devices import ProgressFor, measure_devices
from ..cluster.job import JobContext
from ..cluster.naming import record_job
from ..console import Progress, warn
from ..errors import MeasurementError
from ..limits import DEFAULT_SAVE_DIR
from . import device
from .device import RunOptions
from .output import print_fleet, write_and_print, write_gathered
from .plan import Output, check_flags, expand_devices, one_device_output, resolve_device, several_output


def run(device: str, output: str | None, save: bool, save_dir: Path | None, one_at_a_time: bool, mpi: bool,
        options: RunOptions) -> None:
    """``hwbench run`` with its flags parsed (``options``: what each session measures)."""
    job = check_flags(device, save_dir, save, one_at_a_time, mpi)
    save_root = (save_dir or DEFAULT_SAVE_DIR) if save else None
    if mpi:
        return run_ranks(device, output, save_root, one_at_a_time, options)
    if job is None:
        return run_devices(device, output, save_root, one_at_a_time, options)
    target = resolve_device(device)
    plan = one_device_output(target, output, save_root)
    data = measure(target, options)
    record_job(data, job)  # run.slurm and a rank's node_label under srun; nothing otherwise
    write_and_print(data, plan, job, set())


def measure(target: str, options: RunOptions) -> dict:
    """One device, with a progress display and the machine's load around it: its profile data."""
    with Progress(target) as progress:
        process.start_measuring()
        return machine_load.recorded(lambda: device.measure_device(target, options, progress))


def links_measurer(quick: bool) -> Callable[[Sequence[int]], dict | None]:
    """The P2P matrix for two or more GPUs (``hwbench.gpu.links``), imported only when GPUs are measured."""

    def measure_links(indices: Sequence[int]) -> dict | None:
        from ..gpu.links import measure_links

        return measure_links(indices, quick)

    return measure_links


def progress_for(progress: Progress, targets: Sequence[str]) -> ProgressFor:
    """One progress display for every device: each step named by its device when there are several."""
    if len(targets) == 1:
        return lambda target: progress
    return lambda target: (lambda label, index, total: progress(f"{target}: {label}", index, total))


def run_devices(device: str, output: str | None, save_root: Path | None, one_at_a_time: bool,
                options: RunOptions) -> None:
    """``--device cuda:all`` / ``all``: every device measured, one profile each."""
    plan = several_output(output, save_root, f"--device {device}")
    job = JobContext.from_environment()
    targets = expand_devices(device)
    if targets == ["cpu"] and device.strip().lower() == "all":
        warn("--device all: no usable CUDA GPU here (CuPy or the driver missing, or no GPU); measuring the CPU only")
    with Progress(device) as progress:
        process.start_measuring()
        before = machine_load.snapshot()
        measured = measure_devices(targets, options, progress_for(progress, targets), one_at_a_time,
                                   links=links_measurer(options.quick))
    after = machine_load.snapshot()
    taken: set[str] = set()
    for data in measured.profiles:
        machine_load.record(data, before, after)
        record_job(data, job)
    for data in measured.profiles:
        write_and_print(data, plan, job, taken)
    if measured.failure:
        raise measured.failure


def run_ranks(device: str, output: str | None, save_root: Path | None, one_at_a_time: bool,
              options: RunOptions) -> None:
    """``--mpi``: rank 0 checks its output and writes what it gathers; every rank checks its devices. A check
    that fails on any rank stops every rank (exit 2), before anything is measured."""
    from ..cluster.mpi import run_mpi

    state: dict = {"output": Output(several=True)}

    def setup(root: bool) -> list[str]:
        if root:  # only rank 0 writes: the folder need not exist on the other nodes
            state["output"] = several_output(output, save_root, "--mpi")
        state["targets"] = expand_devices(device)
        return state["targets"]

    with Progress(device) as progress:
        gathered = run_mpi(device, setup, options, one_at_a_time,
                           lambda target: progress_for(progress, state["targets"])(target),
                           links_measurer(options.quick))
    process.state.no_rank_waits = True  # the gather was the last collective: a failure from here ends this rank only
    profiles = write_gathered(gathered.files, state["output"])
    if profiles:
        print_fleet(profiles)
    if gathered.failures:
        raise MeasurementError("; ".join(gathered.failures))
