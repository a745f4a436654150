"""Cache levels from a working-set sweep: find the plateaus of each curve, name them by the cache sizes, and
write ``memory.l1``, ``memory.l2``, ``memory.l3`` and the profile's ``caches`` section (sizes, the sweep's
definition, every curve, the plateaus).

Plateau rule (the Empirical Roofline Toolkit's: a level is a run of consecutive working-set sizes whose
bandwidth stays flat): walking the points from the smallest working set up, a plateau is a maximal run of
consecutive points whose best GB/s all lie within ``PLATEAU_TOLERANCE`` (10%) of the run's median; a run of
fewer than ``MIN_PLATEAU_POINTS`` points is a transition between levels, not a level. 10% keeps the L3
plateau of a noisy shared machine whole while the steps between levels (L1 to L2 is 2x or more on every
current core, L3 to DRAM 1.5x or more) always split.

Naming: a plateau is named by the smallest cache that holds its largest working set per thread (``l1`` up to
the L1D, ``l2`` up to the L2, ``l3`` up to the thread's share of the L3: the instance, or the total over the
threads, whichever is smaller; ``dram`` beyond). Where two plateaus of a curve get one name, the longer is
kept (the faster on a tie). The sizes are those read from sysfs (``device.caches``).

Nothing here imports the CPU session or the kernels: the sweep arrives as data (``CacheSweep``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..record import CacheSweep, ClockSection, DeviceSection, SweepCurve
from ..stats import rounded
from .types import CachesSection, MemoryLevel

PLATEAU_TOLERANCE = 0.10
MIN_PLATEAU_POINTS = 2
CACHE_LEVELS = ("l1", "l2", "l3")
LIMIT_TOLERANCE = 0.01  # as profile.build: this far above a port limit is a measurement error
CACHE_COUNTING = ("bytes the kernel loads and stores (STREAM convention); measured_traffic_gbps adds the "
                  "write-allocate reads of temporal stores")


@dataclass(frozen=True)
class Plateau:
    """A run of consecutive points of one curve (indices ``first`` to ``last``, inclusive)."""

    kernel: str
    threads: int
    level: str
    first: int
    last: int
    low_bytes: int  # working set over all threads
    high_bytes: int
    best_gbps: float  # the highest best GB/s over the run: the level's ceiling
    median_gbps: float  # the median of the run's best GB/s
    noise: float = 0.0  # (ceiling - median of the run's median GB/s) / ceiling: see ``plateau_noise``

    @property
    def points(self) -> int:
        return self.last - self.first + 1


def find_runs(rates: Sequence[float], tolerance: float = PLATEAU_TOLERANCE,
              min_points: int = MIN_PLATEAU_POINTS) -> list[tuple[int, int]]:
    """(first, last) index of every plateau of ``rates`` (smallest working set first): maximal runs of
    consecutive values within ``tolerance`` of the run's median, at least ``min_points`` long."""
    runs, start = [], 0
    while start < len(rates):
        end = start
        while end + 1 < len(rates) and _flat(rates[start:end + 2], tolerance):
            end += 1
        if end - start + 1 >= min_points:
            runs.append((start, end))
        start = end + 1
    return runs


def _flat(values: Sequence[float], tolerance: float) -> bool:
    middle = statistics.median(values)
    return middle > 0 and all(abs(v - middle) <= tolerance * middle for v in values)


def level_of(per_thread_bytes: float, threads: int, caches: dict[str, Any], l3_total: int | None) -> str:
    """The smallest cache level that holds ``per_thread_bytes`` when ``threads`` threads each hold as much."""
    l1d, l2, l3 = caches.get("l1d"), caches.get("l2"), caches.get("l3")
    if l1d and per_thread_bytes <= l1d:
        return "l1"
    if l2 and per_thread_bytes <= l2:
        return "l2"
    shares = [size for size in (l3, (l3_total or 0) // max(threads, 1)) if size]
    if shares and per_thread_bytes <= min(shares):
        return "l3"
    return "dram"


def curve_plateaus(curve: SweepCurve, caches: dict[str, Any], l3_total: int | None,
                   tolerance: float = PLATEAU_TOLERANCE) -> list[Plateau]:
    """The named plateaus of ``curve``, one per level at most, smallest working set first."""
    rates = [best for _, best, _ in curve.points]
    found: dict[str, Plateau] = {}
    for first, last in find_runs(rates, tolerance):
        run = rates[first:last + 1]
        high = curve.points[last][0]
        noise = plateau_noise(max(run), [median for _, _, median in curve.points[first:last + 1]])
        plateau = Plateau(curve.kernel, curve.threads, level_of(high / curve.threads, curve.threads, caches, l3_total),
                          first, last, curve.points[first][0], high, max(run), statistics.median(run), noise)
        kept = found.get(plateau.level)
        if kept is None or (plateau.points, plateau.median_gbps) > (kept.points, kept.median_gbps):
            found[plateau.level] = plateau
    return sorted(found.values(), key=lambda p: p.first)



def plateau_noise(ceiling: float, medians: Sequence[float]) -> float:
    """(ceiling - the median of the plateau's per-point median GB/s) / ceiling.

    The level's ceiling is the best sample over the plateau's points; how far the typical sample of the plateau
    sits below it is the figure's noise, as ``stats.top_spread`` is a kernel's (the compare gate reads it). It
    covers both the samples of one working set and the plateau's points against each other."""
    return max(0.0, (ceiling - statistics.median(medians)) / ceiling) if ceiling > 0 and medians else 0.0


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def level_entry(level: str, curve: SweepCurve, plateau: Plateau, sweep: CacheSweep, cores: int,
                nominal_mhz: float | None, clock: tuple[float | None, str | None],
                warnings: list[str]) -> MemoryLevel:
    """``memory.<level>`` from the best kernel's plateau, in the layout of ``profile.build.memory_entry``."""
    mhz, clock_source = clock
    measured = plateau.best_gbps
    per_cycle_theory = sweep.bytes_per_cycle_per_core.get(level, {}).get(curve.kernel)
    theoretical = per_cycle_theory * cores * nominal_mhz / 1e3 if per_cycle_theory and nominal_mhz else None
    at_clock = per_cycle_theory * cores * mhz / 1e3 if per_cycle_theory and mhz else None
    per_core = measured * 1e3 / (mhz * cores) if mhz else None
    on_cpu = len(curve.on_cpu) == len(curve.points)  # measured at every point
    entry: MemoryLevel = {
        "theoretical_gbps": rounded(theoretical),
        "theoretical_source": sweep.theory_source.get(level, "not modelled"),
        "theoretical_at_measured_clock_gbps": rounded(at_clock),
        "measured_gbps": rounded(measured),
        "noise": rounded(plateau.noise, 4),
        "on_cpu": rounded(statistics.median(curve.on_cpu[plateau.first:plateau.last + 1]), 3) if on_cpu else None,
        "kernel": curve.kernel,
        "counting": CACHE_COUNTING,
        "measured_stream_gbps": rounded(measured),
        "stream_kernel": curve.kernel,
        "measured_traffic_gbps": rounded(measured * curve.traffic_per_stream),
        "efficiency": rounded(_ratio(measured, theoretical), 4),
        "efficiency_at_measured_clock": rounded(_ratio(measured, at_clock), 4),
        "clock_mhz": rounded(mhz, 1),
        "clock_source": clock_source if mhz else None,
        "bytes_per_cycle": rounded(measured * 1e3 / mhz, 1) if mhz else None,
        "bytes_per_cycle_clock": "core" if mhz else None,
        "bytes_per_cycle_per_core": rounded(per_core, 2),
        "bytes_per_cycle_per_core_theoretical": per_cycle_theory,
        "working_set_bytes": [plateau.low_bytes, plateau.high_bytes],
        "working_set_per_thread_bytes": [plateau.low_bytes // curve.threads, plateau.high_bytes // curve.threads],
        "threads": curve.threads,
        "throttled": None,
    }
    if not on_cpu:  # written only where measured (its place in the YAML is kept above)
        del entry["on_cpu"]
    if per_core is not None and per_cycle_theory and per_core > per_cycle_theory * (1 + LIMIT_TOLERANCE):
        entry["measurement_error"] = (f"{per_core:.1f} bytes per cycle per core at {mhz:.0f} MHz is above the "
                                      f"{per_cycle_theory:g} the core's ports allow ({sweep.theory_source[level]})")
        warnings.append(f"{level}: measurement error, not a ceiling: {entry['measurement_error']}")
    return entry


def run_clock(clock: ClockSection) -> tuple[float | None, str | None]:
    """The clock bytes per cycle are counted at: the scalar probe's (the add chain alone on every selected core:
    the cache kernels only load and store, so the clock under FMA load, which can be lower, does not apply to
    them; on the CI machine 3120 MHz under FMA load against 3177 alone, enough to put an L1 copy at 64.6 of
    64 bytes per cycle), else the one under FMA load."""
    if clock.get("scalar_mhz"):
        return clock["scalar_mhz"], "clock.scalar_mhz (add-chain probe alone on every selected core)"
    if clock.get("measured_mhz"):
        return clock["measured_mhz"], "clock.measured_mhz (add-chain probe under the FMA kernel)"
    return None, None


def cache_levels(sweep: CacheSweep, device: DeviceSection, clock: ClockSection,
                 warnings: list[str]) -> tuple[dict[str, MemoryLevel], CachesSection]:
    """(``memory.l1``/``l2``/``l3`` entries, the ``caches`` section) of a sweep. ``memory.dram`` stays STREAM's:
    the sweep's largest working sets (2-4x the last-level cache) still hit in it, so its DRAM plateau is kept in
    ``caches.plateaus`` only."""
    caches = device.get("caches") or {}
    l3_total = device.get("l3_total_bytes")
    found = [(curve, curve_plateaus(curve, caches, l3_total)) for curve in sweep.curves]
    widest = max((curve.threads for curve in sweep.curves), default=1)
    cores = device.get("cores") or widest
    entries: dict[str, MemoryLevel] = {}
    for level in CACHE_LEVELS:
        candidates = [(curve, p) for curve, plateaus in found if curve.threads == widest
                      for p in plateaus if p.level == level]
        if not candidates:
            continue
        curve, plateau = max(candidates, key=lambda c: c[1].best_gbps)
        entries[level] = level_entry(level, curve, plateau, sweep, cores, clock.get("nominal_mhz"),
                                     run_clock(clock), warnings)
    missing = [level for level in CACHE_LEVELS
               if level not in entries and caches.get("l1d" if level == "l1" else level)]
    if missing:
        warnings.append(f"cache sweep: no plateau found for {', '.join(missing)} on {widest} thread(s) (the curve "
                        f"is not flat within {PLATEAU_TOLERANCE:.0%} over two sizes there); see caches.curves")
    section: CachesSection = {
        "sizes": {**caches, "l3_total": l3_total},
        "sweep": sweep.definition,
        "plateau_rule": {"tolerance": PLATEAU_TOLERANCE, "min_points": MIN_PLATEAU_POINTS,
                         "rule": "maximal runs of consecutive sizes within the tolerance of the run's median, named "
                                 "by the smallest cache holding the run's largest working set per thread"},
        "theory": {"bytes_per_cycle_per_core": sweep.bytes_per_cycle_per_core, "sources": sweep.theory_source},
        "curves": [{"kernel": c.kernel, "form": c.form, "threads": c.threads,
                    "working_set_bytes": [p[0] for p in c.points],
                    "best_gbps": [rounded(p[1]) for p in c.points],
                    "median_gbps": [rounded(p[2]) for p in c.points]} for c in sweep.curves],
        "plateaus": [{"kernel": p.kernel, "threads": p.threads, "level": p.level,
                      "working_set_bytes": [p.low_bytes, p.high_bytes], "points": p.points,
                      "best_gbps": rounded(p.best_gbps), "median_gbps": rounded(p.median_gbps),
                      "noise": rounded(p.noise, 4)}
                     for _, plateaus in found for p in plateaus],
    }
    return entries, section
