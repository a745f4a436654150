"""``hwbench run`` for several devices (``--device cuda:all``, ``all``) or as a rank of an MPI job (``--mpi``):
check the output, measure, write one profile per device, print.

    -o DIR        an existing folder: DIR/<host>-<device>[-rank<N>].yaml   (default: the current folder)
    --save [DIR]  DIR/<host>/<device>/<timestamp>[-rank<N>].yaml           (default DIR: results/)

``-o FILE`` and ``-o -`` are refused (exit 2, before anything is measured): several profiles need a folder.
Under ``--mpi`` only rank 0 writes (every rank's profiles, gathered) and prints the fleet report; the other
ranks print nothing but their errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import machine_load, process
from ..console import Progress, stderr, stdout_console, warn
from ..errors import MeasurementError, UsageError
from ..process import start_measuring
from ..profile import Profile
from ..profile.files import check_writable, dump_yaml, write_atomic, write_new
from ..runner import RunOptions, expand_devices, is_multi_device
from ..tools.render import print_profile
from .devices import ProgressFor, measure_devices
from .job import JobContext
from .naming import profile_file, record_job, saved_file


def check_flags(device: str, save_dir: Path | None, save: bool, one_at_a_time: bool, mpi: bool) -> JobContext | None:
    """The flags of ``hwbench run`` that only a multi-device or MPI run takes. None when ``run_many`` runs;
    for one device, this process's job context (its Slurm variables, checked before anything is measured)."""
    if save_dir is not None and not save:
        raise UsageError(f"unexpected argument {str(save_dir)!r}: 'hwbench run' takes no argument but the folder "
                         f"of --save; for an output file use -o {save_dir}, for a save folder --save {save_dir}")
    if one_at_a_time and not is_multi_device(device):
        raise UsageError(f"--one-at-a-time applies to --device cuda:all or all, not --device {device}")
    return None if mpi or is_multi_device(device) else JobContext.from_environment()


def check_folder(output: str | None, asked: str) -> Path | None:
    """``-o`` for several profiles: an existing, writable folder (None: no -o). ``asked``: what asked for
    several profiles ("--device cuda:all", "--mpi"), for the message."""
    if output is None:
        return None
    if output == "-":
        raise UsageError(f"-o -: {asked} writes one profile per device; give -o DIR (a folder) or --save [DIR]")
    folder = Path(output)
    if not folder.is_dir():
        raise UsageError(f"-o {output}: {asked} writes one profile per device, named by host and device, so -o "
                         "must be an existing folder; create it, or use --save [DIR]")
    check_writable(folder / "hwbench-probe.yaml", option="-o")
    return folder


def links_measurer(quick: bool):
    """The P2P matrix for two or more GPUs (``hwbench.gpu.links``), imported only when GPUs are measured."""

    def measure(indices: Sequence[int]) -> dict:
        from ..gpu.links import measure_links

        return measure_links(indices, quick)

    return measure


def _write(data: dict, folder: Path | None, save_root: Path | None, job: JobContext) -> list[Path]:
    text = dump_yaml(data)
    written = []
    if folder is not None or save_root is None:
        path = profile_file(folder or Path("."), data, job)
        write_atomic(path, text)
        written.append(path)
    if save_root is not None:
        written.append(write_new(saved_file(save_root, data, job), text))
    return written


def print_fleet(profiles: list[Profile]) -> None:
    """The fleet report (``hwbench.tools.fleet``) of the gathered profiles, as ``hwbench fleet`` prints it."""
    from ..tools.export import write_table
    from ..tools.fleet import fleet_document, fleet_report

    write_table(fleet_document(fleet_report(profiles)), stdout_console())


def run_many(device: str, output: str | None, save_root: Path | None, one_at_a_time: bool, mpi: bool,
             options: RunOptions) -> None:
    """Measure every device of ``device`` (all ranks' under ``mpi``) and write one profile per device."""
    if mpi:
        return _run_mpi(device, output, save_root, one_at_a_time, options)
    folder = check_folder(output, f"--device {device}")
    if save_root is not None:
        check_writable(save_root / "probe.yaml", create_parents=True, option="--save")
    job = JobContext.from_environment()
    targets = expand_devices(device)
    if targets == ["cpu"] and device.strip().lower() == "all":
        warn("--device all: no usable CUDA GPU here (CuPy or the driver missing, or no GPU); measuring the CPU only")
    with Progress(device) as progress:
        start_measuring()
        before = machine_load.snapshot()
        run = measure_devices(targets, options, _progress_for(progress, targets), one_at_a_time,
                              links=links_measurer(options.quick))
    after = machine_load.snapshot()
    for data in run.profiles:
        machine_load.record(data, before, after)
    for data in run.profiles:
        record_job(data, job)
        for message in data.get("warnings", []):
            warn(f"{data['device']['id']}: {message}")
        print_profile(data, stdout_console())
        for path in _write(data, folder, save_root, job):
            stderr.print(f"hwbench: profile of {data['device']['id']} written to {path}", markup=False)
    if run.failure:
        raise run.failure


def _progress_for(progress: Progress, targets: Sequence[str]) -> ProgressFor:
    """One progress display for every device: each step named by its device when there are several."""
    if len(targets) == 1:
        return lambda target: progress
    return lambda target: (lambda label, index, total: progress(f"{target}: {label}", index, total))


def _said(profile: Profile, path: str | Path) -> None:
    stderr.print(f"hwbench: profile of {profile.data['host']} {profile.data['device']['id']} written to {path}",
                 markup=False)


def unique_path(path: str, taken: set[str]) -> str:
    """``path``, or ``name-2.yaml``, ``name-3.yaml``... when another gathered profile already took it."""
    candidate, number = Path(path), 2
    while str(candidate) in taken:
        candidate = Path(path).with_name(f"{Path(path).stem}-{number}{Path(path).suffix}")
        number += 1
    taken.add(str(candidate))
    return str(candidate)


def _run_mpi(device: str, output: str | None, save_root: Path | None, one_at_a_time: bool,
             options: RunOptions) -> None:
    """``--mpi``: rank 0 checks the folder and writes what it gathers; every rank checks its devices. A check
    that fails on any rank stops every rank (exit 2), before anything is measured."""
    from .mpi import run_mpi

    state: dict = {}

    def setup(root: bool) -> list[str]:
        if root:  # only rank 0 writes: the folder need not exist on the other nodes
            check_folder(output, "--mpi")
            if save_root is not None:
                check_writable(save_root / "probe.yaml", create_parents=True, option="--save")
        state["targets"] = expand_devices(device)
        return state["targets"]

    with Progress(device) as progress:
        gathered = run_mpi(device, setup, options, one_at_a_time,
                           lambda target: _progress_for(progress, state["targets"])(target),
                           links_measurer(options.quick))
    process.state.no_rank_waits = True  # the gather was the last collective: a failure from here ends this rank only
    profiles: list[Profile] = []
    written: set[str] = set()
    for rank_job, text in gathered.files:
        profile = Profile.from_yaml(text, f"the profile of rank {rank_job.rank}")  # checked before it is written
        # Rank 0 names every file, under its own -o and --save only, from what it derives: the host (made a
        # safe path component), the device and the rank. Two nodes with one hostname would name one file twice.
        if output or save_root is None:
            path = unique_path(str(profile_file(Path(output or "."), profile.data, rank_job)), written)
            write_atomic(path, text)
            _said(profile, path)
        if save_root is not None:
            _said(profile, write_new(saved_file(save_root, profile.data, rank_job), text))
        profiles.append(profile)
    if profiles:
        print_fleet(profiles)
    if gathered.failures:
        raise MeasurementError("; ".join(gathered.failures))
