"""A directory of saved profiles as a history: each ceiling's trend, regressions against a baseline.

Layout written by ``hwbench run --save``: ``results/<host>/<device>/<created_at>.yaml`` (device ``cuda:0``
becomes ``cuda0``). ``hwbench history DIR`` reads every profile under DIR, groups them by host and device,
orders each group by ``created_at`` and compares every run with the baseline (the oldest, or a chosen
file) by the rules of ``hwbench compare`` (regressed, inconclusive, improved, with their causes), each
figure's noise widened by the run-to-run noise of the quiet runs before it whose figure did not regress
(``_judged``). A lasting change is named by its first run: the start of the unbroken streak of regressed runs
that reaches the latest one, so one noisy run in the middle of a series is shown but never named.
``history_document`` turns the series into tables for the shared exporters (``export.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UsageError
from ..limits import DEFAULT_SAVE_DIR
from ..profile import Profile, device_model
from .compare import IMPROVED, INCONCLUSIVE, REGRESSED, Row, compare_row, figures_of
from .export import Cell, Column, Document, Lines, Table
from .figures import Ceiling
from .fleet_load import no_profiles_found, node_name, profile_paths, read_in_workers, read_profile
from .noise import history_runs, model_of, widened


@dataclass(frozen=True)
class Series:
    """The runs of one device on one host, oldest first, each compared with ``baseline``."""

    host: str
    device: str
    name: str
    runs: list[Profile]
    baseline: Profile
    keys: list[str]
    rows: list[dict[str, Row]]  # per run: ceiling key -> comparison with the baseline

    @property
    def latest_regressed(self) -> list[str]:
        return [key for key, row in self.rows[-1].items() if row.verdict == REGRESSED]

    def lasting_since(self, key: str) -> Profile | None:
        """The first run of the unbroken streak of runs in which ``key`` regressed, up to the latest; None when
        the latest run did not regress."""
        first = None
        for run, row in zip(reversed(self.runs), reversed(self.rows)):
            cell = row.get(key)
            if cell is None or cell.verdict != REGRESSED:
                break
            first = run
        return first


def load_profiles(directory: Path) -> tuple[list[Profile], list[str]]:
    """Every profile under ``directory`` and a note for each YAML file that is not one."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory; give the folder 'hwbench run --save' writes to "
                         f"({DEFAULT_SAVE_DIR}/ by default)")
    skipped: list[str] = []
    paths = profile_paths([directory], skipped)  # a folder that cannot be listed is a note, not silence
    results = read_in_workers(paths, read_profile)  # in worker processes from fleet_load.PARALLEL_FROM files on
    profiles = [result for result in results if isinstance(result, Profile)]
    skipped += [result for result in results if isinstance(result, str)]
    if not profiles:
        raise no_profiles_found([directory], skipped)
    return profiles, skipped


def load_history(paths: list[Path]) -> tuple[list[Profile], list[str]]:
    """The profiles of ``compare --history``: each path a profile file or a folder read as ``load_profiles``."""
    profiles: list[Profile] = []
    skipped: list[str] = []
    for path in paths:
        if path.is_dir():
            found, notes = load_profiles(path)
            profiles += found
            skipped += notes
        else:
            profiles.append(Profile.load(path))
    return profiles, skipped


def _same_file(a: Profile, b: Profile) -> bool:
    return Path(a.source).resolve() == Path(b.source).resolve()


def _streak(earlier: list[tuple[dict[str, Ceiling], dict[str, Row]]], key: str) -> int:
    """How many of the latest earlier runs regressed on ``key`` in a row (0: the last one did not)."""
    count = 0
    for _, verdicts in reversed(earlier):
        row = verdicts.get(key)
        if row is None or row.verdict != REGRESSED:
            break
        count += 1
    return count


def _judged(runs: list[Profile], per_run: list[dict[str, Ceiling]], base: Profile, before: dict[str, Ceiling],
            keys: list[str], threshold: float) -> list[dict[str, Row]]:
    """Each run against the baseline, oldest first, with the run-to-run noise (noise.py) of the quiet runs before
    it: what a CI job storing every run knows when that run arrives. A figure that regressed in the runs just
    before it (a streak reaching the judged run) is left out of that noise: it may be the start of a lasting change,
    which must never widen the noise that judges its next run; once a later run came back, the excursion counts as
    the machine's noise. The baseline is never its own history, as in 'compare --history'."""
    quiet_ids = {id(run) for run in history_runs(runs, base)[0]}
    earlier: list[tuple[dict[str, Ceiling], dict[str, Row]]] = []  # each earlier quiet run: figures, verdicts
    rows = []
    for run, figures in zip(runs, per_run):
        streaks = {key: _streak(earlier, key) for key in keys}
        normal = [{key: figure for key, figure in past.items() if i < len(earlier) - streaks.get(key, 0)}
                  for i, (past, _) in enumerate(earlier)]
        model = model_of(normal)
        base_figures, current = widened(before, model), widened(figures, model)
        row = {key: compare_row(base_figures.get(key), current.get(key), threshold)
               for key in keys if key in current or key in base_figures}
        rows.append(row)
        if id(run) in quiet_ids and run is not base:
            earlier.append((figures, row))
    return rows


def build_history(profiles: list[Profile], threshold: float, baseline: Profile | None = None) -> list[Series]:
    groups: dict[tuple[str, str, str], list[Profile]] = {}
    for profile in profiles:
        device = profile.data["device"]
        # node_name: the host and its node_label, so the ranks of one host (--save under srun or --mpi: "rank N")
        # or labelled runs are separate series, as in 'hwbench fleet'
        key = (node_name(profile.data), str(device["id"]), device_model(device))  # "AMD EPYC" alone: Zen 3 = Zen 5
        groups.setdefault(key, []).append(profile)
    if baseline is not None:
        device = baseline.data["device"]
        if not any(key[1] == device["id"] and key[2] == device_model(device) for key in groups):
            raise UsageError(f"--baseline {baseline.source} is {device['id']} '{device_model(device)}', a device "
                             "with no profile in the history; choose a profile of the same device")
    history = []
    names = [(host, device_id, str(runs[0].data["device"].get("name", ""))) for (host, device_id, _), runs in
             groups.items()]
    for (host, device_id, model), runs in sorted(groups.items()):
        # Shown by its name; by its model (family and model numbers too) where two series share host and name.
        name = str(runs[0].data["device"].get("name", ""))
        name = model if names.count((host, device_id, name)) > 1 else name
        runs.sort(key=lambda p: str(p.data["created_at"]))
        base = runs[0]
        if baseline is not None and baseline.data["device"]["id"] == device_id:
            # The chosen file is usually one of the runs: use that run, so the table marks it.
            base = next((run for run in runs if _same_file(run, baseline)), baseline)
        before = figures_of(base)
        per_run = [figures_of(run) for run in runs]
        keys = list(before) + [k for ceilings in per_run for k in ceilings if k not in before]
        keys = list(dict.fromkeys(keys))
        rows = _judged(runs, per_run, base, before, keys, threshold)
        history.append(Series(host, device_id, name, runs, base, keys, rows))
    return history


# The report's rows ------------------------------------------------------------------------------------------

MARKS = {REGRESSED: "!", IMPROVED: "+", INCONCLUSIVE: "?"}
LEGEND = ("* baseline. Change vs the baseline; ! regressed (beyond the threshold and the noise), + improved, "
          "? inconclusive (worse, inside the noise or unstable)")


def _cell(row: Row | None, baseline: bool) -> Cell:
    """A run's figure, with its change from the baseline and its verdict's mark (a regression in red)."""
    if row is None or row.current is None:
        return Cell("-")
    value = f"{row.current:,.0f}" if row.unit == "MHz" else f"{row.current:,.1f}"
    if baseline or row.change is None:
        return Cell(value)
    return Cell(f"{value} {row.change:+.1%}{MARKS.get(row.verdict, ' ')}", "bold red" if row.verdict == REGRESSED
                else "")


def series_table(series: Series) -> Table:
    """A row per run, a column per ceiling (its group and name over its unit); the baseline run is starred."""
    units: dict[str, str] = {}
    for row in series.rows:
        for key, cell in row.items():
            units.setdefault(key, cell.unit)
    columns = [Column("run", words=True)]
    columns += [Column(key, units.get(key, ""), stacked=True) for key in series.keys]
    rows = tuple((Cell(str(run.data["created_at"]) + (" *" if run is series.baseline else "")),
                  *(_cell(row.get(key), run is series.baseline) for key in series.keys))
                 for run, row in zip(series.runs, series.rows))
    lasting = [f"{key} regressed from {since.data['created_at']} on" for key in series.latest_regressed
               if (since := series.lasting_since(key)) is not None]
    return Table(f"{series.name} ({series.device}) on {series.host}: {len(series.runs)} runs, baseline "
                 f"{series.baseline.data['created_at']}", tuple(columns), rows,
                 LEGEND + "".join(f"; {line}" for line in lasting), titled=True)


def _series_data(series: Series) -> dict:
    """A series as JSON: each run (its file and time) with its rows against the baseline, as computed."""
    return {"host": series.host, "device": series.device, "name": series.name, "baseline": series.baseline.source,
            "runs": [{"source": run.source, "created_at": str(run.data["created_at"]),
                      "rows": [asdict(row[key]) for key in series.keys if key in row]}
                     for run, row in zip(series.runs, series.rows)],
            "latest_regressed": series.latest_regressed,
            "regressed_since": {key: str(since.data["created_at"]) for key in series.latest_regressed
                                if (since := series.lasting_since(key)) is not None}}


def history_document(history: list[Series], threshold: float) -> Document:
    """Each series' table, with a line under it when its latest run regressed against the baseline; its JSON is
    every run's rows as computed."""
    blocks: list[Table | Lines] = []
    for series in history:
        blocks.append(series_table(series))
        if series.latest_regressed:
            blocks.append(Lines((f"REGRESSION in the latest run of {series.device} on {series.host}: "
                                 f"{', '.join(series.latest_regressed)}",)))
    data = {"threshold": threshold, "regressed": any(series.latest_regressed for series in history),
            "series": [_series_data(series) for series in history]}
    return Document(f"**hwbench history**: {len(history)} device(s), threshold {threshold:.0%}", tuple(blocks),
                    data=data)
