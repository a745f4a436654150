"""``hwbench predict PROFILE --flops F --bytes B``: the roofline's prediction for one kernel (``Profile.compute_time``,
``Profile.memory_time``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import limits
from ..console import domain_errors
from ..errors import UsageError


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
    from ..profile import Profile

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
