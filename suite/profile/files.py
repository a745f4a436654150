"""Profile files: YAML in the profile's layout, and writes that never leave half a file.

Output paths (``run -o``, ``run --save``, ``roofline -o``) follow one set of rules:

- nothing there, or a regular file: ``write_atomic`` writes a temporary file beside it and renames it
  over, so readers see the old file or the new one, never a mixture;
- a symbolic link is followed: the file it points to is replaced the same way (temporary file beside the
  target, renamed over the target) and the link stays a link;
- a character device (``/dev/null``, a terminal) or a FIFO is written through as a stream, never replaced;
  ``-`` is standard output, and so are ``/dev/stdout``, ``/dev/fd/N`` and ``/proc/self/fd/N``: written to the
  inherited descriptor itself, never resolved to the file behind it (``-o /dev/stdout >> build.log`` appends
  to build.log; it does not replace it);
- a replaced file keeps its permission bits, and its owner and group where this user may set them (root);
  a new file gets 0666 less the umask, as ``open()`` would give it; a file owned by another user in a sticky
  folder (``/tmp``), which the kernel does not let this user rename over, is refused before measuring;
- ``write_new`` (``run --save``) never replaces anything: the name is claimed atomically (``link()``, which
  fails if it exists, or ``O_EXCL``), the next free name taken if two runs race for one;
- a directory, a block device or a socket is refused, and so is a name ending in ``/`` (it names a
  directory).

``check_writable`` applies the same rules before a run, so a bad path fails before measuring, not after.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from .. import process
from ..errors import HwbenchError, UsageError

STDOUT = "-"


class _ProfileDumper(yaml.SafeDumper):
    pass


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    # Short lists of scalars (cpus, isa, samples) read better inline.
    flow = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_ProfileDumper.add_representer(list, _represent_list)


def dump_yaml(data: Mapping[str, Any]) -> str:
    return yaml.dump(data, Dumper=_ProfileDumper, sort_keys=False, width=110, allow_unicode=True)


def _kind(path: Path) -> str:
    """What ``path`` is once symbolic links are followed: 'none', 'file', 'stream' (character device or
    FIFO), 'directory', 'block device', 'socket' or 'special file'."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "none"  # nothing there, or a dangling link (its target will be created)
    except (NotADirectoryError, PermissionError):
        return "none"  # a parent is not a directory, or cannot be searched: the directory checks report it
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "loop of symbolic links"
        raise
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


_INHERITED = re.compile(r"/(?:dev/fd|proc/self/fd|proc/(\d+)/fd)/(\d+)")


def inherited_fd(path: str | os.PathLike[str]) -> int | None:
    """The descriptor ``path`` names when it is one this process inherited (``/dev/stdout``, ``/dev/stderr``,
    ``/dev/fd/N``, ``/proc/self/fd/N``), else None. Opening such a path again would open the file behind it
    afresh (from offset 0, without the shell's O_APPEND): hwbench writes to the descriptor instead."""
    text = os.path.abspath(os.fspath(path))
    if text in ("/dev/stdout", "/dev/stderr"):
        return 1 if text == "/dev/stdout" else 2
    match = _INHERITED.fullmatch(text)
    if match and (match.group(1) is None or int(match.group(1)) == os.getpid()):
        return int(match.group(2))
    return None


def is_stdout(path: str | os.PathLike[str]) -> bool:
    """True for ``-``, ``/dev/stdout``, ``/dev/fd/1`` and ``/proc/self/fd/1``: the file goes to standard output,
    so the tables that would go there go to stderr instead (the file stays parseable)."""
    return os.fspath(path) == STDOUT or inherited_fd(path) == 1


def is_stream(path: str | os.PathLike[str]) -> bool:
    """True for ``-`` (standard output), an inherited descriptor, a character device or a FIFO: written
    through, never replaced."""
    return str(path) == STDOUT or inherited_fd(path) is not None or _kind(Path(path)) == "stream"


def _target(path: Path) -> Path:
    """The file a write to ``path`` replaces: ``path`` itself, or where its symbolic link(s) lead."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def check_writable(path: str | os.PathLike[str], create_parents: bool = False, option: str = "-o",
                   example: str = "profile.yaml") -> None:
    """Fail before measuring, not after, when the output cannot be written (the rules are in the module
    docstring). With ``create_parents``, the missing directories of ``path`` will be created at write time:
    check the nearest one that exists. Every refusal is a ``UsageError`` naming the problem and the fix;
    ``example`` is the file name the fix suggests (what the option writes: a profile, a picture, metrics)."""
    text = os.fspath(path)
    if text == STDOUT:
        return
    if not text:
        raise UsageError(f"{option} '': the name is empty; give a file name such as {example}, or '-' for standard "
                         "output")
    if text.endswith(os.sep):
        where = Path(text)
        if os.path.isdir(where):
            raise UsageError(f"{option} {text}: is a directory; give a file name such as {where / example}")
        raise UsageError(f"{option} {text}: the name ends in '/', so it names a directory, and {where} does not "
                         "exist; give a file name without the trailing '/'")
    fd = inherited_fd(text)
    if fd is not None:
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:
            raise UsageError(f"{option} {text}: descriptor {fd} is not open; choose another path") from None
        if flags & os.O_ACCMODE == os.O_RDONLY:
            raise UsageError(f"{option} {text}: descriptor {fd} is open for reading only; choose another path")
        return
    path = Path(text)
    kind = _kind(path)
    if kind == "stream":
        if not os.access(path, os.W_OK):
            raise UsageError(f"{option} {path}: not writable; choose another path")
        return
    if kind == "directory":
        raise UsageError(f"{option} {path}: is a directory; give a file name such as {path / example}")
    if kind not in ("none", "file"):
        raise UsageError(f"{option} {path}: is a {kind}, which hwbench will not replace; give a regular file's "
                         "name, or '-' for standard output")
    path = _target(path)
    directory = path.parent if str(path.parent) else Path(".")
    if create_parents:
        while not os.path.exists(directory) and directory != directory.parent:
            directory = directory.parent
        if not os.path.isdir(directory):
            raise UsageError(f"{option} {text}: {directory} is not a directory; remove it or choose another path")
        path = directory / path.name
        if os.path.isdir(path):
            raise UsageError(f"{option} {text}: {path} is a directory; remove it or choose another path")
    if not os.path.isdir(directory):
        raise UsageError(f"{option} {text}: directory {directory} does not exist; create it or choose another path")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {text}: directory {directory} is not writable; choose another path")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {text}: file is not writable; choose another path")
    if _sticky_and_foreign(path, directory):
        raise UsageError(f"{option} {text}: the file belongs to another user in a sticky folder ({directory}), "
                         "where only its owner may replace it; choose another path")
    # os.access trusts permission bits only (root passes on /proc or a read-only mount): create a probe.
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=directory)
    except OSError as error:
        raise UsageError(f"{option} {text}: cannot create a file in {directory} ({error.strerror}); "
                         "choose another path") from None
    os.close(fd)
    os.unlink(probe)


def _sticky_and_foreign(path: Path, directory: Path) -> bool:
    """Whether the kernel will refuse to rename over ``path``: a sticky folder, a file neither this user nor
    the folder's owner owns (rename(2), EPERM; root is exempt)."""
    try:
        target, folder = os.stat(path), os.stat(directory)
    except OSError:
        return False
    me = os.geteuid()
    return bool(folder.st_mode & stat.S_ISVTX) and me != 0 and me not in (target.st_uid, folder.st_uid)


def _write_fd(fd: int, data: bytes, path: str | os.PathLike[str]) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        raise
    except OSError as error:
        raise HwbenchError(f"could not write {path}: {error.strerror}; {process.written_summary()}") from None


def _write_stream(path: str | os.PathLike[str], text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    fd = inherited_fd(path)
    if fd is not None:
        if fd in (1, 2):
            (sys.stdout if fd == 1 else sys.stderr).flush()
        _write_fd(fd, data, path)
        process.record_written(str(path))
        return
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
    except OSError as error:
        raise HwbenchError(f"could not write {path}: {error.strerror}; {process.written_summary()}") from None
    try:
        _write_fd(fd, data, path)
    finally:
        os.close(fd)
    process.record_written(str(path))


def _new_file_mode() -> int:
    """0666 less the umask: what ``open(path, "w")`` would have given a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _keep_mode_and_owner(tmp: str, target: Path) -> None:
    """The replaced file's permission bits, owner and group on the file that replaces it (owner and group
    where this user may set them: chown(2) needs root to give a file away; EPERM leaves this user's)."""
    try:
        old = os.stat(target)
    except OSError:
        os.chmod(tmp, _new_file_mode())
        return
    os.chmod(tmp, stat.S_IMODE(old.st_mode))
    try:
        os.chown(tmp, old.st_uid, old.st_gid)
    except PermissionError:
        pass


def _temporary(path: str | os.PathLike[str], target: Path, text: str | bytes) -> str:
    """A temporary file beside ``target`` holding ``text``, flushed to the disk (fsync)."""
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise HwbenchError(f"could not write {path}: {error.strerror}; {process.written_summary()}") from None
    with _removed_on_failure(tmp, path):
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode() if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        _keep_mode_and_owner(tmp, target)
        process.test_pause("writing")
    return tmp


@contextlib.contextmanager
def _removed_on_failure(tmp: str, path: str | os.PathLike[str]) -> Iterator[None]:
    """The temporary file ``tmp`` is removed if the block fails (an OSError becomes one line naming ``path``) or
    is interrupted (Ctrl-C, SIGTERM, --timeout): nothing half-written is left."""
    try:
        yield
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise HwbenchError(f"could not write {path}: {error.strerror}; {process.written_summary()}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], text: str | bytes, create_parents: bool = False,
                 failure: type[HwbenchError] = HwbenchError) -> None:
    """``_write_atomic``; a write that fails (disk full, I/O error) raises ``failure`` (``fleet --prometheus``:
    a ``UsageError``, exit 2, since its exit 1 means "a slow device")."""
    try:
        _write_atomic(path, text, create_parents)
    except HwbenchError as error:
        if isinstance(error, (UsageError, failure)):
            raise
        raise failure(str(error)) from None


def _write_atomic(path: str | os.PathLike[str], text: str | bytes, create_parents: bool = False) -> None:
    """Write ``text`` to ``path`` following the rules in the module docstring.

    A regular file (or nothing) is replaced atomically: a temporary file beside it, renamed over it, so
    readers never see half a file. A symbolic link is followed: its target is replaced that way and the link
    stays a link. ``-`` (standard output), an inherited descriptor, a character device or a FIFO is written
    through as a stream. A directory, a block device or a socket is refused with a ``UsageError``."""
    if is_stream(path) or os.fspath(path).endswith(os.sep):
        check_writable(path)  # refuses a name ending in '/'
        _write_stream(path, text)
        return
    path = Path(path)
    with _new_parents(path if create_parents else None):
        check_writable(path)
        target = _target(path)
        tmp = _temporary(path, target, text)
        with _removed_on_failure(tmp, path), process.signals_held():  # renamed and recorded, or neither
            os.replace(tmp, target)
            process.record_written(str(path))


@contextlib.contextmanager
def _new_parents(path: Path | None) -> Iterator[None]:
    """Create the missing folders above ``path`` (None: none to create) for the write in the ``with`` block; if
    that write fails or is interrupted, the folders it created are removed again (the innermost first, and
    only while empty: nothing is left behind by a write that did not happen)."""
    if path is None:
        yield
        return
    directory = _target(path).parent
    created = []
    while not os.path.lexists(directory) and directory != directory.parent:
        created.append(directory)
        directory = directory.parent
    try:
        _target(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HwbenchError(f"could not create {_target(path).parent}: {error.strerror}; "
                           f"{process.written_summary()}") from None
    try:
        yield
    except BaseException:
        for folder in created:
            try:
                os.rmdir(folder)
            except OSError:
                break
        raise


def _claim(tmp: str, name: Path) -> bool:
    """Give the file ``tmp`` the name ``name`` unless a file has it (then False): atomically, with ``link()``;
    where the filesystem has no hard links, by creating ``name`` with ``O_EXCL`` and renaming over the claim."""
    try:
        os.link(tmp, name)
        return True
    except FileExistsError:
        return False
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
            raise
    try:
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    os.replace(tmp, name)
    return True


MAX_SAVE_SUFFIX = 10_000  # <stem>-1 ... <stem>-9999: more runs of one device in one second are not plausible


def write_new(path: str | os.PathLike[str], text: str | bytes) -> Path:
    """Write ``text`` under ``path``'s name, or ``<stem>-1``, ``<stem>-2``... if taken, never replacing a file:
    each name is claimed atomically (``_claim``), so two runs that chose one name at once both keep their file.
    Returns the name written."""
    path = Path(path)
    with _new_parents(path):
        check_writable(path, option="--save")
        tmp = _temporary(path, path, text)
        candidate = path
        try:
            os.chmod(tmp, _new_file_mode())
            for number in range(1, MAX_SAVE_SUFFIX + 1):
                with process.signals_held():  # a name claimed is recorded as written before an interruption lands
                    if _claim(tmp, candidate):
                        process.record_written(str(candidate))
                        break
                candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
            else:
                raise HwbenchError(f"could not write {path}: {MAX_SAVE_SUFFIX} names taken; "
                                   f"{process.written_summary()}")
        except OSError as error:
            raise HwbenchError(f"could not write {candidate}: {error.strerror}; {process.written_summary()}") from None
        finally:
            Path(tmp).unlink(missing_ok=True)  # the claimed name is a second link to it, or it was renamed
    return candidate
