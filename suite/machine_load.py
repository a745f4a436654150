"""Whether the machine was busy or its virtual CPUs stolen while hwbench measured: said, not hidden.

Two readings of the kernel's counters, before and after the measurement (proc(5)):

- ``/proc/loadavg``: the 1-minute load average, runnable and waiting tasks averaged over the last minute. Above
  a quarter of the CPUs hwbench may use (``os.sched_getaffinity``) before it starts, other work shares the cores
  it measures on: bandwidth and FLOP/s come out low, and nothing else says why.
- ``/proc/stat``'s ``cpu`` line: ``steal``, the 8th field, time the hypervisor ran another guest while this
  one wanted to run. Its share of all the CPU time that passed between the readings is the share of the run
  the VM did not get; from 2% on, figures are low by about as much.

``load_section`` is written to the profile as ``run.load``; ``load_warnings`` gives the one warning.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

BUSY_LOAD_PER_CPU = 0.25  # load average per usable CPU above which the machine counts as busy
STOLEN_SHARE = 0.02  # steal share of the run above which it counts as stolen


@dataclass(frozen=True)
class Snapshot:
    when: float  # time.monotonic()
    load_1min: float | None
    cpu_ticks: tuple[int, ...] | None  # /proc/stat's aggregate cpu line: user nice system idle iowait irq softirq steal


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return None


def snapshot() -> Snapshot:
    load_text, stat_text = _read("/proc/loadavg"), _read("/proc/stat")
    load = None
    try:
        load = float(load_text.split()[0]) if load_text else None
    except (ValueError, IndexError):
        pass
    ticks = None
    if stat_text and stat_text.startswith("cpu "):
        fields = stat_text.split("\n", 1)[0].split()[1:]
        if len(fields) >= 8 and all(f.isdigit() for f in fields):
            ticks = tuple(int(f) for f in fields[:8])
    return Snapshot(time.monotonic(), load, ticks)


def load_section(before: Snapshot, after: Snapshot) -> dict:
    """``run.load``: the load averages and the steal share of the measurement's CPU time (None: unreadable)."""
    steal = None
    if before.cpu_ticks and after.cpu_ticks:
        delta = [b - a for a, b in zip(before.cpu_ticks, after.cpu_ticks)]
        total = sum(delta)
        steal = round(delta[7] / total, 4) if total > 0 else None
    return {"load_1min_before": before.load_1min, "load_1min_after": after.load_1min, "steal_share": steal,
            "cpus": len(os.sched_getaffinity(0)),
            "method": "/proc/loadavg (1-minute load) before and after; /proc/stat cpu steal / all ticks between"}


def load_warnings(section: dict) -> list[str]:
    """One warning when the run was measured on a busy or stolen machine, naming the figures."""
    problems = []
    load, cpus = section.get("load_1min_before"), section.get("cpus") or 1
    if load is not None and load > BUSY_LOAD_PER_CPU * cpus:
        problems.append(f"the 1-minute load average was {load:.2f} on {cpus} CPU(s) before measuring (other work "
                        "shared the cores)")
    steal = section.get("steal_share")
    if steal is not None and steal > STOLEN_SHARE:
        problems.append(f"the hypervisor stole {steal:.1%} of the CPU time while measuring")
    if not problems:
        return []
    return ["busy machine: " + "; ".join(problems) + ": the figures may be low; measure again on an idle machine"]


def record(data: dict, before: Snapshot, after: Snapshot) -> None:
    """``run.load`` in the profile ``data``, and its warning (the profile's warnings stay its last key)."""
    section = load_section(before, after)
    data.setdefault("run", {})["load"] = section
    warnings = data.pop("warnings", [])
    data["warnings"] = warnings + load_warnings(section)


def recorded(measure: Callable[[], dict]) -> dict:
    """``measure()``'s profile with the machine's load around it recorded."""
    before = snapshot()
    data = measure()
    record(data, before, snapshot())
    return data
