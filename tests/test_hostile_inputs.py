"""Hostile input that is not a damaged profile: numeric flags, zero or non-finite roofs, rich markup and emoji
codes in user text, and Ctrl-C at any instant. Each is one line on stderr and a definite exit code, never a
traceback, and never a file."""

from __future__ import annotations

import copy
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import default_signal_dispositions
from hwbench import Profile, cli
from hwbench.errors import UsageError
from hwbench.run import path as run_path

runner = CliRunner()
INTERRUPTED = "hwbench: error: interrupted; nothing was written"


def invoke(*args: str):
    return runner.invoke(cli.app, list(args))


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwbench: error: "), result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


@pytest.fixture
def saved(tmp_path, profile_data):
    def save(data=None, name="p.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data if data is not None else profile_data, allow_unicode=True))
        return path
    return save


# Numbers from flags --------------------------------------------------------------------------------------


@pytest.mark.parametrize("flops, bytes_moved, message", [
    ("inf", "1e9", "--flops inf must be a finite non-negative number"),
    ("nan", "1e9", "--flops nan must be a finite non-negative number"),
    ("-inf", "1e9", "--flops -inf must be a finite non-negative number"),
    ("1e9", "nan", "--bytes nan must be a finite non-negative number"),
    ("1e9", "inf", "--bytes inf must be a finite non-negative number"),
    ("-1", "1e9", "--flops -1 must be a finite non-negative number"),
    ("0", "0", "both 0"),
])
def test_predict_refuses_non_finite_work(saved, flops, bytes_moved, message):
    result = invoke("predict", str(saved()), "--flops", flops, "--bytes", bytes_moved)
    assert result.exit_code == 2 and message in one_error_line(result)
    assert "nan" not in result.stdout and result.stdout == ""


@pytest.mark.parametrize("args, message", [
    (["--sustain", "inf"], "--sustain inf must be a positive number"),
    (["--sustain", "nan"], "--sustain nan must be a positive number"),
    (["--sustain", "-5"], "--sustain -5 must be a positive number"),
    (["--sustain", "10", "--interval", "nan"], "--interval nan must be between"),
    (["--sustain", "10", "--interval", "inf"], "--interval inf must be between"),
])
def test_run_refuses_non_finite_durations(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_path, "measure", lambda *a, **k: pytest.fail("measured despite a bad flag"))
    result = invoke("run", "--device", "cpu", *args)
    assert result.exit_code == 2 and message in one_error_line(result)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("threshold", ["nan", "inf", "-inf", "nan%", "0", "100%", "-5%", "abc"])
def test_compare_and_history_refuse_bad_thresholds(saved, threshold):
    path = saved()
    for args in (["compare", str(path), str(path)], ["history", str(path.parent)]):
        result = invoke(*args, "--threshold", threshold)
        assert result.exit_code == 2 and "--threshold" in one_error_line(result)


@pytest.mark.parametrize("point", ["k:inf:1e9", "k:1e9:nan", "k:1e9:1e9:inf", "k:0:1e9", "k:1e9:-1", "k:1e9:1e9:0"])
def test_roofline_refuses_bad_point_numbers(saved, tmp_path, point):
    out = tmp_path / "r.png"
    result = invoke("roofline", str(saved()), "-o", str(out), "--point", point)
    assert result.exit_code == 2 and f"--point '{point}'" in one_error_line(result)
    assert not out.exists()


# Numbers from profiles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key, value, shown", [
    (("compute", "fp64", "measured_gflops"), 0, "compute.fp64.measured_gflops is 0"),
    (("compute", "fp64", "measured_gflops"), -240.0, "compute.fp64.measured_gflops is -240"),
    (("compute", "fp64", "measured_gflops"), math.nan, "compute.fp64.measured_gflops is nan"),
    (("compute", "fp64", "measured_gflops"), math.inf, "compute.fp64.measured_gflops is inf"),
    (("memory", "dram", "measured_gbps"), 0.0, "memory.dram.measured_gbps is 0"),
    (("memory", "dram", "theoretical_gbps"), -math.inf, "memory.dram.theoretical_gbps is -inf"),
    (("clock", "measured_mhz"), 0, "clock.measured_mhz is 0"),
    (("ridge_point", "fp64", "measured"), -1, "ridge_point.fp64.measured is -1"),
    (("kernels", 0, "best"), math.nan, "kernels[0].best is nan"),
    (("kernels", 0, "cv"), -0.5, "kernels[0].cv is -0.5"),
])
def test_zero_negative_and_non_finite_roofs_are_refused_by_name(saved, profile_data, key, value, shown):
    data = copy.deepcopy(profile_data)
    node = data
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = value
    path = saved(data)
    for args in (["predict", str(path), "--flops", "1e9", "--bytes", "1e9"], ["show", str(path)],
                 ["compare", str(path), str(path)], ["roofline", str(path), "-o", str(path.with_suffix(".png"))]):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert shown in one_error_line(result), args
    assert not path.with_suffix(".png").exists()


def test_roofs_changed_after_loading_are_checked_where_read(profile_data):
    profile = Profile(copy.deepcopy(profile_data))
    profile.data["compute"]["fp64"]["measured_gflops"] = 0
    with pytest.raises(UsageError, match=r"compute\.fp64\.measured_gflops is 0"):
        profile.predict_time(1e9, 1e9)
    profile.data["memory"]["dram"]["measured_gbps"] = math.nan
    with pytest.raises(UsageError, match=r"memory\.dram\.measured_gbps is nan"):
        profile.memory_time(1e9)
    with pytest.raises(UsageError, match="finite non-negative"):
        Profile(copy.deepcopy(profile_data)).attainable(math.inf)


# Markup and emoji codes in user text --------------------------------------------------------------------

HOSTILE = "[bold red]evil:abc:[/]"


def test_device_name_is_shown_as_written(saved, profile_data):
    data = copy.deepcopy(profile_data)
    data["device"]["name"] = HOSTILE
    data["compute"]["fp64"]["kernel"] = "[blink]k:smile:"
    path = saved(data, "[bold]x:abc:.yaml")
    result = invoke("show", str(path))
    assert result.exit_code == 0, result.output
    assert HOSTILE in result.stdout and "[blink]k:smile:" in result.stdout
    compared = invoke("compare", str(path), str(path))
    # The title wraps at the table's width wherever the temporary path is long: join its lines.
    assert compared.exit_code == 0 and "[bold]x:abc:.yaml ->" in re.sub(r"\s*\n", "", compared.stdout)


def test_paths_with_markup_are_echoed_as_written(tmp_path, monkeypatch, profile_data):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_path, "measure", lambda *a, **k: copy.deepcopy(profile_data))
    missing = invoke("show", "[bold]x:abc:.yaml")
    assert missing.exit_code == 2 and "[bold]x:abc:.yaml: no such file" in one_error_line(missing)
    bad_dir = invoke("run", "--device", "cpu", "-o", "[red]d:abc:/p.yaml")
    assert bad_dir.exit_code == 2 and "-o [red]d:abc:/p.yaml: directory [red]d:abc: does not exist" in \
        one_error_line(bad_dir)
    written = invoke("run", "--device", "cpu", "-o", "[bold]x:abc:.yaml")
    assert written.exit_code == 0 and "profile written to [bold]x:abc:.yaml" in written.stderr
    assert (tmp_path / "[bold]x:abc:.yaml").exists()


def test_point_names_and_errors_are_echoed_as_written(saved, tmp_path):
    malformed = invoke("roofline", str(saved()), "-o", str(tmp_path / "r.png"), "--point", "x:abc:1e9")
    assert malformed.exit_code == 2
    line = one_error_line(malformed)
    assert "--point 'x:abc:1e9'" in line and "🔤" not in line
    out = tmp_path / "r.svg"
    named = invoke("roofline", str(saved()), "-o", str(out), "--point", "[bold]x $y$ é:1e9:4e9",
                   "--title", "[b]t:abc: $\\frac{$")
    assert named.exit_code == 0, named.output
    svg = out.read_text()
    assert "[bold]x $y$ é" in svg and "[b]t:abc: $\\frac{$" in svg


def test_history_marks_a_regression_with_a_style_not_markup(tmp_path, profile_data):
    from rich.console import Console

    from hwbench.tools.compare import parse_threshold
    from hwbench.tools.export import rich_table
    from hwbench.tools.history import build_history, series_table

    runs = []
    for day, value in ((20, 240.0), (21, 120.0)):
        data = copy.deepcopy(profile_data)
        data["created_at"] = f"2026-11-{day}T12:00:00Z"
        data["host"] = "[bold]host:abc:"
        data["compute"]["fp64"]["measured_gflops"] = value
        runs.append(Profile(data, f"{day}.yaml"))
    (series,) = build_history(runs, parse_threshold("5%"))
    console = Console(record=True, width=200, markup=True, emoji=True)  # even a console that reads markup
    console.print(rich_table(series_table(series)))
    text = console.export_text()
    assert "[bold]host:abc:" in text and "120.0 -50.0%!" in text and "[/]" not in text
    table = rich_table(series_table(series))
    regressed = [cell for column in table.columns for cell in column._cells if "-50.0%!" in str(cell)]
    assert regressed and regressed[0].style == "bold red"


# Ctrl-C -------------------------------------------------------------------------------------------------


def _wrapped_interruption() -> RuntimeError:
    """What Python 3.11 raises when Ctrl-C lands in ``dataclasses``' ``__set_name__`` while a module is imported
    (seen in CI: ``RuntimeError: Error calling __set_name__ on 'Field' instance 'details' in 'KernelResult'``)."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance 'details'") from interrupt
    except RuntimeError as wrapped:
        return wrapped


# Ctrl-C as Python raises it, and as an import wraps it
INTERRUPTIONS = pytest.mark.parametrize("interruption", [KeyboardInterrupt, _wrapped_interruption],
                                        ids=["plain", "wrapped-by-an-import"])


def test_interruption_in_finds_a_wrapped_ctrl_c_and_nothing_else():
    from hwbench import process

    assert isinstance(process.interruption_in(_wrapped_interruption()), KeyboardInterrupt)
    assert process.interruption_in(RuntimeError("a bug")) is None
    looped = ValueError("a")
    looped.__cause__ = ValueError("b")
    looped.__cause__.__cause__ = looped  # a cycle ends the walk
    assert process.interruption_in(looped) is None
    during_cleanup = RuntimeError("a bug in the cleanup Ctrl-C ran")
    during_cleanup.__context__ = KeyboardInterrupt()  # raised while handling it, not caused by it: still a bug
    assert process.interruption_in(during_cleanup) is None


def _exit_code(main: Callable[[], None]) -> int:
    """``main``'s exit code; the SIGINT disposition it changes (a second Ctrl-C ignored) is put back."""
    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        signal.signal(signal.SIGINT, previous)
    return exit_info.value.code


@INTERRUPTIONS
def test_ctrl_c_during_the_imports_is_one_line(interruption, monkeypatch, capsys):
    """KeyboardInterrupt before any command runs (here: while the command line is being imported)."""
    import hwbench.__main__ as entry

    def interrupted():
        raise interruption()

    monkeypatch.setattr(cli, "main", interrupted)
    assert _exit_code(entry.main) == 130 and capsys.readouterr().err == INTERRUPTED + "\n"


def test_a_finished_command_ignores_a_late_ctrl_c(monkeypatch):
    """Once the outcome is decided, Ctrl-C is ignored: in the interpreter's shutdown Python has put SIGINT back to
    its default, and the signal would kill the process after its success line (process.ending)."""
    import hwbench.__main__ as entry

    monkeypatch.setattr(cli, "main", lambda: sys.exit(0))
    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as exit_info:
            entry.main()
        assert exit_info.value.code == 0 and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_finished_command_cancels_its_timeout(monkeypatch):
    """--timeout covers the command and its final flush, not the interpreter's shutdown, where SIGALRM at its
    default would kill the process after its result line (exit 142)."""
    import hwbench.__main__ as entry
    from hwbench import process

    def command():
        process.start_timeout(60)
        sys.exit(0)

    monkeypatch.setattr(cli, "main", command)
    monkeypatch.setattr(process.state, "timeout", None)
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGALRM)
    try:
        with pytest.raises(SystemExit):
            entry.main()
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        assert signal.getsignal(signal.SIGALRM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGALRM, previous[1])


@INTERRUPTIONS
def test_ctrl_c_while_parsing_is_one_line(interruption, monkeypatch, capsys):
    def app(*args, **kwargs):
        raise interruption()

    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr(sys, "argv", ["hwbench", "show", "x.yaml"])
    assert _exit_code(cli.main) == 130 and capsys.readouterr().err == INTERRUPTED + "\n"


@INTERRUPTIONS
def test_ctrl_c_while_measuring_writes_nothing(interruption, tmp_path, monkeypatch):
    def measure(*args, **kwargs):
        raise interruption()

    monkeypatch.setattr(run_path, "measure", measure)
    result = invoke("run", "--device", "cpu", "-o", str(tmp_path / "p.yaml"))
    assert result.exit_code == 130 and one_error_line(result) == INTERRUPTED
    assert list(tmp_path.iterdir()) == []


def _startup_seconds() -> float:
    """How long this machine takes to start a bare Python (the interpreter's own startup, before any hwbench
    code can run: a SIGINT inside it is Python's, not hwbench's)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def _in_interpreter_startup(err: str, returncode: int = 1) -> bool:
    """The SIGINT landed before hwbench's handler could exist, which no program can turn into one line:
    - before Python installed its own SIGINT handler: the process dies of the signal, silently;
    - in Python's start-up (site, the import system): a traceback with no frame in hwbench's files;
    - while the console script imports the entry point: hwbench frames only at module level of the package's
      ``__init__``/``__main__``, before ``main()``'s ``try`` runs.
    On a loaded 2-core machine these windows can outlast the test's floor."""
    if returncode == -signal.SIGINT and not err.strip():
        return True
    if "Traceback" not in err:
        return False
    frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', err)
    ours = [(path, where) for path, where in frames if re.search(r"[/\\](hwbench|suite|kernels)[/\\]", path)]
    return all(where == "<module>" and re.search(r"(__init__|__main__)\.py$", path) for path, where in ours)


@pytest.mark.slow
def test_sigint_soon_after_start_is_one_line_and_exit_130(tmp_path):
    """The real console script, interrupted at several instants from just after the interpreter is up (while
    typer, rich and numpy are still being imported) to mid-measurement."""
    script = Path(sys.executable).with_name("hwbench")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "hwbench"]
    floor = 3 * _startup_seconds()
    out = tmp_path / "p.yaml"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    interrupted = 0
    for delay in (0.0, 0.02, 0.05, 0.1, 0.15, 0.25, 0.4, 0.7, 1.2):
        child = subprocess.Popen([*command, "run", "--device", "cpu", "--quick", "-o", str(out)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                 preexec_fn=default_signal_dispositions)
        time.sleep(floor + delay)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
        if _in_interpreter_startup(err, child.returncode):
            continue
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, (delay, err[-2000:])
        if child.returncode == 0:  # finished before the signal (a very fast machine): nothing to check
            out.unlink()
            continue
        interrupted += 1
        assert child.returncode == 130, (delay, child.returncode, err[-2000:])
        last = err.strip().splitlines()[-1]
        if out.exists():  # Ctrl-C landed once the profile was in place (CI saw it): the line says so, the file is whole
            assert last == f"hwbench: error: interrupted; {out} was written, nothing else", (delay, err[-2000:])
            assert Profile.load(out).precisions, delay  # loads: every check_profile rule holds
            out.unlink()
        else:
            assert last == INTERRUPTED, (delay, err[-2000:])
        assert list(tmp_path.iterdir()) == [], delay
    assert interrupted, "no run was interrupted after hwbench's handler existed: the test checked nothing"


def test_only_a_traceback_outside_hwbench_counts_as_interpreter_startup():
    startup = 'Traceback (most recent call last):\n  File "<frozen site>", line 1, in <module>\nKeyboardInterrupt\n'
    entry = ('Traceback (most recent call last):\n  File "/v/bin/hwbench", line 5, in <module>\n'
             '  File "/v/site-packages/hwbench/__init__.py", line 3, in <module>\nKeyboardInterrupt\n')
    ours = ('Traceback (most recent call last):\n  File "/x/site-packages/hwbench/cli.py", line 9, in main\n'
            'KeyboardInterrupt\n')
    assert _in_interpreter_startup(startup) and _in_interpreter_startup(entry)
    assert _in_interpreter_startup("", -signal.SIGINT)  # killed before Python's handler existed
    assert not _in_interpreter_startup(ours)
    assert not _in_interpreter_startup("hwbench: error: interrupted; nothing was written\n", 130)
    assert not _in_interpreter_startup("", 1)


# Bounded reads, bounded flags, printable text (mechanisms; tests/test_probes.py runs them as processes) ------


SCALARS = ["1.5", "-1.5", "+1.", "1.5e+3", "1.5E-3", "1.5e3", "1e5", "1_000", "1_0.5", "0x1F", "0o17", "017", "1:30",
           "1:30.5", ".5", "-.5", ".inf", "-.Inf", ".nan", "yes", "No", "on", "~", "null", "", "2026-12-03",
           "2026-12-03T06:56:26Z", "12", "-0", "-0.0", "0.0", "1.", "=", "<<", "'1.5'", '"1.5"', "!!str 1.5",
           "!!float 1", "1.5 # c", "1.2.3", "1.5e", "1.5e+"]


def test_the_loaders_faster_tag_resolution_gives_what_pyyaml_gives():
    """BoundedLoader memoises tags and takes plain decimals by a shorter pattern: every scalar, as a value and as
    a key, loads to the same type and value as PyYAML's own safe loader."""
    from hwbench.profile.reading import load_yaml

    for loader in {yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)}:
        for text in SCALARS:
            document = f"value: {text}\nagain: {text}\nlist: [{text}]\n"
            if text not in ("", "~", "null", "<<", "1.5 # c") and not text.startswith("!!"):
                document += f"{text}: key\n"
            try:
                expected = repr(yaml.load(document, Loader=loader))  # repr: 1, 1.0 and True differ
            except yaml.YAMLError:  # '=' (the value tag has no constructor): refused by both
                with pytest.raises(UsageError):
                    load_yaml(document, "t.yaml")
                continue
            assert repr(load_yaml(document, "t.yaml")) == expected, text


def test_the_loader_refuses_duplicate_keys_and_alias_bombs_but_keeps_plain_aliases():
    from hwbench.profile.reading import load_yaml

    with pytest.raises(UsageError, match="found the key 'a' twice"):
        load_yaml("a: 1\nb: 2\na: 3\n", "dup.yaml")
    bomb = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 9))
    started = time.perf_counter()
    with pytest.raises(UsageError, match="more than 1,000,000 nodes"):
        load_yaml(bomb, "bomb.yaml")
    assert time.perf_counter() - started < 5  # a bound on a hang, not a speed test: 10^9 nodes are never walked
    assert load_yaml("a: &x [1, 2]\nb: *x\n", "ok.yaml") == {"a": [1, 2], "b": [1, 2]}


def test_the_number_check_visits_a_shared_container_once():
    from hwbench.profile.format import _bad_number

    shared: list = [1.0] * 1000
    for _ in range(20):  # 2^20 paths to the same list, 20 distinct containers
        shared = [shared, shared]
    assert _bad_number({"x": shared}) is None
    assert _bad_number({"x": [[float("nan")], 10 ** 400]})[1].startswith("is nan")
    assert "401 digits" in _bad_number({"x": [10 ** 400]})[1]


def test_a_profile_read_is_a_regular_file_only(tmp_path):
    from hwbench.profile.reading import read_text

    fifo = tmp_path / "f.yaml"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="it is a FIFO"):
        read_text(fifo)  # refused at once, not blocked in open()
    with pytest.raises(UsageError, match="it is a character device"):
        read_text("/dev/zero")


@pytest.mark.parametrize("call, message", [
    (lambda limits: limits.check_cpus("0-999999999999"), "cannot exist"),
    (lambda limits: limits.check_cpus("0-3,x"), "is not a CPU list"),
    (lambda limits: limits.check_kernels(",,,"), "names no kernel"),
    (lambda limits: limits.check_threads(2 ** 63), "at most 8192"),
    (lambda limits: limits.check_sustain(1e5, 1e5), "up to 86400"),
    (lambda limits: limits.check_work("--flops", 1e-320), "0 or between 1 and"),
    (lambda limits: limits.check_point("k:1e308:1e-308", 1e308, 1e-308, None), "between 1 and 1e\\+30"),
    (lambda limits: limits.check_kernel_environment({"NUMBA_DISABLE_JIT": "1"}), "run as Python"),
    (lambda limits: limits.check_kernel_environment({"NUMBA_NUM_THREADS": "0"}), "between 1 and"),
])
def test_flags_and_environment_are_bounded_before_use(call, message):
    from hwbench import limits

    with pytest.raises(UsageError, match=message):
        call(limits)


def test_only_commands_that_run_kernels_check_the_numba_environment():
    from hwbench.limits import measuring_command

    assert measuring_command(["run", "-k", "copy"]) and measuring_command(["--timeout", "5", "validate"])
    assert not measuring_command(["show", "run"]) and not measuring_command(["--timeout", "5", "show", "x"])


def test_slurm_tasks_per_node_is_counted_not_expanded():
    from hwbench.cluster.job import tasks_on_node

    assert tasks_on_node("1(x300000000),4", 299_999_999) == 1 and tasks_on_node("1(x300000000),4", 300_000_000) == 4
    assert tasks_on_node("1(x300000000)", 300_000_000) is None


def test_printable_escapes_control_characters_only():
    from hwbench.safe_text import printable

    assert printable("\x1b]0;title\x07\x1b[2Jname") == "\\x1b]0;title\\x07\\x1b[2Jname"
    assert printable("Ryzen 9 7950X – 16 cœurs, 東京") == "Ryzen 9 7950X – 16 cœurs, 東京"
