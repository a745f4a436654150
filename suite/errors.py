"""The two kinds of failure hwbench reports, and their exit codes (BabelStream and pyperf do the same).

Raised anywhere below the CLI; only the CLI turns them into one line on stderr and an exit code.
"""


class HwbenchError(Exception):
    """Base class. ``exit_code`` is what the command-line tool exits with."""

    exit_code = 1


class UsageError(HwbenchError):
    """Bad input: a wrong option value, a missing file, a file that is not a profile. Exit code 2."""

    exit_code = 2


class MeasurementError(HwbenchError):
    """A measurement that cannot be trusted, such as a kernel whose output failed its check. Exit code 1."""

    exit_code = 1
