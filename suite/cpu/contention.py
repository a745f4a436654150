"""What else had the measured cores while a CPU run measured: the run's own evidence of contention.

Three things take a core away from a pinned measuring thread, and each leaves a trace the run can read:

* other work in the guest (another process, a busy loop on the same CPU): the kernel's per-CPU busy time
  (``/proc/stat``, proc(5)) grows by more than this process's own CPU time (``os.times``), and a measuring
  thread's own CPU time (``CLOCK_THREAD_CPUTIME_ID``) falls behind its wall time;
* the hypervisor running something else on the vCPU: ``steal`` in ``/proc/stat`` (paravirtual steal clock);
* a CPU quota (CFS bandwidth control): the cgroup's ``cpu.max`` (v2) or ``cpu.cfs_quota_us`` /
  ``cpu.cfs_period_us`` (v1) caps the CPUs, and its ``cpu.stat`` counts the time the quota held the group
  (``throttled_usec``, v2; ``throttled_time`` in ns, v1). Linux, Documentation/scheduler/sched-bwc.rst.

A vCPU sharing a physical core with another (host SMT siblings) leaves no trace here: it shows as FLOP per
cycle falling at an unchanged clock with the threads on their CPUs the whole time (``fma`` checks that).
Every reader returns None where the file is absent (not Linux, no cgroup controller): no evidence, never a
guess.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

PROC_STAT = Path("/proc/stat")
# /proc/stat counts whole clock ticks (USER_HZ, 100 a second), and each reading may be up to a tick behind per
# CPU: over a window of N ticks a share can be off by 1/N. Windows shorter than this give no share (a window
# far under a tick once read as "other processes used 6727% of the cores"). A measured kernel's window is ~1 s
# in a full run and 0.13-0.6 s under --quick (the CI guest, 2026-12-03); this keeps them all.
MIN_WINDOW_TICKS = 5
PROC_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")
T = TypeVar("T")


@dataclass(frozen=True)
class CpuTicks:
    """Per-CPU busy and steal time (seconds) from /proc/stat, and this process's own CPU seconds."""

    busy: dict[int, float]  # user + nice + system + irq + softirq (guest time is inside user)
    steal: dict[int, float]
    own: float  # this process, all threads (os.times: user + system)
    wall: float  # time.monotonic()


def read_ticks(path: Path = PROC_STAT) -> CpuTicks | None:
    """The per-CPU counters of ``path`` (proc(5): cpuN user nice system idle iowait irq softirq steal ...)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    busy, steal = {}, {}
    for line in lines:
        fields = line.split()
        if not fields or not fields[0].startswith("cpu") or fields[0] == "cpu" or len(fields) < 9:
            continue
        cpu = int(fields[0][3:])
        user, nice, system, _idle, _iowait, irq, softirq, stolen = (int(v) for v in fields[1:9])
        busy[cpu] = (user + nice + system + irq + softirq) / hz
        steal[cpu] = stolen / hz
    times = os.times()
    return CpuTicks(busy, steal, times.user + times.system, time.monotonic())


@dataclass(frozen=True)
class Contention:
    """Shares of the measured CPUs' time over a window (0 = none): taken by other processes in the guest
    (``other_work``), by the hypervisor (``steal``), and of the wall time the cgroup's quota held this process
    (``throttled``). ``seconds``: the window."""

    other_work: float | None
    steal: float | None
    throttled: float | None
    seconds: float

    def as_dict(self) -> dict:
        return {"other_work": _share(self.other_work), "steal": _share(self.steal),
                "throttled": _share(self.throttled), "seconds": round(self.seconds, 3)}


def _share(value: float | None) -> float | None:
    return None if value is None else round(min(max(value, 0.0), 1.0), 4)


def contention_between(before: CpuTicks | None, after: CpuTicks | None, cpus: Sequence[int],
                       throttled_s: float | None = None) -> Contention | None:
    """The shares of ``Contention`` between two readings, over the CPUs ``cpus``.

    other_work = (busy time of those CPUs - this process's CPU time) / (window x CPUs): this process's own
    time may include CPUs outside the set (its unpinned main thread), so the figure is a lower bound."""
    if before is None or after is None:
        return None
    seconds = after.wall - before.wall
    if seconds <= 0:
        return None
    throttled = None if throttled_s is None else throttled_s / seconds
    if seconds < MIN_WINDOW_TICKS / os.sysconf("SC_CLK_TCK"):  # shorter than /proc/stat can resolve: unknown
        return Contention(None, None, throttled, seconds)
    capacity = seconds * len(cpus)
    busy = sum(after.busy.get(c, 0.0) - before.busy.get(c, 0.0) for c in cpus)
    stolen = sum(after.steal.get(c, 0.0) - before.steal.get(c, 0.0) for c in cpus)
    other = max(0.0, busy - (after.own - before.own)) / capacity
    return Contention(min(other, 1.0), min(stolen / capacity, 1.0), throttled, seconds)  # a share: at most all


# CPU quota (CFS bandwidth control) -----------------------------------------------------------------------


@dataclass(frozen=True)
class CpuLimit:
    """The tightest CPU quota over this process's cgroup and its ancestors: ``cpus`` = quota / period (None:
    no quota), the file it was read from, and that group's cpu.stat (for the time it was throttled)."""

    cpus: float | None
    source: str
    stat: Path | None = None

    def throttled_seconds(self) -> float | None:
        """Total time the quota has held the group, from its cpu.stat (v2 throttled_usec, v1 throttled_time ns)."""
        if self.stat is None:
            return None
        try:
            fields = dict(line.split()[:2] for line in self.stat.read_text().splitlines() if len(line.split()) >= 2)
        except OSError:
            return None
        if "throttled_usec" in fields:
            return int(fields["throttled_usec"]) / 1e6
        if "throttled_time" in fields:
            return int(fields["throttled_time"]) / 1e9
        return None

    def as_dict(self) -> dict:
        return {"cpus": None if self.cpus is None else round(self.cpus, 3), "source": self.source}


def _cgroup_dirs(proc_cgroup: Path, root: Path) -> list[tuple[str, Path]]:
    """(version, directory) of this process's cpu cgroup, v2 and v1, innermost first, up to the root."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and controllers == "":
            mounts = [root / "unified", root] if (root / "unified").is_dir() else [root]
            version = "v2"
        elif "cpu" in controllers.split(","):
            mounts = [root / controllers, root / "cpu", root / "cpu,cpuacct"]
            version = "v1"
        else:
            continue
        for mount in mounts:
            directory = mount / path.lstrip("/")
            if directory.is_dir():
                found += [(version, d) for d in [directory, *directory.parents] if d == mount or mount in d.parents]
                break
    return found


def cpu_limit(proc_cgroup: Path = PROC_CGROUP, root: Path = CGROUP_ROOT) -> CpuLimit:
    """The tightest CPU quota on this process (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``)."""
    best: CpuLimit | None = None
    for version, directory in _cgroup_dirs(proc_cgroup, root):
        try:
            if version == "v2":
                max_quota, max_period = (directory / "cpu.max").read_text().split()[:2]
                if max_quota == "max":
                    continue
                cpus, source = int(max_quota) / int(max_period), f"{directory / 'cpu.max'}: {max_quota} {max_period}"
            else:
                quota = int((directory / "cpu.cfs_quota_us").read_text())
                period = int((directory / "cpu.cfs_period_us").read_text())
                if quota < 0:
                    continue
                cpus, source = quota / period, f"{directory / 'cpu.cfs_quota_us'}: {quota} per {period} us"
        except (OSError, ValueError):
            continue
        if best is None or best.cpus is None or cpus < best.cpus:
            best = CpuLimit(cpus, source, directory / "cpu.stat")
    return best or CpuLimit(None, "no CPU quota on this process's cgroups (cpu.max, cpu.cfs_quota_us)")


# A measuring thread's own share of its wall time ------------------------------------------------------------


def in_window(cpus: Sequence[int], limit: CpuLimit, measure: Callable[[], T]) -> tuple[T, Contention | None]:
    """``measure()`` and the contention of its window: other processes' share of ``cpus``, steal, and the share
    of the window the cgroup's quota held this process (``contention_between``)."""
    before, throttled = read_ticks(), limit.throttled_seconds()
    value = measure()
    after, throttled_after = read_ticks(), limit.throttled_seconds()
    held = throttled_after - throttled if throttled is not None and throttled_after is not None else None
    return value, contention_between(before, after, cpus, held)


def on_cpu(task: Callable[[], Any]) -> Callable[[], tuple[Any, float]]:
    """``task`` wrapped to return (its result, the share of its wall time the thread was on a CPU): its thread
    CPU time over its wall time, 1.0 when nothing else ran on its core."""

    def run() -> tuple[Any, float]:
        wall, cpu = time.perf_counter(), time.thread_time()
        result = task()
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        return result, min(1.0, cpu / wall) if wall > 0 else 1.0

    return run


__all__ = ["Contention", "CpuLimit", "CpuTicks", "contention_between", "cpu_limit", "in_window", "on_cpu", "read_ticks"]
