"""``hwbench validate``'s latency-bound section: programs whose next address depends on the last load (a random
walk over a CSR graph, a chain of hash-table lookups; ``hwbench.workloads.cpu_latency``), predicted from the
profile's latency ceilings, with the roofline's prediction beside. They are kept out of the roofline verdict.

The model: a chain of dependent loads cannot overlap (each address is the previous load's value), so

    time = steps x dependent loads per step x the load-to-use latency at the workload's footprint

the serial-latency bound of a pointer chase (Little's law with one request in flight: Little, Oper. Res. 9(3),
1961; Hennessy and Patterson, *Computer Architecture: A Quantitative Approach*, 6th ed., ch. 2, on memory
latency). The latency at a footprint is the profile's chase curve (``latency.curve``) interpolated in log2 of
the working set, or ``memory.dram.latency_ns`` beyond its largest working set: the chase measured the same
random, dependent access over the same number of bytes. The arithmetic between two loads (a few cycles) is not
modelled. The roofline's prediction: the bytes those loads bring in (one 64-byte line each) at
``memory.dram.measured_gbps``. The measured time is the workload's K-th fastest sample, the rule of the
latency figure itself (``stats.CEILING_RULE``); ``median_error_pct`` compares the median sample.
"""

from __future__ import annotations

import math
import statistics

from ..profile import Profile
from ..profile.types import ProfileMapping
from ..workloads.result import LATENCY_KINDS, WorkloadRun

LINE_BYTES = 64
MODEL = ("time = steps x dependent loads per step x load-to-use latency at the workload's footprint "
         "(latency.curve interpolated in log2 of the working set, memory.dram.latency_ns beyond it), against the "
         "workload's K-th fastest sample; roofline: one 64-byte line per load at memory.dram.measured_gbps")


def latency_at(data: ProfileMapping, footprint: int) -> tuple[float | None, str]:
    """(ns of one dependent load over ``footprint`` bytes, where the figure comes from)."""
    curve = [(p["working_set_bytes"], p["latency_ns"]) for p in (data.get("latency") or {}).get("curve", [])
             if p.get("latency_ns")]
    dram = (data["memory"].get("dram") or {}).get("latency_ns")
    if not curve or footprint >= max(ws for ws, _ in curve):
        return dram, "memory.dram.latency_ns"
    lower = max(((ws, ns) for ws, ns in curve if ws <= footprint), default=curve[0])
    upper = min((ws, ns) for ws, ns in curve if ws >= footprint)
    if upper[0] == lower[0]:
        return lower[1], "latency.curve"
    share = (math.log2(footprint) - math.log2(lower[0])) / (math.log2(upper[0]) - math.log2(lower[0]))
    return lower[1] + share * (upper[1] - lower[1]), "latency.curve (interpolated)"


def _error(measured: float, predicted: float | None) -> float | None:
    return round(100 * (measured - predicted) / predicted, 2) if predicted else None


def latency_row(profile: Profile, run: WorkloadRun) -> dict:
    details = run.details
    loads = details["steps"] * details["dependent_loads_per_step"]
    ns, source = latency_at(profile.data, details["footprint_bytes"])
    predicted = loads * ns * 1e-9 if ns else None
    dram = profile.data["memory"].get("dram")
    gbps = dram.get("measured_gbps") if dram else None
    roofline = loads * LINE_BYTES / (gbps * 1e9) if gbps else None
    # The latency is a confirmed best (the K-th fastest chase sample): the workload's time is read the same way,
    # the K-th fastest of its samples (noise only slows a chain of misses); the median is kept beside it.
    best = run.best_seconds
    return {"name": run.name, "kind": run.kind, "description": run.description, "library": run.library,
            "footprint_bytes": details["footprint_bytes"], "dependent_loads": round(loads, 1),
            "latency_ns": round(ns, 3) if ns else None, "latency_source": source, "best_seconds": best,
            "seconds": run.seconds, "samples": list(run.samples), "predicted_seconds": predicted,
            "error_pct": _error(best, predicted), "median_error_pct": _error(run.seconds, predicted),
            "roofline_seconds": roofline, "roofline_error_pct": _error(best, roofline)}


def latency_bound(profile: Profile, runs: list[WorkloadRun]) -> dict:
    """``{"latency_bound": section}`` of the report, or {} when no latency-bound workload ran."""
    rows = [latency_row(profile, run) for run in runs if run.kind in LATENCY_KINDS]
    if not rows:
        return {}
    errors = [abs(row["error_pct"]) for row in rows if row["error_pct"] is not None]
    note = None if errors else ("the profile has no latency ceilings (memory.dram.latency_ns): measure them with "
                                "'hwbench run --kernels latency' or a full run")
    return {"latency_bound": {"model": MODEL, "workloads": rows,
                              "median_abs_error_pct": round(statistics.median(errors), 2) if errors else None,
                              "in_verdict": False, **({"note": note} if note else {})}}
