"""Profile files: YAML in the profile's layout, and writes that never leave half a file.

Output paths (``run -o``, ``run --save``, ``roofline -o``) follow one set of rules:

- nothing there, or a regular file: ``write_atomic`` writes a temporary file beside it and renames it
  over, so readers see the old file or the new one, never a mixture;
- a symbolic link is followed: the file it points to is replaced the same way (temporary file beside the
  target, renamed over the target) and the link stays a link;
- a character device (``/dev/null``, a terminal) or a FIFO is written through as a stream, never replaced;
  ``-`` is standard output;
- a directory, a block device or a socket is refused, and so is a name ending in ``/`` (it names a
  directory).

``check_writable`` applies the same rules before a run, so a bad path fails before measuring, not after.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path

import yaml

from ..errors import HwbenchError, UsageError

STDOUT = "-"


class _ProfileDumper(yaml.SafeDumper):
    pass


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    # Short lists of scalars (cpus, isa, samples) read better inline.
    flow = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_ProfileDumper.add_representer(list, _represent_list)


def dump_yaml(data: dict) -> str:
    return yaml.dump(data, Dumper=_ProfileDumper, sort_keys=False, width=110, allow_unicode=True)


def _kind(path: Path) -> str:
    """What ``path`` is once symbolic links are followed: 'none', 'file', 'stream' (character device or
    FIFO), 'directory', 'block device', 'socket' or 'special file'."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "none"  # nothing there, or a dangling link (its target will be created)
    except NotADirectoryError:
        return "none"  # a parent is not a directory: the directory checks report it
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return "stream"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def is_stream(path: str | os.PathLike) -> bool:
    """True for ``-`` (standard output), a character device or a FIFO: written through, never replaced."""
    return str(path) == STDOUT or _kind(Path(path)) == "stream"


def _target(path: Path) -> Path:
    """The file a write to ``path`` replaces: ``path`` itself, or where its symbolic link(s) lead."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_writable(path: str | os.PathLike, create_parents: bool = False, option: str = "-o") -> None:
    """Fail before measuring, not after, when the output cannot be written (the rules are in the module
    docstring). With ``create_parents``, the missing directories of ``path`` will be created at write time:
    check the nearest one that exists. Every refusal is a ``UsageError`` naming the problem and the fix."""
    text = os.fspath(path)
    if text == STDOUT:
        return
    if text.endswith(os.sep):
        where = Path(text)
        if where.is_dir():
            raise UsageError(f"{option} {text}: is a directory; give a file name such as {where / 'profile.yaml'}")
        raise UsageError(f"{option} {text}: the name ends in '/', so it names a directory, and {where} does not "
                         "exist; give a file name without the trailing '/'")
    path = Path(text)
    kind = _kind(path)
    if kind == "stream":
        if not os.access(path, os.W_OK):
            raise UsageError(f"{option} {path}: not writable; choose another path")
        return
    if kind == "directory":
        raise UsageError(f"{option} {path}: is a directory; give a file name such as {path / 'profile.yaml'}")
    if kind not in ("none", "file"):
        raise UsageError(f"{option} {path}: is a {kind}, which hwbench will not replace; give a regular file's "
                         "name, or '-' for standard output")
    path = _target(path)
    directory = path.parent if str(path.parent) else Path(".")
    if create_parents:
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent
        if not directory.is_dir():
            raise UsageError(f"{option} {text}: {directory} is not a directory; remove it or choose another path")
        path = directory / path.name
        if path.is_dir():
            raise UsageError(f"{option} {text}: {path} is a directory; remove it or choose another path")
    if not directory.is_dir():
        raise UsageError(f"{option} {text}: directory {directory} does not exist; create it or choose another path")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {text}: directory {directory} is not writable; choose another path")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {text}: file is not writable; choose another path")
    # os.access trusts permission bits only (root passes on /proc or a read-only mount): create a probe.
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=directory)
    except OSError as error:
        raise UsageError(f"{option} {text}: cannot create a file in {directory} ({error.strerror}); "
                         "choose another path") from None
    os.close(fd)
    os.unlink(probe)


def _write_stream(path: str | Path, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    if str(path) == STDOUT:
        sys.stdout.flush()
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is not None:
            buffer.write(data)
            buffer.flush()
        else:  # a text-only stream (a test runner's capture)
            sys.stdout.write(data.decode(errors="replace"))
            sys.stdout.flush()
        return
    try:
        # O_WRONLY without O_CREAT or O_TRUNC: the device or FIFO stays what it is. A FIFO waits for a reader.
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as error:
        raise HwbenchError(f"could not write {path}: {error.strerror}") from None


def write_atomic(path: str | os.PathLike, text: str | bytes, create_parents: bool = False) -> None:
    """Write ``text`` to ``path`` following the rules in the module docstring.

    A regular file (or nothing) is replaced atomically: a temporary file beside it, renamed over it, so
    readers never see half a file. A symbolic link is followed: its target is replaced that way and the link
    stays a link. ``-`` (standard output), a character device or a FIFO is written through as a stream. A
    directory, a block device or a socket is refused with a ``UsageError``."""
    if is_stream(path) or os.fspath(path).endswith(os.sep):
        check_writable(path)  # refuses a name ending in '/'
        _write_stream(path, text)
        return
    path = Path(path)
    if create_parents:
        directory = _target(path).parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise HwbenchError(f"could not create {directory}: {error.strerror}; nothing was written") from None
    check_writable(path)
    target = _target(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise HwbenchError(f"could not write {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise HwbenchError(f"could not write {path}: {error.strerror}; nothing was written") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
