"""``hwbench history [DIR]``: each ceiling's trend over the profiles ``hwbench run --save`` wrote
(``hwbench.tools.history``); exit 1 when the latest run regressed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import OutputFormat, domain_errors, stdout_console, warn
from ..limits import DEFAULT_SAVE_DIR


@domain_errors
def history(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder of saved profiles (what 'run --save' writes: "
                                              "hwbench-results/).")] = DEFAULT_SAVE_DIR,
    threshold: Annotated[str, typer.Option("--threshold", help="Smallest drop that counts as a regression, "
                                           "e.g. 5%.")] = "5%",
    baseline: Annotated[Path | None, typer.Option("--baseline", help="Profile to compare every run with. "
                                                  "Default: the oldest run of each device.")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, json or markdown.")]
    = OutputFormat.table,
) -> None:
    """Each ceiling's trend over saved runs; exit 1 when the latest run regressed against the baseline."""
    from ..profile import Profile
    from ..tools.compare import parse_threshold
    from ..tools.export import write
    from ..tools.history import build_history, history_document, load_profiles

    limit = parse_threshold(threshold)
    chosen = Profile.load(baseline) if baseline is not None else None
    profiles, skipped = load_profiles(directory)
    for note in skipped:
        warn(note)
    history = build_history(profiles, limit, chosen)
    write(history_document(history, limit), output_format.value, stdout_console())
    if any(series.latest_regressed for series in history):
        raise typer.Exit(1)
