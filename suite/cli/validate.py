"""``hwbench validate [PROFILE] [--device D] [-o REPORT.yaml] [-f table|json|markdown] [--quick]``.

Parse, call, print: the profile (given, or measured first by a quick ``hwbench run``), the real workloads
(``run_validation`` -> ``hwbench.workloads``), the report (``hwbench.tools.validate``; its rows
``hwbench.tools.validate_table``, written by the shared exporters, ``tools.export``). Exit 0, or 1 when the verdict
is ``calibrated_worse`` (more bound failures than the paper roofline, or, with as many, a larger median |error| over
the workloads both predict) or a workload's output is wrong; 2 on bad input (a missing profile, a profile of another
device, an unknown device).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .. import process
from ..console import OutputFormat, Progress, domain_errors, stderr, stdout_console, warn
from ..errors import UsageError
from ..record import ProgressCallback


def quick_profile(target: str) -> dict:
    """The profile data of a quick ``hwbench run`` of ``target`` (not saved)."""
    from ..run.device import RunOptions, measure_device

    with Progress(target) as progress:
        return measure_device(target, RunOptions(quick=True), progress)


def validation_target(profile: Any, device: str | None) -> str:
    """The device ``hwbench validate`` runs on: ``--device`` when given (it must be the profile's), else the
    profile's device, else 'auto'. ``profile`` is a ``hwbench.Profile`` or None."""
    from ..run.plan import resolve_device
    from ..tools.validate import check_profile_fits

    target = resolve_device(device if device is not None else profile.device_id if profile is not None else "auto")
    if target == "cpu":
        from ..cpu.numba_environment import numba_environment_notes

        for note in numba_environment_notes():  # before anything of the CPU path imports numba
            warn(note)
    if profile is not None:
        check_profile_fits(profile, target)
        if target == "cpu":
            import os

            from ..cpu.machine import inspect_cpu
            from ..tools.validate import check_same_cpu

            host = inspect_cpu()
            check_same_cpu(profile, host.vendor, host.family, host.model, len(os.sched_getaffinity(0)))
    return target


def run_validation(profile: Any, label: str, target: str, quick: bool,
                   progress: ProgressCallback | None = None) -> dict:
    """Run the real workloads on ``target`` at the sizes and on the cores of the profile's roofs, then build the
    report (``hwbench.tools.validate``). ``profile`` is a ``hwbench.Profile``."""
    import datetime as dt
    import os

    from ..stats import RepetitionPolicy
    from ..tools.validate import build_report, check_profile_fits

    check_profile_fits(profile, target)
    policy, device = RepetitionPolicy.for_mode(quick), profile.data["device"]
    if target == "cpu":
        from ..cpu.clock_now import ClockNow
        from ..cpu.machine import inspect_cpu
        from ..workloads.cpu import CpuPlan, run_cpu_workloads

        threads = (profile.data.get("run") or {}).get("threads") or len(os.sched_getaffinity(0))
        llc = device.get("l3_total_bytes") or (device.get("caches") or {}).get("l3") or 32 << 20
        clock_record = profile.data.get("clock") or {}
        # Without the profile's own clock (clock.scalar_mhz) there is nothing to compare a probe with.
        clock = ClockNow(int(threads), clock_record.get("nominal_mhz")) if clock_record.get("scalar_mhz") else None
        runs = run_cpu_workloads(int(threads), CpuPlan.for_machine(int(llc), quick), policy, progress,
                                 clock.sample if clock else None)
        name = inspect_cpu().name
    else:
        from ..gpu.failures import checked_cupy
        from ..workloads.gpu import GpuPlan, run_gpu_workloads, use_device

        index = int(target.split(":")[1])
        cp = checked_cupy(index)
        name = use_device(cp, index)
        l2 = (device.get("caches") or {}).get("l2") or 50 << 20
        runs = run_gpu_workloads(cp, GpuPlan.for_device(int(l2), cp.cuda.runtime.memGetInfo()[0], quick), policy,
                                 progress)
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return build_report(profile, runs, name, label, created)


@domain_errors
def validate(
    profile: Annotated[Path | None, typer.Argument(metavar="PROFILE", help="The profile whose roofs predict the "
                                                   "workloads. Default: a quick 'hwbench run' first.")] = None,
    device: Annotated[str | None, typer.Option("--device", "-d", help="cpu or cuda:N; it must be the profile's "
                                               "device (default: the profile's, or auto without one).")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Also write the report as YAML (a file is "
                                               "replaced atomically).")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, json or markdown.")]
    = OutputFormat.table,
    quick: Annotated[bool, typer.Option("--quick", help="Smaller sizes (2x the last-level cache instead of 4x, no "
                                        "2048 matmul) and fewer repetitions.")] = False,
) -> None:
    """Time real programs (NumPy, OpenBLAS, numba; CuPy, cuBLAS) and predict each with the roof of what it executes,
    calibrated and on paper: first which roofline each program beats (a violation) or escapes (no bound), then the
    median |error|; exit 1 when the calibrated roofline is the worse."""
    from ..profile import Profile
    from ..profile.files import check_writable, dump_yaml, is_stdout, write_atomic
    from ..tools import validate as report_of
    from ..tools.export import write
    from ..tools.validate_table import validate_document

    if output is not None and is_stdout(output) and output_format.value != "table":
        raise UsageError(f"-o {output} writes the YAML report to standard output, and so does -f "
                         f"{output_format.value}: choose one (or give -o a file name)")
    if output is not None:
        check_writable(output, example="validation.yaml")
    loaded = Profile.load(profile) if profile is not None else None
    target = validation_target(loaded, device)
    process.start_measuring()  # from here --timeout running out is a failed measurement (exit 1)
    if loaded is None:
        stderr.print(f"hwbench: no PROFILE given: measuring {target} first with a quick 'hwbench run' (not saved)",
                     markup=False)
        loaded = Profile(quick_profile(target), f"quick run of {target}")
    with Progress(f"validate {target}") as progress:
        report = run_validation(loaded, str(profile) if profile is not None else loaded.source, target, quick,
                                progress)
    if output is not None:
        write_atomic(output, dump_yaml(report))
        stderr.print(f"hwbench: validation report written to {output}", markup=False)
    # With -o - (or /dev/stdout) the YAML report is standard output: the table goes to stderr, as 'run -o -' does.
    write(validate_document(report), output_format.value,
          stderr if output is not None and is_stdout(output) else stdout_console())
    raise typer.Exit(report_of.exit_code(report))
