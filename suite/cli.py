"""The ``hwbench`` command line: a thin typer layer over the runners and the profile tools.

Streams have jobs: results go to the output file or stdout (``-o -``); progress, warnings and errors go
to stderr. Domain errors are caught only here and become one line on stderr and an exit code:
0 success, 1 measurement failure (or a regression, for ``compare``), 2 bad usage.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from . import __version__
from .errors import HwbenchError, UsageError

app = typer.Typer(
    name="hwbench",
    help="Measure the real FLOP/s and GB/s ceilings of this machine and write a calibrated roofline profile.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Tables need about 100 columns; when the stream is not a terminal (a log, a pipe) rich would assume 80.
TABLE_WIDTH = 110
stderr = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else TABLE_WIDTH)


def stdout_console() -> Console:
    return Console(highlight=False, width=None if sys.stdout.isatty() else TABLE_WIDTH)
F = TypeVar("F", bound=Callable)


def fail(message: str, code: int) -> typer.Exit:
    stderr.print(f"hwbench: error: {message}", markup=False, soft_wrap=True)
    return typer.Exit(code)


def domain_errors(command: F) -> F:
    """Turn HwbenchError into one line on stderr and its exit code (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except HwbenchError as error:
            raise fail(str(error), error.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing was written", 130) from None
        except MemoryError:
            raise fail("out of memory; close other programs or measure fewer kernels with --kernels", 1) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hwbench {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Measure the real FLOP/s and GB/s ceilings of this machine and write a calibrated roofline profile."""


def warn(message: str) -> None:
    stderr.print(f"hwbench: warning: {message}", markup=False, soft_wrap=True)


class _Progress:
    """A rich progress bar on a terminal; plain lines when stderr is not one (logs, CI)."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None
        self.task = None

    def __enter__(self) -> _Progress:
        if stderr.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description:<34}"), BarColumn(), TextColumn("{task.completed}/"
                                "{task.total}"), TimeElapsedColumn(), console=stderr, transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=1)
        return self

    def __call__(self, step: str, index: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=f"{self.label}: {step}", completed=index, total=total)
        elif step != "done":
            stderr.print(f"hwbench: [{index + 1}/{total}] {self.label}: {step}", markup=False)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def default_output(device: str) -> Path:
    return Path(f"hwbench-{device.replace(':', '')}.yaml")


@app.command()
@domain_errors
def run(
    device: Annotated[str, typer.Option("--device", "-d", help="cpu, cuda, cuda:N, or auto (first CUDA GPU, "
                                        "else cpu).")] = "auto",
    output: Annotated[str | None, typer.Option("--output", "-o", help="Profile path; '-' writes YAML to "
                                               "stdout. Default: hwbench-<device>.yaml")] = None,
    kernels: Annotated[str | None, typer.Option("--kernels", "-k", help="Comma-separated kernels or groups "
                                                "(CPU: stream, nt, fma, all, copy, triad, dot, triad_nt, "
                                                "fma_fp32, ...). Default: all.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Fewer repetitions and shorter minimum time "
                                        "(about 20 s on 2 cores).")] = False,
    threads: Annotated[int | None, typer.Option("--threads", "-t", help="Measuring threads (CPU). Default: "
                                                "one per physical core.")] = None,
    cpus: Annotated[str | None, typer.Option("--cpus", help="CPUs to pin to, e.g. 0-3,8 (CPU).")] = None,
    pinning: Annotated[str, typer.Option("--pinning", help="compact or spread (CPU).")] = "compact",
) -> None:
    """Measure the ceilings of one device and write its profile."""
    from .device import resolve_device
    from .profile import check_writable, dump_yaml, write_atomic
    from .render import print_profile

    target = resolve_device(device)
    path = None if output == "-" else Path(output) if output else default_output(target)
    if path is not None:
        check_writable(path)
    data = measure(target, kernels, quick, threads, cpus, pinning)
    for message in data.get("warnings", []):
        warn(message)
    text = dump_yaml(data)
    if path is None:
        print_profile(data, stderr)
        sys.stdout.write(text)
    else:
        write_atomic(path, text)
        print_profile(data, stdout_console())
        stderr.print(f"hwbench: profile written to {path}", markup=False)


def measure(target: str, kernels: str | None, quick: bool, threads: int | None, cpus: str | None,
            pinning: str) -> dict:
    """Run the measurement for ``target`` and return the profile data."""
    if target == "cpu":
        from .ceilings import cpu_profile
        from .cpu_runner import CpuRunner, CpuRunOptions, resolve_kernels
        from .smbios import dram_theory

        options = CpuRunOptions(kernels=resolve_kernels(kernels), threads=threads, cpus=cpus, pinning=pinning,
                                quick=quick)
        runner = CpuRunner(options)
        with _Progress("cpu") as progress:
            runner.progress = progress
            measurement = runner.run()
        return cpu_profile(measurement, dram_theory())
    if threads is not None or cpus is not None:
        raise UsageError("--threads and --cpus apply to --device cpu only")
    try:
        from .gpu_runner import measure_gpu
    except ModuleNotFoundError:
        raise UsageError(f"--device {target}: this hwbench release has no GPU kernels yet; use --device cpu") from None
    with _Progress(target) as progress:
        return measure_gpu(target, kernels, quick, progress)


@app.command()
@domain_errors
def show(
    profile: Annotated[Path, typer.Argument(help="A profile written by 'hwbench run'.")],
) -> None:
    """Print a saved profile as the same tables 'hwbench run' prints."""
    from .profile import Profile
    from .render import print_profile

    loaded = Profile.load(profile)
    print_profile(loaded.data, stdout_console())
    for message in loaded.data.get("warnings", []):
        warn(message)


@app.command()
@domain_errors
def predict(
    profile: Annotated[Path, typer.Argument(help="A profile written by 'hwbench run'.")],
    flops: Annotated[float, typer.Option("--flops", help="FLOPs the kernel does.")],
    bytes_moved: Annotated[float, typer.Option("--bytes", help="Bytes the kernel moves to and from memory.")],
    precision: Annotated[str, typer.Option("--precision", "-p", help="fp64, fp32, ...")] = "fp64",
    theoretical: Annotated[bool, typer.Option("--theoretical", help="Use the paper roofs, not the measured.")]
    = False,
) -> None:
    """Roofline prediction: attainable FLOP/s, minimum time, and which roof bounds a kernel."""
    from .profile import Profile

    if flops < 0 or bytes_moved < 0:
        raise UsageError("--flops and --bytes must be non-negative")
    if bytes_moved == 0 and flops == 0:
        raise UsageError("--flops and --bytes are both 0: give the kernel's work")
    loaded = Profile.load(profile)
    compute_time = loaded.compute_time(flops, precision, theoretical)
    memory_time = loaded.memory_time(bytes_moved, theoretical=theoretical)
    seconds = max(compute_time, memory_time)
    roofs = "theoretical" if theoretical else "measured"
    bound = "compute" if compute_time >= memory_time else "memory bandwidth"
    intensity = f"{flops / bytes_moved:.4g} FLOP/byte" if bytes_moved else "infinite"
    typer.echo(f"intensity:  {intensity}")
    typer.echo(f"attainable: {flops / seconds / 1e9:.4g} GFLOP/s ({roofs} {precision} roofs of {loaded.device_id})"
               if flops else "attainable: - (no FLOPs)")
    typer.echo(f"time:       {seconds:.4g} s")
    typer.echo(f"bound by:   {bound} (compute {compute_time:.4g} s, memory {memory_time:.4g} s)")


def main() -> None:
    app()
