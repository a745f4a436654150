"""File names of profiles when one command writes several (``--device cuda:all``, ``all``, ranks of a job).

Every profile is named by its host and device, and by its rank where several ranks of a job share the host
(two Slurm tasks each measuring "cuda:0" of their own binding, or two CPU shares): no two ranks ever write one
file, whatever the shared filesystem. Files are still written atomically (``profile.files.write_atomic``).

    -o DIR         DIR/<host>-<device>[-rank<N>].yaml
    --save [DIR]   DIR/<host>/<device>/<created_at>[-rank<N>].yaml   (DIR default: hwbench-results/; read by history)
"""

from __future__ import annotations

import re
from pathlib import Path

from ..profile.types import ProfileMapping
from .job import JobContext


def safe(text: str) -> str:
    """A path component from user text (a host name): letters, digits, '.', '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "unknown"


def device_tag(data: ProfileMapping) -> str:
    """``cuda:1`` -> ``cuda1``; ``cpu`` stays."""
    return safe(str(data["device"]["id"]).replace(":", ""))


def rank_suffix(job: JobContext) -> str:
    return f"-rank{job.rank}" if job.shares_host else ""


def profile_file(directory: Path, data: ProfileMapping, job: JobContext) -> Path:
    """``-o DIR``: DIR/<host>-<device>[-rank<N>].yaml."""
    return Path(directory) / f"{safe(str(data.get('host', 'unknown')))}-{device_tag(data)}{rank_suffix(job)}.yaml"


def saved_file(root: Path, data: ProfileMapping, job: JobContext) -> Path:
    """``--save [DIR]``: DIR/<host>/<device>/<YYYYmmddTHHMMSSZ>[-rank<N>].yaml, a numeric suffix if taken (by
    an earlier run of this rank in the same second)."""
    directory = Path(root) / safe(str(data.get("host", "unknown"))) / device_tag(data)
    stem = re.sub(r"[-:]", "", str(data["created_at"])) + rank_suffix(job)
    path, suffix = directory / f"{stem}.yaml", 1
    while path.exists():
        path, suffix = directory / f"{stem}-{suffix}.yaml", suffix + 1
    return path


def label_rank(data: dict, job: JobContext) -> None:
    """Where several ranks share a host, each rank's profile is its own member of a fleet: its ``node_label``
    (which ``hwbench fleet`` shows as "host (label)") names the rank, unless HWBENCH_NODE_LABEL set one."""
    if job.shares_host and not data.get("node_label"):
        data["node_label"] = f"rank {job.rank}"


def record_job(data: dict, job: JobContext) -> None:
    """This process's place in the job, in its profile: ``run.slurm`` / ``run.mpi``, and the rank as
    ``node_label`` where ranks share the host (``label_rank``)."""
    data["run"].update(job.run_section())
    label_rank(data, job)
