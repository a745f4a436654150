"""``hwbench roofline PROFILE...``: the hierarchical roofline chart (``hwbench.tools.plot``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import limits
from ..console import domain_errors, stderr, warn


@domain_errors
def roofline(
    profiles: Annotated[list[Path], typer.Argument(metavar="PROFILE", help="One or more profiles, overlaid.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Image file: .png, .svg or .pdf; '-' writes "
                                        "PNG to stdout. A file is replaced atomically; a symlink is followed (its "
                                        "target is replaced); a device or FIFO is written through.")]
    = "roofline.png",
    point: Annotated[list[str] | None, typer.Option(
        "--point", metavar="NAME:FLOPS:BYTES[:SECONDS]",
        help="Place an application kernel: NAME:FLOPS:BYTES[:SECONDS]; repeatable.")] = None,
    precisions: Annotated[str | None, typer.Option(
        "--precisions", metavar="fp64,fp32,...|all",
        help="Flat compute roofs to draw, comma-separated, or 'all'. Default: fp64, fp32 (and tensor_bf16 on a "
             "GPU).")] = None,
    precision: Annotated[list[str] | None, typer.Option(
        "--precision", "-p", metavar="PRECISION",
        help="One precision to draw; repeatable (the same as --precisions).")] = None,
    levels: Annotated[str | None, typer.Option(
        "--levels", metavar="l1,dram,...|all",
        help="Memory levels to draw as diagonals, comma-separated, or 'all'. Default: l1, l2, l3, dram on a "
             "CPU; l1, shared, l2, dram (HBM) on a GPU; those the profile has.")] = None,
    validation: Annotated[Path | None, typer.Option(
        "--validation", metavar="REPORT.yaml",
        help="Mark the workloads of a report written by 'hwbench validate -o FILE'.")] = None,
    title: Annotated[str | None, typer.Option("--title", help="Figure title.")] = None,
) -> None:
    """Draw the hierarchical roofline: memory levels as diagonals, precisions as flat roofs, each named on its
    line; measured solid, theoretical dashed; ridge points; sweep, validation and --point marks."""
    from ..profile import Profile
    from ..profile.files import check_writable, is_stdout, is_stream, write_atomic
    from ..profile.reading import check_stdin_once
    from ..tools.marks import parse_point
    from ..tools.plot import import_pyplot, output_format, render_roofline
    from ..tools.roofs import parse_names
    from ..tools.validate_report import load_validation_report

    check_writable(output, example="roofline.png")
    check_stdin_once([*profiles, validation])
    fmt = output_format(output, stream=is_stream(output))
    points = [parse_point(text) for text in point or []]
    for text, mark in zip(point or [], points):
        limits.check_point(text, mark.flops, mark.bytes_moved, mark.seconds)
    chosen_precisions = parse_names(precisions, "--precisions")
    if precision:
        chosen_precisions = (chosen_precisions or []) + [name.strip().lower() for name in precision]
    chosen_levels = parse_names(levels, "--levels", example="l1,dram")
    report = load_validation_report(validation) if validation is not None else None
    loaded = [Profile.load(path) for path in profiles]
    import_pyplot()
    stems = [path.stem for path in profiles]
    labels = stems if len(set(stems)) == len(stems) else [str(path) for path in profiles]
    notes: list[str] = []
    image = render_roofline(loaded, labels, points, chosen_precisions, title, fmt, chosen_levels, report, notes)
    for note in notes:
        warn(note)
    write_atomic(output, image)
    stderr.print(f"hwbench: roofline written to {'standard output' if is_stdout(output) else output}", markup=False)
