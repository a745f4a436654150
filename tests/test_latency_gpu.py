"""The GPU latency chase: kernels/cuda/latency.cu compiled by nvcc for every listed architecture, and the family
end to end on the NumPy stand-in for CuPy (tests/fake_cupy.py), whose cycles are its own (no GPU figure is
asserted or written: only the launches, the validation of the end index and the profile's arithmetic)."""

from __future__ import annotations

import subprocess

import jsonschema
import pytest
from test_gpu import fake_gpu, fake_profile  # noqa: F401  (the fixture and the helper of the stand-in)

from conftest import find_nvcc
from hwbench import catalog
from hwbench.errors import MeasurementError
from hwbench.gpu import latency as gpu_latency
from hwbench.profile import json_schema

NVCC = find_nvcc()
ARCHS = ("sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "sm_100", "sm_120")
ENTRIES = ("chase_global_cg", "chase_global_ldg", "chase_remote", "chase_shared")


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
@pytest.mark.parametrize("arch", ARCHS)
def test_latency_cu_compiles_for_every_listed_architecture(tmp_path, arch):
    ptx = tmp_path / "latency.ptx"
    options = catalog.LATENCY_CU.compile_options()
    subprocess.run([NVCC, f"-arch={arch}", "-ptx", *options, str(gpu_latency_source()), "-o", str(ptx)], check=True,
                   capture_output=True)
    text = ptx.read_text()
    for entry in ENTRIES:
        assert f".entry {entry}(" in text
    assert "clock64" in text or "%clock64" in text
    assert "ld.global.cg" in text and "ld.global.nc" in text and "ld.shared" in text
    assert "ld.global.cv" in text  # chase_remote: never served from a cache (host and peer memory)


def gpu_latency_source():
    from importlib import resources

    return resources.files("hwbench.kernels").joinpath("cuda", "latency.cu")


def test_random_cycle_is_one_cycle():
    chain, order = gpu_latency.random_cycle(100, 32)
    j, seen = int(order[0]), set()
    for _ in range(100):
        seen.add(j)
        j = int(chain[j])
    assert j == order[0] and len(seen) == 100 and all(index % 32 == 0 for index in seen)


def test_gpu_latency_on_the_stand_in(fake_gpu):  # noqa: F811
    from fake_cupy import FAKE_CYCLES_PER_LOAD

    data = fake_profile("latency_chase")
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    levels = {level: data["memory"][level] for level in ("shared", "l1", "l2", "dram")}
    cycles = {"shared": FAKE_CYCLES_PER_LOAD["chase_shared"], "l1": FAKE_CYCLES_PER_LOAD["chase_global_ldg"],
              "l2": FAKE_CYCLES_PER_LOAD["chase_global_cg"], "dram": FAKE_CYCLES_PER_LOAD["chase_global_cg"]}
    mhz = data["latency"]["definition"]["sm_clock_mhz"]
    for level, entry in levels.items():
        assert entry["latency_cycles"] == cycles[level] and entry["latency_clock_source"] == "clock64() on the SM"
        assert entry["latency_ns"] == pytest.approx(cycles[level] / mhz * 1e3, abs=1e-3)
        assert entry["measured_gbps"] is None  # no bandwidth kernel ran
    launch = catalog.kernel("gpu", "latency_chase").launch
    l2 = data["device"].get("l2_bytes") or 1 << 20
    assert levels["dram"]["latency_working_set_bytes"] >= launch.dram_l2_multiple * l2 * 0.99
    assert data["kernels"] == []  # a chase is not a bandwidth kernel


def test_gpu_chase_ending_elsewhere_is_an_error(fake_gpu, monkeypatch):  # noqa: F811
    real = gpu_latency.random_cycle

    def corrupted(lines, stride, seed=gpu_latency.SEED):
        chain, order = real(lines, stride, seed)
        chain[order[1]] = order[1]  # the second line points at itself: the chase is stuck there
        return chain, order

    monkeypatch.setattr(gpu_latency, "random_cycle", corrupted)
    with pytest.raises(MeasurementError, match="latency chase over shared"):
        fake_profile("latency_chase")


def _stand_in(monkeypatch, devices: int = 1, peer=None):
    from fake_cupy import install, make_cupy

    from hwbench.gpu import session as gpu_session

    cupy = make_cupy(devices=devices, peer=peer)
    install(monkeypatch, cupy)
    monkeypatch.setattr(gpu_session.RepetitionPolicy, "for_mode", classmethod(
        lambda cls, quick: cls(warmups=0, min_repetitions=2, min_seconds=0.0)))
    return cupy


def test_host_to_device_latency_on_the_stand_in(monkeypatch):
    """One GPU: the chase over pinned host memory (h2d) beside the transfer bandwidth's memory.h2d; no d2d, and the
    run's definition says why."""
    from fake_cupy import FAKE_CYCLES_PER_LOAD

    _stand_in(monkeypatch)
    data = fake_profile("latency_chase")
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    h2d = data["memory"]["h2d"]
    assert h2d["latency_cycles"] == FAKE_CYCLES_PER_LOAD["chase_remote"]
    assert h2d["latency_working_set_bytes"] == catalog.kernel("gpu", "latency_chase").launch.remote_bytes
    assert "d2d" not in data["memory"]
    assert data["latency"]["definition"]["d2d_peer"].startswith("not measured: no other GPU")
    assert "host_device_latency_sm" in data["latency"]["definition"]["method"]


def test_device_to_device_latency_reads_the_peer_through_peer_access(monkeypatch):
    from fake_cupy import FAKE_CYCLES_PER_LOAD

    cupy = _stand_in(monkeypatch, devices=2)
    data = fake_profile("latency_chase")
    assert data["memory"]["d2d"]["latency_cycles"] == FAKE_CYCLES_PER_LOAD["chase_remote"]
    assert data["latency"]["definition"]["d2d_peer"] == "cuda:1, through peer access"
    assert (0, 1) in cupy.fake_peers.enabled  # cuda:0 reads cuda:1's memory: enabled before the chase


def test_no_peer_access_means_no_d2d(monkeypatch):
    _stand_in(monkeypatch, devices=2, peer=lambda device, other: False)
    data = fake_profile("latency_chase")
    assert "d2d" not in data["memory"] and "h2d" in data["memory"]


def test_a_remote_chase_ending_elsewhere_is_an_error(monkeypatch):
    _stand_in(monkeypatch)
    real = gpu_latency.remote_chains

    def corrupted(session, chain):
        chain = chain.copy()
        chain[chain[0]] = chain[0]  # the second line points at itself
        return real(session, chain)

    monkeypatch.setattr(gpu_latency, "remote_chains", corrupted)
    with pytest.raises(MeasurementError, match="latency chase over h2d"):
        fake_profile("latency_chase")
