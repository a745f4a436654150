"""The MPI path for real: two ranks started by the ``mpich`` wheel's ``mpiexec`` on this machine, each measuring
its own share of the CPUs, then the OSU ping-pong between them, then rank 0's gather and fleet report.

Needs ``pip install 'hwbench[mpi]' mpich`` (the test extra installs both); skipped without them, except under
CI (``CI=true``), where a missing MPI fails the test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from hwbench.profile import Profile, json_schema

pytestmark = pytest.mark.slow


def find_mpiexec() -> str | None:
    """The mpiexec beside this Python (the mpich wheel's), else one on PATH; a fail under CI when missing."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        found = None
    else:
        beside = Path(sys.executable).parent / "mpiexec"
        found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mpi4py and mpiexec are required in CI: pip install 'hwbench[test]' (mpi4py, mpich)")
        pytest.skip("mpi4py or mpiexec missing: pip install mpi4py mpich")
    return found


def test_two_ranks_gather_their_profiles_interconnect_and_fleet_report(tmp_path):
    mpiexec = find_mpiexec()
    out = tmp_path / "gathered"
    out.mkdir()
    command = [mpiexec, "-n", "2", sys.executable, "-m", "hwbench", "run", "--device", "cpu", "--quick", "--mpi",
               "-k", "fma_fp64,triad", "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    files = sorted(out.glob("*.yaml"))
    assert [path.name.rsplit("-", 1)[-1] for path in files] == ["rank0.yaml", "rank1.yaml"]
    shares = []
    for rank, path in enumerate(files):
        data = yaml.safe_load(path.read_text())
        jsonschema.Draft202012Validator(json_schema()).validate(data)
        Profile.load(path)
        assert data["run"]["mpi"] == {**data["run"]["mpi"], "rank": rank, "size": 2, "local_size": 2}
        assert data["node_label"] == f"rank {rank}"
        shares.append(set(data["run"]["cpu_share"]["cpus"]))
        assert set(data["run"]["cpus"]) == shares[-1]  # measured on its share, nowhere else
        assert [k["name"] for k in data["kernels"]] == ["triad", "fma_fp64"] and all(
            k["validated"] for k in data["kernels"])
        (pair,) = data["interconnect"]["mpi"]["pairs"]
        assert pair["ranks"] == [0, 1]
        assert [row["bytes"] for row in pair["latency"]] == [1 << k for k in range(23)]  # 1 B .. 4 MiB
        assert [row["bytes"] for row in pair["bandwidth"]] == [1 << k for k in range(23)]
        assert all(row["latency_us"] > 0 for row in pair["latency"]) and all(
            row["gbps"] > 0 for row in pair["bandwidth"])
        assert data["interconnect"]["mpi"]["library"]  # MPI_Get_library_version's first line
    assert shares[0].isdisjoint(shares[1])  # the two ranks never measured the same cores
    # rank 0's fleet report: two members (the ranks' node_label tells them apart), fewer than 3: not judged
    assert "fleet clean: none of 2 devices" in result.stdout
    assert result.stderr.count("written to") == 2


@pytest.mark.parametrize("ranks, message", [
    ([["-o", "{missing}"]] * 2, "rank 0: -o {missing}: --mpi writes one profile per device"),
    ([["-k", "triad", "-o", "{out}"], ["-k", "fma_fp64", "-o", "{out}"]], "the ranks were given different"),
])
def test_bad_input_stops_every_rank_with_exit_2(tmp_path, ranks, message):
    """A check that fails on one rank (rank 0's output folder) or differs between ranks (MPMD launch with two
    commands) stops every rank before anything is measured: one line each, exit 2, no rank left waiting."""
    mpiexec = find_mpiexec()
    places = {"missing": str(tmp_path / "missing"), "out": str(tmp_path)}
    command = [mpiexec]
    for index, extra in enumerate(ranks):
        command += [":"] if index else []
        command += ["-n", "1", sys.executable, "-m", "hwbench", "run", "--device", "cpu", "--quick", "--mpi",
                    *(arg.format(**places) for arg in extra)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("hwbench: error:") for line in lines)
    assert all(message.format(**places) in line for line in lines)
    assert list(tmp_path.glob("*.yaml")) == []


FAKE_GPU_RANK = """
import sys
sys.path.insert(0, {tests!r})
from fake_cupy import FakeNvml, make_cupy
sys.modules["cupy"] = make_cupy(devices=3)
sys.modules["pynvml"] = FakeNvml()
from hwbench.gpu import links, session, stream
stream.MIN_ARRAY_BYTES = 4 << 20
links.BUFFER_BYTES = {{True: 1 << 16, False: 1 << 16}}
session.RepetitionPolicy.for_mode = classmethod(lambda cls, quick: cls(warmups=0, min_repetitions=2, min_seconds=0.0))
sys.argv = ["hwbench", "run", "--device", "cuda:all", "--mpi", "--quick", "-k", "triad,fma_fp32", "-o", {out!r}]
from hwbench.cli import main
main()
"""


def test_an_mpi_rank_with_three_fake_gpus_writes_links_and_nccl(tmp_path):
    """The GPU side of --mpi on the stand-in, in one rank: the three GPUs concurrently under the ranks' barrier,
    the P2P matrix, the NCCL all-reduce over the three (one process, one NCCL group), the gather."""
    mpiexec = find_mpiexec()
    script = tmp_path / "rank.py"
    script.write_text(FAKE_GPU_RANK.format(tests=str(Path(__file__).parent), out=str(tmp_path)))
    result = subprocess.run([mpiexec, "-n", "1", sys.executable, str(script)], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    files = sorted(tmp_path.glob("*.yaml"))
    assert [path.name.split("-")[-1] for path in files] == ["cuda0.yaml", "cuda1.yaml", "cuda2.yaml"]
    for path in files:
        data = yaml.safe_load(path.read_text())
        jsonschema.Draft202012Validator(json_schema()).validate(data)
        assert data["run"]["peers"]["concurrent"] and data["run"]["mpi"]["size"] == 1
        assert len(data["links"]["pairs"]) == 6
        nccl = data["interconnect"]["nccl"]
        assert nccl["members"] == 3 and "error" not in nccl
        for row in nccl["sizes"]:  # n = 3: busbw = algbw x 4/3
            assert row["busbw_gbps"] == pytest.approx(row["algbw_gbps"] * 4 / 3, rel=1e-3, abs=1e-4)  # 4 decimals
        assert data["interconnect"]["mpi"]["pairs"] == []  # one rank: no ping-pong
    assert "fleet clean: none of 3 devices" in result.stdout
