"""The ``hwbench`` command line: a thin typer layer over the run path (``runner.py``) and the profile tools.

Parse, call, print. Streams have jobs: results go to the output file or stdout (``-o -``); progress, warnings
and errors go to stderr (``console.py``). Domain errors are caught only at the commands and become one line
on stderr and an exit code: 0 success, 1 measurement failure (or a regression, for ``compare`` and
``fleet``), 2 bad usage, 130/143/129 interrupted (Ctrl-C, SIGTERM, SIGHUP), 141 broken pipe (``process.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import limits, machine_load, process
from .commands.validate import validate as validate_command
from .console import (
    OutputFormat,
    Progress,
    domain_errors,
    internal_error,
    interrupted,
    interruption_reported,
    stderr,
    stdout_console,
    warn,
)
from .errors import UsageError
from .limits import default_output
from .runner import RunOptions
from .safe_text import printable
from .version import __version__

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


SAVE_ROOT = Path("results")


@app.command()
@domain_errors
def run(
    device: Annotated[str, typer.Option("--device", "-d", help="cpu, cuda, cuda:N, cuda:all, all, or auto "
                                        "(first CUDA GPU, else cpu).")] = "auto",
    output: Annotated[str | None, typer.Option("--output", "-o", help="Profile path; '-' writes YAML to "
                                               "stdout. A file is replaced atomically; a symlink is followed "
                                               "(its target is replaced); a device or FIFO is written "
                                               "through. Default: hwbench-<device>.yaml")] = None,
    kernels: Annotated[str | None, typer.Option("--kernels", "-k", help="Comma-separated kernels or groups "
                                                "(CPU: stream, nt, fma, caches, intensity, latency, all, copy, triad, "
                                                "dot, triad_nt, fma_fp32, ...; GPU: stream, fma, tensor, transfer, "
                                                "caches, intensity, latency, all, triad_fp32, fma_bf16, "
                                                "matmul_bf16, l2_read, shared_read, h2d, ...). "
                                                "Default: all.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Fewer repetitions and shorter minimum time "
                                        "(about 15 s for a CPU on 2 cores, measured 2026-11-23); without --kernels, a "
                                        "CPU run leaves out the kernels of catalog.QUICK_LEAVES_OUT.")] = False,
    threads: Annotated[int | None, typer.Option("--threads", "-t", help="Measuring threads (CPU). Default: "
                                                "one per physical core.")] = None,
    cpus: Annotated[str | None, typer.Option("--cpus", help="CPUs to pin to, e.g. 0-3,8 (CPU).")] = None,
    pinning: Annotated[str, typer.Option("--pinning", help="compact or spread (CPU).")] = "compact",
    sustain: Annotated[float | None, typer.Option("--sustain", metavar="SECONDS", help="Also keep the FMA kernel "
                                                  "and a bandwidth kernel busy this long each, sampled every "
                                                  "--interval, and record burst vs sustained ceilings.")] = None,
    interval: Annotated[float, typer.Option("--interval", metavar="SECONDS", help="Sampling interval of "
                                            "--sustain.")] = 1.0,
    save: Annotated[bool, typer.Option("--save", help="Also save it under DIR (default results/).")] = False,
    save_dir: Annotated[Path | None, typer.Argument(metavar="DIR", help="With --save: the folder.")] = None,
    one_at_a_time: Annotated[bool, typer.Option("--one-at-a-time", help="cuda:all, all: GPUs in turn.")] = False,
    mpi: Annotated[bool, typer.Option("--mpi", help="Run as one MPI rank; rank 0 gathers (docs/cluster.md).")] = False,
) -> None:
    """Measure the ceilings of one device (or each of cuda:all, all) and write its profile."""
    from .cluster.run import check_flags, record_job, run_many, saved_file
    from .profile.files import check_writable, dump_yaml, write_atomic, write_new
    from .runner import resolve_device
    from .tools.render import print_profile

    options = RunOptions(kernels, quick, threads, cpus, pinning,
                         limits.check_run_flags(kernels, threads, cpus, sustain, interval))
    if (job := check_flags(device, save_dir, save, one_at_a_time, mpi)) is None:  # several devices, or MPI
        return run_many(device, output, save_dir or SAVE_ROOT if save else None, one_at_a_time, mpi, options)
    target = resolve_device(device)
    path = None if output == "-" else output if output else default_output(target)
    if path is not None:
        check_writable(path)
    if save:
        check_writable((save_dir or SAVE_ROOT) / "probe.yaml", create_parents=True, option="--save")
    data = measure(target, options)
    record_job(data, job)  # run.slurm and a rank's node_label under srun; nothing otherwise
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
    if save:
        saved = write_new(saved_file(save_dir or SAVE_ROOT, data, job), text)
        stderr.print(f"hwbench: profile saved as {saved}", markup=False)


def measure(target: str, options: RunOptions) -> dict:
    """Run the measurement for ``target`` with a progress display; return the profile data."""
    from .runner import measure as run_measurement

    with Progress(target) as progress:
        process.start_measuring()
        return machine_load.recorded(lambda: run_measurement(target, options, progress))


@app.command()
@domain_errors
def show(
    profile: Annotated[Path, typer.Argument(metavar="PROFILE", help="A profile written by 'hwbench run'.")],
) -> None:
    """Print a saved profile as the same tables 'hwbench run' prints."""
    from .profile import Profile
    from .tools.render import print_profile

    loaded = Profile.load(profile)
    print_profile(loaded.data, stdout_console())
    for message in loaded.data.get("warnings", []):
        warn(message)


@app.command()
@domain_errors
def predict(
    profile: Annotated[Path, typer.Argument(metavar="PROFILE", help="A profile written by 'hwbench run'.")],
    flops: Annotated[float, typer.Option("--flops", help="FLOPs the kernel does.")],
    bytes_moved: Annotated[float, typer.Option("--bytes", help="Bytes the kernel moves to and from memory.")],
    precision: Annotated[str, typer.Option("--precision", "-p", help="fp64, fp32, ...")] = "fp64",
    theoretical: Annotated[bool, typer.Option("--theoretical", help="Use the paper roofs, not the measured.")]
    = False,
    level: Annotated[str, typer.Option("--level", "-l", help="Memory level the kernel's working set lives in: "
                                       "dram (default), l1, l2, l3 (CPU), l2, shared (GPU), as the profile has "
                                       "them.")] = "dram",
) -> None:
    """Roofline prediction: attainable FLOP/s, minimum time, and which roof bounds a kernel."""
    from .profile import Profile

    for option, value in (("--flops", flops), ("--bytes", bytes_moved)):
        limits.check_work(option, value)
    if bytes_moved == 0 and flops == 0:
        raise UsageError("--flops and --bytes are both 0: give the kernel's work")
    loaded = Profile.load(profile)
    compute_time = loaded.compute_time(flops, precision, theoretical)
    memory_time = loaded.memory_time(bytes_moved, level, theoretical)
    seconds = max(compute_time, memory_time)
    roofs = "theoretical" if theoretical else "measured"
    bound = "compute" if compute_time >= memory_time else f"{level} memory bandwidth"
    intensity = f"{flops / bytes_moved:.4g} FLOP/byte" if bytes_moved else "infinite"
    typer.echo(f"intensity:  {intensity}")
    typer.echo(f"attainable: {flops / seconds / 1e9:.4g} GFLOP/s ({roofs} {precision} roofs of {loaded.device_id})"
               if flops else "attainable: - (no FLOPs)")
    typer.echo(f"time:       {seconds:.4g} s")
    typer.echo(f"bound by:   {bound} (compute {compute_time:.4g} s, memory {memory_time:.4g} s)")


app.command(name="validate")(validate_command)  # real programs against both rooflines (commands/validate.py)


@app.command()
@domain_errors
def compare(
    baseline: Annotated[Path, typer.Argument(metavar="BASELINE", help="The reference profile.")],
    current: Annotated[Path, typer.Argument(metavar="CURRENT", help="The profile to check against it.")],
    threshold: Annotated[str, typer.Option("--threshold", help="Smallest drop that counts as a regression, "
                                           "e.g. 5%.")] = "5%",
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, json or markdown.")]
    = OutputFormat.table,
    force: Annotated[bool, typer.Option("--force", help="Compare profiles of different devices.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 1) on inconclusive rows too.")] = False,
    history: Annotated[list[Path] | None, typer.Option(
        "--history", metavar="PATH", help="Stored profiles of the same machine (files or folders, repeatable): "
        "each figure's noise is widened by how far their quiet runs moved (docs/gate.md).")] = None,
) -> None:
    """Every ceiling side by side with its change; exit 1 when one regressed beyond the threshold and the noise."""
    from .profile import Profile
    from .tools.compare import compare_profiles, comparison_document, parse_threshold
    from .tools.export import write
    from .tools.history import load_history

    stored = None
    if history:
        stored, skipped = load_history(history)
        for note in skipped:
            warn(note)
    comparison = compare_profiles(Profile.load(baseline), Profile.load(current), parse_threshold(threshold), force,
                                  stored)
    write(comparison_document(comparison), output_format.value, stdout_console())
    if comparison.failed(strict):
        raise typer.Exit(1)


@app.command()
@domain_errors
def roofline(
    profiles: Annotated[list[Path], typer.Argument(metavar="PROFILE", help="One or more profiles, overlaid.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Image file: .png, .svg or .pdf; '-' writes "
                                        "PNG to stdout. A file is replaced atomically; a symlink is followed (its "
                                        "target is replaced); a device or FIFO is written through.")]
    = "roofline.png",
    point: Annotated[list[str] | None, typer.Option(
        "--point", metavar="NAME:FLOPS:BYTES[:SECONDS]",
        help="Place an application kernel: NAME:FLOPS:BYTES[:SECONDS]; repeatable.")] = None,
    precisions: Annotated[str | None, typer.Option(
        "--precisions", metavar="fp64,fp32,...|all",
        help="Flat compute roofs to draw, comma-separated, or 'all'. Default: fp64, fp32 (and tensor_bf16 on a "
             "GPU).")] = None,
    precision: Annotated[list[str] | None, typer.Option(
        "--precision", "-p", metavar="PRECISION",
        help="One precision to draw; repeatable (the same as --precisions).")] = None,
    levels: Annotated[str | None, typer.Option(
        "--levels", metavar="l1,dram,...|all",
        help="Memory levels to draw as diagonals, comma-separated, or 'all'. Default: l1, l2, l3, dram on a "
             "CPU; l1, shared, l2, dram (HBM) on a GPU; those the profile has.")] = None,
    validation: Annotated[Path | None, typer.Option(
        "--validation", metavar="REPORT.yaml",
        help="Mark the workloads of a report written by 'hwbench validate -o FILE'.")] = None,
    title: Annotated[str | None, typer.Option("--title", help="Figure title.")] = None,
) -> None:
    """Draw the hierarchical roofline: memory levels as diagonals, precisions as flat roofs, each named on its
    line; measured solid, theoretical dashed; ridge points; sweep, validation and --point marks."""
    from .profile import Profile
    from .profile.files import STDOUT, check_writable, is_stream, write_atomic
    from .tools.marks import parse_point
    from .tools.plot import import_pyplot, output_format, render_roofline
    from .tools.roofs import parse_names
    from .tools.validate_report import load_validation_report

    check_writable(output)
    fmt = output_format(output, stream=is_stream(output))
    points = [parse_point(text) for text in point or []]
    for text, mark in zip(point or [], points):
        limits.check_point(text, mark.flops, mark.bytes_moved, mark.seconds)
    chosen_precisions = parse_names(precisions, "--precisions")
    if precision:
        chosen_precisions = (chosen_precisions or []) + [name.strip().lower() for name in precision]
    chosen_levels = parse_names(levels, "--levels")
    report = load_validation_report(validation) if validation is not None else None
    loaded = [Profile.load(path) for path in profiles]
    import_pyplot()
    stems = [path.stem for path in profiles]
    labels = stems if len(set(stems)) == len(stems) else [str(path) for path in profiles]
    image = render_roofline(loaded, labels, points, chosen_precisions, title, fmt, chosen_levels, report)
    write_atomic(output, image)
    stderr.print(f"hwbench: roofline written to {'standard output' if output == STDOUT else output}", markup=False)


@app.command()
@domain_errors
def history(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder of saved profiles (what 'run --save' writes: "
                                              "results/).")] = Path("results"),
    threshold: Annotated[str, typer.Option("--threshold", help="Smallest drop that counts as a regression, "
                                           "e.g. 5%.")] = "5%",
    baseline: Annotated[Path | None, typer.Option("--baseline", help="Profile to compare every run with. "
                                                  "Default: the oldest run of each device.")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, json or markdown.")]
    = OutputFormat.table,
) -> None:
    """Each ceiling's trend over saved runs; exit 1 when the latest run regressed against the baseline."""
    from .profile import Profile
    from .tools.compare import parse_threshold
    from .tools.export import write
    from .tools.history import build_history, history_document, load_profiles

    limit = parse_threshold(threshold)
    chosen = Profile.load(baseline) if baseline is not None else None
    profiles, skipped = load_profiles(directory)
    for note in skipped:
        warn(note)
    history = build_history(profiles, limit, chosen)
    write(history_document(history, limit), output_format.value, stdout_console())
    if any(series.latest_regressed for series in history):
        raise typer.Exit(1)


@app.command()
@domain_errors
def fleet(
    directories: Annotated[list[Path], typer.Argument(metavar="DIR", help="Folders of profiles, read "
                                                      "recursively (*.yaml); the newest profile of each host + "
                                                      "device counts.")],
    threshold: Annotated[str, typer.Option("--threshold", help="Smallest drop below the model's median that "
                                           "counts, e.g. 5%; it must also exceed 3 x MAD x 1.4826.")] = "5%",
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, json or markdown.")]
    = OutputFormat.table,
    prometheus: Annotated[Path | None, typer.Option("--prometheus", metavar="PATH", help="Also write ceilings "
                                                    "and flags for node-exporter's textfile collector "
                                                    "(written atomically).")] = None,
) -> None:
    """Compare devices of the same model across hosts; exit 1 when one is slower than its siblings."""
    from .profile.files import check_writable, write_atomic
    from .tools.compare import parse_threshold
    from .tools.export import to_prometheus, write
    from .tools.fleet import fleet_document, fleet_report, load_fleet

    limit = parse_threshold(threshold)
    if prometheus is not None:
        check_writable(prometheus)
    members, skipped = load_fleet(directories)
    for note in skipped:
        warn(note)
    report = fleet_report(members, limit)
    document = fleet_document(report)
    if prometheus is not None:  # a write that fails is the environment's fault (2), never "a slow device" (1)
        write_atomic(prometheus, to_prometheus(document), failure=UsageError)
    write(document, output_format.value, stdout_console())  # host names are user text: printed as text, never markup
    if prometheus is not None:
        stderr.print(f"hwbench: Prometheus metrics written to {prometheus}", markup=False)
    if report.flagged:
        raise typer.Exit(1)


def main() -> None:
    """The command line behind ``hwbench.__main__.main``. A malformed option value (``--threads abc``) gets
    one line and exit 2, not click's usage block; Ctrl-C (SIGTERM, SIGHUP) one line and its exit code."""
    try:
        _main()
    except KeyboardInterrupt as error:
        interrupted(error)
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
        interrupted(abort.__context__)
    except Exception as error:
        # click's UsageError and ClickException (vendored by recent typer, so matched by their interface).
        exit_code, message = getattr(error, "exit_code", None), getattr(error, "format_message", None)
        if not isinstance(exit_code, int) or message is None:
            internal_error(error)
        context = getattr(error, "ctx", None)
        command = f" {context.info_name}" if context is not None and context.parent is not None else ""
        text = f"hwbench: error: {printable(message().rstrip('.'))}; see 'hwbench{command} --help'"
        stderr.print(text, markup=False, soft_wrap=True)
        sys.exit(exit_code)
    # domain_errors printed an interruption (typer hands back its code), or typer turned one while parsing into a
    if (reported := interruption_reported()) is not None or code == 130:  # silent Exit(130): one line, its code
        interrupted(process.state.stopped, reported=reported is not None, code=reported)
    sys.exit(code if isinstance(code, int) else 0)
