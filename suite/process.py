"""How the hwbench process ends: signals, a broken pipe, closed or full standard streams, ``--timeout``, and an
MPI job.

The exit codes are a contract (docs/reliability.md):

    0    clean
    1    the answer is no (a regression, a slow device, calibrated_worse) or a measurement failed
    2    bad input or an unusable environment (stdout closed or full, a limit exceeded)
    70   a bug in hwbench (EX_SOFTWARE, sysexits.h)
    129  SIGHUP, 130 Ctrl-C (SIGINT), 143 SIGTERM: 128 + the signal's number, as a shell reports a process the
         signal ended, but only after the cleanup has run (temporary files removed, nothing half-written)
    141  a broken pipe (``hwbench history | head -1``): quiet, as ``yes | head -1``

SIGTERM and SIGHUP raise ``Stopped``, a ``KeyboardInterrupt``: every ``except BaseException`` cleanup that
Ctrl-C runs (``profile.files.write_atomic`` removing its temporary file) runs for them too.

``HWBENCH_TEST_PAUSE_AT=<point>`` is for the test suite only. At that point hwbench prints ``hwbench: test
pause at <point> (pid N)`` on stderr and waits for a signal, so a test can send one at that instant without a
sleep; SIGUSR1 resumes. The points: ``before-measuring`` (``--timeout`` still counts as before measuring),
``measuring`` (before the first kernel), ``writing`` (a file's temporary copy written, not yet renamed;
``writing#2``: the second file), ``worker`` (a ``fleet`` worker process started).

Nothing here imports more than the standard library and ``safe_text`` (it runs before typer and rich load).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from .safe_text import printable

PAUSE_VARIABLE = "HWBENCH_TEST_PAUSE_AT"
SIGNAL_NAMES = {signal.SIGTERM: "terminated (SIGTERM)", signal.SIGHUP: "hung up (SIGHUP)"}
BROKEN_PIPE = 141  # 128 + SIGPIPE
INTERRUPT = 130  # 128 + SIGINT


class Stopped(KeyboardInterrupt):
    """A signal or ``--timeout`` that ends the command after cleanup, with ``exit_code``."""

    def __init__(self, reason: str, exit_code: int):
        super().__init__(reason)
        self.reason, self.exit_code = reason, exit_code


class _State:
    measuring = False  # set once a measurement has started: --timeout then exits 1, not 2
    timeout: float | None = None
    stopped: Stopped | None = None  # the last SIGTERM/SIGHUP/--timeout raised (typer may swallow it into 130)
    no_rank_waits = False  # under --mpi: every rank failed together, or the last collective is past


state = _State()
written: list[str] = []  # the files this command has written so far, for the messages that say what was


def record_written(path: str) -> None:
    written.append(path)


def written_summary() -> str:
    """What an interrupted or failed command leaves behind, for its one line."""
    if not written:
        return "nothing was written"
    return f"{', '.join(written)} {'was' if len(written) == 1 else 'were'} written, nothing else"


def _stop(signum: int, frame: object) -> None:
    signal.signal(signum, signal.SIG_IGN)  # a second TERM while cleaning up does not cut the cleanup short
    state.stopped = Stopped(SIGNAL_NAMES[signal.Signals(signum)], 128 + signum)
    raise state.stopped


def install_handlers() -> None:
    """SIGTERM and SIGHUP clean up like Ctrl-C (a SIGHUP that the shell ignored, under nohup, stays ignored)."""
    for signum in SIGNAL_NAMES:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _stop)


# The signals that end a command early (Ctrl-C, SIGTERM, SIGHUP, --timeout's SIGALRM)
ENDING_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM})


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold back ``ENDING_SIGNALS`` for the ``with`` block: each that arrives inside it is kept and delivered
    (once, in the order they came) just after the block, to the handler that was in place. For steps that must
    not be cut in two: a file renamed into place and recorded as written, so an interruption's line never says
    "nothing was written" over a file that exists. Keep the block short: a held Ctrl-C waits for it.

    Python runs a signal's handler in the main thread, whichever thread the kernel delivered it to (numba's
    workers can take a Ctrl-C sent to the process group), so the handlers are swapped rather than the thread's
    signal mask (``pthread_sigmask`` would hold a signal back from this thread only). A signal ignored stays
    ignored; off the main thread, where handlers cannot be set, the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []  # each held signal once, in the order it came
    previous: dict[int, Any] = {}
    released = False

    def deliver(signum: int) -> None:
        handler = previous[signum]
        if callable(handler):
            handler(signum, None)
        else:  # SIG_DFL: the signal's own action, with the default back in place first
            signal.signal(signum, handler)
            signal.raise_signal(signum)

    def keep(signum: int, frame: object) -> None:
        if released:  # signal.signal() runs a pending handler before it installs: a restore still to come
            deliver(signum)
        elif signum not in arrived:
            arrived.append(signum)

    try:
        for signum in ENDING_SIGNALS:
            handler = signal.getsignal(signum)
            if handler is not None and handler is not signal.SIG_IGN:  # None: set outside Python, left alone
                previous[signum] = signal.signal(signum, keep)
        yield
    finally:
        released = True  # from here a signal goes to its own handler, even while the restores below run
        for held, handler in previous.items():
            signal.signal(held, handler)
        for held_signal in arrived:  # in order; the first handler that raises ends the command, as it would have
            deliver(held_signal)


def exit_code_of(error: BaseException) -> int:
    """The exit code of an interruption: ``Stopped``'s own, else Ctrl-C's 130."""
    return getattr(error, "exit_code", INTERRUPT) if isinstance(error, KeyboardInterrupt) else INTERRUPT


def interruption_in(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (SIGTERM, SIGHUP) that caused ``error``, or None. Python wraps an exception raised while a class
    body is being set up: on 3.11 a Ctrl-C landing in ``dataclasses``' ``__set_name__`` during an import arrives
    as ``RuntimeError("Error calling __set_name__ ...")`` with the KeyboardInterrupt as its ``__cause__``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:  # a cycle in the chain is possible, never followed twice
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__cause__  # not __context__: a bug raised while Ctrl-C's cleanup ran is still a bug
    return None


def reason_of(error: BaseException | None) -> str:
    return getattr(error, "reason", "interrupted")


def report_interruption(error: BaseException | None, final: bool = True) -> int:
    """Ctrl-C, SIGTERM, SIGHUP or ``--timeout`` (``Stopped``), wherever it was caught: one line on stderr saying
    what was written, and the exit code to end with. The one place an interruption becomes output; it is caught
    where Python hands it over: by ``__main__`` while the command line is imported, by ``cli.main`` while click
    parses, and by ``console.domain_errors`` inside a command (click would otherwise turn it into "Aborted!").
    ``final``: the process is ending, so a second Ctrl-C is ignored (it cannot print a traceback either)."""
    if final:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.stderr is not None:
        sys.stderr.write(f"hwbench: error: {printable(f'{reason_of(error)}; {written_summary()}')}\n")
        sys.stderr.flush()
    return exit_code_of(error) if error is not None else INTERRUPT


def quiet_broken_pipe() -> None:
    """After EPIPE on stdout: point fd 1 at /dev/null, so the interpreter's final flush cannot complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def prepare_standard_streams() -> None:
    """The standard streams made safe to use, first thing.
    - A stream closed at start (``<&-``, ``2>&-``): /dev/null takes its descriptor, so that no file hwbench
      opens later gets number 0 or 2 (a profile opened as fd 2 would receive every library's warnings).
      Standard input stays ``None`` (``profile.reading`` refuses ``-`` then); standard error becomes a quiet
      stream, as under ``2>/dev/null``: the exit code still tells the outcome. A closed standard output is
      refused (``stdout_problem``), not held.
    - Standard output in a narrow encoding writes what it lacks as escapes."""
    for fd in (0, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                held = os.open(os.devnull, os.O_RDWR)
            except OSError:  # no /dev/null, or no descriptor left: the stream stays closed
                continue
            if held != fd:  # fd 1 was closed too and got it: it stays closed, and stdout_problem says so
                os.dup2(held, fd)  # inheritable, as a standard stream is
                os.close(held)
            else:
                os.set_inheritable(fd, True)  # os.open's descriptors are not: a child would see it closed
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    if sys.stdout is not None and getattr(sys.stdout, "errors", None) in ("strict", "surrogateescape"):
        # An encoding narrower than the tables (PYTHONIOENCODING=ascii, or the C locale with PYTHONUTF8=0 and no
        # coercion: no '±', '→'): a character it lacks is written as its escape, as stderr's always are, not an
        # UnicodeEncodeError half-way through a table.
        reconfigure = getattr(sys.stdout, "reconfigure", None)  # io.TextIOWrapper's; a replaced stdout may lack it
        if reconfigure is not None:
            with contextlib.suppress(ValueError):
                reconfigure(errors="backslashreplace")


# What a write fails with when the stream itself cannot take the data (a full disk or device, a dead disk)
WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}
STDOUT_FAILED = 2  # an unusable environment, as a closed stdout: never 1, which the gates read as "the answer is no"


def stream_write_problem(error: BaseException) -> str | None:
    """The one line for a write to standard output that failed (``> /dev/full``, a full disk under ``>``), or
    None for any other error. Files hwbench opens report their own failures with their name (``profile.files``;
    reads of a file carry its name too), so an ``OSError`` without a file name and with one of
    ``WRITE_FAILURES`` comes from a standard stream; stdout is the one that carries results."""
    if isinstance(error, OSError) and error.filename is None and error.errno in WRITE_FAILURES:
        return _stdout_failed(error)
    return None


def _stdout_failed(error: OSError) -> str:
    return (f"could not write standard output: {error.strerror}; free some space, or send standard output "
            f"elsewhere; {written_summary()}")


def report_stdout_failure(problem: str) -> int:
    """Say ``problem`` once and point fd 1 at /dev/null: what stays in stdout's buffer can then not fail (and
    be reported) again at the final flush."""
    quiet_broken_pipe()
    if sys.stderr is not None:
        try:
            sys.stderr.write(f"hwbench: error: {printable(problem)}\n")
            sys.stderr.flush()
        except OSError:  # stderr full too: the exit code alone tells it
            pass
    return STDOUT_FAILED


def ending() -> None:
    """The process is about to exit: a Ctrl-C from here on would land in the interpreter's shutdown (numba's
    and matplotlib's clean-up take up to a second), where Python has put SIGINT back to its default, and kill
    the process by the signal after its result line. It is ignored instead; an ignored handler is one Python
    leaves in place at shutdown. ``--timeout``'s timer is cancelled for the same reason."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _cancel_timeout()


def flush_stdout(code: int) -> int:
    """Flush standard output before the process ends, where a failure can still be said: the exit code to end
    with. A failure is reported only when ``code`` is 0 (the outcome must not be hidden by a second line);
    otherwise what is left unwritten goes to /dev/null. Unflushed at exit, Python would print "Exception ignored"
    and end with 120."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        quiet_broken_pipe()
        return BROKEN_PIPE if code == 0 else code
    except OSError as error:
        if code != 0:
            quiet_broken_pipe()
            return code
        return report_stdout_failure(_stdout_failed(error))
    return code


def stdout_problem() -> str | None:
    """Why standard output is unusable, or None. Python sets ``sys.stdout`` to None when fd 1 was closed at
    start (``>&-``); the tables and ``-o -`` need it, so that is bad usage found before anything runs."""
    if sys.stdout is None:
        return "standard output is closed; give the command a standard output (drop '>&-', or redirect it to a file)"
    return None


_pause_hits: dict[str, int] = {}


def test_pause(point: str) -> None:
    """The test-only pause point (module docstring): a marker on stderr, then wait for a signal. The variable
    may name the n-th time a point is reached: ``writing#2`` is the second file written (``run --save``)."""
    wanted = os.environ.get(PAUSE_VARIABLE)
    if not wanted or wanted.partition("#")[0] != point:
        return
    _pause_hits[point] = _pause_hits.get(point, 0) + 1
    if str(_pause_hits[point]) != (wanted.partition("#")[2] or "1"):
        return
    signal.signal(signal.SIGUSR1, lambda signum, frame: None)
    sys.stderr.write(f"hwbench: test pause at {point} (pid {os.getpid()})\n")
    sys.stderr.flush()
    signal.pause()


def start_measuring() -> None:
    """A measurement starts: from here ``--timeout`` running out is a failed measurement (exit 1)."""
    test_pause("before-measuring")
    state.measuring = True
    test_pause("measuring")


def _timed_out(signum: int, frame: object) -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)
    when = "while measuring" if state.measuring else "before measuring started"
    fix = "give a longer --timeout" if state.measuring else "give a longer --timeout, or find what it waited for"
    state.stopped = Stopped(f"--timeout {state.timeout:g} s ran out {when} ({fix})", 1 if state.measuring else 2)
    raise state.stopped


def start_timeout(seconds: float) -> None:
    """``--timeout SECONDS``: the whole command's wall time, counted from now (SIGALRM)."""
    state.timeout = seconds
    signal.signal(signal.SIGALRM, _timed_out)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def timeout_ends_with(code: int) -> None:
    """The command has ended with ``code``: ``--timeout`` still bounds what is left (a final flush into a pipe no
    one reads, MPI's abort), and running out there ends the process at once with the command's own code, not
    with "--timeout ran out" over an outcome already said."""
    if state.timeout is not None:
        signal.signal(signal.SIGALRM, lambda signum, frame: os._exit(code))


def _cancel_timeout() -> None:
    """Just before exit: a timer left running would fire in the interpreter's shutdown, where Python has put
    SIGALRM back to its default, and kill the process after its result line (exit 142). An ignored signal is
    one Python leaves in place."""
    if state.timeout is not None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)


def mpi_requested(argv: list[str]) -> bool:
    return "run" in argv and "--mpi" in argv


def abort_mpi_job(code: int) -> None:
    """Under ``--mpi``, a rank that fails alone ends the whole job (MPI_Abort), or the other ranks would wait in
    a collective (or in MPI_Finalize) forever. Called on every non-zero exit not agreed by all ranks."""
    if state.no_rank_waits or code == 0:
        return
    try:
        from mpi4py import MPI  # initialises MPI if this rank had not yet: the others wait in MPI_Init for it
    except Exception:  # noqa: BLE001 -- no MPI here: nothing to abort
        return
    if MPI.COMM_WORLD.Get_size() == 1:  # no other rank waits for this one
        return
    sys.stderr.flush()
    MPI.COMM_WORLD.Abort(code)
