"""``hwbench validate``'s report as rows for the shared exporters (``export.py``): per workload the roof it is
predicted with, the measured and predicted times, the errors, the fraction of the roof reached and its flags; then
the notes, each roofline's bound test and tightness, and the verdict; then the latency-bound section, when the
report has one. Reads the report dict ``tools.validate.build_report`` writes (which is also its JSON); computes
nothing."""

from __future__ import annotations

from .export import Document, Lines, Table, cells, figure_columns
from .validate import VERDICT_ROOFLINES

COLUMNS = figure_columns("workload", "roof", "level", "F/B", "GFLOP/s", "median", "calibrated", "error", "best",
                         "of roof",
                         "paper", "error", "@clock", "flags", words=("workload", "roof", "level", "flags"))
LATENCY_COLUMNS = figure_columns("workload", "loads", "ns/load", "best", "median", "predicted", "error",
                                 "roofline", "error", words=("workload",))
ROOF_LABELS = {"fma": "FMA", "add": "add", "mul": "mul", "scalar_add": "scalar", "gemm": "GEMM"}


def _ms_or_s(seconds: float | None) -> str:
    """3 significant digits: 0.352 ms, 22.6 ms, 1.28 s."""
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.3g} ms" if float(f"{seconds * 1e3:.3g}") < 1000 else f"{seconds:.3g} s"


def _ms(seconds: float | None) -> str:
    """Always in ms, 3 significant digits (the latency-bound times)."""
    return "-" if seconds is None else f"{seconds * 1e3:.3g} ms"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def _flags(row: dict) -> str:
    if row["excluded"]:
        return "excluded: " + row["excluded"].split(":")[0]
    flags = [f"VIOLATES {label}" for roofline, label in (("calibrated", "calibrated"), ("theoretical", "paper"))
             if row["violation"][roofline]]
    if row["predicted_seconds"]["theoretical"] is None:
        flags.append("no paper bound")
    return ", ".join(flags)


def workloads_table(report: dict) -> Table:
    """One row per workload: the roof it is predicted with, its median time, the calibrated and paper predictions of
    it with their errors, its confirmed-best time and the fraction of the calibrated bound it reached, and its flags
    (dim: excluded; red: a violation of a bound)."""
    rows = []
    for row in report["workloads"]:
        predicted, error = row["predicted_seconds"], row["error_pct"]
        fraction = row["fraction_of_roof"]["calibrated"]
        roof = f"{ROOF_LABELS.get(row['roof']['executes'], row['roof']['executes'])} {row['precision']}"
        flags = _flags(row)
        rows.append(cells(row["name"], roof, row["level"], f"{row['intensity']:.3g}" if row["intensity"] else "-",
                          f"{row['measured_gflops']:,.1f}", _ms_or_s(row["seconds"]), _ms_or_s(predicted["calibrated"]),
                          _signed(error["calibrated"]), _ms_or_s(row.get("best_seconds")),
                          "-" if fraction is None else f"{100 * fraction:.0f}%",
                          _ms_or_s(predicted["theoretical"]), _signed(error["theoretical"]),
                          _signed(error["theoretical_at_measured_clock"]), flags,
                          style="dim" if flags.startswith("excluded") else "bold red" if "VIOLATES" in flags else ""))
    return Table(f"hwbench validate: {report['device']['name']} ({report['device']['id']}), profile "
                 f"{report['profile']}", COLUMNS, tuple(rows))


def summary_lines(report: dict) -> list[str]:
    """The columns' legend, the notes, then each roofline's bound test and tightness (each figure with its basis)
    and the verdict."""
    lines = ["columns: median = the median time, GFLOP/s at it; calibrated = the prediction from the typical roofs "
             "(their kernels' medians), error against the median; best = the confirmed-best time; of roof = the "
             "calibrated bound (the ceilings) over it, above 100% without VIOLATES: past the bound within its "
             "tolerance; paper = the datasheet roofline at the nominal clock, @clock = its error at the measured "
             "clock"]
    lines += [f"note: {note}" for note in report["notes"]]
    for roofline in VERDICT_ROOFLINES:
        entry = report["rooflines"][roofline]
        label = "calibrated" if roofline == "calibrated" else "paper"
        tight = entry["tightness"]
        parts = [f"{kind.replace('_', '-')} {tight[kind]['median_abs_error_pct']}% over {len(tight[kind]['workloads'])}"
                 for kind in ("memory_bound", "compute_bound", "all") if tight[kind]["workloads"]]
        lines.append(f"{label}: {len(entry['violations'])} violation(s), {len(entry['no_bound'])} without a bound, of "
                     f"{len(report['in_verdict'])} workloads; median |error| {'; '.join(parts) or 'none'}")
    compared = report["compared"]
    lines.append(f"both predict {len(compared['workloads'])} workload(s) without violation: median |error| calibrated "
                 f"{compared['calibrated']}%, paper {compared['theoretical']}%")
    at_host = report.get("at_host_state") or {}
    compute = at_host.get("compute_bound") or {}  # report format 6 on
    parts = [f"{entry['median_abs_error_pct']}% over {len(entry['workloads'])} {kind} workload(s)"
             for entry, kind in ((at_host, "memory-bound"), (compute, "compute-bound")) if entry.get("workloads")]
    if parts:  # reports before format 5 carry no host state
        lines.append("beside the verdict, at the host's state while each program ran (its DRAM roof kernel timed "
                     "again and the cores' clock probed just before it): calibrated median |error| "
                     + "; ".join(parts))
    lines.append(f"verdict on {report['device']['id']}: {report['verdict']}")
    return lines


def latency_blocks(section: dict) -> tuple[Table, Lines]:
    """The latency-bound section (``validate_latency.latency_bound``): a row per workload, then its model."""
    rows = tuple(cells(row["name"], f"{row['dependent_loads']:,.0f}", f"{row['latency_ns'] or 0:.1f}",
                       _ms(row["best_seconds"]), _ms(row["seconds"]), _ms(row["predicted_seconds"]),
                       _signed(row["error_pct"]), _ms(row["roofline_seconds"]), _signed(row["roofline_error_pct"]))
                 for row in section["workloads"])
    median = section["median_abs_error_pct"]
    model = (f"model: {section['model']}; median |error| {median if median is not None else '-'}%"
             + (f"; {section['note']}" if section.get("note") else ""))
    return (Table("latency-bound workloads (predicted from the latency ceilings; not in the verdict)", LATENCY_COLUMNS,
                  rows, titled=True), Lines((model,)))


def validate_document(report: dict) -> Document:
    """The report for the exporters; its JSON is the report itself (what ``-o`` writes as YAML)."""
    latency = latency_blocks(report["latency_bound"]) if report.get("latency_bound") else ()
    return Document(f"**hwbench validate** {report['device']['name']} (`{report['device']['id']}`), profile "
                    f"`{report['profile']}`, {report['created_at']}",
                    (workloads_table(report), Lines(tuple(summary_lines(report))), *latency), data=report)
