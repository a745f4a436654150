"""What one ``hwbench run`` will measure and where it will write, decided and checked before anything is
measured (bad input: one line, exit 2, no file).

    --device cpu | cuda | cuda:N | auto      one device:   -o FILE (default hwbench-<device>.yaml), -o - (stdout)
    --device cuda:all | all, or --mpi        several:      -o DIR  DIR/<host>-<device>[-rank<N>].yaml
                                                           (default: the current folder, unless only --save)
    --save [DIR]                             either:       DIR/<host>/<device>/<created_at>[-rank<N>].yaml
                                                           (default DIR: hwbench-results/, limits.DEFAULT_SAVE_DIR)

``-o FILE`` and ``-o -`` are refused for several profiles: they need a folder. Devices are named here
(``resolve_device``, ``expand_devices``); whether CuPy and a GPU are there is asked of the one device check,
``hwbench.gpu.failures``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..cluster.job import JobContext
from ..errors import UsageError
from ..limits import default_output
from ..profile.files import check_writable

MULTI_DEVICE = ("cuda:all", "all")  # selections that measure several devices, one profile each


def cuda_device_count(selection: str = "cuda") -> int:
    """Number of CUDA devices here (``hwbench.gpu.failures.device_count``: a UsageError without CuPy or a driver)."""
    from ..gpu.failures import device_count

    return device_count(selection)


def resolve_device(text: str) -> str:
    """Normalise ``text`` to 'cpu' or 'cuda:N'; 'auto' picks the first usable CUDA GPU, else the CPU."""
    name = text.strip().lower()
    if name == "auto":
        try:
            return "cuda:0" if cuda_device_count() > 0 else "cpu"
        except UsageError:
            return "cpu"
    if name == "cpu":
        return "cpu"
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if not match:
        raise UsageError(f"--device {text!r} is not known: use cpu, cuda, cuda:N, cuda:all, all or auto")
    from ..gpu.failures import checked_cupy

    index = int(match.group(1) or 0)
    checked_cupy(index, text)
    return f"cuda:{index}"


def is_multi_device(text: str) -> bool:
    return text.strip().lower() in MULTI_DEVICE


def expand_devices(text: str) -> list[str]:
    """The devices a ``--device`` selection measures: 'cuda:all' is every CUDA GPU (at least one), 'all' every
    GPU and then the CPU; any other selection is one device (``resolve_device``)."""
    name = text.strip().lower()
    if name == "cuda:all":
        count = cuda_device_count(name)
        if count == 0:
            raise UsageError("--device cuda:all: this machine has no CUDA GPU; use --device cpu")
        return [f"cuda:{index}" for index in range(count)]
    if name == "all":
        try:
            count = cuda_device_count()
        except UsageError:
            count = 0
        return [*(f"cuda:{index}" for index in range(count)), "cpu"]
    return [resolve_device(text)]


def check_flags(device: str, save_dir: Path | None, save: bool, one_at_a_time: bool, mpi: bool) -> JobContext | None:
    """The flags that only some runs take. None when several devices or ranks are measured; for one device,
    this process's job context (its Slurm variables, checked before anything is measured)."""
    if save_dir is not None and not save:
        raise UsageError(f"unexpected argument {str(save_dir)!r}: 'hwbench run' takes no argument but the folder "
                         f"of --save; for an output file use -o {save_dir}, for a save folder --save {save_dir}")
    if one_at_a_time and not is_multi_device(device):
        raise UsageError(f"--one-at-a-time applies to --device cuda:all or all, not --device {device}")
    return None if mpi or is_multi_device(device) else JobContext.from_environment()


@dataclass(frozen=True)
class Output:
    """Where the profiles of one run go. One device: ``file`` (None: standard output). Several: ``folder``
    (None: no -o copy, only --save's). ``save_root``: --save's folder, or None."""

    file: str | None = None
    folder: Path | None = None
    save_root: Path | None = None
    several: bool = False


def check_save(save_root: Path | None) -> None:
    if save_root is not None:
        check_writable(save_root / "probe.yaml", create_parents=True, option="--save")


def one_device_output(target: str, output: str | None, save_root: Path | None) -> Output:
    """``-o FILE`` (default hwbench-<device>.yaml) or ``-o -``, and ``--save``, each checked writable."""
    file = None if output == "-" else str(default_output(target)) if output is None else output
    if file is not None:
        check_writable(file)
    check_save(save_root)
    return Output(file=file, save_root=save_root)


def check_folder(output: str | None, asked: str) -> Path | None:
    """``-o`` for several profiles: an existing, writable folder (None: no -o). ``asked``: what asked for
    several profiles ("--device cuda:all", "--mpi"), for the message."""
    if output is None:
        return None
    if output == "-":
        raise UsageError(f"-o -: {asked} writes one profile per device; give -o DIR (a folder) or --save [DIR]")
    if not output:
        raise UsageError(f"-o '': the name is empty; {asked} writes one profile per device: give -o DIR (a folder) "
                         "or --save [DIR]")
    folder = Path(output)
    if not folder.is_dir():
        raise UsageError(f"-o {output}: {asked} writes one profile per device, named by host and device, so -o "
                         "must be an existing folder; create it, or use --save [DIR]")
    check_writable(folder / "hwbench-probe.yaml", option="-o")
    return folder


def several_output(output: str | None, save_root: Path | None, asked: str) -> Output:
    """``-o DIR`` and ``--save`` for several profiles; without either, the current folder."""
    folder = check_folder(output, asked)
    check_save(save_root)
    return Output(folder=folder if folder is not None or save_root is not None else Path("."),
                  save_root=save_root, several=True)
