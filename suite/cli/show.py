"""``hwbench show PROFILE``: a saved profile as the tables ``hwbench run`` prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import domain_errors, stdout_console, warn


@domain_errors
def show(
    profile: Annotated[Path, typer.Argument(metavar="PROFILE", help="A profile written by 'hwbench run'.")],
) -> None:
    """Print a saved profile as the same tables 'hwbench run' prints."""
    from ..profile import Profile
    from ..tools.render import print_profile

    loaded = Profile.load(profile)
    print_profile(loaded.data, stdout_console())
    for message in loaded.data.get("warnings", []):
        warn(message)
