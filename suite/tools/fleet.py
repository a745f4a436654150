"""A fleet of devices: which one, on which node, is slower than its siblings, and why.

``hwbench fleet DIR...`` reads every profile under the directories, keeps the newest one of each device
(host + device id), groups the devices by model (CPU or CUDA, ``device.name``, and for CPUs the number of
measuring threads, since ceilings scale with it) and compares every device's ceilings with its group.

The rule mirrors ``hwbench compare``'s "threshold and noise": a ceiling is flagged when it lies below the
group's median by more than the threshold (relative, 5% by default) *and* by more than k = 3 robust standard
deviations of the group; a latency (``latency.<level>``, ns, lower is better) when it lies that far *above* it.
The instruction peaks (``instruction.<kernel>``) are ceilings in their own unit, GFLOP/s or GOP/s: each kernel
is its own figure, and a figure whose unit differs between devices is not judged. The robust standard deviation
is the median absolute deviation scaled by 1.4826, which estimates the standard deviation of normally
distributed values while ignoring the outliers it is meant to find (Hampel 1974; Leys, Ley, Klein, Bernard and
Licata 2013, "Detecting outliers: do not use standard deviation around the mean, use absolute deviation around
the median", J. Exp. Soc. Psychol. 49(4); they recommend k = 2.5 to 3, and 3 keeps a 10,000-device fleet nearly
free of false flags).
A group of fewer than ``MIN_GROUP`` devices has no robust median and is not judged.

Every flag gets its cause, as ``compare`` does: FLOP/s = units x clock x FLOP per cycle, so the drop is split
into the clock change and the per-cycle change relative to the group's median clock and median per-cycle figure
of that ceiling (bytes per cycle for memory levels that record a clock, OP per cycle for the integer peaks). A
latency is ns = cycles / clock: its rise is split into a clock drop and a rise in cycles. For GPUs the NVML
clock-event reasons recorded with the kernel (``details.telemetry.clock_event_reasons``) are named.

Nothing here prints: ``load_fleet`` (``fleet_load``) reads the files, ``fleet_report`` returns a
``FleetReport``, ``fleet_document`` its rows, notes, summary and Prometheus gauges, and the shared exporters
(``export.py``) write them as tables, Markdown, JSON or the Prometheus text format.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from ..profile import Profile
from ..profile.format import parse_created_at
from .compare import DEFAULT_THRESHOLD
from .export import Document, Lines, Metric, Table, cells, figure_columns
from .fleet_load import Member, Reading, load_fleet, member_of, profile_paths

__all__ = ["FleetReport", "Flag", "GroupStats", "Member", "Reading", "fleet_document", "fleet_report", "load_fleet",
           "member_of", "metrics", "profile_paths", "robust_sigma"]

K_MAD = 3.0  # flag beyond k robust standard deviations (Leys et al. 2013: 3 is "very conservative")
MAD_SCALE = 1.4826  # MAD x 1.4826 estimates the standard deviation of normal data (1 / Phi^-1(3/4))
MIN_GROUP = 3  # fewer devices have no robust median


@dataclass(frozen=True)
class Flag:
    host: str
    device: str
    model: str
    threads: int | None
    source: str
    ceiling: str
    unit: str
    value: float
    median: float
    change: float  # relative to the group median (negative: lower, which is slower for a ceiling)
    noise: float  # k x scaled MAD, relative to the median
    cause: str
    direction: int = 1  # +1: a ceiling (flagged below the median); -1: a latency (flagged above it)


@dataclass(frozen=True)
class GroupStats:
    kind: str
    model: str
    threads: int | None
    devices: int
    flagged_devices: int
    medians: dict[str, float]  # ceiling -> median
    sigmas: dict[str, float]  # ceiling -> MAD x 1.4826 (absolute, in the ceiling's unit)
    judged: bool  # False when the group has fewer than MIN_GROUP devices


@dataclass(frozen=True)
class FleetReport:
    threshold: float
    k: float
    devices: list[Member]
    groups: list[GroupStats]
    flags: list[Flag] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


# The rule ------------------------------------------------------------------------------------------


def robust_sigma(values: Sequence[float], center: float | None = None) -> float:
    """The median absolute deviation around the median, x 1.4826: a standard deviation that outliers do not
    inflate (Leys et al. 2013)."""
    center = statistics.median(values) if center is None else center
    return MAD_SCALE * statistics.median(abs(v - center) for v in values)


def _relative(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference == 0:
        return None
    return (value - reference) / reference


def _median_of(readings: Iterable[Reading], attribute: str) -> float | None:
    return statistics.median(values) if (values := [getattr(r, attribute) for r in readings
                                                     if getattr(r, attribute) is not None]) else None


def _name(kind: str, model: str, threads: int | None) -> str:
    return f"{model} ({kind}" + (f", {threads} threads)" if threads else ")")


def explain(key: str, reading: Reading, peers: list[Reading], threshold: float) -> str:
    """Split a drop into its clock and per-cycle factors against the group's medians, as compare does:
    (1 + change) = (1 + clock change) x (1 + per-cycle change). The clock carries the drop when it fell by
    at least half the threshold and by more than the per-cycle figure."""
    clock = _relative(reading.clock_mhz, _median_of(peers, "clock_mhz"))
    per_cycle = _relative(reading.per_cycle, _median_of(peers, "per_cycle"))
    label = "bytes/cycle" if key.startswith("memory.") else "OP/cycle" if reading.unit == "GOP/s" else "FLOP/cycle"
    if reading.direction < 0:  # a latency: (1 + change) = (1 + cycles change) / (1 + clock change)
        rise = "latency above the model's median"
        if clock is not None and clock <= -threshold / 2 and (per_cycle is None or -clock >= per_cycle):
            cause = f"{rise}: throttling (clock {clock:+.1%})"
        elif per_cycle is not None:
            cause = f"{rise}: not the clock (cycles {per_cycle:+.1%}" + \
                (f", clock {clock:+.1%})" if clock is not None else ")")
        else:
            cause = f"{rise}: not split, no clock was recorded with it"
    elif key == "clock":
        cause = f"throttling (clock {clock:+.1%})" if clock is not None else ""
    elif clock is not None and clock <= -threshold / 2 and (per_cycle is None or clock <= per_cycle):
        cause = f"throttling (clock {clock:+.1%})"
    elif per_cycle is not None:
        cause = f"not the clock ({label} {per_cycle:+.1%}" + (f", clock {clock:+.1%})" if clock is not None else ")")
    else:
        cause = f"not the clock (clock {clock:+.1%})" if clock is not None else \
            "not split: no clock was recorded with this ceiling"
    nvml = ", ".join(reading.reasons) or ("throttled" if reading.throttled else "")
    return f"{cause}; NVML: {nvml}".lstrip("; ") if nvml else cause


def latest_per_device(members: Iterable[Member]) -> tuple[list[Member], int]:
    """The newest profile of each host + device id (+ thread count, for CPUs: a one-thread run is compared with
    one-thread runs) -- a 'run --save' folder holds every run; and how many older ones were set aside."""
    newest: dict[tuple[str, str, int | None], Member] = {}
    total = 0
    for member in members:
        total += 1
        key = (member.host, member.device, member.threads)
        if key not in newest or (member.created_at, member.source) >= (newest[key].created_at, newest[key].source):
            newest[key] = member
    return sorted(newest.values(), key=lambda m: (m.host, m.device, m.threads or 0)), total - len(newest)


def fleet_report(members: Iterable[Member | Profile], threshold: float = DEFAULT_THRESHOLD,
                 k: float = K_MAD) -> FleetReport:
    """Group the devices, take each figure's median and robust sigma, and flag a ceiling that lies below the
    median (a latency: above it) by more than ``threshold`` and more than ``k`` robust sigmas."""
    reduced = [m if isinstance(m, Member) else member_of(m) for m in members]
    devices, older = latest_per_device(reduced)
    notes = [f"{older} older profile(s) of the same devices set aside: the newest run of each device counts"] \
        if older else []
    grouped: dict[tuple[str, str, int | None], list[Member]] = {}
    for member in devices:
        grouped.setdefault(member.group, []).append(member)
    groups, flags = [], []
    for (kind, model, threads), members_of_group in sorted(grouped.items(), key=lambda item: str(item[0])):
        keys = list(dict.fromkeys(key for m in members_of_group for key in m.readings))
        medians, sigmas, flagged_hosts = {}, {}, set()
        judged = len(members_of_group) >= MIN_GROUP
        for key in keys:
            present = [m for m in members_of_group if key in m.readings]
            peers = [m.readings[key] for m in present]
            values = [r.value for r in peers]
            median = statistics.median(values)
            sigma = robust_sigma(values, median)
            medians[key], sigmas[key] = median, sigma
            if not judged or len(values) < MIN_GROUP or median <= 0:
                continue
            units = sorted({r.unit for r in peers})
            if len(units) > 1:  # never one median over two units (a GFLOP/s and a GOP/s figure)
                notes.append(f"{_name(kind, model, threads)}: {key} is in {' and '.join(units)} on different "
                             "devices: not judged")
                continue
            noise = k * sigma / median
            for member, reading in zip(present, peers):
                change = (reading.value - median) / median
                worse = -change * reading.direction  # how far in the bad direction: below, or above for a latency
                if worse > threshold and worse > noise:
                    flags.append(Flag(member.host, member.device, model, threads, member.source, key, reading.unit,
                                      reading.value, median, change, noise, explain(key, reading, peers, threshold),
                                      reading.direction))
                    flagged_hosts.add((member.host, member.device))
        if not judged:
            notes.append(f"{_name(kind, model, threads)}: {len(members_of_group)} device(s), fewer than "
                         f"{MIN_GROUP}: not judged")
        groups.append(GroupStats(kind, model, threads, len(members_of_group), len(flagged_hosts), medians, sigmas,
                                 judged))
        if len({m.quick for m in members_of_group}) > 1:
            notes.append(f"{_name(kind, model, threads)}: --quick and full runs mixed; a quick run's best is "
                         "usually lower: measure the fleet the same way")
    flags.sort(key=lambda f: (f.host, f.device, f.ceiling))
    return FleetReport(threshold, k, devices, groups, flags, notes)


# The report's rows ------------------------------------------------------------------------------------------


def _fmt(value: float, unit: str) -> str:
    return f"{value:,.0f}" if unit == "MHz" or value >= 1000 else f"{value:,.1f}"


GROUP_COLUMNS = figure_columns("model", "devices", "flagged", "judged", words=("model", "judged"))
FLAG_COLUMNS = figure_columns("host", "device", "ceiling", "value", "median", "change", "noise", "cause", "file",
                              words=("host", "device", "ceiling", "cause", "file"))


def summary_line(report: FleetReport) -> str:
    devices = sorted({(f.host, f.device, f.threads or 0) for f in report.flags})
    rule = f"more than {report.threshold:.0%} and {report.k:g} x MAD x {MAD_SCALE} below the model's median"
    latency = "a latency as far above it"
    if devices:
        return f"FLAGGED: {len(devices)} of {len(report.devices)} devices have a ceiling {rule} or {latency}"
    return f"fleet clean: none of {len(report.devices)} devices has a ceiling {rule} or {latency}"


def _epoch(created_at: str) -> float | None:
    created = parse_created_at(created_at)
    return created.timestamp() if created is not None else None


def metrics(report: FleetReport) -> tuple[Metric, ...]:
    """Every ceiling of every device, whether it is flagged, the group medians and each profile's age, as gauges
    for node-exporter's textfile collector."""
    flagged = {(f.host, f.device, f.threads, f.ceiling) for f in report.flags}
    ceiling, flag, created, median = [], [], [], []
    for m in report.devices:
        device = {"host": m.host, "device": m.device, "model": m.model, "threads": str(m.threads or "")}
        for key, reading in m.readings.items():
            ceiling.append(({**device, "ceiling": key, "unit": reading.unit}, reading.value))
            flag.append(({**device, "ceiling": key}, int((m.host, m.device, m.threads, key) in flagged)))
        stamp = _epoch(m.created_at)
        if stamp is not None:
            created.append((device, stamp))
    units = {key: r.unit for m in report.devices for key, r in m.readings.items()}
    for g in report.groups:
        for key, value in g.medians.items():
            median.append(({"model": g.model, "kind": g.kind, "threads": str(g.threads or ""), "ceiling": key,
                            "unit": units.get(key, "")}, value))
    rule = (f"below the model's median (a latency: above it) by more than {report.threshold:.0%} and {report.k:g} "
            "x 1.4826 x MAD")
    return (Metric("hwbench_ceiling", "Measured ceiling of a device (newest hwbench profile).", tuple(ceiling)),
            Metric("hwbench_flagged", f"1 when the ceiling is {rule}, else 0.", tuple(flag)),
            Metric("hwbench_fleet_median", "Median of the ceiling over the devices of one model.", tuple(median)),
            Metric("hwbench_profile_created_seconds", "When the device's profile was measured (Unix time).",
                   tuple(created)))


def fleet_document(report: FleetReport) -> Document:
    """The fleet for the exporters (``export.py``): the groups, the flagged ceilings (when there are any), the
    notes and the summary; its JSON is the groups and flags as computed; its Prometheus form, ``metrics``."""
    groups = tuple(cells(_name(g.kind, g.model, g.threads), str(g.devices), str(g.flagged_devices),
                         "yes" if g.judged else f"no (< {MIN_GROUP})") for g in report.groups)
    blocks: list[Table | Lines] = [Table("fleet: devices by model", GROUP_COLUMNS, groups)]
    if report.flags:
        blocks.append(Table("flagged ceilings", FLAG_COLUMNS, tuple(
            cells(f.host, f.device, f.ceiling, f"{_fmt(f.value, f.unit)} {f.unit}", _fmt(f.median, f.unit),
                  f"{f.change:+.1%}", f"{f.noise:.1%}", f.cause, f.source) for f in report.flags)))
    blocks.append(Lines(tuple(report.notes), prefix="note: "))
    data = {
        "threshold": report.threshold, "k": report.k, "mad_scale": MAD_SCALE,
        "rule": "flag when (median - value) / median > threshold and median - value > k x 1.4826 x MAD; a "
                "latency (direction -1) when (value - median) / median > threshold and value - median > "
                "k x 1.4826 x MAD",
        "flagged": report.flagged, "devices": len(report.devices),
        "groups": [asdict(group) for group in report.groups],
        "flags": [asdict(flag) for flag in report.flags], "notes": report.notes,
    }
    return Document(f"**hwbench fleet**: {len(report.devices)} devices, threshold {report.threshold:.0%}, "
                    f"k = {report.k:g} (MAD x {MAD_SCALE})", tuple(blocks), summary_line(report), data,
                    metrics(report))
