"""``hwbench run --mpi``: every rank measures its devices, starting each kernel together; then the network
between ranks; then rank 0 gathers every profile.

Order on every rank (each step a collective, so every rank takes it):

1. the plan, agreed in one collective: every rank must have been given the same ``--device``, ``--kernels``,
   ``--quick``, ``--threads``, ``--cpus``, ``--pinning``, ``--sustain``/``--interval`` and ``--one-at-a-time``
   (ranks that measure different things cannot be compared, and the barrier counts would differ), and
   readable Slurm variables;
2. the CPU share: ranks on one host (MPI's shared-memory communicator) split the CPUs they may all use (their
   common affinity mask, or ``--cpus``) into disjoint contiguous shares by local rank, so no two ranks measure
   the same cores; ranks the launcher already bound to disjoint masks keep theirs (``run.cpu_share``);
3. the devices (``devices.measure_devices``) under ``sync.MpiSteps``: every kernel starts after an MPI step
   barrier, on all ranks at once;
4. the interconnect: MPI ping-pong latency and bandwidth between rank 0 and every other rank (``osu``), and on
   GPUs the NCCL all-reduce bus bandwidth over every rank's GPUs (``hwbench.gpu.allreduce``), written to each
   profile's ``interconnect`` section;
5. the gather: each rank sends its profiles as YAML text with its place in the job (rank, host sharing); rank
   0 checks them, names them itself under its own ``-o``/``--save`` (never a path another rank chose), writes
   them atomically and returns them for the fleet report.

Bad input is agreed on through a collective, so every rank exits 2 together. Any other error on one rank
alone (a bug, a failed device check, Ctrl-C, SIGTERM, SIGHUP) would leave the others waiting in a collective:
that rank prints one line and calls ``MPI_Abort``, which ends every rank; a failure before MPI started (a
bad flag) does the same from ``hwbench.__main__`` (``process.abort_mpi_job``).

Under ``--device cuda:all`` the ranks' barrier is taken by whichever GPU thread arrives last, always under the
threads' lock: mpi4py asks for MPI_THREAD_MULTIPLE, and a run of several GPUs at once is refused (exit 2, use
--one-at-a-time) where the library grants less than SERIALIZED.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .. import machine_load, process
from ..errors import MeasurementError, UsageError
from ..process import start_measuring
from ..profile.files import dump_yaml
from ..run.device import RunOptions
from ..safe_text import printable
from .devices import ProgressFor, measure_devices
from .job import JobContext
from .naming import record_job
from .osu import measure_pairs
from .sync import MpiSteps

# The pause between a failing rank's last line on stderr and MPI_Abort. The launcher forwards each rank's stderr
# through a pipe and stops reading it when it tears the job down, so a line written and flushed just before the
# abort can be lost (flux-framework/flux-core#3894; with MPICH's hydra, the hostile probe "Ctrl-C to one rank
# while measuring" lost its "aborting every rank" line once in a dozen runs on the CI guest, 2026-12-03). A quarter
# second lets the forwarding drain; the job is ending anyway.
ABORT_GRACE_SECONDS = 0.25
MPI_INSTALL_HINT = "pip install 'hwbench[mpi]' (mpi4py; and an MPI library: the 'mpich' wheel, or the cluster's)"


def import_mpi() -> Any:
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError) as error:  # mpi4py 4 raises RuntimeError when it finds no libmpi
        raise UsageError(f"--mpi needs mpi4py and an MPI library ({error}): {MPI_INSTALL_HINT}") from None
    process.install_handlers()  # MPI_Init (mpich's UCX transport) replaced the SIGHUP handler: SIGHUP ended nothing
    return MPI


def gpu_bus_ids(targets: Sequence[str]) -> list[str]:
    """The PCI bus ids of the CUDA devices in ``targets`` (what tells two ranks' GPUs apart on one host)."""
    gpus = [int(t.split(":")[1]) for t in targets if t != "cpu"]
    if not gpus:
        return []
    from ..gpu.failures import import_cupy

    return [str(import_cupy().cuda.runtime.deviceGetPCIBusId(index)) for index in gpus]


def shared_gpu_problem(ids_by_local_rank: Sequence[Sequence[str]], local_rank: int, host: str) -> str | None:
    """Why this rank may not measure: another rank on the host would measure one of its GPUs at the same time
    (both ranks' figures would be wrong, and nothing would say so)."""
    mine = set(ids_by_local_rank[local_rank])
    others = {bus for rank, ids in enumerate(ids_by_local_rank) if rank != local_rank for bus in ids}
    if mine & others:
        return (f"ranks on {host} would measure the same GPU(s) ({', '.join(sorted(mine & others))}) at once: give "
                "each rank its own GPUs (srun --gpus-per-task, or CUDA_VISIBLE_DEVICES per local rank) or run one "
                "rank per node")
    return None


def parse_cpu_list(text: str) -> list[int]:
    cpus: list[int] = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise UsageError(f"--cpus {text!r}: write CPUs as a list like 0-3,8")
        cpus += list(range(int(low), int(high or low) + 1))
    return sorted(set(cpus))


def cpu_share(pool: Sequence[int], local_rank: int, local_size: int) -> list[int]:
    """The ``local_rank``-th of ``local_size`` disjoint contiguous shares of ``pool`` (sizes differ by at most
    one; the first ranks get the larger shares)."""
    if local_size > len(pool):
        raise UsageError(f"--mpi: {local_size} ranks on this host but only {len(pool)} CPUs to share; start at most "
                         f"{len(pool)} ranks per host, or give each its CPUs (srun --cpu-bind)")
    base, extra = divmod(len(pool), local_size)
    start = local_rank * base + min(local_rank, extra)
    return list(pool[start:start + base + (local_rank < extra)])


def choose_cpu_share(masks: Sequence[Sequence[int]], local_rank: int, user_cpus: str | None) -> tuple[list[int], str]:
    """This rank's CPUs given every local rank's affinity mask (``masks``, by local rank)."""
    mine = list(masks[local_rank])
    if user_cpus is not None:
        pool = parse_cpu_list(user_cpus)
        return cpu_share(pool, local_rank, len(masks)), f"--cpus {user_cpus} split by local rank"
    if len(masks) == 1:
        return mine, "the whole affinity mask (one rank on this host)"
    sets = [set(m) for m in masks]
    if all(a.isdisjoint(b) for i, a in enumerate(sets) for b in sets[i + 1:]):
        return mine, "the launcher's binding (affinity masks already disjoint)"
    pool = sorted(set().union(*sets))
    return cpu_share(pool, local_rank, len(masks)), (f"the {len(pool)} CPUs the local ranks' affinity masks allow, "
                                                     f"split into {len(masks)} disjoint shares by local rank")


def collective(error: UsageError) -> UsageError:
    """Mark an error every rank raises together (agreed through a collective): no rank is left waiting, so
    each exits 2 on its own instead of aborting the job."""
    error.collective = True  # type: ignore[attr-defined]
    return error


@dataclass(frozen=True)
class Gathered:
    """What rank 0 holds after the gather: (paths, YAML text) per profile, and the failures of every rank."""

    files: list[tuple[JobContext, str]]  # (the measuring rank's place in the job; its profile as YAML text)
    failures: list[str]
    root: bool = True  # rank 0, which holds every rank's profiles; another rank holds only its own failures


def interconnect_section(pairs: Sequence[Any], rank: int, library: str, nccl: dict | None) -> dict:
    """The profile's ``interconnect``: the ping-pong pairs this rank took part in (rank 0: all), and NCCL's."""
    mine = [p for p in pairs if rank in p.ranks] if rank != 0 else list(pairs)
    section: dict = {
        "mpi": {
            "library": library,
            "method": ("OSU micro-benchmarks: osu_latency (ping-pong, one-way latency = elapsed / (2 x iterations)) "
                       "and osu_bw (windows of 64 non-blocking sends closed by a 4-byte reply; bandwidth = size x 64 "
                       "x iterations / elapsed), rank 0 against each other rank; last message of each size checked"),
            "pairs": [{"ranks": list(p.ranks), "hosts": list(p.hosts), "latency": p.latency,
                       "bandwidth": p.bandwidth} for p in mine],
        }
    }
    if nccl is not None:
        section["nccl"] = nccl
    return section


def plan_of(spec: str, options: RunOptions, one_at_a_time: bool) -> tuple:
    """Every flag that shapes the measurement (what is measured, how long, on how many threads): ranks that
    differ in one would measure different things, and take different numbers of step barriers."""
    return (spec.strip().lower(), options.kernels, options.quick, options.threads, options.pinning, options.cpus,
            options.sustain, one_at_a_time)


def run_mpi(spec: str, setup: Callable[[bool], list[str]], options: RunOptions, one_at_a_time: bool,
            progress_for: ProgressFor, links: Callable[[Sequence[int]], dict | None] | None) -> Gathered:
    """Run this rank's part; rank 0 returns what it gathered (named and written by the caller)."""
    mpi = import_mpi()
    comm = mpi.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    local = comm.Split_type(mpi.COMM_TYPE_SHARED, key=rank)
    job, problem = JobContext({}), None
    try:  # the environment is part of the plan: a rank with a malformed SLURM_PROCID stops every rank
        job = JobContext.from_environment().with_mpi(rank, size, local.Get_rank(), local.Get_size())
    except UsageError as error:
        problem = f"rank {rank}: {error}" if size > 1 else str(error)
    plans = comm.allgather((plan_of(spec, options, one_at_a_time), problem))  # the one collective of the plan
    if problems := [p for _, p in plans if p]:
        raise collective(UsageError(problems[0]))
    if any(plan != plans[0][0] for plan, _ in plans):
        raise collective(UsageError("--mpi: the ranks were given different --device, --kernels, --quick, "
                                    "--threads, --cpus, --pinning, --sustain/--interval or --one-at-a-time; start "
                                    "every rank with the same command"))
    targets: list[str] = []
    try:  # rank 0's output folder, every rank's devices
        targets, problem = setup(rank == 0), None
    except UsageError as error:
        problem = f"rank {rank}: {error}" if size > 1 else str(error)
    problems = [p for p in comm.allgather(problem) if p]
    if problems:
        raise collective(UsageError(problems[0]))
    try:
        return _measure_and_gather(comm, local, mpi, job, targets, options, one_at_a_time, progress_for, links)
    except BaseException as error:  # Ctrl-C, SIGTERM and SIGHUP too (KeyboardInterrupt is no Exception)
        if size == 1 or isinstance(error, UsageError) and getattr(error, "collective", False):
            raise
        # One rank failing alone would leave the others waiting in a collective forever: end the whole job.
        what = process.reason_of(error) if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
        sys.stderr.write(f"hwbench: error on rank {rank} of {size}: {printable(what)}; aborting every rank\n")
        sys.stderr.flush()
        time.sleep(ABORT_GRACE_SECONDS)  # let the launcher forward that line before it tears the job down
        comm.Abort(process.exit_code_of(error) if isinstance(error, KeyboardInterrupt) else
                   1 if isinstance(error, MeasurementError) else 2 if isinstance(error, UsageError) else 70)
        raise


def _measure_and_gather(comm: Any, local: Any, mpi: Any, job: JobContext, targets: list[str], options: RunOptions,
                        one_at_a_time: bool, progress_for: ProgressFor,
                        links: Callable[[Sequence[int]], dict | None] | None) -> Gathered:
    """Steps 2-5 of the module docstring, on every rank."""
    rank, size = comm.Get_rank(), comm.Get_size()
    masks = local.allgather(sorted(os.sched_getaffinity(0)))
    share_note, problem = None, None
    if "cpu" in targets:
        try:
            share, how = choose_cpu_share(masks, local.Get_rank(), options.cpus)
            share_note = {"cpus": share, "how": how, "local_rank": local.Get_rank(), "local_ranks": local.Get_size()}
            options = replace(options, cpus=",".join(str(cpu) for cpu in share),
                              threads=None if options.threads is None else min(options.threads, len(share)))
        except UsageError as error:
            problem = str(error)
    if problem is None:
        problem = shared_gpu_problem(local.allgather(gpu_bus_ids(targets)), local.Get_rank(), socket.gethostname())
    if problem is None and len([t for t in targets if t != "cpu"]) > 1 and not one_at_a_time \
            and mpi.Query_thread() < mpi.THREAD_SERIALIZED:
        problem = ("--mpi with several GPUs at once calls MPI from the GPU threads, and this MPI library granted "
                   "less than MPI_THREAD_SERIALIZED: add --one-at-a-time")
    problems = [p for p in comm.allgather(problem) if p]  # every rank stops, or none: no rank left waiting
    if problems:
        raise collective(UsageError(problems[0]))
    start_measuring()
    before = machine_load.snapshot()
    run = measure_devices(targets, options, progress_for if rank == 0 else (lambda target: None), one_at_a_time,
                          MpiSteps(comm), links)
    after = machine_load.snapshot()
    for data in run.profiles:
        machine_load.record(data, before, after)
    host = socket.gethostname()
    pairs = measure_pairs(comm, mpi, host, options.quick) if size > 1 else []
    nccl, wrong_sum = None, None
    gpus = [int(t.split(":")[1]) for t in targets if t != "cpu"]
    counts = comm.allgather(len(gpus))
    if sum(counts) > 1 and all(counts):
        from ..gpu.allreduce import make_unique_id, measure_allreduce

        unique_id, missing = None, None
        if rank == 0:
            try:
                unique_id = make_unique_id()
            except MeasurementError as error:  # this CuPy has no NCCL: every rank skips it, with the reason
                missing = str(error)
        unique_id, missing = comm.bcast((unique_id, missing), root=0)
        try:
            if missing:
                raise MeasurementError(missing)
            # measure_allreduce hands over its own GPUs' mean time: weight it by them, so the job's mean is
            # over every GPU, not every rank (ranks may hold different numbers of GPUs).
            nccl = measure_allreduce(gpus, sum(counts[:rank]), sum(counts), unique_id,
                                     lambda seconds: comm.allreduce(seconds * len(gpus)) / sum(counts), options.quick)
        except MeasurementError as error:  # recorded; the device ceilings and MPI figures are kept
            nccl = {"error": str(error)}
            wrong_sum = None if missing else f"rank {rank}: {error}"  # a wrong result fails the run (exit 1)
    library = mpi.Get_library_version().strip().splitlines()[0]
    failure = [f"rank {rank}: {run.failure}"] if run.failure else []
    failure += [wrong_sum] if wrong_sum else []
    mine = []
    for data in run.profiles:
        record_job(data, job)
        data["run"]["mpi"]["kernel_barrier"] = (f"every kernel started after a step barrier (MPI allreduce) on all "
                                                f"{size} ranks (sync.MpiSteps)")
        if share_note is not None and data["device"]["id"] == "cpu":
            data["run"]["cpu_share"] = share_note
        data["interconnect"] = interconnect_section(pairs, rank, library, nccl)
        mine.append((job, dump_yaml(data)))
    everything = comm.gather((mine, failure), root=0)
    if rank != 0:
        return Gathered([], failure, root=False)
    return Gathered([item for files, _ in everything for item in files],
                    [message for _, failures in everything for message in failures])
