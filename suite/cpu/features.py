"""Which low-precision instructions this CPU runs, read once from the CPUID flags, and the AMX state grant.

The flags are the kernel's view of CPUID (/proc/cpuinfo ``flags``, read by ``machine.inspect_cpu``): Linux lists
``amx_tile`` only where the OS saves the tile state, and ``avx512_fp16``, ``avx512_bf16``, ``avx512_vnni`` and
``avx_vnni`` from CPUID leaf 7 (Linux arch/x86/include/asm/cpufeatures.h). A kernel needs every flag its catalog
entry lists (``InstructionLaunch.needs``); a kernel whose instruction the CPU lacks is never compiled (LLVM would
emulate fp16 in scalar code, or abort on AMX) and is skipped with its reason.

AMX tile data is a dynamically enabled XSAVE feature: before a process touches a tile register it must ask the
kernel with ``arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`` (Linux 5.16+,
Documentation/arch/x86/xstate.rst), or the first tile instruction raises SIGILL.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from collections.abc import Iterable

from ..catalog import Kernel
from ..kernel_spec import InstructionLaunch

SYS_ARCH_PRCTL = 158  # x86-64 system call number (arch/x86/entry/syscalls/syscall_64.tbl)
ARCH_REQ_XCOMP_PERM = 0x1023  # arch/x86/include/uapi/asm/prctl.h
XFEATURE_XTILEDATA = 18  # the AMX tile data state component
AMX_FLAGS = ("amx_tile",)


def needs(kernel: Kernel) -> tuple[str, ...]:
    """The CPUID flags ``kernel``'s instruction needs (none for a kernel the catalog names no instruction of)."""
    return kernel.launch.needs if isinstance(kernel.launch, InstructionLaunch) else ()


def missing_flags(kernel: Kernel, flags: Iterable[str]) -> tuple[str, ...]:
    """The CPUID flags ``kernel`` needs that ``flags`` lacks (empty: it can run)."""
    present = set(flags)
    return tuple(flag for flag in needs(kernel) if flag not in present)


def skip_reasons(kernels: Iterable[Kernel], flags: Iterable[str], arch: str) -> dict[str, str]:
    """Kernel name -> why it is not run here, for the kernels this CPU cannot run."""
    present = frozenset(flags)
    reasons = {}
    for kernel in kernels:
        instruction = kernel.launch_as(InstructionLaunch).instruction
        if arch not in ("x86_64", "amd64"):
            reasons[kernel.name] = f"x86-64 instruction {instruction}; this CPU is {arch}"
        elif lacking := missing_flags(kernel, present):
            reasons[kernel.name] = (f"CPUID does not report {', '.join(lacking)} (needed by "
                                    f"{instruction})")
    return reasons


def needs_amx(kernel: Kernel) -> bool:
    return any(flag in AMX_FLAGS for flag in needs(kernel))


def request_amx_state() -> str | None:
    """Ask Linux for the AMX tile state (idempotent); None when granted, else why not."""
    if platform.system() != "Linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        return "AMX needs Linux on x86-64"
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.syscall(SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0:
        return (f"arch_prctl(ARCH_REQ_XCOMP_PERM) failed: {os.strerror(ctypes.get_errno())} (Linux 5.16 or later "
                "is needed)")
    return None

