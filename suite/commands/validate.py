"""``hwbench validate [PROFILE] [--device D] [-o REPORT.yaml] [-f table|json|markdown] [--quick]``.

Parse, call, print: the profile (given, or measured first by a quick ``hwbench run``), the real workloads
(``runner.run_validation`` -> ``hwbench.workloads``), the report (``hwbench.tools.validate``; its rows
``hwbench.tools.validate_table``, written by the shared exporters, ``tools.export``). Exit 0, or 1 when the verdict
is ``calibrated_worse`` (more bound failures than the paper roofline, or, with as many, a larger median |error| over
the workloads both predict) or a workload's output is wrong; 2 on bad input (a missing profile, a profile of another
device, an unknown device).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import OutputFormat, Progress, domain_errors, stderr, stdout_console
from ..errors import UsageError


def quick_profile(target: str) -> dict:
    """The profile data of a quick ``hwbench run`` of ``target`` (not saved)."""
    from ..runner import RunOptions, measure

    with Progress(target) as progress:
        return measure(target, RunOptions(quick=True), progress)


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
    from ..profile.files import check_writable, dump_yaml, write_atomic
    from ..runner import run_validation, validation_target
    from ..tools import validate as report_of
    from ..tools.export import write
    from ..tools.validate_table import validate_document

    if output == "-" and output_format.value != "table":
        raise UsageError(f"-o - writes the YAML report to standard output, and so does -f {output_format.value}: "
                         "choose one (or give -o a file name)")
    if output is not None:
        check_writable(output)
    loaded = Profile.load(profile) if profile is not None else None
    target = validation_target(loaded, device)
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
    # With -o - the YAML report is standard output: the table goes to stderr, as 'run -o -' does.
    write(validate_document(report), output_format.value, stderr if output == "-" else stdout_console())
    raise typer.Exit(report_of.exit_code(report))
