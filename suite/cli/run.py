"""``hwbench run``: parse the flags, check the ones that size the run (``limits``), and call the run path
(``hwbench.run.path``), which plans, measures, writes and prints for one device, several, or an MPI rank."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import limits
from ..console import domain_errors
from ..run.device import RunOptions


@domain_errors
def run(
    device: Annotated[str, typer.Option("--device", "-d", help="cpu, cuda, cuda:N, cuda:all, all, or auto "
                                        "(first CUDA GPU, else cpu).")] = "auto",
    output: Annotated[str | None, typer.Option("--output", "-o", help="Profile path; '-' writes YAML to "
                                               "stdout. A file is replaced atomically; a symlink is followed "
                                               "(its target is replaced); a device or FIFO is written "
                                               "through. Default: hwbench-<device>.yaml")] = None,
    kernels: Annotated[str | None, typer.Option("--kernels", "-k", help="Comma-separated kernels or groups "
                                                "(CPU: stream, nt, fma, caches, intensity, lowp, mix, latency, all, "
                                                "copy, triad, dot, triad_nt, fma_fp32, dp_bf16, ...; GPU: stream, "
                                                "fma, tensor, mma, lowp, transfer, caches, intensity, latency, all, "
                                                "triad_fp32, fma_bf16, matmul_bf16, l2_read, shared_read, h2d, ...). "
                                                "Default: all.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Fewer repetitions and shorter minimum time "
                                        "(about 20 s for a CPU on 2 cores, measured 2026-12-02); without --kernels, a "
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
    save: Annotated[bool, typer.Option("--save", help="Also save it under DIR (default hwbench-results/).")] = False,
    save_dir: Annotated[Path | None, typer.Argument(metavar="DIR", help="With --save: the folder.")] = None,
    one_at_a_time: Annotated[bool, typer.Option("--one-at-a-time", help="cuda:all, all: GPUs in turn.")] = False,
    mpi: Annotated[bool, typer.Option("--mpi", help="Run as one MPI rank; rank 0 gathers (docs/cluster.md).")] = False,
) -> None:
    """Measure the ceilings of one device (or each of cuda:all, all) and write its profile."""
    from ..run.path import run as run_path

    options = RunOptions(kernels, quick, threads, cpus, pinning,
                         limits.check_run_flags(kernels, threads, cpus, sustain, interval))
    run_path(device, output, save, save_dir, one_at_a_time, mpi, options)
