"""``python -m hwbench`` and the ``hwbench`` console script.

Nothing is imported before the ``try``: Ctrl-C at any instant, even while typer, rich or numpy are still
being imported, ends with one line on stderr and exit 130, never a traceback.
"""


def main() -> None:
    try:
        from .cli import main as command_line

        command_line()
    except KeyboardInterrupt:
        import signal
        import sys

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("hwbench: error: interrupted; nothing was written", file=sys.stderr, flush=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
