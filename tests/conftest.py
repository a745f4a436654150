"""Shared fixtures: hand-made CPU descriptions and measurements with known numbers."""

from __future__ import annotations

import datetime as dt
import signal

import pytest

from hwbench.cpu.clock import ClockResult
from hwbench.cpu.machine import CpuInfo
from hwbench.cpu.session import CpuResult
from hwbench.cpu.theory import CoreModel
from hwbench.record import Host
from hwbench.stats import KernelResult, RateSummary, RepetitionPolicy


def make_cpu(**overrides) -> CpuInfo:
    fields = dict(
        name="AMD EPYC 9555", vendor="AuthenticAMD", arch="x86_64", family=0x1A, model=0x02, arm_part=None,
        flags=frozenset({"sse2", "avx", "avx2", "fma", "avx512f"}), logical_cpus=2, physical_cores=2,
        caches={"l1d": 49152, "l2": 1048576, "l3": 33554432}, l3_total_bytes=33554432,
        memory_bytes=24 * 2**30, available_memory_bytes=23 * 2**30, nominal_mhz=2600.0,
        nominal_source="brand string", sources={"identity": "/proc/cpuinfo", "caches": "sysfs cpu0/cache"},
    )
    fields.update(overrides)
    return CpuInfo(**fields)


def make_measurement() -> CpuResult:
    """2 cores of a Zen 5 at 2600 MHz nominal: fp64 theory 166.4 GFLOP/s; triad 36 GB/s STREAM.

    A clean run: each kernel's best sample is reached twice, so its ceiling (the confirmed best, the 2nd
    highest of 4 samples) is its best."""
    n = 16 * 2**20
    triad = KernelResult("triad", "fp64", "dram", "GB/s", RateSummary((35.0, 36.0, 35.5, 36.0)), 24 * n, 24 * n, 32 * n,
                         2 * n, True, {"elements": n})
    copy_nt = KernelResult("copy_nt", "fp64", "dram", "GB/s", RateSummary((50.0, 52.0, 51.0, 52.0)), 16 * n, 16 * n,
                           16 * n, 0, True, {"elements": n})
    fma64 = KernelResult("fma_fp64", "fp64", "core", "GFLOP/s", RateSummary((230.0, 240.0, 235.0, 240.0)), 0, None,
                         None, 10**10, True, {"lanes": 8, "chains": 12}, clocks_mhz={"core": 3750.0})
    fma32 = KernelResult("fma_fp32", "fp32", "core", "GFLOP/s", RateSummary((470.0, 480.0, 475.0, 480.0)), 0, None,
                         None, 10**10, True, {"lanes": 16, "chains": 12}, clocks_mhz={"core": 3750.0})
    return CpuResult(
        cpu=make_cpu(), core=CoreModel("Zen 5", 2, 512, "AMD Software Optimization Guide for the Zen 5"),
        core_known=True, cpus=[0, 1], physical_cores=2, pinning="compact", quick=True,
        policy=RepetitionPolicy.for_mode(True), array_bytes=8 * n, results=[triad, copy_nt, fma64, fma32],
        clock=ClockResult("add chain", 2600.0, 3700.0, {"fp64": 3750.0, "fp32": 3750.0},
                          {"scalar": 3690.0, "fp64": 3740.0, "fp32": 3745.0}), warnings=[],
    )


FIXED_TIME = dt.datetime(2026, 11, 22, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def measurement() -> CpuResult:
    return make_measurement()


TEST_HOST = Host("testhost", "Linux 6.0", "0.1.0", FIXED_TIME)


def cpu_profile(run: CpuResult, dram) -> dict:
    """The profile the builder writes for a hand-made CPU run, on a fixed host."""
    from hwbench.cpu.session import to_record
    from hwbench.profile.build import build_profile

    return build_profile(to_record(run, dram), TEST_HOST)


@pytest.fixture
def profile_data() -> dict:
    from hwbench.cpu.smbios import DramTheory

    return cpu_profile(make_measurement(), DramTheory(76.8, "SMBIOS type 17: test"))


def find_nvcc() -> str | None:
    """nvcc from PATH, the CUDA toolkit's usual place, or the ``nvidia-cuda-nvcc`` wheel (CI installs it where
    the machine has none). Under CI (``CI=true``) a missing nvcc fails the test instead of skipping it."""
    import os
    import shutil
    import sysconfig
    from pathlib import Path

    wheel = [Path(sysconfig.get_paths()["purelib"]) / "nvidia" / cuda / "bin" / "nvcc" for cuda in ("cu13", "cu12")]
    found = shutil.which("nvcc") or next((str(p) for p in [Path("/usr/local/cuda/bin/nvcc"), *wheel] if p.exists()),
                                         None)
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("nvcc is required in CI: pip install nvidia-cuda-nvcc (see .ci/run)")
    return found


def default_signal_dispositions() -> None:
    """In a test's child process, before exec: INT, TERM and HUP at their defaults, whatever the test run inherited
    (a harness started under nohup ignores HUP, a shell's background job ignores INT, and Python keeps an ignored
    SIGINT ignored), as a user's shell gives them. Without it a signal test can pass without a signal arriving."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
