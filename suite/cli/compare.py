"""``hwbench compare BASELINE CURRENT``: every ceiling side by side (``hwbench.tools.compare``); exit 1 on a
regression beyond the threshold and the noise."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..console import OutputFormat, domain_errors, stdout_console
from ..safe_text import printable


@domain_errors
def compare(
    baseline: Annotated[Path, typer.Argument(metavar="BASELINE", help="The reference profile.")],
    current: Annotated[Path, typer.Argument(metavar="CURRENT", help="The profile to check against it.")],
    threshold: Annotated[str, typer.Option("--threshold", help="Smallest drop that counts as a regression, "
                                           "e.g. 5%.")] = "5%",
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, json or markdown.")]
    = OutputFormat.table,
    force: Annotated[bool, typer.Option("--force", help="Compare profiles of different devices.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 1) on inconclusive rows too.")] = False,
) -> None:
    """Every ceiling side by side with its change; exit 1 when one regressed beyond the threshold and the noise."""
    from ..profile import Profile
    from ..tools.compare import compare_profiles, parse_threshold, summary_line, to_json, to_markdown
    from ..tools.render import comparison_table, print_table

    comparison = compare_profiles(Profile.load(baseline), Profile.load(current), parse_threshold(threshold), force)
    if output_format is OutputFormat.json:
        sys.stdout.write(to_json(comparison))
    elif output_format is OutputFormat.markdown:
        sys.stdout.write(to_markdown(comparison))
    else:
        console = stdout_console()
        print_table(comparison_table(comparison), console)
        for note in comparison.notes:
            console.print(printable(f"note: {note}"), markup=False)
        console.print(summary_line(comparison), markup=False)
    if comparison.failed(strict):
        raise typer.Exit(1)
