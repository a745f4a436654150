"""Every flag and environment value that sizes memory, threads or time, checked before anything is allocated.

Each check raises a ``UsageError`` (exit 2) naming the value, the bound and the fix. The bounds (also listed
in docs/reliability.md) are sane maxima, not the machine's: whether 64 threads fit this machine is the CPU
session's question (it answers with its own exit-2 line); these stop values that would allocate without
bound (``--cpus 0-99999999`` is a list of 10^8 CPUs) or overflow the arithmetic (``--sustain 1e308``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import UsageError

MAX_CPUS = 8192  # Linux's largest CONFIG_NR_CPUS: no CPU number reaches it, no thread count exceeds it
MAX_SUSTAIN_S = 86_400.0  # a day: longer soak tests are a loop of runs
MAX_INTERVAL_S = 60.0  # one sample a minute at the slowest (each interval's ticks are buffered)
MAX_TIMEOUT_S = 7 * 86_400.0
MAX_WORK = 1e30  # predict's --flops/--bytes and --point's: 10^30 FLOPs is a million exaFLOP-seconds
MAX_POINT_SECONDS = 1e9
MIN_POINT_SECONDS = 1e-12

_CPU_PART = re.compile(r"\s*(\d{1,12})(?:\s*-\s*(\d{1,12}))?\s*")


def default_output(device: str) -> Path:
    return Path(f"hwbench-{device.replace(':', '')}.yaml")


# ``run --save``'s folder and ``history``'s when none is given: a folder of its own in the current directory,
# never the repository's results/ (which holds only the committed profiles, named by machine).
DEFAULT_SAVE_DIR = Path("hwbench-results")


def check_kernels(kernels: str | None) -> None:
    if kernels is not None and not any(part.strip() for part in kernels.split(",")):
        raise UsageError(f"--kernels {kernels!r} names no kernel; give kernels or groups, e.g. -k copy,triad or "
                         "-k all")


def check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise UsageError(f"--threads {threads} must be at least 1; omit it for one thread per core")
    if threads is not None and threads > MAX_CPUS:
        raise UsageError(f"--threads {threads} must be at most {MAX_CPUS}; omit it for one thread per core")


def check_cpus(cpus: str | None) -> None:
    """The syntax and the bound of a CPU list, before it is expanded into a list of numbers."""
    if cpus is None:
        return
    for part in cpus.split(","):
        match = _CPU_PART.fullmatch(part)
        if match is None:
            raise UsageError(f"--cpus {cpus!r} is not a CPU list: write it like 0-3,8")
        for number in (match.group(1), match.group(2)):
            if number is not None and int(number) >= MAX_CPUS:
                raise UsageError(f"--cpus {cpus!r}: CPU {int(number)} cannot exist (Linux numbers CPUs below "
                                 f"{MAX_CPUS}); list this machine's CPUs, e.g. 0-{(os.cpu_count() or 1) - 1}")


def check_sustain(seconds: float | None, interval: float) -> tuple[float, float] | None:
    from .profile.sustained import MIN_INTERVAL_S

    if seconds is None:
        return None
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_SUSTAIN_S):
        raise UsageError(f"--sustain {seconds:g} must be a positive number of seconds up to {MAX_SUSTAIN_S:g}, "
                         "e.g. --sustain 60")
    if not (math.isfinite(interval) and MIN_INTERVAL_S <= interval <= min(seconds, MAX_INTERVAL_S)):
        raise UsageError(f"--interval {interval:g} must be between {MIN_INTERVAL_S} s and --sustain ({seconds:g} s), "
                         f"and at most {MAX_INTERVAL_S:g} s")
    return seconds, interval


def check_run_flags(kernels: str | None, threads: int | None, cpus: str | None, sustain: float | None,
                    interval: float) -> tuple[float, float] | None:
    """Every flag of ``hwbench run`` that sizes memory, threads or time; the checked (--sustain, --interval)."""
    check_kernels(kernels)
    check_threads(threads)
    check_cpus(cpus)
    return check_sustain(sustain, interval)


def check_timeout(seconds: float) -> float:
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT_S):
        raise UsageError(f"--timeout {seconds:g} must be a positive number of seconds up to {MAX_TIMEOUT_S:g}")
    return seconds


def check_work(option: str, value: float) -> None:
    """predict's --flops/--bytes: 0, or a count between 1 and ``MAX_WORK`` (a finite quotient either way)."""
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{option} {value:g} must be a finite non-negative number, e.g. {option} 2e9")
    if value != 0 and not 1 <= value <= MAX_WORK:
        raise UsageError(f"{option} {value:g} must be 0 or between 1 and {MAX_WORK:g}, e.g. {option} 2e9")


def check_point(text: str, flops: float, bytes_moved: float, seconds: float | None) -> None:
    """--point's numbers within bounds whose quotients and products stay finite."""
    if not (1 <= flops <= MAX_WORK and 1 <= bytes_moved <= MAX_WORK):
        raise UsageError(f"--point {text!r}: FLOPS and BYTES must be between 1 and {MAX_WORK:g}; give "
                         "NAME:FLOPS:BYTES[:SECONDS], e.g. --point gemv:2e9:8e9")
    if seconds is not None and not MIN_POINT_SECONDS <= seconds <= MAX_POINT_SECONDS:
        raise UsageError(f"--point {text!r}: SECONDS must be between {MIN_POINT_SECONDS:g} and "
                         f"{MAX_POINT_SECONDS:g}; give NAME:FLOPS:BYTES[:SECONDS]")


def _enabled(value: str) -> bool:
    return value.strip() not in ("", "0")


def check_kernel_environment(environ: Mapping[str, str] | None = None) -> None:
    """Settings that make the measured kernels something else: NUMBA_DISABLE_JIT runs them as Python (copy at
    0.12 GB/s, 300x too low, reported as the machine's ceiling); NUMBA_NUM_THREADS=0 makes numba fail at import."""
    environ = os.environ if environ is None else environ
    if _enabled(environ.get("NUMBA_DISABLE_JIT", "")):
        raise UsageError(f"NUMBA_DISABLE_JIT={environ['NUMBA_DISABLE_JIT']!r} makes the kernels run as Python, not "
                         "compiled: every figure would be wrong; unset it")
    threads = environ.get("NUMBA_NUM_THREADS")
    if threads is not None and threads.strip() != "":
        text = threads.strip()
        if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_CPUS):
            raise UsageError(f"NUMBA_NUM_THREADS={threads!r} must be a whole number between 1 and {MAX_CPUS}; "
                             "unset it (hwbench sets the threads itself)")


def measuring_command(argv: Sequence[str]) -> bool:
    """Whether the command line runs the kernels (``run``, ``validate``): the first word that is no option."""
    words = list(argv)
    while words and words[0].startswith("-"):
        words = words[2:] if words[0] == "--timeout" else words[1:]
    return bool(words) and words[0] in ("run", "validate")
