"""``hwbench history [DIR]``: each ceiling's trend over the profiles ``hwbench run --save`` wrote
(``hwbench.tools.history``); exit 1 when the latest run regressed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import domain_errors, stdout_console, warn
from ..limits import DEFAULT_SAVE_DIR


@domain_errors
def history(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder of saved profiles (what 'run --save' writes: "
                                              "hwbench-results/).")] = DEFAULT_SAVE_DIR,
    threshold: Annotated[str, typer.Option("--threshold", help="Smallest drop that counts as a regression, "
                                           "e.g. 5%.")] = "5%",
    baseline: Annotated[Path | None, typer.Option("--baseline", help="Profile to compare every run with. "
                                                  "Default: the oldest run of each device.")] = None,
) -> None:
    """Each ceiling's trend over saved runs; exit 1 when the latest run regressed against the baseline."""
    from ..profile import Profile
    from ..tools.compare import parse_threshold
    from ..tools.history import build_history, load_profiles
    from ..tools.render import history_table, print_table

    limit = parse_threshold(threshold)
    chosen = Profile.load(baseline) if baseline is not None else None
    profiles, skipped = load_profiles(directory)
    for note in skipped:
        warn(note)
    console = stdout_console()
    regressed = False
    for series in build_history(profiles, limit, chosen):
        print_table(history_table(series), console)
        if series.latest_regressed:
            regressed = True
            console.print(f"REGRESSION in the latest run of {series.device} on {series.host}: "
                          f"{', '.join(series.latest_regressed)}", markup=False)
    if regressed:
        raise typer.Exit(1)
