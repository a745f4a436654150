"""Latency ceilings from a chase: name each level's figure, put it in ``memory.<level>`` (``latency_ns``,
``latency_cycles``, ``latency_spread``) and write the profile's ``latency`` section (the curve, the loaded curve,
the core-to-core and NUMA matrices).

A latency figure is read like a bandwidth ceiling, turned over: the samples are rates of dependent loads
(loads per second), the headline is their confirmed best (``stats.CEILING_RULE``: the K-th fastest sample,
so one lucky sample cannot set it and noise, which only ever slows a chase, is left out), reported as
nanoseconds per load, and its spread is ``stats.top_spread`` of those rates, (median latency - headline) /
median latency: the noise ``compare`` weighs a change against (``stats.SPREAD_RULE``). Cycles are the
nanoseconds at the run's measured core clock (``clock.scalar_mhz``, the add-chain probe alone: a chase runs
no vector code) on CPUs, and counted by the SM itself (``clock64``) on GPUs.

Level rule (CPU sweep): the curve's plateaus (``levels.find_runs``, ERT's rule with ``PLATEAU_TOLERANCE``:
maximal runs of consecutive working sets within 15% of the run's median latency) are named by the smallest
cache (sysfs sizes, ``device.caches``) holding the run's largest working set; a level's figure is its longest
plateau's median point (by latency). Where a level has no plateau, the median point of the working sets in
[2 x the level below's size, ``LEVEL_FILL`` x the level's size]. A cache shared with other tenants (a VM's
L3) can hold less than sysfs says: its plateau then ends early and the sizes beyond join DRAM's. DRAM: the
largest working set, when it is at least 2x the last-level cache. A figure under ``MIN_LOAD_TO_USE_CYCLES``
is a measurement error (no shipping core's L1 answers a dependent load faster), flagged and never a ceiling.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any, TypedDict

from ..record import ClockSection, DeviceSection, LatencyPoint, LatencyRecord
from ..stats import confirmed_best, rounded, top_spread
from .levels import find_runs, level_of, run_clock
from .types import LatencyCurvePoint, LatencySection, LevelLatency, MemoryLevel

LEVEL_FILL = 0.75
NOT_A_CACHE = 0.7  # a cache level's figure at 70% of DRAM's latency or more was answered by DRAM
PLATEAU_TOLERANCE = 0.15  # latency steps 2.5x or more between levels; within one it drifts (TLB reach, conflicts)
MIN_LOAD_TO_USE_CYCLES = 3.0  # below any L1 (4-5 cycles on x86 and Arm server cores since 2010)
LEVEL_RULE = (f"plateaus: maximal runs of consecutive working sets within {PLATEAU_TOLERANCE:.0%} of the run's median "
              "latency, named by the smallest cache (sysfs sizes) holding the run's largest working set; a level's "
              "latency is its longest plateau's median point; without a plateau, the median point of the working "
              f"sets in [2 x the level below's size, {LEVEL_FILL} x the level's size]; dram: the largest working "
              "set, at least 2x the last-level cache")
HEADLINE = ("latency_ns: the confirmed best of the samples (stats.CEILING_RULE on the load rates: the K-th fastest "
            "sample, K = max(2, 10% of them)) as ns per load; latency_spread: (median - latency_ns) / median; a "
            "loaded point: its median sample")
NOT_BANDWIDTH = "latency only: no bandwidth kernel ran"  # memory.<level>.theoretical_source of such a level


class Figure(TypedDict):
    """One latency figure of a profile from its samples (``latency.curve[]`` and the loaded points hold these)."""

    latency_ns: float
    median_ns: float
    spread: float
    samples_ns: list[float]


def summary(samples_ns: Sequence[float]) -> Figure:
    """latency_ns (confirmed best), median_ns and spread of one figure's samples."""
    rates = [1.0 / s for s in samples_ns if s > 0]
    best = 1.0 / confirmed_best(rates)
    # round(float(x)), as stats.rounded does: a figure of samples is never unknown
    return {"latency_ns": round(float(best), 3), "median_ns": round(float(statistics.median(samples_ns)), 3),
            "spread": round(float(top_spread(rates)), 4), "samples_ns": [round(float(s), 3) for s in samples_ns]}


def level_points(points: Sequence[LatencyPoint], caches: dict[str, Any]) -> dict[str, LatencyPoint]:
    """The point that gives each level its figure (``LEVEL_RULE``); points the device named keep their level."""
    named = {p.level: p for p in points if p.level}
    if named:
        return named
    latencies = [summary(p.samples_ns)["latency_ns"] for p in points]
    chosen: dict[str, LatencyPoint] = {}
    spans: dict[str, int] = {}
    for first, last in find_runs(latencies, PLATEAU_TOLERANCE):
        run = points[first:last + 1]
        level = level_of(run[-1].working_set_bytes, 1, caches, None)
        if level != "dram" and len(run) > spans.get(level, 0):
            ranked = sorted(run, key=lambda p: summary(p.samples_ns)["latency_ns"])
            chosen[level], spans[level] = ranked[(len(ranked) - 1) // 2], len(run)
    below = 0
    for level, size in (("l1", caches.get("l1d")), ("l2", caches.get("l2")), ("l3", caches.get("l3"))):
        if not size:
            continue
        window = [p for p in points if 2 * below <= p.working_set_bytes <= LEVEL_FILL * size]
        if level not in chosen and window:  # no plateau: the window's median point
            ranked = sorted(window, key=lambda p: summary(p.samples_ns)["latency_ns"])
            chosen[level] = ranked[(len(ranked) - 1) // 2]
        below = size
    if points:
        largest = max(points, key=lambda p: p.working_set_bytes)
        if below and largest.working_set_bytes >= 2 * below:
            chosen["dram"] = largest
    return chosen


def _cycles(point: LatencyPoint, figure: Figure, mhz: float | None) -> tuple[float | None, float | None]:
    """(cycles of the headline, of the median): counted by the device, else ns x the clock."""
    if point.samples_cycles:
        ranked = summary(point.samples_cycles)
        return ranked["latency_ns"], ranked["median_ns"]
    if not mhz:
        return None, None
    return figure["latency_ns"] * mhz / 1e3, figure["median_ns"] * mhz / 1e3


def latency_levels(run: LatencyRecord, device: DeviceSection, clock: ClockSection, warnings: list[str],
                   kernel: str = "latency_chase") -> dict[str, LevelLatency]:
    """The ``latency_*`` keys of each ``memory.<level>`` the chase measured."""
    mhz, clock_source = (None, None) if device.get("id") != "cpu" else run_clock(clock)
    if device.get("id") != "cpu":
        mhz = run.definition.get("sm_clock_mhz")
        clock_source = run.definition.get("sm_clock_source")
    found: dict[str, LevelLatency] = {}
    chosen = level_points(run.points, device.get("caches") or {})
    dram = chosen.get("dram")
    named_by_sweep = not any(p.level for p in run.points)  # a device's own levels (GPU) are so by construction
    if dram is not None and named_by_sweep:
        dram_ns = summary(dram.samples_ns)["latency_ns"]
        for cache in [lv for lv in ("l1", "l2", "l3") if lv in chosen]:
            ratio = summary(chosen[cache].samples_ns)["latency_ns"] / dram_ns
            if ratio >= NOT_A_CACHE:  # the level's working sets answered at DRAM's latency: it held none of them
                del chosen[cache]
                warnings.append(f"latency: no {cache} plateau; its working sets answered at {ratio:.0%} of DRAM's "
                                f"latency, so this {cache} held less than sysfs says (a cache shared with other "
                                f"tenants, or a VM's): no memory.{cache}.latency_ns; see latency.curve")
    for level, point in chosen.items():
        figure = summary(point.samples_ns)
        cycles, median_cycles = _cycles(point, figure, mhz)
        entry: LevelLatency = {"latency_ns": figure["latency_ns"], "latency_median_ns": figure["median_ns"],
                 "latency_spread": figure["spread"], "latency_cycles": rounded(cycles, 2),
                 "latency_median_cycles": rounded(median_cycles, 2), "latency_clock_mhz": rounded(mhz, 1),
                 "latency_clock_source": ("clock64() on the SM" if point.samples_cycles else clock_source),
                 "latency_working_set_bytes": point.working_set_bytes, "latency_kernel": kernel}
        if cycles is not None and cycles < MIN_LOAD_TO_USE_CYCLES:
            entry["latency_measurement_error"] = (f"{cycles:.2f} cycles per dependent load is below any cache's "
                                                  f"load-to-use latency ({MIN_LOAD_TO_USE_CYCLES:g} cycles)")
            warnings.append(f"{level}: latency measurement error, not a ceiling: {entry['latency_measurement_error']}")
        found[level] = entry
    return found


def merge_levels(memory: dict[str, MemoryLevel], levels: dict[str, LevelLatency],
                 kernel: str = "latency_chase") -> dict[str, MemoryLevel]:
    """``memory`` with each level's latency keys added (a level no bandwidth kernel measured gets null GB/s)."""
    merged = dict(memory)
    for level, keys in levels.items():
        bandwidth: MemoryLevel = merged.get(level) or {"theoretical_gbps": None, "theoretical_source": NOT_BANDWIDTH,
                                                         "measured_gbps": None, "kernel": kernel}
        merged[level] = {**bandwidth, **keys}
    return merged


def loaded_section(run: LatencyRecord) -> dict[str, Any] | None:
    if not run.loaded and not run.loaded_definition:
        return None
    definition = {k: v for k, v in run.loaded_definition.items() if k != "idle_samples_ns"}
    idle = summary(run.loaded_definition["idle_samples_ns"]) if run.loaded_definition.get("idle_samples_ns") else None
    points = []
    for point in run.loaded:
        # A loaded point is its median sample: its fastest samples are those in which an injector lost its CPU
        # (less load), so the confirmed best of an idle chase would pick the least loaded moments.
        figure: dict[str, Any] = {**summary(point["samples_ns"]), "statistic": "median",
                                  "latency_ns": rounded(statistics.median(point["samples_ns"]), 3)}
        points.append({"delay_ticks": point["delay_ticks"], "injected_gbps": rounded(point["injected_gbps"], 2),
                       **figure, "of_idle": rounded(figure["latency_ns"] / idle["median_ns"], 3) if idle else None,
                       "retaken_samples": point.get("retaken_samples", 0),
                       "preempted_samples": point.get("preempted_samples", 0)})
    return {**definition, "idle": idle, "points": points}


def core_to_core_section(c2c: dict[str, Any]) -> dict[str, Any]:
    cpus = c2c.get("cpus", [])
    pairs = {pair: summary(samples) for pair, samples in c2c.get("samples_ns", {}).items()}
    found = [[pairs.get(f"{min(a, b)}-{max(a, b)}") or pairs.get(f"{a}-{b}") for b in cpus] for a in cpus]
    matrix = [[None if a == b or figure is None else figure["latency_ns"] for b, figure in zip(cpus, row)]
              for a, row in zip(cpus, found)]
    return {**{k: v for k, v in c2c.items() if k != "samples_ns"}, "matrix_ns": matrix, "pairs": pairs}


def latency_section(run: LatencyRecord, levels: dict[str, LevelLatency]) -> LatencySection:
    """The profile's ``latency`` section: the curve, the rule, the loaded curve and the matrices."""
    named = {id(point): level for level, point in level_points(run.points, {}).items()} if any(
        p.level for p in run.points) else {}
    by_size = {entry["latency_working_set_bytes"]: level for level, entry in levels.items()}
    curve: list[LatencyCurvePoint] = []
    for p in run.points:
        point: LatencyCurvePoint = {"working_set_bytes": p.working_set_bytes, **summary(p.samples_ns),
                                    "samples_cycles": [rounded(c, 1) for c in p.samples_cycles],
                                    "level": named.get(id(p)) or by_size.get(p.working_set_bytes)}
        if not p.samples_cycles:  # clock64() samples: a GPU's chase only
            del point["samples_cycles"]
        curve.append(point)
    section: LatencySection = {
        "definition": run.definition, "headline": HEADLINE, "level_rule": LEVEL_RULE, "curve": curve,
        "levels": {level: {k: entry[k] for k in ("latency_ns", "latency_cycles", "latency_spread",
                                                 "latency_working_set_bytes")}
                   for level, entry in levels.items()}}
    loaded = loaded_section(run)
    if loaded is not None:
        section["loaded"] = loaded
    if run.core_to_core is not None:
        section["core_to_core"] = core_to_core_section(run.core_to_core)
    if run.numa is not None:
        section["numa"] = run.numa
    return section
