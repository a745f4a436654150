"""The documented pytest-benchmark gate works end to end: save a baseline, then --benchmark-compare-fail.

The timings here are real but never judged: the baseline is doctored to be 10x faster (must fail) or 10x
slower (must pass) than anything this machine can do, so the test checks the gate, not the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent / "benchmarks" / "test_ceilings_benchmark.py"


def run_pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", str(EXAMPLE), "-q", "-p", "no:cacheprovider", "-k", "triad",
               "--benchmark-enable", f"--benchmark-storage=file://{cwd / 'storage'}", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def doctor_baseline(storage: Path, factor: float) -> None:
    (saved,) = storage.rglob("*_baseline.json")
    data = json.loads(saved.read_text())
    for bench in data["benchmarks"]:
        for key in ("min", "max", "mean", "median", "stddev", "q1", "q3", "iqr", "total", "ld15iqr", "hd15iqr"):
            if isinstance(bench["stats"].get(key), float):
                bench["stats"][key] *= factor
        bench["stats"]["data"] = [x * factor for x in bench["stats"].get("data", [])]
    saved.write_text(json.dumps(data))


@pytest.mark.parametrize("factor, fails", [(0.1, True), (10.0, False)])
def test_compare_fail_gates_on_the_saved_baseline(tmp_path, factor, fails):
    saved = run_pytest("--benchmark-save=baseline", cwd=tmp_path)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert json.loads(next((tmp_path / "storage").rglob("*_baseline.json")).read_text())["benchmarks"][0][
        "extra_info"]["kernel"] == "triad"
    doctor_baseline(tmp_path / "storage", factor)
    compared = run_pytest("--benchmark-compare", "--benchmark-compare-fail=min:5%", cwd=tmp_path)
    output = compared.stdout + compared.stderr
    if fails:
        assert compared.returncode != 0 and "Performance has regressed" in output, output
    else:
        assert compared.returncode == 0, output


def test_sweep_kernels_are_not_single_workloads():
    """The cache sweep is a curve over working sets, not one callable: cpu_workload refuses it by name."""
    from hwbench.benchmarking import cpu_workload
    from hwbench.errors import UsageError

    with pytest.raises(UsageError, match="unknown kernel 'cache_read'; choose from copy"):
        cpu_workload("cache_read")
