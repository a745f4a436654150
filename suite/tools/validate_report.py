"""Read the report ``hwbench validate -o FILE`` writes for the roofline chart: its workloads as marks.

The format (``hwbench_validation: 1`` to ``6``; docs/validation.md, "The report") is a mapping with ``workloads``,
a list of mappings each with a unique ``name``, ``intensity`` (FLOP/byte; flops / bytes when null),
``measured_gflops``, ``precision``, ``level``, ``error_pct`` ({calibrated, theoretical, ...}), ``excluded`` (null,
or why it is kept out of the verdict) and, from version 2, ``violation`` ({roofline: true when the workload ran
faster than that roofline allows beyond the measured noise}). What the chart reads is checked, types included (a
wrong type is never dropped silently); a damaged file is refused with one line naming the problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import UsageError
from ..profile.reading import BoundedLoader, read_text
from ..safe_text import one_line, shown
from .validate import REPORT_VERSION

# Every version up to the one hwbench writes: 2 added per-workload violations and the roof each is predicted with;
# 3 reads each workload's ``seconds`` (and so ``measured_gflops``) as its confirmed-best time, where 1, 2, 4 and 5
# have the median (4 judges violations on ``best_seconds``, so its red crosses stand at the median rate of a
# program whose good moments beat a bound): a chart of version 3 reports beside others mixes the two. 5 adds the
# host's state beside each program (``host_state``, ``at_host_state``), and 6 the cores' clock in it
# (``host_state.clock_*``, ``at_host_state.compute_bound``); the chart reads neither.
FORMAT_VERSIONS = tuple(range(1, REPORT_VERSION + 1))
VIOLATION_LABELS = {"calibrated": "calibrated", "theoretical": "paper"}


@dataclass(frozen=True)
class WorkloadMark:
    """One workload of a validation report, where the chart puts it: (intensity, measured GFLOP/s)."""

    name: str
    intensity: float
    measured_gflops: float
    precision: str | None
    calibrated_error_pct: float | None  # 100 x (measured - predicted) / predicted seconds, calibrated roofs
    excluded: str | None  # why no roofline should predict it; None when it counts
    violates: tuple[str, ...] = ()  # the rooflines ("calibrated", "paper") it ran faster than, beyond the noise


@dataclass(frozen=True)
class ValidationReport:
    source: str
    device_name: str | None
    workloads: list[WorkloadMark]


def _positive(value: object) -> float | None:
    number = _finite(value)
    return number if number is not None and number > 0 else None


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def load_validation_report(path: str | Path) -> ValidationReport:
    """The report at ``path``; a UsageError (one line: the file, the problem, the fix) when it cannot be read
    or is not a report of a version in ``FORMAT_VERSIONS`` with well-formed workloads."""
    source = str(path)
    fix = "give a report written by 'hwbench validate -o FILE'"

    def refuse(problem: str) -> UsageError:
        return UsageError(f"--validation {source}: {problem}; {fix}")

    text = read_text(path, "validation report", fix)  # bounded: a regular file, a size cap
    try:
        data = yaml.load(text, Loader=BoundedLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise refuse(f"not valid YAML{f' (line {mark.line + 1})' if mark else ''}") from None
    except RecursionError:
        raise refuse("nested too deeply") from None
    if not isinstance(data, dict) or "hwbench_validation" not in data:
        raise refuse("not a validation report (no hwbench_validation key)")
    version = data["hwbench_validation"]
    if version not in FORMAT_VERSIONS or isinstance(version, bool):
        raise refuse(f"format version {shown(version)} is not one this hwbench reads "
                     f"({', '.join(map(str, FORMAT_VERSIONS))})")
    workloads = data.get("workloads")
    if not isinstance(workloads, list):
        raise refuse("'workloads' is missing or not a list")
    marks: list[WorkloadMark] = []
    for index, entry in enumerate(workloads):
        where = f"workloads[{index}]"
        if not isinstance(entry, dict):
            raise refuse(f"{where} is not a mapping")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise refuse(f"{where}.name is missing or not text")
        if any(mark.name == name for mark in marks):
            raise refuse(f"{where}: workload name {shown(name)} is used twice")
        where = f"{where} ({one_line(name, 40)})"
        numbers = {key: _positive(entry.get(key)) for key in ("intensity", "measured_gflops")}
        flops, moved = _positive(entry.get("flops")), _positive(entry.get("bytes"))
        if entry.get("intensity") is None and flops and moved:  # the writer leaves it null only if it could
            numbers["intensity"] = flops / moved                # not divide; recompute it from the counts
        checked: dict[str, float] = {}
        for key, value in numbers.items():
            if value is None:
                raise refuse(f"{where}.{key} is {shown(entry.get(key))}, not a positive finite number")
            checked[key] = value
        excluded = entry.get("excluded")
        if excluded is not None and not isinstance(excluded, str):
            raise refuse(f"{where}.excluded is {shown(excluded)}: give null or a reason")
        errors = entry.get("error_pct")
        if errors is not None and not isinstance(errors, dict):
            raise refuse(f"{where}.error_pct is {shown(errors)}: give a mapping of roofline to a number or null")
        calibrated = (errors or {}).get("calibrated")
        if calibrated is not None and _finite(calibrated) is None:
            raise refuse(f"{where}.error_pct.calibrated is {shown(calibrated)}: give a finite number or null")
        precision = entry.get("precision")
        if precision is not None and not isinstance(precision, str):
            raise refuse(f"{where}.precision is {shown(precision)}: give a precision's name (fp64, ...) or null")
        flags = entry.get("violation")
        well_formed = isinstance(flags, dict) and all(v in (True, False, None) for v in flags.values())
        if flags is not None and not well_formed:
            raise refuse(f"{where}.violation is {shown(flags)}: give a mapping of roofline to true, false or null")
        violates = tuple(VIOLATION_LABELS[key] for key in VIOLATION_LABELS if (flags or {}).get(key) is True)
        marks.append(WorkloadMark(name, checked["intensity"], checked["measured_gflops"], precision,
                                  _finite(calibrated), excluded, violates))
    device = data.get("device")
    device_name = device.get("name") if isinstance(device, dict) else None
    if device is not None and (not isinstance(device, dict) or not isinstance(device_name, (str, type(None)))):
        raise refuse(f"device is {shown(device)}: give a mapping with the device's name")
    return ValidationReport(source, device_name, marks)
