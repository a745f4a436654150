"""``hwbench validate``'s report as a table, Markdown or JSON: per workload the roof it is predicted with, the
measured and predicted times, the errors, the fraction of the roof reached and its flags; then the notes, each
roofline's bound test and tightness, and the verdict. Reads the report dict ``tools.validate.build_report``
writes; computes nothing."""

from __future__ import annotations

from .validate import VERDICT_ROOFLINES
from .validate_latency import print_latency_bound

TABLE_HEADER = ("workload", "roof", "level", "F/B", "GFLOP/s", "measured", "calibrated", "error", "of roof", "paper",
                "error", "@clock", "flags")
ROOF_LABELS = {"fma": "FMA", "add": "add", "mul": "mul", "scalar_add": "scalar", "gemm": "GEMM"}


def _ms(seconds: float | None) -> str:
    """3 significant digits: 0.352 ms, 22.6 ms, 1.28 s."""
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.3g} ms" if float(f"{seconds * 1e3:.3g}") < 1000 else f"{seconds:.3g} s"


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


def table_rows(report: dict) -> list[tuple[str, ...]]:
    """The header and one row per workload: the roof it is predicted with, measured time, the calibrated and paper
    predictions with their errors, the fraction of the calibrated roof reached, and its flags."""
    rows: list[tuple[str, ...]] = [TABLE_HEADER]
    for row in report["workloads"]:
        predicted, error = row["predicted_seconds"], row["error_pct"]
        fraction = row["fraction_of_roof"]["calibrated"]
        roof = f"{ROOF_LABELS.get(row['roof']['executes'], row['roof']['executes'])} {row['precision']}"
        rows.append((row["name"], roof, row["level"], f"{row['intensity']:.3g}" if row["intensity"] else "-",
                     f"{row['measured_gflops']:,.1f}", _ms(row["seconds"]), _ms(predicted["calibrated"]),
                     _signed(error["calibrated"]), "-" if fraction is None else f"{100 * fraction:.0f}%",
                     _ms(predicted["theoretical"]), _signed(error["theoretical"]),
                     _signed(error["theoretical_at_measured_clock"]), _flags(row)))
    return rows


def summary_lines(report: dict) -> list[str]:
    """The notes, then each roofline's bound test and tightness (each figure with its basis) and the verdict."""
    lines = [f"note: {note}" for note in report["notes"]]
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
    lines.append(f"verdict on {report['device']['id']}: {report['verdict']}")
    return lines


def rich_table(report: dict):
    """The workloads as a rich Table; every cell is a ``Text`` (names are never read as console markup)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    header, *body = table_rows(report)
    title = f"hwbench validate: {report['device']['name']} ({report['device']['id']}), profile {report['profile']}"
    table = Table(title=Text(title), title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True)
    for column in header:
        table.add_column(column, justify="left" if column in ("workload", "roof", "level", "flags") else "right")
    for row in body:
        style = "dim" if row[-1].startswith("excluded") else ("bold red" if "VIOLATES" in row[-1] else "")
        table.add_row(*(Text(cell, style=style) for cell in row))
    return table


def to_markdown(report: dict) -> str:
    header, *body = table_rows(report)
    lines = [f"**hwbench validate** {report['device']['name']} (`{report['device']['id']}`), profile "
             f"`{report['profile']}`, {report['created_at']}", "",
             "| " + " | ".join(header) + " |",
             "| " + " | ".join("---" if c in ("workload", "roof", "level", "flags") else "---:" for c in header) + " |"]
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
