"""Who this process is in a cluster job, read from the environment the launcher sets (nothing is asked of
the scheduler): Slurm's ``srun`` variables, or an MPI launcher's when ``--mpi`` is given.

Slurm's variables (sbatch(1) and srun(1), "OUTPUT ENVIRONMENT VARIABLES"): ``SLURM_JOB_ID``, ``SLURM_STEP_ID``,
``SLURM_PROCID`` (the global rank), ``SLURM_LOCALID`` (the rank on this node), ``SLURM_NODEID`` (the node's
index in the job), ``SLURMD_NODENAME`` (the node's name as Slurm knows it), ``SLURM_NTASKS`` and
``SLURM_TASKS_PER_NODE`` (e.g. ``4(x2),1``: how many tasks run on each node).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import UsageError

SLURM_KEYS = {"SLURM_JOB_ID": "job_id", "SLURM_STEP_ID": "step_id", "SLURM_PROCID": "procid",
              "SLURM_LOCALID": "localid", "SLURM_NODEID": "nodeid", "SLURMD_NODENAME": "nodename",
              "SLURM_NTASKS": "ntasks", "SLURM_TASKS_PER_NODE": "tasks_per_node"}
INTEGER_KEYS = {"procid", "localid", "nodeid", "ntasks"}


def tasks_on_node(tasks_per_node: str, node_index: int) -> int | None:
    """Tasks on node ``node_index`` from ``SLURM_TASKS_PER_NODE`` (``4(x2),1`` is 4, 4, 1); None if unreadable.
    The repetitions are counted, never expanded (``1(x300000000)`` is one number, not a list of 3 x 10^8)."""
    first = 0  # the index of the first node the current part describes
    found = None
    for part in tasks_per_node.split(","):
        match = re.fullmatch(r"\s*(\d{1,9})(?:\(x(\d{1,9})\))?\s*", part, re.ASCII)
        if not match:
            return None
        repeat = int(match.group(2) or 1)
        if found is None and first <= node_index < first + repeat:
            found = int(match.group(1))
        first += repeat
    return found


@dataclass(frozen=True)
class JobContext:
    """This process's place in a job: its Slurm variables (as read, ids as integers) and, under ``--mpi``,
    its MPI rank, the world size and the ranks on its host."""

    slurm: Mapping[str, object]
    mpi_rank: int | None = None
    mpi_size: int | None = None
    mpi_local_rank: int | None = None
    mpi_local_size: int | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> JobContext:
        """The Slurm variables that are set; a malformed id is bad input (exit 2), never a guess."""
        environ = os.environ if environ is None else environ
        slurm: dict[str, object] = {}
        for variable, key in SLURM_KEYS.items():
            value = environ.get(variable)
            if value is None or value == "":
                continue
            if key in INTEGER_KEYS:
                if not (value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 9):
                    raise UsageError(f"{variable}={value!r} is not a non-negative integer (0-999999999); run under "
                                     "srun, or unset it")
                slurm[key] = int(value)
            else:
                slurm[key] = value
        return cls(slurm)

    def with_mpi(self, rank: int, size: int, local_rank: int, local_size: int) -> JobContext:
        return JobContext(self.slurm, rank, size, local_rank, local_size)

    @property
    def rank(self) -> int | None:
        """The global rank: MPI's under ``--mpi``, else Slurm's ``SLURM_PROCID``."""
        return self.mpi_rank if self.mpi_rank is not None else self.slurm.get("procid")  # type: ignore[return-value]

    @property
    def local_rank(self) -> int | None:
        return self.mpi_local_rank if self.mpi_local_rank is not None else self.slurm.get("localid")  # type: ignore

    @property
    def ranks_on_host(self) -> int | None:
        """How many ranks run on this host (MPI's shared-memory communicator, else SLURM_TASKS_PER_NODE)."""
        if self.mpi_local_size is not None:
            return self.mpi_local_size
        spec, node = self.slurm.get("tasks_per_node"), self.slurm.get("nodeid")
        if isinstance(spec, str) and isinstance(node, int):
            return tasks_on_node(spec, node)
        return None

    @property
    def shares_host(self) -> bool:
        """True when other ranks of the job may run on this host (so file names need the rank). Unknown
        (a Slurm rank without SLURM_TASKS_PER_NODE) counts as shared: a longer name never collides."""
        if self.rank is None:
            return False
        on_host = self.ranks_on_host
        return on_host is None or on_host > 1

    def run_section(self) -> dict:
        """The keys ``run.slurm`` and ``run.mpi`` of a profile (only those that apply)."""
        section: dict = {}
        if self.slurm:
            section["slurm"] = dict(self.slurm)
        if self.mpi_rank is not None:
            section["mpi"] = {"rank": self.mpi_rank, "size": self.mpi_size, "local_rank": self.mpi_local_rank,
                              "local_size": self.mpi_local_size}
        return section
