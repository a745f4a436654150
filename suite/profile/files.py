"""Profile files: YAML in the profile's layout, and writes that never leave half a file.

``write_atomic`` writes a temporary file beside the target and renames it over, so readers see the old
file or the new one, never a mixture; ``check_writable`` fails before a run, not after it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from ..errors import HwbenchError, UsageError


class _ProfileDumper(yaml.SafeDumper):
    pass


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    # Short lists of scalars (cpus, isa, samples) read better inline.
    flow = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_ProfileDumper.add_representer(list, _represent_list)


def dump_yaml(data: dict) -> str:
    return yaml.dump(data, Dumper=_ProfileDumper, sort_keys=False, width=110, allow_unicode=True)


def check_writable(path: Path, create_parents: bool = False) -> None:
    """Fail before measuring, not after, when the output cannot be written. With ``create_parents``, the
    missing directories of ``path`` will be created at write time: check the nearest one that exists."""
    directory = path.parent if str(path.parent) else Path(".")
    if create_parents:
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent
        if not directory.is_dir():
            raise UsageError(f"{path}: {directory} is not a directory; remove it or run from another directory")
        path = directory / path.name
    if path.is_dir():
        raise UsageError(f"-o {path}: is a directory; give a file name such as {path / 'profile.yaml'}")
    if not directory.is_dir():
        raise UsageError(f"-o {path}: directory {directory} does not exist; create it or choose another path")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"-o {path}: directory {directory} is not writable; choose another path")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"-o {path}: file is not writable; choose another path")
    # os.access trusts permission bits only (root passes on /proc or a read-only mount): create a probe.
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=directory)
    except OSError as error:
        raise UsageError(f"-o {path}: cannot create a file in {directory} ({error.strerror}); "
                         "choose another path") from None
    os.close(fd)
    os.unlink(probe)


def write_atomic(path: Path, text: str | bytes, create_parents: bool = False) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over: readers never see half a file."""
    directory = path.parent if str(path.parent) else Path(".")
    if create_parents:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise HwbenchError(f"could not create {directory}: {error.strerror}; nothing was written") from None
    check_writable(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise HwbenchError(f"could not write {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise HwbenchError(f"could not write {path}: {error.strerror}; nothing was written") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
