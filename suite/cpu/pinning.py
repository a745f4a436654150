"""Which CPUs the measuring threads run on.

Default: one thread per physical core the process may use (the cpuset from ``os.sched_getaffinity``),
on the first hardware thread of each core: SMT siblings share the FMA units and the load/store ports,
so a second thread per core adds nothing to a ceiling and adds noise.

``--threads N --pinning compact`` fills cores in order (package by package); ``spread`` takes cores
round-robin across packages, so N threads get the memory controllers of every socket. SMT siblings are
used only when N exceeds the physical cores. ``--cpus 0-3,8`` names the CPUs outright.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

from ..errors import UsageError

SYSFS_CPU = Path("/sys/devices/system/cpu")
PINNINGS = ("compact", "spread")


@dataclass(frozen=True)
class LogicalCpu:
    cpu: int
    package: int
    core: int


def read_topology(cpus: set[int], sysfs: Path = SYSFS_CPU) -> list[LogicalCpu]:
    """Package and core ids of each CPU (missing sysfs entries: each CPU its own core on package 0)."""
    topology = []
    for cpu in sorted(cpus):
        base = sysfs / f"cpu{cpu}" / "topology"
        try:
            package = int((base / "physical_package_id").read_text())
            core = int((base / "core_id").read_text())
        except (OSError, ValueError):
            package, core = 0, cpu
        topology.append(LogicalCpu(cpu, package, core))
    return topology


def physical_core_count(topology: list[LogicalCpu]) -> int:
    """Distinct (package, core) pairs: SMT siblings count once."""
    return len({(t.package, t.core) for t in topology})


def parse_cpu_list(text: str) -> list[int]:
    """'0-3,8' -> [0, 1, 2, 3, 8] (the kernel's cpulist format, as in taskset -c)."""
    cpus: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                cpus.extend(range(lo, hi + 1))
            else:
                cpus.append(int(part))
    except ValueError:
        raise UsageError(f"--cpus {text!r} is not a CPU list: write it like 0-3,8") from None
    if len(set(cpus)) != len(cpus) or min(cpus) < 0:
        raise UsageError(f"--cpus {text!r} repeats a CPU or has a negative one: list each CPU once")
    return cpus


def order_cpus(topology: list[LogicalCpu], pinning: str) -> list[int]:
    """Every CPU of ``topology`` in the order threads are placed: first threads of all cores, then
    their SMT siblings; ``compact`` keeps packages together, ``spread`` alternates between them."""
    by_core: dict[tuple[int, int], list[int]] = {}
    for entry in topology:
        by_core.setdefault((entry.package, entry.core), []).append(entry.cpu)
    cores = sorted(by_core)
    if pinning == "spread":
        packages: dict[int, list[tuple[int, int]]] = {}
        for key in cores:
            packages.setdefault(key[0], []).append(key)
        cores = [key for group in zip_longest(*packages.values()) for key in group if key is not None]
    order: list[int] = []
    depth = max(len(siblings) for siblings in by_core.values())
    for level in range(depth):
        order.extend(by_core[key][level] for key in cores if level < len(by_core[key]))
    return order


def select_cpus(threads: int | None = None, cpus: str | None = None, pinning: str = "compact",
                allowed: set[int] | None = None, sysfs: Path = SYSFS_CPU) -> list[int]:
    """The CPUs to pin one measuring thread each to, validated against the process's cpuset."""
    allowed = set(os.sched_getaffinity(0)) if allowed is None else allowed
    if pinning not in PINNINGS:
        raise UsageError(f"--pinning {pinning!r} is not known: use compact or spread")
    if threads is not None and threads < 1:
        raise UsageError(f"--threads {threads} must be at least 1")
    if cpus is not None:
        chosen = parse_cpu_list(cpus)
        outside = sorted(set(chosen) - allowed)
        if outside:
            raise UsageError(f"--cpus names CPU {outside[0]}, which this process may not use: "
                             f"pick from {format_cpu_list(sorted(allowed))}")
        if threads is not None and threads != len(chosen):
            raise UsageError(f"--threads {threads} disagrees with --cpus ({len(chosen)} CPUs): give one")
        return chosen
    topology = read_topology(allowed, sysfs)
    order = order_cpus(topology, pinning)
    if threads is None:
        return order[: physical_core_count(topology)]
    if threads > len(order):
        raise UsageError(f"--threads {threads} exceeds the {len(order)} CPUs this process may use: "
                         f"use at most {len(order)}")
    return order[:threads]


def format_cpu_list(cpus: list[int]) -> str:
    """[0, 1, 2, 3, 8] -> '0-3,8'."""
    parts: list[tuple[int, int]] = []
    for cpu in sorted(cpus):
        if parts and cpu == parts[-1][1] + 1:
            parts[-1] = (parts[-1][0], cpu)
        else:
            parts.append((cpu, cpu))
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)
