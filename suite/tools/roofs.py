"""Which roofs a roofline chart draws, read from profiles: the default set, ``--precisions``/``--levels``, units.

A hierarchical roofline (Ilic, Pratas and Sousa, "Cache-aware Roofline model", IEEE CAL 2014; Intel Advisor's
chart; ERT's) draws each memory level as a diagonal, attainable = intensity x bandwidth, and each precision as
a flat roof, attainable = peak. Where a roof has a theoretical (datasheet) figure it is drawn beside the measured
one. This module only chooses and names the roofs (no matplotlib): ``plot.py`` draws them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UsageError
from ..profile import Profile
from ..profile.types import InstructionPeak

# The roofs most people need (the list). Names absent from a profile are skipped; a GPU profile that
# gains memory.l1 or memory.shared gets them drawn by default, as a CPU gets its L1.
DEFAULT_PRECISIONS = {"cpu": ("fp64", "fp32"), "gpu": ("fp64", "fp32", "tensor_bf16")}
DEFAULT_LEVELS = {"cpu": ("l1", "l2", "l3", "dram"), "gpu": ("l1", "shared", "l2", "dram")}
LEVEL_ALIASES = {"hbm": "dram"}  # a GPU's dram roof is labelled HBM on the chart; accept the name a reader sees

PRECISION_ORDER = ("fp64", "fp32", "fp16", "bf16", "tensor_fp64", "tensor_tf32", "tensor_fp16", "tensor_bf16")
LEVEL_ORDER = ("l1", "shared", "l2", "l3", "dram", "h2d", "d2h")  # fastest first
TRANSFERS = ("h2d", "d2h")  # host links: roofs of their own, never the "ridge" level


@dataclass(frozen=True)
class Roof:
    """One roof of one profile: a flat compute roof (``kind == "compute"``, GFLOP/s) or a memory diagonal
    (``kind == "memory"``, GB/s). ``measured`` or ``theoretical`` is None where the profile does not know it."""

    kind: str
    key: str  # the profile's key: compute.<key> or memory.<key>
    label: str  # the name printed on the chart
    measured: float | None
    theoretical: float | None
    work: str = "FLOP"  # what the roof counts: FLOP, or OP for integer instruction peaks (never on one axis)


@dataclass(frozen=True)
class ProfileRoofs:
    """The roofs chosen from one profile, fastest level and highest peak first."""

    profile: Profile
    name: str  # how the chart's legend names this profile (file stem)
    compute: list[Roof]
    memory: list[Roof]

    @property
    def ridge_level(self) -> Roof | None:
        """The level the ridge points are taken against: DRAM where drawn (the classic ridge, Williams et al.
        2009), else the slowest on-device level drawn (a host link only when nothing else is drawn)."""
        measured = [r for r in self.memory if r.measured]
        on_device = [r for r in measured if r.key not in TRANSFERS] or measured
        return next((r for r in on_device if r.key == "dram"), on_device[-1] if on_device else None)

    def top(self, theoretical: bool = False) -> float:
        """The highest compute roof drawn: where the diagonals end (Intel Advisor's convention)."""
        values = [(r.theoretical if theoretical else None) or r.measured for r in self.compute]
        return max([v for v in values if v] or [0.0])


def device_kind(profile: Profile) -> str:
    return "gpu" if profile.device_id.startswith("cuda") else "cpu"


def number(entry: object, key: str) -> float | None:
    """A finite positive figure of a profile entry, else None (unknown, null, or not a number)."""
    value = entry.get(key) if isinstance(entry, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value > 0 and math.isfinite(value) else None


def parse_names(text: str | None, option: str, example: str = "fp64,fp32") -> list[str] | None:
    """'fp64,fp32' -> ['fp64', 'fp32']; None (option not given) stays None; 'all' is kept as ['all'].
    ``example``: names of the option's kind for the message (precisions, or levels such as 'l1,dram')."""
    if text is None:
        return None
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise UsageError(f"{option} {text!r}: give comma-separated names, e.g. {option} {example}, or 'all'")
    return names


def level_label(key: str, profile: Profile) -> str:
    """The chart's name for a memory level: L1, L2, L3, DRAM, shared, H2D; a GPU's device memory is HBM when
    the device name says so (NVIDIA's datacentre cards), else DRAM."""
    if key == "dram" and device_kind(profile) == "gpu":
        return "HBM" if "hbm" in str(profile.data["device"].get("name", "")).lower() else "DRAM"
    return {"shared": "shared"}.get(key, key.upper())


def _ordered(names: list[str], order: tuple[str, ...]) -> list[str]:
    return sorted(names, key=lambda n: order.index(n) if n in order else len(order))


def _choose(wanted: list[str] | None, defaults: tuple[str, ...], available: dict[str, list[str]], option: str,
            what: str, aliases: dict[str, str]) -> list[str]:
    """The names to draw: the defaults, everything ('all'), or the names given, each present in at least one
    profile (a UsageError naming the choices otherwise)."""
    everything = list(dict.fromkeys(n for names in available.values() for n in names))
    if wanted is None:
        return [n for n in defaults if n in everything] or everything
    if "all" in wanted:
        return everything
    chosen = [aliases.get(n, n) for n in wanted]
    for given, name in zip(wanted, chosen):
        if name not in everything:
            sources = ", ".join(available)
            raise UsageError(f"{option}: no {given} {what} in {sources}; choose from {', '.join(everything)}, or all")
    return list(dict.fromkeys(chosen))


def instruction_peaks(profile: Profile) -> dict[str, InstructionPeak]:
    """The profile's low-precision instruction peaks (``instruction_peaks.peaks``), by kernel name."""
    section = profile.data.get("instruction_peaks")
    peaks = section.get("peaks") if isinstance(section, dict) else None
    return {key: entry for key, entry in peaks.items() if isinstance(entry, dict)} if isinstance(peaks, dict) else {}


def _instruction_roof(key: str, entry: InstructionPeak) -> Roof:
    work = "OP" if entry.get("unit") == "GOP/s" else "FLOP"
    return Roof("compute", key, f"{key} ({entry.get('instruction')})", number(entry, "measured"),
                number(entry, "theoretical"), work)


def _one_unit(roofs: list[ProfileRoofs], precisions: list[str] | None) -> list[ProfileRoofs]:
    """OP/s roofs (integer instruction peaks) go on a chart of their own, never on one axis with FLOP/s: 'all'
    keeps the FLOP/s roofs; naming both kinds is a UsageError."""
    works = {r.work for roofs in roofs for r in roofs.compute}
    if len(works) < 2:
        return roofs
    if precisions and "all" in precisions:
        return [ProfileRoofs(r.profile, r.name, [c for c in r.compute if c.work == "FLOP"], r.memory) for r in roofs]
    op_roofs = sorted({c.key for r in roofs for c in r.compute if c.work == "OP"})
    raise UsageError(f"--precisions: {', '.join(op_roofs)} count integer operations (GOP/s), never drawn on one axis "
                     f"with FLOP/s: draw them on a chart of their own, e.g. --precisions {','.join(op_roofs)}")


def choose_roofs(profiles: list[Profile], names: list[str], precisions: list[str] | None = None,
                 levels: list[str] | None = None) -> list[ProfileRoofs]:
    """The roofs of each profile to draw. ``precisions``/``levels``: names from ``--precisions``/``--levels``
    (None: the default set of the first profile's device kind; ['all']: everything)."""
    kind = device_kind(profiles[0])
    computes = {p.source: _ordered(list(p.data["compute"]), PRECISION_ORDER) + list(instruction_peaks(p))
                for p in profiles}
    memories = {p.source: _ordered(list(p.data["memory"]), LEVEL_ORDER) for p in profiles}
    chosen_precisions = _choose(precisions, DEFAULT_PRECISIONS[kind], computes, "--precisions", "compute ceiling",
                                {})
    chosen_levels = _choose(levels, DEFAULT_LEVELS[kind], memories, "--levels", "memory level", LEVEL_ALIASES)
    result = []
    for profile, name in zip(profiles, names):
        compute = [Roof("compute", key, key, number(profile.data["compute"][key], "measured_gflops"),
                        number(profile.data["compute"][key], "theoretical_gflops"))
                   for key in chosen_precisions if key in profile.data["compute"]]
        compute += [_instruction_roof(key, entry) for key, entry in instruction_peaks(profile).items()
                    if key in chosen_precisions and key not in profile.data["compute"]]
        memory = [Roof("memory", key, level_label(key, profile), number(profile.data["memory"][key], "measured_gbps"),
                       number(profile.data["memory"][key], "theoretical_gbps"))
                  for key in chosen_levels if key in profile.data["memory"]]
        compute = [r for r in compute if r.measured or r.theoretical]
        memory = [r for r in memory if r.measured or r.theoretical]
        if not compute:
            raise UsageError(f"{profile.source} has no compute ceiling among {', '.join(chosen_precisions)}: run "
                             "'hwbench run' with an FMA kernel, or choose others with --precisions")
        if not any(r.measured for r in memory):
            raise UsageError(f"{profile.source} has no measured bandwidth among {', '.join(chosen_levels)}: run "
                             "'hwbench run' with a bandwidth kernel (e.g. --kernels stream,fma), or choose "
                             "others with --levels")
        compute.sort(key=lambda r: -(r.measured or r.theoretical or 0))
        memory.sort(key=lambda r: -(r.measured or r.theoretical or 0))
        result.append(ProfileRoofs(profile, name, compute, memory))
    return _one_unit(result, precisions)


@dataclass(frozen=True)
class Units:
    """GFLOP/s and GB/s, or TFLOP/s and TB/s (GPUs): ``scale`` GFLOP/s per unit."""

    scale: float
    flops: str
    bandwidth: str
    work: str = "FLOP"  # what the y axis counts per second: FLOP, or OP (integer instruction peaks)

    def rate(self, gflops: float) -> str:
        return f"{format_figure(gflops / self.scale)} {self.flops}"

    def speed(self, gbps: float) -> str:
        if self.scale > 1 and gbps < self.scale:  # a host link on a GPU chart: 55.4 GB/s, not 0.0554 TB/s
            return f"{format_figure(gbps)} GB/s"
        return f"{format_figure(gbps / self.scale)} {self.bandwidth}"


def format_figure(value: float) -> str:
    """Four significant figures with thousands separators: 431.8, 39.31, 1,071."""
    return f"{value:,.4g}" if value < 1e4 else f"{value:,.0f}"


def chart_units(profiles: list[Profile], chosen: list[ProfileRoofs] | None = None) -> Units:
    if chosen and all(r.work == "OP" for roofs in chosen for r in roofs.compute):
        return Units(1.0, "GOP/s", "GB/s", "OP")
    if all(device_kind(p) == "gpu" for p in profiles):
        return Units(1000.0, "TFLOP/s", "TB/s")
    return Units(1.0, "GFLOP/s", "GB/s")
