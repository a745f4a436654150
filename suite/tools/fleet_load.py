"""Reading a fleet: every profile under some folders, each reduced to a ``Member`` (its ceilings, clocks,
per-cycle figures and NVML clock-event reasons), for ``hwbench.tools.fleet``.

Loading is the slow part of ``hwbench fleet``: each file goes through ``Profile.load`` (libyaml's C parser
where PyYAML has it, and the schema check every reader applies), and ``load_fleet`` spreads the files over
processes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..profile import Profile
from .compare import ceilings_of, reference_clock_mhz

PARALLEL_FROM = 64  # files; below that a process pool costs more than it saves


@dataclass(frozen=True)
class Reading:
    """One ceiling of one device, with what explains it."""

    value: float
    unit: str
    clock_mhz: float | None = None
    per_cycle: float | None = None  # FLOP per cycle (compute) or bytes per cycle (memory)
    throttled: bool | None = None
    reasons: tuple[str, ...] = ()  # NVML clock-event reasons recorded with the kernel


@dataclass(frozen=True)
class Member:
    """One device of the fleet: its newest profile, reduced to the ceilings."""

    host: str
    device: str  # cpu, cuda:0
    model: str  # device.name
    kind: str  # cpu or cuda
    threads: int | None
    source: str
    created_at: str
    quick: bool | None
    readings: dict[str, Reading]

    @property
    def group(self) -> tuple[str, str, int | None]:
        return self.kind, self.model, self.threads



def _telemetry_reasons(data: dict, kernel: str | None) -> tuple[str, ...]:
    for entry in data.get("kernels", []):
        if entry.get("name") == kernel:
            telemetry = (entry.get("details") or {}).get("telemetry") or {}
            reasons = telemetry.get("clock_event_reasons", telemetry.get("reasons")) or []
            return tuple(str(reason) for reason in reasons)
    return ()


def member_of(profile: Profile) -> Member:
    """A profile reduced to what the fleet compares: ``compare.ceilings_of`` plus clocks and reasons."""
    data = profile.data
    device = data["device"]
    readings: dict[str, Reading] = {}
    for key, ceiling in ceilings_of(profile).items():
        group, _, name = key.partition(".")
        if group == "compute":
            entry = data["compute"][name]
            reading = Reading(ceiling.value, ceiling.unit, ceiling.clock_mhz, ceiling.flop_per_cycle,
                              entry.get("throttled"), _telemetry_reasons(data, entry.get("kernel")))
        elif group == "memory":
            entry = data["memory"][name]
            reading = Reading(ceiling.value, ceiling.unit, entry.get("clock_mhz"), entry.get("bytes_per_cycle"),
                              entry.get("throttled"), _telemetry_reasons(data, entry.get("kernel")))
        elif group == "sustained":
            timeline = data["sustained"]["kernels"][name].get("timeline") or {}
            reasons = sorted({str(r) for sample in timeline.get("clock_event_reasons") or [] for r in sample or []})
            reading = Reading(ceiling.value, ceiling.unit, ceiling.clock_mhz, None, None, tuple(reasons))
        else:  # the reference clock: the reasons of the compute kernel that set it
            clock = reference_clock_mhz(data)
            entry = next((e for p, e in data["compute"].items() if not p.startswith("tensor_")
                          and isinstance(e, dict) and e.get("clock_mhz") == clock), {})
            reading = Reading(ceiling.value, ceiling.unit, ceiling.value, None, entry.get("throttled"),
                              _telemetry_reasons(data, entry.get("kernel")))
        readings[key] = reading
    kind = "cpu" if device["id"] == "cpu" else "cuda"
    return Member(str(data.get("host", "unknown")), str(device["id"]), str(device.get("name", "")), kind,
                  data["run"].get("threads") if kind == "cpu" else None, profile.source,
                  str(data.get("created_at", "")), data["run"].get("quick"), readings)


def _load_member(path: Path) -> Member | str:
    try:
        return member_of(Profile.load(path))
    except UsageError as error:
        return f"skipped {error}"


def profile_paths(directories: Sequence[Path]) -> list[Path]:
    """Every ``*.yaml`` under the directories, once each (a folder given twice or nested is read once)."""
    if not directories:
        raise UsageError("give at least one folder of profiles, e.g. 'hwbench fleet results/'")
    seen: dict[Path, Path] = {}
    for directory in directories:
        if not directory.is_dir():
            raise UsageError(f"{directory}: not a directory; give folders of profiles written by 'hwbench run'")
        for path in sorted(directory.rglob("*.yaml")):
            seen.setdefault(path.resolve(), path)
    return list(seen.values())


def load_fleet(directories: Sequence[Path], workers: int | None = None) -> tuple[list[Member], list[str]]:
    """Every profile under ``directories`` as a ``Member``, and a note for each YAML file that is not a
    profile. Files are parsed in ``workers`` processes (default: one per CPU from ``PARALLEL_FROM`` files on):
    parsing and the schema check are CPU-bound, and a Member is small to send back."""
    paths = profile_paths(directories)
    if workers is None:
        workers = min(os.cpu_count() or 1, 32) if len(paths) >= PARALLEL_FROM else 1
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_load_member, paths, chunksize=max(1, len(paths) // (workers * 8))))
    else:
        results = [_load_member(path) for path in paths]
    members = [r for r in results if isinstance(r, Member)]
    skipped = [r for r in results if isinstance(r, str)]
    if not members:
        where = ", ".join(str(d) for d in directories)
        raise UsageError(f"{where}: no hwbench profiles found; save some with 'hwbench run --save'")
    return members, skipped
