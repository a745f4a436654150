"""The one writer and the one printer of ``hwbench run``, for one device, several, and rank 0 of an MPI job.

Each profile is written where ``plan.Output`` says: one device's to its file (replaced atomically) or to
standard output (``-o -``: its tables then go to stderr); several devices' into a folder, named by host,
device and rank (``cluster.naming``: no two ranks ever share a name); ``--save``'s copy under its folder with a
new name (``profile.files.write_new`` never replaces one). Then its tables are printed and every file written
is said on stderr. Under ``--mpi`` rank 0 prints the fleet report of what it gathered instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..cluster.job import JobContext
from ..cluster.naming import profile_file, saved_file
from ..console import stderr, stdout_console, warn
from ..profile import Profile
from ..profile.files import STDOUT, dump_yaml, is_stdout, write_atomic, write_new
from ..profile.types import ProfileMapping
from ..tools.render import print_profile
from .plan import Output


def unique_path(path: str, taken: set[str]) -> str:
    """``path``, or ``name-2.yaml``, ``name-3.yaml``... when another gathered profile already took it."""
    candidate, number = Path(path), 2
    while str(candidate) in taken:
        candidate = Path(path).with_name(f"{Path(path).stem}-{number}{Path(path).suffix}")
        number += 1
    taken.add(str(candidate))
    return str(candidate)


def write_main(data: ProfileMapping, text: str, output: Output, job: JobContext, taken: set[str]) -> str | None:
    """Write one profile (``text``, its YAML) to ``-o``'s file, standard output or folder; return the path
    written, or None (standard output, or several devices with only --save)."""
    if not output.several:
        if output.file is None:  # UTF-8 bytes on fd 1, whatever stdout's text encoding (a narrow one escapes)
            write_atomic(STDOUT, text)
            return None
        write_atomic(output.file, text)
        return output.file
    if output.folder is None:
        return None
    # Rank 0 names every file from what it derives (host, device, rank): two nodes may share a hostname.
    path = unique_path(str(profile_file(output.folder, data, job)), taken)
    write_atomic(path, text)
    return path


def write_saved(data: ProfileMapping, text: str, output: Output, job: JobContext) -> str | None:
    """``--save``'s copy under a new name (an earlier run's file is never replaced), or None without --save."""
    return None if output.save_root is None else str(write_new(saved_file(output.save_root, data, job), text))


def said(name: str, how: str, path: str) -> None:
    stderr.print(f"hwbench: profile{name} {how} {path}", markup=False)


def write_and_print(data: dict, output: Output, job: JobContext, taken: set[str]) -> None:
    """One profile this process measured: its warnings, its file, its tables, the --save copy, each file said
    on stderr once written."""
    device = data["device"]["id"]
    for message in data.get("warnings", []):
        warn(f"{device}: {message}" if output.several else message)
    text = dump_yaml(data)
    path = write_main(data, text, output, job, taken)
    yaml_on_stdout = output.file is None or is_stdout(output.file)  # -o -, or -o /dev/stdout
    print_profile(data, stderr if yaml_on_stdout and not output.several else stdout_console())
    name = f" of {device}" if output.several else ""
    if path is not None:
        said(name, "written to", path)
    if (saved := write_saved(data, text, output, job)) is not None:
        said(name, "written to" if output.several else "saved as", saved)


def write_gathered(files: Sequence[tuple[JobContext, str]], output: Output) -> list[Profile]:
    """Rank 0 of ``--mpi``: every rank's profile, checked before it is written, each under rank 0's own -o and
    --save only (never a path another rank chose)."""
    profiles: list[Profile] = []
    taken: set[str] = set()
    for rank_job, text in files:
        profile = Profile.from_yaml(text, f"the profile of rank {rank_job.rank}")
        name = f" of {profile.data['host']} {profile.data['device']['id']}"
        for path in (write_main(profile.data, text, output, rank_job, taken),
                     write_saved(profile.data, text, output, rank_job)):
            if path is not None:
                said(name, "written to", path)
        profiles.append(profile)
    return profiles


def print_fleet(profiles: list[Profile]) -> None:
    """The fleet report (``hwbench.tools.fleet``) of the gathered profiles, as ``hwbench fleet`` prints it."""
    from ..tools.export import write_table
    from ..tools.fleet import fleet_document, fleet_report

    write_table(fleet_document(fleet_report(profiles)), stdout_console())
