"""The command line as a user meets it: every error path (one line, exit 2, no file) and a real quick run."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from hwbench import __version__
from hwbench.cli import app
from hwbench.errors import UsageError
from hwbench.profile import json_schema

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"hwbench {__version__}"


@pytest.mark.parametrize("args, message", [
    (["run", "--device", "tpu"], "--device 'tpu' is not known"),
    (["run", "--device", "cpu", "--threads", "0"], "--threads 0 must be at least 1"),
    (["run", "--device", "cpu", "--kernels", "nosuch"], "unknown kernel 'nosuch'"),
    (["run", "--device", "cpu", "--cpus", "999"], "may not use"),
    (["run", "--device", "cpu", "--pinning", "scatter"], "compact or spread"),
    (["run", "--device", "cpu", "-o", "/nonexistent-dir/p.yaml"], "does not exist"),
    (["run", "--device", "cpu", "-o", "/"], "is a directory"),
    (["run", "--device", "cpu", "-o", "/proc/p.yaml"], "cannot create a file in /proc"),
    (["show", "/nonexistent.yaml"], "no such file"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwbench: error:") and message in lines[0]
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # no partial output file


def test_cuda_without_cupy_is_a_usage_error(tmp_path, monkeypatch):
    """CuPy made unimportable, so the outcome is the same with or without a GPU and CuPy on this machine."""
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "cupy", None)
    result = invoke("run", "--device", "cuda:7")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("hwbench: error: --device cuda needs CuPy, which is not installed: "
                                     "pip install 'hwbench[cuda]'")
    assert list(tmp_path.iterdir()) == []


def test_show_refuses_a_file_that_is_not_a_profile(tmp_path):
    path = tmp_path / "notes.yaml"
    path.write_text("hello: world\n")
    result = invoke("show", str(path))
    assert result.exit_code == 2 and "not an hwbench profile" in result.stderr


def test_validation_failure_exits_1_without_a_file(tmp_path, monkeypatch):
    from hwbench import check
    from hwbench.cpu import stream

    def wrong_replay(form, state, scalar=3.0):
        return "a", 123.0  # not what the kernel wrote

    monkeypatch.setattr(check, "replay_stream", wrong_replay)  # the STREAM check's replay (check.check_stream)
    monkeypatch.setattr(stream, "MIN_ARRAY_BYTES", 1 << 20)
    out = tmp_path / "p.yaml"
    result = invoke("run", "--device", "cpu", "--quick", "--kernels", "copy", "-o", str(out))
    assert result.exit_code == 1
    assert "output check failed" in result.stderr and not out.exists()


@pytest.mark.slow
def test_real_quick_run_writes_a_valid_profile(tmp_path):
    """A real measurement on this machine: every kernel validated, the profile matches the schema."""
    out = tmp_path / "cpu.yaml"
    result = invoke("run", "--device", "cpu", "--quick", "--kernels", "triad,dot,triad_nt,fma", "-o", str(out))
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(out.read_text())
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    assert [k["name"] for k in data["kernels"]] == ["triad", "dot", "triad_nt", "fma_fp64", "fma_fp32"]
    assert all(k["validated"] and k["best"] > 0 and k["repetitions"] >= 10 for k in data["kernels"])
    from hwbench.cpu.stream import PASSES  # the STREAM kernels are timed in interleaved passes
    assert all(k["details"]["passes"] == PASSES for k in data["kernels"] if k["level"] == "dram")
    assert all(len(k["details"]["samples_per_pass"]) == PASSES and sum(k["details"]["samples_per_pass"])
               == len(k["samples"]) for k in data["kernels"] if k["level"] == "dram")
    assert data["compute"]["fp32"]["measured_gflops"] > 0 and data["compute"]["fp64"]["measured_gflops"] > 0
    assert data["memory"]["dram"]["measured_gbps"] > 0
    fp64 = data["compute"]["fp64"]
    assert data["clock"]["measured_mhz"] and fp64["clock_mhz"] > 0
    # FLOP per cycle is reported, or, when the probe's pair exceeds the hardware's (a noisy VM), rejected
    # with its reason: never silently above the limit.
    if fp64["flop_per_cycle"] is None:
        assert fp64["flop_per_cycle_rejected"] > fp64["flop_per_cycle_theoretical"]
        assert "above the hardware's" in fp64["measurement_error"]
    else:
        assert 0 < fp64["flop_per_cycle"] <= fp64["flop_per_cycle_theoretical"] * 1.01
    assert data["run"]["prefault"] is True and data["run"]["cpus"]
    shown = invoke("show", str(out))
    assert shown.exit_code == 0 and "fp64 GFLOP/s" in shown.stdout


@pytest.mark.slow
def test_yaml_to_stdout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "--device", "cpu", "--quick", "--kernels", "fma_fp64", "-o", "-")
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout)["compute"]["fp64"]["measured_gflops"] > 0
    assert list(tmp_path.iterdir()) == []


def _saved_profile(tmp_path, profile_data):
    from hwbench import Profile

    path = tmp_path / "p.yaml"
    Profile(profile_data).save(path)
    return path


def test_predict_golden_output(tmp_path, profile_data):
    # Hand-made profile: fp64 240 GFLOP/s measured, DRAM 52 GB/s measured (copy_nt), 76.8 GB/s theoretical.
    path = _saved_profile(tmp_path, profile_data)
    result = invoke("predict", str(path), "--flops", "2e9", "--bytes", "52e9")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "intensity:  0.03846 FLOP/byte\n"
        "attainable: 2 GFLOP/s (measured fp64 roofs of cpu)\n"
        "time:       1 s\n"
        "bound by:   dram memory bandwidth (compute 0.008333 s, memory 1 s)\n"
    )
    compute_bound = invoke("predict", str(path), "--flops", "480e9", "--bytes", "1e9", "-p", "fp32")
    assert "bound by:   compute" in compute_bound.stdout and "time:       1 s" in compute_bound.stdout


def test_predict_at_a_cache_level():
    """--level picks the memory roof: the Zen 3 profile's L2 instead of its DRAM."""
    profile = Path(__file__).parent.parent / "results" / "ci-kvm-amd-epyc-zen3-2c.yaml"
    l2_gbps = yaml.safe_load(profile.read_text())["memory"]["l2"]["measured_gbps"]
    l2 = invoke("predict", str(profile), "--flops", "1e9", "--bytes", f"{l2_gbps}e9", "--level", "l2")
    assert l2.exit_code == 0 and "time:       1 s" in l2.stdout and "bound by:   l2 memory bandwidth" in l2.stdout
    unknown = invoke("predict", str(profile), "--flops", "1", "--bytes", "1", "--level", "l9")
    assert unknown.exit_code == 2 and "no memory level 'l9'; it has: l1, l2, l3, dram" in unknown.stderr


def test_predict_bad_input(tmp_path, profile_data):
    path = _saved_profile(tmp_path, profile_data)
    for args, message in ((["--flops", "1", "--bytes", "1", "-p", "fp16"], "no fp16 compute ceiling; choose one"),
                          (["--flops", "-1", "--bytes", "1"], "non-negative"),
                          (["--flops", "0", "--bytes", "0"], "both 0")):
        result = invoke("predict", str(path), *args)
        assert result.exit_code == 2 and message in result.stderr


@pytest.mark.parametrize("args, message", [
    (["run", "--threads", "abc"], "Invalid value for '--threads'"),
    (["compare", "only-one.yaml"], "Missing argument 'CURRENT'"),
    (["compare", "a.yaml", "b.yaml", "--format", "xml"], "'xml' is not one of"),
    (["nosuch"], "No such command 'nosuch'"),
])
def test_malformed_options_are_one_line_through_the_entry_point(args, message):
    """The console script (hwbench.cli.main) turns click's usage errors into hwbench's one-line format."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "hwbench", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwbench: error: ") and message in lines[0], lines
    assert "--help'" in lines[0] and "Traceback" not in result.stderr


def test_a_bug_is_one_line_and_exit_70_never_a_regression_exit(monkeypatch, capsys, tmp_path):
    """An unexpected exception (a bug) must not exit 1, which compare/history/fleet gates read as a
    regression: one line naming it, exit 70 (EX_SOFTWARE); HWBENCH_DEBUG=1 re-raises it."""
    import sys

    from hwbench import cli
    from hwbench.tools import compare

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(compare, "compare_profiles", broken)
    golden = str(Path(__file__).parent / "golden" / "cpu-profile.yaml")
    monkeypatch.setattr(sys, "argv", ["hwbench", "compare", golden, golden])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 70
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwbench: internal error: RuntimeError: simulated bug"), lines
    monkeypatch.setenv("HWBENCH_DEBUG", "1")
    with pytest.raises(RuntimeError, match="simulated bug"):
        cli.main()


def test_cpu_only_options_are_refused_for_a_gpu(monkeypatch):
    from hwbench.run import device

    with pytest.raises(UsageError, match="--threads, --cpus and --pinning apply to --device cpu only"):
        device.measure_device("cuda:0", device.RunOptions(pinning="spread"))


def test_kernel_lists_tolerate_a_trailing_comma_and_name_choices_in_catalog_order():
    from hwbench import catalog

    assert [k.name for k in catalog.select("cpu", "triad,")] == ["triad"]
    with pytest.raises(UsageError) as error:
        catalog.select("cpu", "nosuch")
    names = [k.name for k in catalog.kernels("cpu")]
    assert str(error.value).endswith(", ".join([*catalog.groups("cpu"), *names]))


def test_show_a_directory_says_so(tmp_path):
    result = invoke("show", str(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path}: cannot read it as a profile (it is a directory)" in result.stderr
