"""The command line's streams: stdout for results, stderr for progress, warnings and one-line errors.

Text from users and files (paths, device names, kernel names) is never read as rich markup or emoji: the
consoles here have both off, and the tables in ``tools.render`` hold such text as plain ``Text``. Errors
become one line and an exit code here, never a traceback (hyperfine's and fastapi-cli's habit).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from . import process
from .errors import HwbenchError
from .safe_text import printable

if TYPE_CHECKING:  # rich.progress is imported only when a bar is drawn
    from rich.progress import Progress as Bar
    from rich.progress import TaskID


class OutputFormat(str, Enum):
    """The formats a report command prints (``--format``/``-f``: compare, history, fleet, validate), written by
    the shared exporters (``tools.export.write``)."""

    table = "table"
    json = "json"
    markdown = "markdown"

# Tables need about 100 columns; when the stream is not a terminal (a log, a pipe) rich would assume 80.
TABLE_WIDTH = 110


class _Console(Console):
    def print(self, *objects: Any, **options: Any) -> None:
        """Plain strings (messages, paths, summary lines) are shown with control characters escaped; rich
        objects (tables) hold ``Text`` cells already made printable (``tools.cells``)."""
        super().print(*(printable(o) if isinstance(o, str) else o for o in objects), **options)

    def on_broken_pipe(self) -> None:
        """The reader of stdout went away (``| head -1``): rich would exit 1, which gates read as "regression";
        a broken pipe ends quietly with 141, as ``yes | head -1`` (``process.py``)."""
        self.quiet = True
        process.quiet_broken_pipe()
        raise BrokenPipeError


stderr = _Console(stderr=True, highlight=False, markup=False, emoji=False,
                  width=None if sys.stderr.isatty() else TABLE_WIDTH)
INTERRUPTED = "hwbench: error: interrupted; nothing was written"


def stdout_console() -> Console:
    return _Console(highlight=False, markup=False, emoji=False, width=None if sys.stdout.isatty() else TABLE_WIDTH)


F = TypeVar("F", bound=Callable)
_reported: list[int] = []  # an interruption domain_errors has already printed


def fail(message: str, code: int) -> typer.Exit:
    stderr.print(f"hwbench: error: {printable(message)}", markup=False, soft_wrap=True)
    return typer.Exit(code)


def domain_errors(command: F) -> F:
    """Turn HwbenchError into one line on stderr and its exit code (no traceback); an interruption (Ctrl-C,
    SIGTERM, SIGHUP, --timeout) into one line saying what was written; a broken pipe into a quiet 141."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        process.written.clear()  # what this command writes (one process may run several: the tests)
        try:
            return command(*args, **kwargs)
        except HwbenchError as error:
            if getattr(error, "collective", False):  # every MPI rank raised it together: none is left waiting
                process.state.no_rank_waits = True
            raise fail(str(error), error.exit_code) from None
        except KeyboardInterrupt as error:  # the command goes on no further: say so here, before click's "Aborted!"
            _reported.append(process.report_interruption(error, final=False))
            raise typer.Exit(_reported[-1]) from None
        except BrokenPipeError:
            process.quiet_broken_pipe()
            raise typer.Exit(process.BROKEN_PIPE) from None
        except MemoryError:
            raise fail("out of memory; close other programs, or measure less ('run': fewer --kernels; 'validate': "
                       "--quick)", 1) from None
        except Exception as error:  # a Ctrl-C wrapped by a lazy import (process.interruption_in); else a bug
            interruption = process.interruption_in(error)
            if interruption is None:
                raise
            _reported.append(process.report_interruption(interruption, final=False))
            raise typer.Exit(_reported[-1]) from None

    return wrapper  # type: ignore[return-value]


def interruption_reported() -> int | None:
    """The exit code of the interruption ``domain_errors`` already printed, or None."""
    return _reported[-1] if _reported else None


def warn(message: str) -> None:
    stderr.print(f"hwbench: warning: {printable(message)}", markup=False, soft_wrap=True)


class Progress:
    """A rich progress bar on a terminal; plain lines when stderr is not one (logs, CI)."""

    def __init__(self, label: str):
        self.label = label
        self.bar: Bar | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> Progress:
        if stderr.is_terminal:
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self.bar = Bar(TextColumn("{task.description:<34}", markup=False), BarColumn(),
                                TextColumn("{task.completed}/{task.total}", markup=False), TimeElapsedColumn(),
                                console=stderr, transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=1)
        return self

    def __call__(self, step: str, index: int, total: int) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, description=f"{self.label}: {step}", completed=index, total=total)
        elif step != "done":
            stderr.print(f"hwbench: [{index + 1}/{total}] {self.label}: {step}", markup=False)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.__exit__(exc_type, exc, traceback)


INTERNAL_ERROR = 70  # EX_SOFTWARE (sysexits.h): not 1, which compare, history and fleet gates read as a regression


def internal_error(error: BaseException) -> NoReturn:
    """A bug in hwbench, not bad input or a failed measurement: one line and exit 70, so that a CI gate on
    compare/history/fleet (exit 1: regression) cannot mistake it for a result. HWBENCH_DEBUG=1 re-raises it
    for the traceback."""
    import os

    if os.environ.get("HWBENCH_DEBUG"):
        raise error
    stderr.print(f"hwbench: internal error: {error.__class__.__name__}: {printable(str(error))}; this is a bug in "
                 "hwbench: please report it with the output of the same command under HWBENCH_DEBUG=1", markup=False,
                 soft_wrap=True)
    sys.exit(INTERNAL_ERROR)
