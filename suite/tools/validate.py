"""``hwbench validate``'s arithmetic: how much work each real workload does, what the roofline predicts for it,
how far off that is, and whether the calibrated roofline predicts better than the theoretical one.

Nothing here runs a workload (``hwbench.workloads`` does, and hands over ``WorkloadRun`` records); everything
here is a pure function of those records and a ``Profile``, so it is tested on hand-made timings.

The model (Williams, Waterman and Patterson, "Roofline", CACM 52(4), 2009): a kernel of F FLOPs moving B bytes
needs at least max(F / peak, B / bandwidth) seconds. Each workload is predicted twice from the same profile:

* calibrated: ``compute.<precision>.measured_gflops`` and the measured bandwidth at ``<level>`` of the
  profile's kernels with the workload's access pattern (``Profile.pattern_bandwidth``: read-only kernels for a
  workload that writes nothing, kernels with normal stores otherwise), else ``memory.<level>.measured_gbps``;
* theoretical: ``compute.<precision>.theoretical_gflops`` (the paper peak at the nominal clock: what a
  datasheet gives, and what ``hwbench predict --theoretical`` uses) and ``memory.<level>.theoretical_gbps``.
  Where the profile has no paper bandwidth (a VM hides its SMBIOS tables), the prediction is still made when
  the workload is compute-bound even at the *measured* bandwidth: a paper bandwidth is never below a measured
  one, so it could only shorten the memory term, which is not the maximum. Otherwise there is no theoretical
  prediction for that workload (``theoretical: null``), and with none at all the verdict is ``no_theory``.

error = 100 x (measured - predicted) / predicted seconds: positive when the workload ran slower than the
roofline allows (the roofline is a bound, so that is the usual sign).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..errors import UsageError
from ..profile import Profile
from ..version import __version__
from ..workloads.result import LATENCY_KINDS, WorkloadRun
from .validate_latency import latency_bound, print_latency_bound

REPORT_VERSION = 1  # ``hwbench_validation`` in the report file (format: README, "hwbench validate")
CACHE_LEVELS = ("l1", "l2", "l3")  # nearest first; a working set that fits none is predicted with dram

# A workload predicted to take less than this is not one a roofline should be expected to predict: its fixed
# costs per call are a sizeable share of it, and a library does not reach its steady state. CPU: a NumPy call
# into OpenBLAS costs about 3 us even for an 8 x 8 matmul, and a 64 x 64 one (5.5 us predicted) took 19-23 us
# (2 threads, the CI machine, 2026-11-23). A 256 x 256 matmul (0.35 ms predicted) is kept: on that machine,
# when it was quiet (load average 0.6), it ran at 62-70 GFLOP/s, where 1024 and 2048 ran at 61-71. GPU: a
# launch costs 3-10 us (CUDA launch latency) and cuBLAS picks its kernel per call; 100 us keeps that under
# 10% (an assumption, awaiting a GPU).
MIN_PREDICTABLE_SECONDS = {"cpu": 1e-4, "gpu": 1e-4}


@dataclass(frozen=True)
class Counts:
    """The closed-form work of one call. ``bytes_allocated``: bytes written to lines the workload did not read
    first; a CPU's normal store reads such a line before writing it (write-allocate), a GPU's does not."""

    flops: int
    bytes_read: int
    bytes_written: int
    bytes_allocated: int
    working_set_bytes: int
    formula: str

    def bytes_moved(self, convention: str) -> int:
        """``stream``: each array read or written once (STREAM's convention); ``traffic``: plus write-allocate."""
        extra = self.bytes_allocated if convention == "traffic" else 0
        return self.bytes_read + self.bytes_written + extra


def counts(run: WorkloadRun) -> Counts:
    """The FLOPs and compulsory bytes of ``run``, in closed form (each array touched once; caches reuse the rest).

    matmul C = A B of n x n: 2n^3 FLOPs (n^3 multiply-adds: the GEMM count of LAPACK Working Note 41 and of
    every BLAS benchmark), A and B read, C written (beta = 0: C is not read), 3n^2 elements.
    stencil5 on rows x cols: each of the (rows-2)(cols-2) interior points takes 2 multiplications and 4
    additions (the expression as written: c0 u + c1 (N + S + W + E)); the grid is read once and the interior
    written once (neighbouring rows stay in cache).
    dot: n multiplications and n additions (2n: BLAS ddot's count), two vectors read.
    sum: n - 1 additions, one vector read.
    triad_two_pass, a = b + s c written as a = s c; a += b: 2n FLOPs; pass one reads c and writes a (lines not
    read first), pass two reads a and b and writes a (lines just read): 3n elements read, 2n written, n of them
    write-allocated.
    axpy z = a x + y (one fused elementwise kernel): 2n FLOPs, x and y read, z written."""
    size = run.element_bytes
    if run.kind == "matmul":
        (n,) = run.shape
        return Counts(2 * n**3, 2 * n * n * size, n * n * size, n * n * size, 3 * n * n * size,
                      "2n^3 FLOPs; A, B read, C written: 3n^2 elements")
    if run.kind == "stencil5":
        rows, cols = run.shape
        interior = (rows - 2) * (cols - 2)
        return Counts(6 * interior, rows * cols * size, interior * size, interior * size,
                      (rows * cols + interior) * size,
                      "6 FLOPs per interior point; grid read once, interior written once")
    (n,) = run.shape
    table = {  # kind -> (FLOPs, elements read, elements written, written without being read, distinct elements)
        "dot": (2 * n, 2 * n, 0, 0, 2 * n, "2n FLOPs; two vectors read"),
        "sum": (n - 1, n, 0, 0, n, "n - 1 FLOPs; one vector read"),
        "triad_two_pass": (2 * n, 3 * n, 2 * n, n, 3 * n, "2n FLOPs; c read, a written; a, b read, a written"),
        "axpy": (2 * n, 2 * n, n, n, 3 * n, "2n FLOPs; x, y read, z written"),
    }
    flops, read, written, allocated, distinct, formula = table[run.kind]
    return Counts(flops, read * size, written * size, allocated * size, distinct * size, formula)


def byte_convention(device: str, level: str) -> str:
    """The byte count that matches the roof: a CPU's ``memory.dram.measured_gbps`` counts actual traffic
    (write-allocate reads included, profile ``counting``), its ``memory.l1``-``l3`` count the loads and stores
    a kernel issues (STREAM convention); a GPU's stores allocate no read, so its two counts are the same."""
    return "traffic" if device == "cpu" and level == "dram" else "stream"


def memory_level(profile: Profile, working_set_bytes: int) -> str:
    """The nearest memory level that holds the working set: a level the profile measured, whose plateau's
    largest working set (``memory.<level>.working_set_bytes``) or, failing that, whose cache size
    (``device.caches``, per core x ``run.threads`` for the private L1 and L2 of a CPU) is at least as large."""
    memory, device = profile.data["memory"], profile.data["device"]
    caches = device.get("caches") or {}
    threads = (profile.data.get("run") or {}).get("threads") or 1
    gpu = profile.device_id.startswith("cuda")
    for level in CACHE_LEVELS:
        entry = memory.get(level)
        if not entry or entry.get("measured_gbps") is None:
            continue
        plateau = entry.get("working_set_bytes")
        if isinstance(plateau, list) and len(plateau) == 2:
            capacity = plateau[1]
        elif level == "l3":
            capacity = device.get("l3_total_bytes") or caches.get("l3")
        else:
            size = caches.get("l1d" if level == "l1" else level)
            capacity = size if gpu or size is None else size * threads
        if isinstance(capacity, (int, float)) and working_set_bytes <= capacity:
            return level
    return "dram"


@dataclass(frozen=True)
class Prediction:
    seconds: float | None
    bound: str | None  # "compute" or "memory"
    note: str | None = None  # why the theoretical prediction is what it is, when a paper figure is missing


def predict(profile: Profile, flops: int, bytes_moved: int, precision: str, level: str,
            theoretical: bool, read_only: bool | None = None) -> Prediction:
    """max(F / peak, B / bandwidth) with the profile's measured or paper roofs (module docstring). Measured,
    with ``read_only`` given: the bandwidth of the profile's kernels of that access pattern at ``level``
    (``Profile.pattern_bandwidth``), where it has some."""
    try:
        compute = profile.compute_time(flops, precision, theoretical)
    except UsageError:
        if not theoretical:
            raise
        return Prediction(None, None, f"compute.{precision}.theoretical_gflops unknown")
    pattern = None if theoretical or read_only is None else profile.pattern_bandwidth(level, read_only)
    if pattern is not None:
        memory = bytes_moved / (pattern[0] * 1e9)
        return Prediction(max(compute, memory), "compute" if compute >= memory else "memory",
                          f"memory roof {pattern[0]:.1f} GB/s from {pattern[1]}")
    try:
        memory = profile.memory_time(bytes_moved, level, theoretical)
    except UsageError:
        if not theoretical:
            raise
        if compute >= profile.memory_time(bytes_moved, level, theoretical=False):
            return Prediction(compute, "compute", f"memory.{level}.theoretical_gbps unknown: compute-bound even at "
                              "the measured bandwidth, predicted from the paper peak alone")
        return Prediction(None, None, f"memory.{level}.theoretical_gbps unknown: memory-bound, no theoretical "
                          "prediction")
    return Prediction(max(compute, memory), "compute" if compute >= memory else "memory")


def error_pct(measured_seconds: float, predicted_seconds: float | None) -> float | None:
    """100 x (measured - predicted) / predicted seconds."""
    if predicted_seconds is None:
        return None
    return 100.0 * (measured_seconds - predicted_seconds) / predicted_seconds


def exclusion(device: str, calibrated_seconds: float) -> str | None:
    """Why no roofline should be expected to predict a workload, or None (MIN_PREDICTABLE_SECONDS)."""
    floor = MIN_PREDICTABLE_SECONDS[device]
    if calibrated_seconds < floor:
        return (f"predicted {calibrated_seconds * 1e6:.3g} us, under the {floor * 1e6:g} us below which a call's "
                "fixed costs (dispatch, thread wake-up or launch, library set-up) are a sizeable share")
    return None


def required_precisions(device: str) -> tuple[str, ...]:
    """The compute roofs the workloads of ``device`` are predicted with (checked before anything runs)."""
    return ("fp64",) if device == "cpu" else ("fp32", "tensor_fp16")


def check_profile_fits(profile: Profile, device: str, precisions: tuple[str, ...] | None = None) -> None:
    """UsageError (exit 2) unless ``profile`` is of ``device`` ('cpu' or 'cuda:N') and has every roof needed."""
    if profile.device_id != device:
        raise UsageError(f"{profile.source} is a profile of {profile.device_id}, not of {device}: give a profile of "
                         f"{device} (hwbench run --device {device}) or --device {profile.device_id}")
    kind = "cpu" if device == "cpu" else "gpu"
    for precision in precisions or required_precisions(kind):
        profile.peak_gflops(precision)  # UsageError naming the missing roof
    profile.bandwidth_gbps("dram")


def workload_row(profile: Profile, run: WorkloadRun) -> dict:
    """One workload of the report (format: README, "hwbench validate")."""
    work = counts(run)
    level = memory_level(profile, work.working_set_bytes)
    convention = byte_convention(run.device, level)
    moved = work.bytes_moved(convention)
    calibrated = predict(profile, work.flops, moved, run.precision, level, theoretical=False,
                         read_only=work.bytes_written == 0)
    theory = predict(profile, work.flops, moved, run.precision, level, theoretical=True)
    return {
        "name": run.name, "library": run.library, "description": run.description, "precision": run.precision,
        "level": level, "flops": work.flops, "bytes": moved, "bytes_counting": convention,
        "counting": work.formula, "working_set_bytes": work.working_set_bytes,
        "intensity": round(work.flops / moved, 4) if moved else None,
        "seconds": run.seconds, "measured_gflops": round(work.flops / run.seconds / 1e9, 3),
        "threads": run.threads,
        "predicted_seconds": {"calibrated": calibrated.seconds, "theoretical": theory.seconds},
        "bound": {"calibrated": calibrated.bound, "theoretical": theory.bound},
        "error_pct": {"calibrated": _rounded(error_pct(run.seconds, calibrated.seconds)),
                      "theoretical": _rounded(error_pct(run.seconds, theory.seconds))},
        "calibrated_note": calibrated.note,
        "theoretical_note": theory.note,
        "excluded": exclusion(run.device, calibrated.seconds),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _median_abs(values: list[float]) -> float | None:
    return round(statistics.median(abs(v) for v in values), 2) if values else None


def summarize(rows: list[dict]) -> dict:
    """Medians of |error| over the workloads not excluded, the pairwise comparison, and the verdict.

    The verdict compares the two medians over the same workloads (those with both predictions); the
    calibrated median over every included workload is reported beside it."""
    included = [row for row in rows if row["excluded"] is None]
    if not included:
        raise UsageError("every workload was excluded as unpredictable (too short); nothing to validate: "
                         "run without --quick or on a larger device")
    paired = [row for row in included if row["error_pct"]["theoretical"] is not None]
    medians = {"calibrated": _median_abs([row["error_pct"]["calibrated"] for row in included]),
               "theoretical": _median_abs([row["error_pct"]["theoretical"] for row in paired])}
    compared = {"workloads": [row["name"] for row in paired],
                "calibrated": _median_abs([row["error_pct"]["calibrated"] for row in paired]),
                "theoretical": medians["theoretical"]}
    if not paired:
        verdict = "no_theory"
    elif compared["calibrated"] <= compared["theoretical"]:
        verdict = "calibrated_better"
    else:
        verdict = "calibrated_worse"
    return {"median_abs_error_pct": medians, "compared": compared, "verdict": verdict}


def exit_code(report: dict) -> int:
    """0, or 1 when the calibrated roofline predicts worse than the theoretical one on median."""
    return 1 if report["verdict"] == "calibrated_worse" else 0


def build_report(profile: Profile, runs: list[WorkloadRun], device_name: str, profile_label: str,
                 created_at: str) -> dict:
    """The whole report: header, one row per workload, medians, verdict (written by ``-o`` as YAML)."""
    rows = [workload_row(profile, run) for run in runs if run.kind not in LATENCY_KINDS]  # those: latency_bound
    threads = sorted({run.threads for run in runs if run.threads is not None and run.kind not in LATENCY_KINDS})
    report = {
        "hwbench_validation": REPORT_VERSION, "hwbench_version": __version__, "created_at": created_at,
        "device": {"id": profile.device_id, "name": device_name},
        "profile": profile_label,
        "threads": threads[0] if len(threads) == 1 else None,
        "roofs": {"calibrated": "compute.<precision>.measured_gflops; the best measured bandwidth at <level> of the "
                                "profile's kernels with the workload's access pattern (read-only, or normal "
                                "stores), else memory.<level>.measured_gbps",
                  "theoretical": "compute.<precision>.theoretical_gflops (nominal clock), "
                                 "memory.<level>.theoretical_gbps"},
        "workloads": rows,
        **summarize(rows), **latency_bound(profile, runs),
    }
    report["notes"] = notes(profile, report)
    return report


def notes(profile: Profile, report: dict) -> list[str]:
    """What a reader must know to read the medians: threads, missing paper figures, the verdict's basis."""
    lines = []
    measured_on = profile.data["device"].get("name")
    if measured_on != report["device"]["name"]:
        lines.append(f"the profile was measured on {measured_on}; the workloads ran on {report['device']['name']}")
    run_threads = (profile.data.get("run") or {}).get("threads")
    if report["threads"] is not None:
        lines.append(f"workloads ran on {report['threads']} thread(s); the profile's roofs were measured on "
                     f"{run_threads if run_threads is not None else 'the whole device'}")
    for level in sorted({row["level"] for row in report["workloads"] if row["theoretical_note"]}):
        reason = profile.data["memory"][level].get("theoretical_source") or "no reason given"
        lines.append(f"memory.{level}.theoretical_gbps is unknown ({reason}): a workload compute-bound even at the "
                     f"measured {level} bandwidth is predicted from the paper peak alone (a paper bandwidth is never "
                     "below a measured one); the others have no theoretical prediction")
    excluded = [row["name"] for row in report["workloads"] if row["excluded"]]
    if excluded:
        lines.append(f"kept out of the medians (no roofline should be expected to predict them): {', '.join(excluded)}")
    compared = report["compared"]
    if report["verdict"] == "no_theory":
        lines.append("no workload has a theoretical prediction: the profile lacks the paper figures it needs; "
                     "only the calibrated error is reported")
    else:
        lines.append(f"verdict over the {len(compared['workloads'])} workload(s) with both predictions: median "
                     f"|error| calibrated {compared['calibrated']}% vs theoretical {compared['theoretical']}%")
    return lines


# Rendering ------------------------------------------------------------------------------------------------------

TABLE_HEADER = ("workload", "level", "F/B", "GFLOP/s", "measured", "calibrated", "error", "theory", "error", "note")


def _ms(seconds: float | None) -> str:
    """3 significant digits: 0.352 ms, 22.6 ms, 1.28 s."""
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.3g} ms" if float(f"{seconds * 1e3:.3g}") < 1000 else f"{seconds:.3g} s"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def table_rows(report: dict) -> list[tuple[str, ...]]:
    """The header and one row per workload: measured time, both predictions and both errors side by side."""
    rows = [TABLE_HEADER]
    for row in report["workloads"]:
        predicted, error = row["predicted_seconds"], row["error_pct"]
        note = "excluded" if row["excluded"] else ("no theory" if predicted["theoretical"] is None else "")
        rows.append((row["name"], row["level"], f"{row['intensity']:.3g}", f"{row['measured_gflops']:,.1f}",
                     _ms(row["seconds"]), _ms(predicted["calibrated"]), _signed(error["calibrated"]),
                     _ms(predicted["theoretical"]), _signed(error["theoretical"]), note))
    return rows


def summary_lines(report: dict) -> list[str]:
    """The notes, then the medians (each over the workloads it covers) and the verdict."""
    medians, rows = report["median_abs_error_pct"], [row for row in report["workloads"] if not row["excluded"]]
    with_theory = sum(row["error_pct"]["theoretical"] is not None for row in rows)
    theory = "-" if medians["theoretical"] is None else f"{medians['theoretical']}%"
    return [*(f"note: {note}" for note in report["notes"]),
            f"median |error| on {report['device']['id']}: calibrated {medians['calibrated']}% ({len(rows)} "
            f"workloads), theoretical {theory} ({with_theory} with a theoretical prediction); verdict: "
            f"{report['verdict']}"]


def rich_table(report: dict):
    """The workloads as a rich Table; every cell is a ``Text`` (names are never read as console markup)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    header, *body = table_rows(report)
    title = f"hwbench validate: {report['device']['name']} ({report['device']['id']}), profile {report['profile']}"
    table = Table(title=Text(title), title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True)
    for column in header:
        table.add_column(column, justify="left" if column in ("workload", "level", "note") else "right")
    for row in body:
        table.add_row(*(Text(cell, style="dim" if row[-1] == "excluded" else "") for cell in row))
    return table


def to_markdown(report: dict) -> str:
    header, *body = table_rows(report)
    lines = [f"**hwbench validate** {report['device']['name']} (`{report['device']['id']}`), profile "
             f"`{report['profile']}`, {report['created_at']}", "",
             "| " + " | ".join(header) + " |",
             "| " + " | ".join("---" if c in ("workload", "level", "note") else "---:" for c in header) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    lines += ["", *(f"- {line}" for line in summary_lines(report))]
    return "\n".join(lines) + "\n"


def print_report(report: dict, output_format: str, console) -> None:
    """The report on stdout: a table with the notes and medians under it (``console``), or JSON, or Markdown."""
    import json
    import sys

    if output_format == "json":
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    elif output_format == "markdown":
        sys.stdout.write(to_markdown(report))
    else:
        from .render import print_table

        print_table(rich_table(report), console)
        for line in summary_lines(report):
            console.print(line, markup=False)
        print_latency_bound(report, console)
