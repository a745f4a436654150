"""Output paths of ``run -o``, ``run --save`` and ``roofline -o``: what hwbench writes to, and what it refuses.

The rules (hwbench.profile.files): a regular file or nothing is replaced atomically; a symbolic link is
followed (its target replaced, the link kept); a character device, a FIFO or '-' is written through as a
stream; a directory, a block device, a socket or a name ending in '/' is refused with exit 2 before
measuring. Each test asserts what the path *is* afterwards: nothing is ever clobbered.
"""

from __future__ import annotations

import copy
import os
import socket
import stat
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hwbench import cli
from hwbench.errors import UsageError
from hwbench.profile.files import check_writable, write_atomic
from hwbench.run import path as run_path

runner = CliRunner()
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="making device nodes and writing /dev/null need root")


@pytest.fixture
def fake_run(monkeypatch, profile_data):
    """``hwbench run`` with the measurement replaced by a canned profile: only the output handling runs."""
    calls = []

    def measure(*args, **kwargs):
        calls.append(args)
        return copy.deepcopy(profile_data)

    monkeypatch.setattr(run_path, "measure", measure)
    return calls


def run(*args: str):
    return runner.invoke(cli.app, ["run", "--device", "cpu", *args])


def only_line(result) -> str:
    """The error line: the only line on stderr, or the last after the profile's warnings once measured."""
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("hwbench: warning: ")]
    assert len(lines) == 1 and lines[0].startswith("hwbench: error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def kind(path: Path) -> str:
    mode = os.lstat(path).st_mode
    for name, test in (("link", stat.S_ISLNK), ("file", stat.S_ISREG), ("dir", stat.S_ISDIR),
                       ("chr", stat.S_ISCHR), ("blk", stat.S_ISBLK), ("fifo", stat.S_ISFIFO), ("sock", stat.S_ISSOCK)):
        if test(mode):
            return name
    return "other"


def mknod(path: Path, mode: int, device: tuple[int, int]) -> None:
    try:
        os.mknod(path, mode | 0o666, os.makedev(*device))
    except PermissionError:
        pytest.skip("this container does not allow device nodes")


# Regular file, nothing, symlink ----------------------------------------------------------------------------


def test_nothing_there_is_created_and_a_regular_file_replaced(tmp_path, fake_run, profile_data):
    out = tmp_path / "p.yaml"
    assert run("-o", str(out)).exit_code == 0
    out.write_text("old\n")
    inode = out.stat().st_ino
    result = run("-o", str(out))
    assert result.exit_code == 0, result.output
    assert kind(out) == "file" and yaml.safe_load(out.read_text()) == profile_data
    assert out.stat().st_ino != inode  # replaced by a rename, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]  # no temporary file left


def test_a_symlink_is_followed_and_stays_a_link(tmp_path, fake_run, profile_data):
    target_dir = tmp_path / "real"
    target_dir.mkdir()
    target = target_dir / "profile.yaml"
    target.write_text("old\n")
    link = tmp_path / "latest.yaml"
    link.symlink_to(target)
    result = run("-o", str(link))
    assert result.exit_code == 0, result.output
    assert kind(link) == "link" and os.readlink(link) == str(target)
    assert kind(target) == "file" and yaml.safe_load(target.read_text()) == profile_data
    assert sorted(p.name for p in target_dir.iterdir()) == ["profile.yaml"]  # the temporary file was beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.yaml", "real"]


def test_a_dangling_symlink_creates_its_target(tmp_path, fake_run):
    link = tmp_path / "latest.yaml"
    link.symlink_to(tmp_path / "new.yaml")
    assert run("-o", str(link)).exit_code == 0
    assert kind(link) == "link" and kind(tmp_path / "new.yaml") == "file"


def test_a_symlink_to_a_directory_is_refused(tmp_path, fake_run):
    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "d")
    result = run("-o", str(tmp_path / "link"))
    assert result.exit_code == 2 and "is a directory" in only_line(result)
    assert not fake_run and list((tmp_path / "d").iterdir()) == []


# Streams: character devices, FIFOs, '-' -------------------------------------------------------------------


@ROOT_ONLY
def test_dev_null_stays_a_character_device(fake_run):
    before = os.stat("/dev/null")
    result = run("-o", "/dev/null")
    assert result.exit_code == 0, result.output
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    assert "profile written to /dev/null" in result.stderr


@ROOT_ONLY
def test_dev_full_is_a_write_error_and_stays_a_device(fake_run):
    result = run("-o", "/dev/full")
    assert result.exit_code == 1 and "could not write /dev/full" in only_line(result)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@ROOT_ONLY
def test_a_character_device_node_is_written_through(tmp_path, fake_run):
    node = tmp_path / "null"
    mknod(node, stat.S_IFCHR, (1, 3))  # the null device
    result = run("-o", str(node))
    assert result.exit_code == 0, result.output
    assert kind(node) == "chr" and os.stat(node).st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_a_fifo_is_written_through(tmp_path, fake_run, profile_data):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run("-o", str(fifo))
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert kind(fifo) == "fifo"
    assert yaml.safe_load(received[0]) == profile_data


def test_dash_is_stdout(tmp_path, monkeypatch, fake_run, profile_data):
    monkeypatch.chdir(tmp_path)
    result = run("-o", "-")
    assert result.exit_code == 0 and yaml.safe_load(result.stdout) == profile_data
    assert list(tmp_path.iterdir()) == []


# Refused: directories, trailing '/', block devices, sockets -------------------------------------------------


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "is a directory"),
    (None, "ends in '/'"),
])
def test_a_trailing_slash_names_a_directory(tmp_path, monkeypatch, fake_run, make, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "newdir").mkdir()
    if make:
        make(tmp_path / "newdir" / "sub")
    result = run("-o", "newdir/sub/")
    assert result.exit_code == 2
    line = only_line(result)
    assert "newdir/sub/" in line and ("is a directory" in line if make else "does not exist" in line)
    assert not fake_run  # refused before measuring
    assert [p.name for p in (tmp_path / "newdir").iterdir()] == (["sub"] if make else [])
    if make:
        assert kind(tmp_path / "newdir" / "sub") == "dir"


def test_a_directory_is_refused(tmp_path, fake_run):
    result = run("-o", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in only_line(result) and not fake_run


@ROOT_ONLY
def test_a_block_device_is_refused(tmp_path, fake_run):
    node = tmp_path / "disk"
    mknod(node, stat.S_IFBLK, (7, 0))  # a loop device node; never opened
    result = run("-o", str(node))
    assert result.exit_code == 2 and "is a block device" in only_line(result) and not fake_run
    assert kind(node) == "blk"


def test_a_socket_is_refused(tmp_path, fake_run):
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        result = run("-o", str(path))
        assert result.exit_code == 2 and "is a socket" in only_line(result) and not fake_run
        assert kind(path) == "sock"


def test_check_writable_and_write_atomic_refuse_the_same(tmp_path):
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        for call in (lambda: check_writable(path), lambda: write_atomic(path, "x")):
            with pytest.raises(UsageError, match="is a socket"):
                call()
    with pytest.raises(UsageError, match="ends in '/'"):
        write_atomic(str(tmp_path / "nope") + "/", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sock"]


# run --save and roofline -o follow the same rules -----------------------------------------------------------


def test_save_follows_a_symlinked_results_folder(tmp_path, monkeypatch, fake_run):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "hwbench-results").symlink_to(tmp_path / "elsewhere")
    result = run("--save", "-o", "-")
    assert result.exit_code == 0, result.output
    assert kind(tmp_path / "hwbench-results") == "link"
    assert [p.name for p in (tmp_path / "elsewhere").rglob("*.yaml")] == ["20261122T120000Z.yaml"]


def test_save_refuses_a_results_fifo(tmp_path, monkeypatch, fake_run):
    monkeypatch.chdir(tmp_path)
    os.mkfifo(tmp_path / "hwbench-results")
    result = run("--save", "-o", "-")
    assert result.exit_code == 2 and "--save" in only_line(result) and not fake_run
    assert kind(tmp_path / "hwbench-results") == "fifo"


@pytest.fixture
def saved_profile(tmp_path, profile_data):
    from hwbench import Profile

    path = tmp_path / "zen5.yaml"
    Profile(profile_data).save(path)
    return path


def roofline(*args: str):
    pytest.importorskip("matplotlib")
    return runner.invoke(cli.app, ["roofline", *args])


@ROOT_ONLY
def test_roofline_to_dev_null_stays_a_device(saved_profile):
    result = roofline(str(saved_profile), "-o", "/dev/null")
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_roofline_through_a_symlink_and_a_fifo(tmp_path, saved_profile):
    target = tmp_path / "real.svg"
    target.write_text("old")
    link = tmp_path / "roof.svg"
    link.symlink_to(target)
    assert roofline(str(saved_profile), "-o", str(link)).exit_code == 0
    assert kind(link) == "link" and target.read_text().lstrip().startswith("<?xml")

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = roofline(str(saved_profile), "-o", str(fifo))  # no suffix on a stream: PNG
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert kind(fifo) == "fifo" and received[0].startswith(b"\x89PNG")


def test_roofline_to_stdout(saved_profile):
    result = roofline(str(saved_profile), "-o", "-")
    assert result.exit_code == 0 and result.stdout_bytes.startswith(b"\x89PNG")


@pytest.mark.parametrize("output, message", [("{tmp}/", "is a directory"), ("{tmp}/new/", "ends in '/'"),
                                             ("{tmp}", "is a directory")])
def test_roofline_refuses_directories(tmp_path, saved_profile, output, message):
    result = roofline(str(saved_profile), "-o", output.format(tmp=tmp_path))
    assert result.exit_code == 2 and message in only_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zen5.yaml"]


# Streams behind file names, modes, owners and --save names (the probe suite runs the same as processes) -----


@pytest.mark.parametrize("name, fd", [("/dev/stdout", 1), ("/dev/stderr", 2), ("/dev/fd/5", 5),
                                      ("/proc/self/fd/7", 7), (f"/proc/{os.getpid()}/fd/3", 3),
                                      ("/proc/1/fd/3", None), ("/dev/stdout.yaml", None), ("out.yaml", None)])
def test_inherited_descriptors_are_recognised(name, fd):
    from hwbench.profile.files import inherited_fd

    assert inherited_fd(name) == fd


def test_a_descriptor_is_written_at_its_offset_not_reopened(tmp_path):
    """-o /dev/fd/N where N is open in append mode on a log: the log keeps its earlier lines."""
    log = tmp_path / "build.log"
    log.write_text("earlier line\n")
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        write_atomic(f"/dev/fd/{fd}", "new text\n")
    finally:
        os.close(fd)
    assert log.read_text() == "earlier line\nnew text\n"


def test_a_replaced_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path):
    private = tmp_path / "private.yaml"
    private.write_text("old\n")
    os.chmod(private, 0o600)
    write_atomic(private, "new\n")
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600 and private.read_text() == "new\n"
    previous = os.umask(0o027)
    try:
        write_atomic(tmp_path / "fresh.yaml", "x\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "fresh.yaml").st_mode) == 0o640


def test_write_new_never_replaces_and_takes_the_next_free_name(tmp_path):
    from hwbench.profile.files import write_new

    first = write_new(tmp_path / "s" / "run.yaml", "one\n")
    second = write_new(tmp_path / "s" / "run.yaml", "two\n")
    assert (first.name, second.name) == ("run.yaml", "run-1.yaml")
    assert first.read_text() == "one\n" and second.read_text() == "two\n"
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["run-1.yaml", "run.yaml"]


def test_a_failed_write_says_what_was_written_before(tmp_path, monkeypatch):
    from hwbench import process
    from hwbench.errors import HwbenchError

    monkeypatch.setattr(process, "written", [])
    write_atomic(tmp_path / "a.yaml", "a\n")
    with pytest.raises(HwbenchError, match=r"could not write /dev/full: No space left on device; .*a\.yaml was "
                                           r"written, nothing else"):
        write_atomic("/dev/full", "b\n")


@pytest.mark.parametrize("output", ["", "-"])
def test_several_profiles_need_a_folder_not_an_empty_name_or_stdout(output):
    from hwbench.run.plan import check_folder

    with pytest.raises(UsageError, match="the name is empty" if output == "" else "-o -: cuda:all writes one"):
        check_folder(output, "cuda:all")


def test_an_empty_output_name_is_refused_with_an_example_of_what_the_option_writes():
    with pytest.raises(UsageError, match=r"^--prometheus '': the name is empty; give a file name such as fleet\.prom"):
        check_writable("", option="--prometheus", example="fleet.prom")


def test_a_write_that_fails_removes_the_folders_it_made_and_only_those(tmp_path, monkeypatch):
    from hwbench.profile import files

    (tmp_path / "kept").mkdir()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "_temporary", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_new(tmp_path / "kept" / "host" / "cpu" / "run.yaml", "text")
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "kept" / "new" / "p.yaml", "text", create_parents=True)
    assert [p.name for p in tmp_path.rglob("*")] == ["kept"]


class _Interrupted(KeyboardInterrupt):
    pass


@pytest.fixture
def ctrl_c_raises(monkeypatch):
    """SIGINT raises ``_Interrupted`` for the test's duration (a background job inherits SIGINT ignored)."""
    import signal

    def handler(signum, frame):
        raise _Interrupted()

    previous = signal.signal(signal.SIGINT, handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_the_rename_lands_after_the_file_is_recorded(tmp_path, monkeypatch, ctrl_c_raises):
    """CI once saw "interrupted; nothing was written" beside a whole profile: the Ctrl-C had landed between the
    rename and its record. The two are one step now (process.signals_held): the interruption is raised after
    both, and its line names the file."""
    import signal

    from hwbench import process
    from hwbench.profile import files

    real_replace = os.replace

    def replace_under_ctrl_c(source, target):
        os.kill(os.getpid(), signal.SIGINT)  # arrives just before the rename, inside the held block
        real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", replace_under_ctrl_c)
    monkeypatch.setattr(process, "written", [])
    target = tmp_path / "p.yaml"
    with pytest.raises(_Interrupted):
        write_atomic(target, "a: 1\n")
    assert target.read_text() == "a: 1\n"
    assert process.written_summary() == f"{target} was written, nothing else"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]  # no temporary file left


def test_ctrl_c_while_save_claims_a_name_lands_after_the_name_is_recorded(tmp_path, monkeypatch, ctrl_c_raises):
    import signal

    from hwbench import process
    from hwbench.profile import files

    real_claim = files._claim

    def claim_under_ctrl_c(tmp, name):
        if name.name == "p-1.yaml":  # the claim that succeeds (p.yaml is taken)
            os.kill(os.getpid(), signal.SIGINT)
        return real_claim(tmp, name)

    monkeypatch.setattr(files, "_claim", claim_under_ctrl_c)
    monkeypatch.setattr(process, "written", [])
    (tmp_path / "p.yaml").write_text("taken\n")
    with pytest.raises(_Interrupted):
        files.write_new(tmp_path / "p.yaml", "a: 1\n")
    assert (tmp_path / "p-1.yaml").read_text() == "a: 1\n"
    assert process.written_summary() == f"{tmp_path / 'p-1.yaml'} was written, nothing else"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p-1.yaml", "p.yaml"]


def test_signals_held_restores_the_handlers_it_found_and_keeps_an_ignored_signal_ignored(ctrl_c_raises):
    import signal

    from hwbench import process

    previous_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        before = {signum: signal.getsignal(signum) for signum in process.ENDING_SIGNALS}
        with process.signals_held():
            os.kill(os.getpid(), signal.SIGHUP)  # ignored before: not kept, not delivered after
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGINT) is not before[signal.SIGINT]
        assert {signum: signal.getsignal(signum) for signum in process.ENDING_SIGNALS} == before
    finally:
        signal.signal(signal.SIGHUP, previous_hup)


@pytest.fixture
def recorded_signals(ctrl_c_raises):
    """SIGTERM, SIGHUP and SIGALRM recorded (their handlers return); SIGINT raises ``_Interrupted``."""
    import signal

    seen: list[int] = []
    others = (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM)
    previous = {signum: signal.signal(signum, lambda signum, frame: seen.append(signum)) for signum in others}
    yield seen
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def test_signals_held_delivers_each_held_signal_once_in_order(recorded_signals):
    import signal

    from hwbench import process

    with pytest.raises(_Interrupted):
        with process.signals_held():
            for signum in (signal.SIGALRM, signal.SIGHUP, signal.SIGALRM, signal.SIGINT):
                os.kill(os.getpid(), signum)
            assert recorded_signals == []  # held
    assert recorded_signals == [signal.SIGALRM, signal.SIGHUP]  # then SIGINT raised


def test_a_signal_during_the_restores_leaves_every_signal_reaching_its_handler(recorded_signals, monkeypatch):
    """signal.signal() runs a pending handler before it installs the new one: a Ctrl-C then raises in the middle
    of the restores, and a signal not yet restored must still reach its own handler afterwards."""
    import signal

    from hwbench import process

    real_signal = signal.signal
    restored: list[int] = []
    order = [int(signum) for signum in process.ENDING_SIGNALS]
    later = order[order.index(signal.SIGINT) + 1:]  # restored after SIGINT's own handler is back
    assert later, "SIGINT is restored last: this test needs a restore after it"

    def restore_under_ctrl_c(signum, handler):
        if not restored and signum == later[0]:
            restored.append(signum)
            os.kill(os.getpid(), signal.SIGINT)  # runs now: SIGINT's own handler raises, in the middle of the loop
        return real_signal(signum, handler)

    with pytest.raises(_Interrupted):
        with process.signals_held():
            monkeypatch.setattr(process.signal, "signal", restore_under_ctrl_c)
    monkeypatch.setattr(process.signal, "signal", real_signal)
    assert restored, "the Ctrl-C was sent during a restore"
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        os.kill(os.getpid(), signum)
    assert recorded_signals == [signal.SIGTERM, signal.SIGHUP, signal.SIGALRM]


def test_a_held_signal_whose_action_is_the_default_ends_the_process_after_the_block():
    import signal
    import subprocess
    import sys

    code = ("import os, signal\nfrom hwbench import process\nsignal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
            "with process.signals_held():\n    os.kill(os.getpid(), signal.SIGTERM)\n    print('inside', flush=True)\n"
            "print('after', flush=True)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGTERM and done.stdout == "inside\n", (done.returncode, done.stderr)
