"""Reading a YAML file hwbench was given (a profile, a validation report) with every cost bounded.

- Only a regular file (or ``-``, standard input) is read. The file is opened with ``O_NONBLOCK``, so a FIFO
  with no writer is refused at once instead of blocking ``open()`` forever; ``/dev/zero`` or ``/dev/urandom``
  (character devices) are refused before a byte is read; ``/proc`` files are refused (their size is 0 and
  reading some, like ``/proc/self/mem``, fails or never ends).
- At most ``MAX_FILE_BYTES`` are read; a longer file is refused with the limit named.
- The loader refuses duplicate keys (YAML 1.2 says keys are unique; PyYAML keeps the last silently), and
  bounds the document's size with aliases expanded (``MAX_NODES``): a "billion laughs" alias bomb is a few
  hundred bytes that expand to ~10^9 nodes, which every later walk of the data would visit.

Every refusal is a ``UsageError`` naming the file, the problem and the fix (exit 2).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError

MAX_FILE_BYTES = 16 * 1024 * 1024  # a GPU profile with every sample is ~0.2 MB; 16 MiB leaves 80x headroom
MAX_NODES = 1_000_000  # YAML nodes with aliases expanded; a GPU profile has ~10,000
STDIN = "-"

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it (~10x faster)


# A plain scalar this matches is a float under YAML 1.1's rules as PyYAML applies them: the resolver of both
# safe loaders (yaml.resolver.Resolver) tries the float pattern first for a leading sign or digit, and this is
# a subset of it. It matches the decimals dump_yaml writes.
_PLAIN_DECIMAL = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
_FLOAT_TAG, _STR_TAG = "tag:yaml.org,2002:float", "tag:yaml.org,2002:str"


class BoundedLoader(_BASE):  # type: ignore[misc,valid-type]
    """The safe loader, refusing duplicate keys and documents that expand (through aliases) to more than
    ``MAX_NODES`` nodes. The size is counted on the node graph before anything is constructed: each node's
    expanded size is computed once (memoised by identity), so a bomb is measured in time linear in its text.

    Tag resolution is PyYAML's, made cheaper: a scalar's tag depends on its text and style alone (the safe
    loader has no path resolvers), so it is memoised for each load, and a plain decimal skips the pattern walk.
    Resolving took about half the time of reading a profile (``hwbench history`` reads thousands)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._tags: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is not yaml.ScalarNode:
            return str(super().resolve(kind, value, implicit))
        if implicit[0] and _PLAIN_DECIMAL.fullmatch(value):
            return _FLOAT_TAG
        tag = self._tags.get((value, implicit))
        if tag is None:
            tag = self._tags[(value, implicit)] = str(super().resolve(kind, value, implicit))
        return tag

    def construct_document(self, node: yaml.Node) -> Any:
        expanded = _expanded_size(node, MAX_NODES)
        if expanded > MAX_NODES:
            raise yaml.constructor.ConstructorError(
                None, None, f"with its aliases expanded it has more than {MAX_NODES:,} nodes (an alias bomb?)",
                node.start_mark)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen: set[Any] = set()
            for key_node, _ in node.value:
                # a string key is its text (construct_yaml_str); any other is constructed to compare by value
                plain = type(key_node) is yaml.ScalarNode and key_node.tag == _STR_TAG
                key = key_node.value if plain else self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark, f"found the key {key!r} twice",
                        key_node.start_mark)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping



def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes under ``root`` counting every alias as a copy of what it names; stops counting past ``limit``.
    Iterative (a 10,000-deep nesting must not hit Python's recursion limit) and memoised by node identity;
    scalars (most of a profile: its sample lists) are counted where their parent is, never pushed."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = _children(node)
        if children_done:
            sizes[id(node)] = min(limit + 1, 1 + sum([sizes.get(id(child), 1) for child in children]))
            continue
        if id(node) in sizes:
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children
                     if type(child) is not yaml.ScalarNode and id(child) not in sizes)
    return sizes.get(id(root), 1)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if type(node) is yaml.SequenceNode:
        items: list[yaml.Node] = node.value
        return items
    if type(node) is yaml.MappingNode:
        return [part for pair in node.value for part in pair]
    return []


def load_yaml(text: str, source: str) -> Any:
    """``text`` parsed by ``BoundedLoader``; a UsageError (one line) for invalid YAML, a duplicate key, an
    alias bomb or nesting too deep."""
    try:
        return yaml.load(text, Loader=BoundedLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(error, "problem", None) or ""
        if "twice" in problem or "alias bomb" in problem:
            raise UsageError(f"{source}: {problem}{where}; give a profile written by 'hwbench run'") from None
        raise UsageError(f"{source}: not valid YAML{where}; give a profile written by 'hwbench run'") from None
    except RecursionError:
        raise UsageError(f"{source}: nested too deeply to be a profile; give a profile written by "
                         "'hwbench run'") from None


_WHY = {errno.ENOENT: "no such file", errno.EACCES: "permission denied", errno.EPERM: "permission denied",
        errno.EISDIR: "it is a directory", errno.ELOOP: "too many levels of symbolic links",
        errno.ENAMETOOLONG: "the name is too long", errno.ENOTDIR: "a part of the path is not a directory",
        errno.ENXIO: "no such device", errno.EAGAIN: "it would block"}


def check_stdin_once(paths: Iterable[str | os.PathLike[str] | None]) -> None:
    """``-`` (standard input) given for two inputs of one command: the second read would find it empty and
    blame the file. Refused before anything is read."""
    if sum(1 for path in paths if path is not None and os.fspath(path) == STDIN) > 1:
        raise UsageError("'-' (standard input) is given more than once, and it can be read only once; give the "
                         "other inputs as files")


def read_text(path: str | os.PathLike[str], what: str = "profile", fix: str = "give a YAML file written by "
              "'hwbench run'") -> str:
    """The text of the regular file ``path`` (``-``: standard input), at most ``MAX_FILE_BYTES``, as UTF-8."""
    source = os.fspath(path)
    if source == STDIN:
        if sys.stdin is None:  # closed at start (<&-): process.prepare_standard_streams
            raise UsageError(f"-: standard input is closed; give the {what}'s path, or redirect it in with "
                             f"'< FILE'")
        return _decode(_read_bounded(sys.stdin.buffer.raw.fileno() if hasattr(sys.stdin.buffer, "raw")
                                     else sys.stdin.fileno(), source, what), source, what, fix)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(source, flags)
    except OSError as error:
        if error.errno == errno.ENOENT:
            raise UsageError(f"{source}: no such file; {fix}") from None
        why = _WHY.get(error.errno or 0, error.strerror or str(error))
        raise UsageError(f"{source}: cannot read it as a {what} ({why}); {fix}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO, not a regular file" if stat.S_ISFIFO(mode)
                    else "a character device, not a regular file" if stat.S_ISCHR(mode) else
                    "a block device, not a regular file" if stat.S_ISBLK(mode) else "not a regular file")
            raise UsageError(f"{source}: cannot read it as a {what} (it is {kind}); {fix}")
        if Path(source).resolve().is_relative_to("/proc") or Path(source).resolve().is_relative_to("/sys"):
            raise UsageError(f"{source}: cannot read it as a {what} (a /proc or /sys file); {fix}")
        os.set_blocking(fd, True)
        data = _read_bounded(fd, source, what)
    finally:
        os.close(fd)
    return _decode(data, source, what, fix)


def _read_bounded(fd: int, source: str, what: str) -> bytes:
    chunks, total = [], 0
    while True:
        try:
            chunk = os.read(fd, min(1 << 20, MAX_FILE_BYTES + 1 - total))
        except OSError as error:
            raise UsageError(f"{source}: cannot read it as a {what} ({error.strerror or error})") from None
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > MAX_FILE_BYTES:
            raise UsageError(f"{source}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, the most hwbench reads "
                             f"as a {what}; give a {what} written by hwbench")
    return b"".join(chunks)


def _decode(data: bytes, source: str, what: str, fix: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{source}: cannot read it as a {what} (it is not UTF-8 text); {fix}") from None
