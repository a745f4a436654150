"""A directory of saved profiles as a history: each ceiling's trend, regressions against a baseline.

Layout written by ``hwbench run --save``: ``results/<host>/<device>/<created_at>.yaml`` (device ``cuda:0``
becomes ``cuda0``). ``hwbench history DIR`` reads every profile under DIR, groups them by host and device,
orders each group by ``created_at`` and compares every run with the baseline (the oldest, or a chosen
file) by the rules of ``hwbench compare`` (regressed, inconclusive, improved, with their causes). A lasting
change is named by its first run: the start of the unbroken streak of regressed runs that reaches the latest
one, so one noisy run in the middle of a series is shown but never named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..profile import Profile
from ..tools.compare import REGRESSED, Row, compare_row, figures_of
from .fleet_load import node_name
from .noise import run_to_run, widened


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
                         "(results/ by default)")
    profiles, skipped = [], []
    for path in sorted(directory.rglob("*.yaml")):
        try:
            profiles.append(Profile.load(path))
        except UsageError as error:
            skipped.append(f"skipped {error}")
    if not profiles:
        raise UsageError(f"{directory}: no hwbench profiles found; save some with 'hwbench run --save'")
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


def build_history(profiles: list[Profile], threshold: float, baseline: Profile | None = None) -> list[Series]:
    groups: dict[tuple[str, str, str], list[Profile]] = {}
    for profile in profiles:
        device = profile.data["device"]
        # node_name: the host and its node_label, so the ranks of one host (--save under srun or --mpi: "rank N")
        # or labelled runs are separate series, as in 'hwbench fleet'
        key = (node_name(profile.data), str(device["id"]), str(device.get("name", "")))
        groups.setdefault(key, []).append(profile)
    if baseline is not None:
        device = baseline.data["device"]
        if not any(key[1] == device["id"] and key[2] == device.get("name", "") for key in groups):
            raise UsageError(f"--baseline {baseline.source} is {device['id']} '{device.get('name')}', a device "
                             "with no profile in the history; choose a profile of the same device")
    history = []
    for (host, device_id, name), runs in sorted(groups.items()):
        runs.sort(key=lambda p: str(p.data["created_at"]))
        base = runs[0]
        if baseline is not None and baseline.data["device"]["id"] == device_id:
            # The chosen file is usually one of the runs: use that run, so the table marks it.
            base = next((run for run in runs if _same_file(run, baseline)), baseline)
        before = figures_of(base)
        per_run = [figures_of(run) for run in runs]
        # Each run against the baseline with the run-to-run noise of the rest of the series (noise.py: the pair
        # compared is left out), as 'compare --history' reads it.
        models = [run_to_run(runs, run, exclude=(base, run)) for run in runs]
        per_run = [widened(figures, model) for figures, model in zip(per_run, models)]
        before_of = [widened(before, model) for model in models]
        keys = list(before) + [k for ceilings in per_run for k in ceilings if k not in before]
        keys = list(dict.fromkeys(keys))
        rows = [{key: compare_row(base_figures.get(key), ceilings.get(key), threshold)
                 for key in keys if key in ceilings or key in base_figures}
                for base_figures, ceilings in zip(before_of, per_run)]
        history.append(Series(host, device_id, name, runs, base, keys, rows))
    return history
