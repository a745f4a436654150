"""``hwbench compare BASELINE CURRENT``: every ceiling side by side (``hwbench.tools.compare``); exit 1 on a
regression beyond the threshold and the noise."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import OutputFormat, domain_errors, stdout_console, warn


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
    history: Annotated[list[Path] | None, typer.Option(
        "--history", metavar="PATH", help="Stored profiles of the same machine (files or folders, repeatable): "
        "each figure's noise is widened by how far their quiet runs moved (docs/gate.md).")] = None,
) -> None:
    """Every ceiling side by side with its change; exit 1 when one regressed beyond the threshold and the noise."""
    from ..profile import Profile
    from ..profile.reading import check_stdin_once
    from ..tools.compare import compare_profiles, comparison_document, parse_threshold
    from ..tools.export import write
    from ..tools.history import load_history

    check_stdin_once([baseline, current, *(history or [])])
    stored = None
    if history:
        stored, skipped = load_history(history)
        for note in skipped:
            warn(note)
    comparison = compare_profiles(Profile.load(baseline), Profile.load(current), parse_threshold(threshold), force,
                                  stored)
    write(comparison_document(comparison), output_format.value, stdout_console())
    if comparison.failed(strict):
        raise typer.Exit(1)
