"""The --device argument: 'auto', 'cpu', 'cuda' or 'cuda:N', checked against what this machine has."""

from __future__ import annotations

import re

from .errors import UsageError

CUDA_INSTALL_HINT = "pip install 'hwbench[cuda]'"


def cuda_device_count() -> int:
    """Number of CUDA devices CuPy sees; raises UsageError when CuPy or the driver is missing."""
    try:
        import cupy
    except ImportError:
        raise UsageError(f"--device cuda needs CuPy, which is not installed: {CUDA_INSTALL_HINT}") from None
    try:
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception as error:  # CUDARuntimeError without a driver, among others
        raise UsageError(f"--device cuda: no usable NVIDIA GPU or driver ({error}); use --device cpu") from None


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
        raise UsageError(f"--device {text!r} is not known: use cpu, cuda, cuda:N or auto")
    index = int(match.group(1) or 0)
    count = cuda_device_count()
    if index >= count:
        have = f"cuda:0 to cuda:{count - 1}" if count else "no CUDA GPU"
        raise UsageError(f"--device {text}: this machine has {have}; pick one of those or --device cpu")
    return f"cuda:{index}"
