"""Many devices and many ranks without a cluster: Slurm naming from SLURM_* variables, the step barrier, the
multi-device run and the GPU peer-to-peer matrix on the NumPy stand-in for CuPy with several fake GPUs, the
interconnect arithmetic (OSU, nccl-tests), the CPU shares of ranks on one host, and the bad-input exits."""

from __future__ import annotations

import copy
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from hwbench import catalog
from hwbench.cli import app
from hwbench.cluster import devices as devices_module
from hwbench.cluster.job import JobContext, tasks_on_node
from hwbench.cluster.mpi import choose_cpu_share, cpu_share
from hwbench.cluster.naming import profile_file, saved_file
from hwbench.cluster.osu import one_way_latency_us, window_bandwidth_gbps
from hwbench.cluster.sync import ThreadSteps, synchronised
from hwbench.errors import MeasurementError, UsageError
from hwbench.gpu import session as gpu_session
from hwbench.gpu import stream as gpu_stream
from hwbench.gpu.allreduce import algorithm_bandwidth_gbps, bus_bandwidth_gbps
from hwbench.profile import json_schema

SLURM = {"SLURM_JOB_ID": "81234", "SLURM_STEP_ID": "0", "SLURM_PROCID": "5", "SLURM_LOCALID": "1",
         "SLURM_NODEID": "2", "SLURMD_NODENAME": "gpu-node-07", "SLURM_NTASKS": "8", "SLURM_TASKS_PER_NODE": "2(x4)"}


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


# Slurm: the job context and the file names -------------------------------------------------------------


def test_slurm_variables_become_the_run_section(monkeypatch):
    for name, value in SLURM.items():
        monkeypatch.setenv(name, value)
    job = JobContext.from_environment()
    assert job.run_section() == {"slurm": {"job_id": "81234", "step_id": "0", "procid": 5, "localid": 1, "nodeid": 2,
                                           "nodename": "gpu-node-07", "ntasks": 8, "tasks_per_node": "2(x4)"}}
    assert job.rank == 5 and job.local_rank == 1 and job.ranks_on_host == 2 and job.shares_host


def test_tasks_per_node_is_read_as_slurm_writes_it():
    assert [tasks_on_node("4(x2),1", node) for node in range(4)] == [4, 4, 1, None]
    assert tasks_on_node("2,3", 1) == 3 and tasks_on_node("garbage", 0) is None


def test_no_two_ranks_share_a_file_name(profile_data, tmp_path):
    """8 ranks on 4 nodes, 2 per node, every rank measuring 'cuda:0' of its own binding and the same second."""
    names = set()
    for procid in range(8):
        environ = {**SLURM, "SLURM_PROCID": str(procid), "SLURM_LOCALID": str(procid % 2),
                   "SLURM_NODEID": str(procid // 2)}
        data = {**profile_data, "host": f"node{procid // 2}", "device": {**profile_data["device"], "id": "cuda:0"}}
        job = JobContext.from_environment(environ)
        names.add(profile_file(tmp_path, data, job))
        names.add(saved_file(tmp_path, data, job))
    assert len(names) == 16
    assert profile_file(tmp_path, data, job).name == "node3-cuda0-rank7.yaml"
    assert saved_file(tmp_path, data, job).relative_to(tmp_path).as_posix() == \
        "node3/cuda0/20261122T120000Z-rank7.yaml"


def test_one_task_per_node_or_no_slurm_keeps_the_plain_names(profile_data, tmp_path):
    single = JobContext.from_environment({**SLURM, "SLURM_TASKS_PER_NODE": "1(x8)"})
    assert not single.shares_host and profile_file(tmp_path, profile_data, single).name == "testhost-cpu.yaml"
    plain = JobContext.from_environment({})
    assert plain.run_section() == {} and saved_file(tmp_path, profile_data, plain).name == "20261122T120000Z.yaml"


def test_a_malformed_slurm_id_is_bad_input():
    with pytest.raises(UsageError, match="SLURM_PROCID='x1' is not a non-negative integer"):
        JobContext.from_environment({"SLURM_PROCID": "x1"})


def test_srun_save_dir_writes_a_rank_named_profile_with_the_slurm_keys(profile_data, tmp_path, monkeypatch):
    """`srun hwbench run --device cpu --save DIR` on rank 5 (2 tasks per node): the measurement is replaced by a
    hand-made profile, everything after it (run.slurm, naming, writing) is the real path."""
    for name, value in SLURM.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("hwbench.run.path.measure", lambda target, options: copy.deepcopy(profile_data))
    result = invoke("run", "--device", "cpu", "--quick", "--save", str(tmp_path / "shared"))
    assert result.exit_code == 0, result.output
    saved = tmp_path / "shared" / "testhost" / "cpu" / "20261122T120000Z-rank5.yaml"
    data = yaml.safe_load(saved.read_text())
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    assert data["run"]["slurm"]["job_id"] == "81234" and data["run"]["slurm"]["procid"] == 5
    assert (tmp_path / "hwbench-cpu.yaml").exists()  # -o's default is unchanged


# The step barrier ----------------------------------------------------------------------------------------


def test_threads_start_every_step_together_and_a_finished_one_is_not_waited_for():
    steps = {"a": 5, "b": 5, "c": 2}  # c has fewer kernels (another GPU model): it leaves after its 2
    barrier = ThreadSteps(len(steps))
    log: list[tuple[str, int, str]] = []
    lock = threading.Lock()

    def member(name: str) -> None:
        report = synchronised(None, barrier)
        for step in range(steps[name]):
            with lock:
                log.append((name, step, "arrive"))
            report(f"kernel {step}", step, steps[name])
            with lock:
                log.append((name, step, "start"))
            time.sleep(0.001 * (ord(name) - ord("a")))  # uneven kernels
        barrier.leave()

    threads = [threading.Thread(target=member, args=(name,)) for name in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads)
    for step in range(5):  # nobody starts a step before every member still running has arrived at it
        running = [name for name in steps if steps[name] > step]
        first_start = min(i for i, entry in enumerate(log) if entry[1:] == (step, "start"))
        arrived = {entry[0] for entry in log[:first_start] if entry[1:] == (step, "arrive")}
        assert arrived == set(running)


def test_the_outer_barrier_is_taken_once_per_step_and_left_once():
    class Outer:
        steps, left = 0, 0

        def step(self):
            Outer.steps += 1

        def leave(self):
            Outer.left += 1

    barrier = ThreadSteps(3, Outer())
    threads = [threading.Thread(target=lambda: ([barrier.step() for _ in range(4)], barrier.leave()))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert (Outer.steps, Outer.left) == (4, 1)


# Several fake GPUs ------------------------------------------------------------------------------------------


@pytest.fixture
def fake_gpus(monkeypatch):
    """Three fake GPUs: 0 and 1 joined by 4 NVLink 4.0 links (nvmlNvlinkVersion_t 6), 2 on PCIe only, with no peer
    access to 0."""
    from fake_cupy import FakeNvml, install, make_cupy

    cupy = make_cupy(devices=3, peer=lambda device, other: {device, other} != {0, 2})
    nvml = FakeNvml()
    nvml.nvlinks = {0: [(1, nvml.NVML_NVLINK_VERSION_4_0)] * 4, 1: [(0, nvml.NVML_NVLINK_VERSION_4_0)] * 4}
    install(monkeypatch, cupy, nvml)
    monkeypatch.setattr(gpu_stream, "MIN_ARRAY_BYTES", 4 << 20)
    monkeypatch.setattr(gpu_session.RepetitionPolicy, "for_mode", classmethod(
        lambda cls, quick: cls(warmups=0, min_repetitions=2, min_seconds=0.0)))
    from hwbench.gpu import links

    monkeypatch.setattr(links, "BUFFER_BYTES", {True: 1 << 16, False: 1 << 16})
    return cupy


def test_links_matrix_on_three_fake_gpus(fake_gpus):
    from hwbench.gpu.links import measure_links

    section = measure_links([0, 1, 2], quick=True)
    pairs = {(p["source"], p["target"]): p for p in section["pairs"]}
    assert len(pairs) == 6 and section["devices"] == ["cuda:0", "cuda:1", "cuda:2"]
    nvlink = pairs[("cuda:0", "cuda:1")]
    assert nvlink["link"] == "nvlink" and nvlink["theoretical_gbps"] == 100.0  # 4 links x 25 GB/s (NVLink 4)
    assert nvlink["peer_access"] and nvlink["sm_read"]["gbps"] > 0
    pcie = pairs[("cuda:0", "cuda:2")]
    # PCIe gen 5 x16 (the links' maximum: an idle GPU downshifts, the copies run at the maximum)
    assert pcie["link"] == "pcie" and pcie["theoretical_gbps"] == pytest.approx(16 * 32 * 128 / 130 / 8, abs=1e-3)
    assert not pcie["peer_access"] and "sm_read" not in pcie and "sm_bidirectional" not in pcie  # no peer access
    kernel_both = nvlink["sm_bidirectional"]
    assert kernel_both["total_gbps"] == pytest.approx(kernel_both["forward"]["gbps"] + kernel_both["reverse"]["gbps"],
                                                      rel=1e-3)
    assert pairs[("cuda:1", "cuda:2")]["peer_access"] and "sm_read" in pairs[("cuda:1", "cuda:2")]
    both = nvlink["ce_bidirectional"]
    assert both["total_gbps"] == pytest.approx(both["forward"]["gbps"] + both["reverse"]["gbps"], rel=1e-3)
    assert fake_gpus.fake_peers.enabled == {(0, 1), (1, 0), (1, 2), (2, 1)}
    copies = {(source, target) for source, target, _ in fake_gpus.fake_peers.copies}
    assert copies == {(s, t) for s in range(3) for t in range(3) if s != t}
    # show prints the matrix: one row per pair, the PCIe pair without SM copies
    from rich.console import Console

    from hwbench.tools.render import print_table
    from hwbench.tools.render_cluster import links_table

    console = Console(width=150, record=True, color_system=None)
    print_table(links_table(section), console)
    rows = [line.split() for line in console.export_text().splitlines() if line.strip().startswith("cuda:")]
    assert len(rows) == 6
    pcie_row = next(row for row in rows if row[:2] == ["cuda:0", "cuda:2"])
    assert pcie_row[2] == "pcie" and pcie_row[-2:] == ["-", "-"]
    assert next(row for row in rows if row[:2] == ["cuda:0", "cuda:1"])[3] == "100.0"


def test_an_nvswitch_counts_every_link_for_every_peer(fake_gpus):
    from hwbench.gpu.links import link_theory

    nvml = sys.modules["pynvml"]
    version = nvml.NVML_NVLINK_VERSION_4_0
    nvml.nvlinks = {0: [("switch", version)] * 18, 1: [("switch", version)] * 18}
    theory = link_theory(nvml, (0, 1), ("0000:18:00.0", "0000:19:00.0"))
    assert (theory.kind, theory.gbps) == ("nvlink", 450.0)  # an H100 SXM: 18 links x 25 GB/s per direction


def test_a_wrong_peer_copy_is_an_error_not_a_figure(fake_gpus, monkeypatch):
    from hwbench.gpu.links import measure_links

    monkeypatch.setattr(fake_gpus.cuda.runtime, "memcpyPeerAsync", lambda *args: None)  # the copy never happens
    with pytest.raises(MeasurementError, match="copy-engine copy cuda:0 -> cuda:1: the destination differs"):
        measure_links([0, 1], quick=True)


def test_a_kernel_reading_a_peer_without_access_is_refused_by_the_stand_in(fake_gpus):
    from fake_cupy import LaunchError

    cp = fake_gpus
    with cp.cuda.Device(0):
        remote = cp.empty(64, dtype=cp.float64)
    with cp.cuda.Device(2), pytest.raises(LaunchError, match="without peer access"):
        code = (Path(__file__).parents[1] / "kernels" / "cuda" / "stream.cu").read_text()
        module = cp.RawModule(code=code, options=catalog.STREAM_CU.compile_options())
        local = cp.empty(64, dtype=cp.float64)
        module.get_function("copy_f64")((1,), (32,), (remote, local, local, 0.0, 32))


def test_cuda_all_measures_every_gpu_at_once_with_one_profile_each(fake_gpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "--device", "cuda:all", "-k", "triad,fma_fp32", "--quick", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in tmp_path.glob("*.yaml"))
    host = yaml.safe_load((tmp_path / files[0]).read_text())["host"]
    assert files == [f"{host}-cuda{index}.yaml" for index in range(3)]
    for index in range(3):
        data = yaml.safe_load((tmp_path / f"{host}-cuda{index}.yaml").read_text())
        jsonschema.Draft202012Validator(json_schema()).validate(data)
        others = [f"cuda:{other}" for other in range(3) if other != index]
        assert data["device"]["id"] == f"cuda:{index}"
        assert data["run"]["peers"]["concurrent"] and data["run"]["peers"]["concurrent_with"] == others
        assert [k["name"] for k in data["kernels"]] == ["triad", "fma_fp32"] and all(
            k["validated"] for k in data["kernels"])
        assert len(data["links"]["pairs"]) == 6


def test_one_at_a_time_and_the_cpu_beside_the_gpus(fake_gpus, profile_data, tmp_path, monkeypatch):
    measured: list[str] = []
    real = devices_module.measure_device

    def measure(target, options, progress=None):
        measured.append(target)
        return copy.deepcopy(profile_data) if target == "cpu" else real(target, options, progress)

    monkeypatch.setattr(devices_module, "measure_device", measure)
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "--device", "all", "--one-at-a-time", "-k", "triad", "--quick", "--save", "saved")
    assert result.exit_code == 0, result.output
    assert measured == ["cuda:0", "cuda:1", "cuda:2", "cpu"]  # in turn; the CPU last, alone
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.yaml"))
    assert len(written) == 4 and all(path.startswith("saved/") for path in written)  # --save alone: no -o copy
    cpu = yaml.safe_load((tmp_path / "saved/testhost/cpu/20261122T120000Z.yaml").read_text())
    assert cpu["run"]["peers"] == {"devices": ["cuda:0", "cuda:1", "cuda:2"], "concurrent": False,
                                   "concurrent_with": [], "mode": "one at a time (the CPU after the GPUs, alone)"}
    gpu = next(yaml.safe_load(p.read_text()) for p in tmp_path.glob("saved/*/cuda1/*.yaml"))
    assert not gpu["run"]["peers"]["concurrent"] and "links" in gpu


def test_nccl_allreduce_on_two_fake_gpus_in_one_group(fake_gpus):
    from hwbench.gpu.allreduce import make_unique_id, measure_allreduce

    section = measure_allreduce([0, 1], 0, 2, make_unique_id(), lambda seconds: seconds, quick=True)
    assert section["members"] == 2 and [row["bytes"] for row in section["sizes"]][0] == 1024
    for row in section["sizes"]:  # n = 2: busbw = algbw x 2(2-1)/2 = algbw
        assert row["busbw_gbps"] == row["algbw_gbps"] == pytest.approx(row["bytes"] / (row["time_us"] * 1e3), rel=1e-3)


def test_a_wrong_allreduce_sum_is_an_error(fake_gpus, monkeypatch):
    from hwbench.gpu.allreduce import make_unique_id, measure_allreduce

    nccl = fake_gpus.cuda.nccl
    monkeypatch.setattr(type(nccl), "groupEnd", lambda self: setattr(self, "depth", self.depth - 1))  # never sums
    with pytest.raises(MeasurementError, match="the sum is not 3 everywhere"):
        measure_allreduce([0, 1], 0, 2, make_unique_id(), lambda seconds: seconds, quick=True)


# The interconnect arithmetic ---------------------------------------------------------------------------------


def test_osu_formulas():
    assert one_way_latency_us(0.010, 1000) == pytest.approx(5.0)  # 10 ms for 1000 round trips: 5 us one way
    assert window_bandwidth_gbps(4 << 20, 20, 0.5) == pytest.approx((4 << 20) * 64 * 20 / 0.5 / 1e9)


def test_nccl_tests_bus_bandwidth():
    """PERFORMANCE.md: busbw = algbw x 2(n-1)/n; 8 GPUs moving 1 GB in 10 ms: algbw 100, busbw 175 GB/s."""
    algbw = algorithm_bandwidth_gbps(10**9, 0.010)
    assert algbw == pytest.approx(100.0)
    assert bus_bandwidth_gbps(algbw, 8) == pytest.approx(175.0)
    assert bus_bandwidth_gbps(algbw, 1) == 0.0


def test_cpu_shares_are_disjoint_and_cover_the_pool():
    shares = [cpu_share(list(range(10)), rank, 3) for rank in range(3)]
    assert shares == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    with pytest.raises(UsageError, match="3 ranks on this host but only 2 CPUs"):
        cpu_share([0, 1], 0, 3)
    assert choose_cpu_share([[0, 1], [2, 3]], 1, None)[0] == [2, 3]  # the launcher bound them: kept
    assert choose_cpu_share([[0, 1, 2, 3]] * 2, 1, None)[0] == [2, 3]  # one mask shared: split by local rank
    assert choose_cpu_share([[0, 1, 2, 3]] * 2, 0, "4-7")[0] == [4, 5]


# Bad input ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["run", "--device", "cuda:all", "-o", "one.yaml"], "-o must be an existing folder"),
    (["run", "--device", "cuda:all", "-o", "-"], "writes one profile per device"),
    (["run", "--device", "cpu", "--one-at-a-time"], "--one-at-a-time applies to --device cuda:all or all"),
    (["run", "--device", "cpu", "somewhere"], "for an output file use -o somewhere"),
])
def test_multi_device_bad_input_is_one_line_and_exit_2(fake_gpus, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwbench: error:") and message in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_cuda_all_without_a_gpu_is_bad_input(tmp_path, monkeypatch):
    from fake_cupy import make_cupy

    monkeypatch.setitem(sys.modules, "cupy", make_cupy(devices=0))
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "--device", "cuda:all")
    assert result.exit_code == 2 and "has no CUDA GPU; use --device cpu" in result.stderr


def test_a_malformed_slurm_variable_stops_the_run_before_measuring(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_LOCALID", "one")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("hwbench.run.path.measure", lambda *a: pytest.fail("measured despite bad input"))
    result = invoke("run", "--device", "cpu")
    assert result.exit_code == 2 and "SLURM_LOCALID='one'" in result.stderr


def test_nvml_finds_the_gpu_by_its_pci_bus_id(monkeypatch):
    """Under Slurm's binding (CUDA_VISIBLE_DEVICES=2) the rank's cuda:0 is NVML's device 2, not NVML's 0."""
    from fake_cupy import FakeNvml, pci_bus_id

    from hwbench.gpu.telemetry import NvmlSampler

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    assert NvmlSampler(0, pci_bus_id=pci_bus_id(2)).handle == 2
    assert NvmlSampler(0).handle == 0


class ThreadComm:
    """A stand-in for an mpi4py communicator whose ranks are threads: ``allreduce`` sums one value per rank."""

    def __init__(self, size: int):
        self.barrier = threading.Barrier(size)
        self.values: dict[int, int] = {}
        self.calls: dict[int, int] = {}

    def allreduce(self, value: int) -> int:
        rank = int(threading.current_thread().name)
        self.calls[rank] = self.calls.get(rank, 0) + 1
        self.values[rank] = value
        self.barrier.wait()
        total = sum(self.values.values())
        self.barrier.wait()
        return total


def test_mpi_steps_let_a_rank_with_fewer_kernels_finish_without_a_hang():
    """Ranks with 5, 2 and 0 kernels: each running step is an allreduce, and a finished rank keeps answering 0
    until all are done, so every rank makes the same number of collective calls."""
    from hwbench.cluster.sync import MpiSteps

    comm = ThreadComm(3)
    kernels = {0: 5, 1: 2, 2: 0}

    def rank(number: int) -> None:
        steps = MpiSteps(comm)
        for _ in range(kernels[number]):
            steps.step()
        steps.leave()

    threads = [threading.Thread(target=rank, args=(n,), name=str(n)) for n in kernels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads)
    assert set(comm.calls.values()) == {6}  # 5 steps of the longest rank + the final all-zero round


def test_ranks_sharing_a_host_are_separate_history_series(profile_data, tmp_path):
    """--save under srun with 2 tasks per node: rank 0 and rank 1 both measure 'cpu' on one host; their
    node_label keeps them apart in 'hwbench history' (else rank 1's run reads as rank 0's latest)."""
    from hwbench.cluster.naming import label_rank
    from hwbench.profile import Profile
    from hwbench.tools.history import build_history

    profiles = []
    for procid in (0, 1):
        data = copy.deepcopy(profile_data)
        label_rank(data, JobContext.from_environment({**SLURM, "SLURM_PROCID": str(procid)}))
        profiles.append(Profile(data, f"rank{procid}.yaml"))
    series = build_history(profiles, 0.05)
    assert sorted(s.host for s in series) == ["testhost (rank 0)", "testhost (rank 1)"]


def test_device_all_without_a_gpu_measures_the_cpu_and_says_so(profile_data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(devices_module, "measure_device",
                        lambda target, options, progress=None: copy.deepcopy(profile_data))
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "--device", "all", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "--device all: no usable CUDA GPU here" in result.stderr
    assert [p.name for p in tmp_path.glob("*.yaml")] == ["testhost-cpu.yaml"]
    assert "peers" not in yaml.safe_load((tmp_path / "testhost-cpu.yaml").read_text())["run"]  # one device


def test_a_wrong_peer_copy_keeps_the_device_profiles_and_exits_1(fake_gpus, tmp_path, monkeypatch):
    monkeypatch.setattr(fake_gpus.cuda.runtime, "memcpyPeerAsync", lambda *args: None)
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "--device", "cuda:all", "-k", "triad", "--quick", "-o", str(tmp_path))
    assert result.exit_code == 1 and "the destination differs from the source" in result.stderr
    written = [yaml.safe_load(path.read_text()) for path in tmp_path.glob("*.yaml")]
    assert len(written) == 3 and not any("links" in data for data in written)


def test_gathered_profiles_never_share_a_file():
    from hwbench.run.output import unique_path

    taken: set[str] = set()
    names = [unique_path(p, taken) for p in ("out/node-cpu.yaml", "out/node-cpu.yaml", "out/node-cpu.yaml",
                                              "out/other-cpu.yaml")]
    assert names == ["out/node-cpu.yaml", "out/node-cpu-2.yaml", "out/node-cpu-3.yaml", "out/other-cpu.yaml"]


def test_ranks_sharing_a_gpu_are_refused():
    from hwbench.cluster.mpi import shared_gpu_problem

    assert shared_gpu_problem([["0000:01:00.0"], ["0000:02:00.0"]], 0, "node1") is None
    problem = shared_gpu_problem([["0000:01:00.0", "0000:02:00.0"], ["0000:02:00.0"]], 1, "node1")
    assert problem and "0000:02:00.0" in problem and "--gpus-per-task" in problem
    assert shared_gpu_problem([[], []], 0, "node1") is None  # CPU-only ranks


def test_show_prints_the_interconnect():
    from rich.console import Console

    from hwbench.tools.render import print_table
    from hwbench.tools.render_cluster import interconnect_table

    section = {"mpi": {"library": "MPICH", "pairs": [
        {"ranks": [0, 1], "hosts": ["a", "b"],
         "latency": [{"bytes": 1, "latency_us": 2.5}, {"bytes": 8, "latency_us": 2.6}],
         "bandwidth": [{"bytes": 1024, "gbps": 1.0}, {"bytes": 4194304, "gbps": 11.5}]}]},
        "nccl": {"members": 4, "sizes": [{"bytes": 8, "busbw_gbps": 0.01}, {"bytes": 1 << 30, "busbw_gbps": 360.0}]}}
    console = Console(width=150, record=True, color_system=None)
    print_table(interconnect_table(section), console)
    text = console.export_text()
    assert "2.5 @ 1 B" in text and "11.5 @ 4,194,304 B" in text and "360 @ 1,073,741,824 B" in text
