"""The ``hwbench`` command line: one thin module per command (parse, call, print), registered here on one typer app.

    run       cli/run.py       -> hwbench.run.path (plan, measure, write, print: one device, several, MPI ranks)
    show      cli/show.py      -> profile.Profile, tools.render
    predict   cli/predict.py   -> profile.Profile (compute_time, memory_time)
    validate  cli/validate.py  -> workloads (real programs) -> tools.validate (the report)
    compare   cli/compare.py   -> tools.compare
    roofline  cli/roofline.py  -> tools.plot
    history   cli/history.py   -> tools.history
    fleet     cli/fleet.py     -> tools.fleet

Streams have jobs: results go to the output file or stdout (``-o -``); progress, warnings and errors go to stderr
(``console.py``). Domain errors are caught only at the commands and become one line on stderr and an exit code:
0 success, 1 measurement failure (or a regression, for ``compare``, ``history`` and ``fleet``; the answer no, for
``validate``), 2 bad usage, 130/143/129
interrupted (Ctrl-C, SIGTERM, SIGHUP), 141 broken pipe (``process.py``). Each command module imports only
typer, the console and the flags' checks at its top; what it calls is imported when it runs, so ``hwbench show``
loads neither numba nor CuPy.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .. import limits, process
from ..console import internal_error, interruption_reported, stderr
from ..errors import UsageError
from ..safe_text import printable
from ..version import __version__
from . import compare, fleet, history, predict, roofline, run, show, validate

app = typer.Typer(
    name="hwbench",
    help="Measure the real FLOP/s and GB/s ceilings of this machine and write a calibrated roofline profile.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hwbench {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    timeout: Annotated[float | None, typer.Option("--timeout", metavar="SECONDS", help="End the command after "
                                                  "this long: exit 2 before measuring, 1 after.")] = None,
) -> None:
    """Measure the real FLOP/s and GB/s ceilings of this machine and write a calibrated roofline profile."""
    if timeout is not None:  # a bad value: a UsageError, one line and exit 2 (main)
        process.start_timeout(limits.check_timeout(timeout))


# One module per command, each holding the command under its own name; registered in --help's order.
for module in (run, show, predict, validate, compare, roofline, history, fleet):
    name = module.__name__.rpartition(".")[2]
    app.command(name=name)(getattr(module, name))


def main() -> None:
    """The command line behind ``hwbench.__main__.main``. A malformed option value (``--threads abc``) gets
    one line and exit 2, not click's usage block; Ctrl-C (SIGTERM, SIGHUP) one line and its exit code."""
    try:
        _main()
    except KeyboardInterrupt as error:
        sys.exit(process.report_interruption(error))
    except BrokenPipeError:
        process.quiet_broken_pipe()
        sys.exit(process.BROKEN_PIPE)


def _main() -> None:
    if not sys.argv[1:]:
        app()  # no arguments: the help
        return
    try:
        if limits.measuring_command(sys.argv[1:]):
            limits.check_kernel_environment()
        code = app(standalone_mode=False)
    except UsageError as error:
        stderr.print(f"hwbench: error: {printable(str(error))}", markup=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except typer.Abort as abort:  # click's form of a KeyboardInterrupt outside the command (while parsing)
        sys.exit(process.report_interruption(abort.__context__))
    except Exception as error:
        if (interruption := process.interruption_in(error)) is not None:  # a Ctrl-C wrapped by a lazy import
            sys.exit(process.report_interruption(interruption))
        if (problem := process.stream_write_problem(error)) is not None:  # > /dev/full, a full disk
            sys.exit(process.report_stdout_failure(problem))
        # click's UsageError and ClickException (vendored by recent typer, so matched by their interface).
        exit_code, message = getattr(error, "exit_code", None), getattr(error, "format_message", None)
        if not isinstance(exit_code, int) or message is None:
            internal_error(error)
        context = getattr(error, "ctx", None)
        command = f" {context.info_name}" if context is not None and context.parent is not None else ""
        if getattr(error, "option_name", None) == "--timeout" and command:  # a global option after the command
            stderr.print(f"hwbench: error: --timeout goes before the command: hwbench --timeout SECONDS{command} ...",
                         markup=False, soft_wrap=True)
            sys.exit(exit_code)
        text = f"hwbench: error: {printable(message().rstrip('.'))}; see 'hwbench{command} --help'"
        stderr.print(text, markup=False, soft_wrap=True)
        sys.exit(exit_code)
    # domain_errors printed an interruption (typer hands back its code), or typer turned one while parsing into a
    if (reported := interruption_reported()) is not None or code == 130:  # silent Exit(130): one line, its code
        sys.exit(reported if reported is not None else process.report_interruption(process.state.stopped))
    sys.exit(code if isinstance(code, int) else 0)
