"""``hwbench fleet DIR...``: devices of one model compared across hosts (``hwbench.tools.fleet``); exit 1 when
one is slower than its siblings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import OutputFormat, domain_errors, stderr, stdout_console, warn
from ..errors import UsageError


@domain_errors
def fleet(
    directories: Annotated[list[Path], typer.Argument(metavar="DIR", help="Folders of profiles, read "
                                                      "recursively (*.yaml); the newest profile of each host + "
                                                      "device counts.")],
    threshold: Annotated[str, typer.Option("--threshold", help="Smallest drop below the model's median that "
                                           "counts, e.g. 5%; it must also exceed 3 x MAD x 1.4826.")] = "5%",
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, json or markdown.")]
    = OutputFormat.table,
    prometheus: Annotated[Path | None, typer.Option("--prometheus", metavar="PATH", help="Also write ceilings "
                                                    "and flags for node-exporter's textfile collector "
                                                    "(written atomically).")] = None,
) -> None:
    """Compare devices of the same model across hosts; exit 1 when one is slower than its siblings."""
    from ..profile.files import check_writable, is_stdout, write_atomic
    from ..tools.compare import parse_threshold
    from ..tools.export import to_prometheus, write
    from ..tools.fleet import fleet_document, fleet_report, load_fleet

    limit = parse_threshold(threshold)
    if prometheus is not None:
        if is_stdout(prometheus) and output_format.value != "table":
            raise UsageError(f"--prometheus {prometheus} writes the metrics to standard output, and so does -f "
                             f"{output_format.value}: choose one (or give --prometheus a file name)")
        check_writable(prometheus, option="--prometheus", example="fleet.prom")
    members, skipped = load_fleet(directories)
    for note in skipped:
        warn(note)
    report = fleet_report(members, limit)
    document = fleet_document(report)
    if prometheus is not None:  # a write that fails is the environment's fault (2), never "a slow device" (1)
        write_atomic(prometheus, to_prometheus(document), failure=UsageError)
    # Host names are user text: printed as text, never markup. With the metrics on stdout the table goes to stderr.
    metrics_on_stdout = prometheus is not None and is_stdout(prometheus)
    write(document, output_format.value, stderr if metrics_on_stdout else stdout_console())
    if prometheus is not None:
        stderr.print(f"hwbench: Prometheus metrics written to {prometheus}", markup=False)
    if report.flagged:
        raise typer.Exit(1)
