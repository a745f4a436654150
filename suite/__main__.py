"""``python -m hwbench`` and the ``hwbench`` console script: the process's exit-code contract
(``process.py``, docs/reliability.md) around the command line.

Nothing but the standard library is imported before the ``try``: Ctrl-C (or SIGTERM, SIGHUP) at any instant,
even while typer, rich or numpy are still being imported, ends with one line on stderr and its exit code,
never a traceback. Under ``run --mpi`` a rank that fails alone aborts the whole job (``process.abort_mpi_job``).
"""


def main() -> None:
    import sys

    from . import process

    code: int | str | None = 0
    try:  # everything after the standard library's imports: a Ctrl-C at any instant is caught below
        process.prepare_standard_streams()
        process.install_handlers()
        process.written.clear()
        problem = process.stdout_problem()
        if problem is not None:
            if sys.stderr is not None:
                print(f"hwbench: error: {problem}", file=sys.stderr, flush=True)
            sys.exit(2)
        from .cli import main as command_line

        command_line()
    except KeyboardInterrupt as error:  # while the command line was being imported (cli.main catches the rest)
        code = process.report_interruption(error)
    except BrokenPipeError:
        process.quiet_broken_pipe()
        code = process.BROKEN_PIPE
    except Exception as error:  # a Ctrl-C that an import wrapped (process.interruption_in); anything else is a bug
        interruption = process.interruption_in(error)
        if interruption is None:
            raise
        code = process.report_interruption(interruption)
    except SystemExit as end:
        code = end.code
    number = code if isinstance(code, int) else 0 if code is None else 1
    process.timeout_ends_with(number)
    flushed = process.flush_stdout(number)
    if flushed != number:
        code = number = flushed
        process.timeout_ends_with(number)
    if process.mpi_requested(sys.argv[1:]):
        process.abort_mpi_job(number)
    process.ending()
    sys.exit(code)


if __name__ == "__main__":
    main()
