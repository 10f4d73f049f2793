"""Every writer goes through one output opener (spooky_cli.output): a regular
file appears whole or not at all, devices and FIFOs are written through, a
symlink's target is replaced, directories and inputs are refused, and no temp
file survives an error or a signal."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from cli_runner import run_cli

from spooky_cli import output
from spooky_cli.writer import RecordFileWriter

LINES = b"".join(orjson.dumps({"id": i, "name": f"n{i}", "tags": [i]}) + b"\n" for i in range(50))


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "in.ndjson").write_bytes(LINES)
    assert (
        run_cli("convert", str(tmp_path / "in.ndjson"), "-o", str(tmp_path / "in.spky")).code == 0
    )
    return tmp_path


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# -- devices, FIFOs, symlinks, directories ------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
@pytest.mark.parametrize("command", ["export", "convert"])
def test_a_device_is_written_through_and_its_errors_count(work: Path, command: str) -> None:
    full = work / "full"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # /dev/full's numbers
    args = (
        ["export", str(work / "in.spky")]
        if command == "export"
        else ["convert", str(work / "in.ndjson")]
    )
    res = run_cli(*args, "-o", str(full))
    assert res.code == 2
    assert f"{full}: No space left on device" in res.stderr
    assert stat.S_ISCHR(os.stat(full).st_mode)  # still the device, not a regular file
    assert listing(work) == ["full", "in.ndjson", "in.spky"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_a_null_device_takes_the_output(work: Path) -> None:
    null = work / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    assert run_cli("convert", str(work / "in.ndjson"), "-o", str(null)).code == 0
    assert run_cli("export", str(work / "in.spky"), "-o", str(null)).code == 0
    assert stat.S_ISCHR(os.stat(null).st_mode)


def _read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as f:
            into.append(f.read())

    t = threading.Thread(target=read)
    t.start()
    return t


@pytest.mark.parametrize("command", ["export", "convert", "filter"])
def test_a_fifo_is_written_through(work: Path, command: str) -> None:
    fifo = work / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    if command == "export":
        res = run_cli("export", str(work / "in.spky"), "-o", str(fifo))
    elif command == "convert":
        res = run_cli("convert", str(work / "in.ndjson"), "-o", str(fifo))
    else:
        res = run_cli("filter", str(work / "in.spky"), "-w", "id < 5", "-o", str(fifo))
    reader.join(10)
    assert res.code == 0, res.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    if command == "convert":
        assert got[0] == (work / "in.spky").read_bytes()
    elif command == "export":
        assert got[0] == LINES.replace(b", ", b",")
    else:
        assert got[0].count(b"\n") == 5
    assert listing(work) == ["fifo", "in.ndjson", "in.spky"]


@pytest.mark.parametrize("command", ["export", "convert"])
def test_a_symlink_target_is_replaced(work: Path, command: str) -> None:
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "real.out"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    link = work / "link.out"
    link.symlink_to(target)
    if command == "export":
        res = run_cli("export", str(work / "in.spky"), "-o", str(link))
        want = LINES.replace(b", ", b",")
    else:
        res = run_cli("convert", str(work / "in.ndjson"), "-o", str(link))
        want = (work / "in.spky").read_bytes()
    assert res.code == 0, res.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == want
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640  # the replaced file's mode is kept
    assert listing(elsewhere) == ["real.out"]


def test_a_dangling_symlink_gets_its_target(work: Path) -> None:
    link = work / "link.spky"
    link.symlink_to(work / "new.spky")
    assert run_cli("convert", str(work / "in.ndjson"), "-o", str(link)).code == 0
    assert link.is_symlink()
    assert (work / "new.spky").read_bytes() == (work / "in.spky").read_bytes()


@pytest.mark.parametrize(
    "args",
    [
        ("convert", "{dir}/in.ndjson"),
        ("export", "{dir}/in.spky"),
        ("filter", "{dir}/in.spky", "-w", "id > 1"),
        ("filter", "{dir}/in.spky", "-w", "id > 1", "--format", "spky"),
        ("diff", "{dir}/in.spky", "{dir}/in.spky"),
    ],
)
def test_a_directory_output_is_refused_up_front(work: Path, args: tuple[str, ...]) -> None:
    folder = work / "adir"
    folder.mkdir()
    res = run_cli(*(a.format(dir=work) for a in args), "-o", str(folder))
    assert res.code == 2
    assert f"{folder}: is a directory" in res.stderr
    assert listing(folder) == []
    assert listing(work) == ["adir", "in.ndjson", "in.spky"]


def test_new_files_get_the_usual_mode(work: Path) -> None:
    old = os.umask(0o027)
    try:
        assert run_cli("convert", str(work / "in.ndjson"), "-o", str(work / "m.spky")).code == 0
        assert run_cli("export", str(work / "in.spky"), "-o", str(work / "m.ndjson")).code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(work / "m.spky").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(work / "m.ndjson").st_mode) == 0o640


# -- an output that is one of the inputs -----------------------------------------------


@pytest.mark.parametrize(
    "args, victim",
    [
        (("convert", "{dir}/in.ndjson", "-o", "{dir}/in.ndjson"), "in.ndjson"),
        (("convert", "{dir}/in.spky", "{dir}/in.ndjson", "-o", "{dir}/in.spky"), "in.spky"),
        (("export", "{dir}/in.spky", "-o", "{dir}/in.spky"), "in.spky"),
        (("filter", "{dir}/in.spky", "-w", "id > 1", "-o", "{dir}/in.spky"), "in.spky"),
        (
            ("filter", "{dir}/in.spky", "-w", "id > 1", "--format", "json", "-o", "{dir}/in.spky"),
            "in.spky",
        ),
        (("diff", "{dir}/in.spky", "{dir}/other.spky", "-o", "{dir}/other.spky"), "other.spky"),
        (("export", "{dir}/link.spky", "-o", "{dir}/in.spky"), "in.spky"),
        (("export", "{dir}/in.spky", "-o", "{dir}/link.spky"), "in.spky"),
        (("export", "{dir}/in.spky", "-o", "{dir}/hard.spky"), "in.spky"),
    ],
)
def test_an_output_that_is_an_input_is_refused(
    work: Path, args: tuple[str, ...], victim: str
) -> None:
    (work / "other.spky").write_bytes((work / "in.spky").read_bytes())
    (work / "link.spky").symlink_to(work / "in.spky")
    os.link(work / "in.spky", work / "hard.spky")
    before = {name: (work / name).read_bytes() for name in listing(work)}
    res = run_cli(*(a.format(dir=work) for a in args))
    assert res.code == 2
    assert "is the same file as the input" in res.stderr
    assert {name: (work / name).read_bytes() for name in listing(work)} == before
    assert (work / victim).read_bytes() == before[victim]


def test_stdin_that_is_the_output_is_refused(work: Path) -> None:
    target = work / "in.ndjson"
    with open(target, "rb") as stdin:
        res = subprocess.run(
            [sys.executable, "-m", "spooky_cli", "convert", "-", "-o", str(target)],
            stdin=stdin,
            capture_output=True,
            cwd=work,  # away from the checkout, whose spooky_cli/ has no compiled core
        )
    assert res.returncode == 2
    assert b"same file as the input stdin" in res.stderr
    assert target.read_bytes() == LINES


# -- errors name the user's path ----------------------------------------------------------


def test_errors_name_the_users_path_not_a_temp_file(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def read_only(path: object, flags: int, *args: object, **kw: object) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", read_only)
    for args in (
        ("convert", str(work / "in.ndjson"), "-o", str(work / "new.spky")),
        ("export", str(work / "in.spky"), "-o", str(work / "new.ndjson")),
    ):
        res = run_cli(*args)
        assert res.code == 2
        assert res.stderr.strip().endswith(f"{args[-1]}: Read-only file system"), res.stderr
        assert ".tmp" not in res.stderr
    monkeypatch.undo()
    assert listing(work) == ["in.ndjson", "in.spky"]


# -- the named fallback where O_TMPFILE cannot be used ---------------------------------


def test_named_fallback_is_removed_on_error_and_renamed_on_success(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "_PROC_FD", str(work / "no-proc"))
    target = work / "out.ndjson"
    with output.open_output(str(target)) as f:
        f.write(b"whole\n")
        assert any(n.startswith(".out.ndjson.") for n in listing(work))  # a named temp file
    assert target.read_bytes() == b"whole\n"
    with pytest.raises(RuntimeError), output.open_output(str(target)) as f:
        f.write(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"whole\n"
    assert listing(work) == ["in.ndjson", "in.spky", "out.ndjson"]
    with RecordFileWriter(work / "w.spky") as w:
        w.write({"id": 1})
    assert listing(work) == ["in.ndjson", "in.spky", "out.ndjson", "w.spky"]


def test_unnamed_temp_file_has_no_name_while_written(work: Path) -> None:
    target = work / "out.ndjson"
    with output.open_output(str(target)) as f:
        f.write(b"x")
        assert listing(work) == ["in.ndjson", "in.spky"]
    assert listing(work) == ["in.ndjson", "in.spky", "out.ndjson"]


def test_an_interrupt_mid_write_leaves_the_old_file(work: Path) -> None:
    target = work / "out.ndjson"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), output.open_output(str(target)) as f:
        f.write(b"new" * 1000)
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert listing(work) == ["in.ndjson", "in.spky", "out.ndjson"]


# -- signals sent to a real process mid-convert -----------------------------------------

_FALLBACK = "import spooky_cli.output as o; o._PROC_FD = '/no-proc'; "


CAUGHT = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _convert_from_pipe(
    work: Path, prelude: str = "", ignored: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    """A convert reading stdin, fed part of its input and then kept waiting,
    so that a signal arrives while its output is half written."""
    code = prelude + "from spooky_cli.app import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "convert", "-", "-o", str(work / "out.spky")],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=work,
        # signals as a shell gives them: under nohup SIGHUP comes ignored, and
        # spooky (rightly) keeps ignoring it
        preexec_fn=lambda: [
            signal.signal(s, signal.SIG_IGN if s in ignored else signal.SIG_DFL) for s in CAUGHT
        ],
    )
    assert proc.stdin is not None
    more = (orjson.dumps({"id": i, "text": "x" * 100}) + b"\n" for i in range(100, 100_000))
    proc.stdin.write(b"".join(more))  # 12 MB: blocks reach the output file
    proc.stdin.flush()
    _wait_for_output_file(proc.pid, work)
    return proc


def _wait_for_output_file(pid: int, folder: Path) -> None:
    """Until the process has written to a file in folder (its temp file)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                where = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            ours = where.startswith(f"{folder}/") and not where.endswith((".ndjson", ".spky"))
            if ours and os.stat(f"/proc/{pid}/fd/{fd}").st_size > 0:
                return
        time.sleep(0.02)
    raise AssertionError("the convert never wrote its output")


@pytest.mark.parametrize(
    "sig, said",
    [(signal.SIGTERM, "terminated"), (signal.SIGHUP, "hung up"), (signal.SIGINT, "interrupted")],
)
@pytest.mark.parametrize("prelude", ["", _FALLBACK], ids=["unnamed", "named-fallback"])
def test_a_signal_mid_convert_leaves_nothing(work: Path, sig: int, said: str, prelude: str) -> None:
    proc = _convert_from_pipe(work, prelude)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == -sig  # ended by the signal itself, as shells expect
    assert f"spooky: error: {said}" in err.decode()
    assert listing(work) == ["in.ndjson", "in.spky"]


def test_under_nohup_a_hangup_does_not_stop_a_convert(work: Path) -> None:
    # SIGHUP ignored when spooky starts (nohup, a daemon) stays ignored
    proc = _convert_from_pipe(work, ignored=(signal.SIGHUP,))
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)  # closes stdin: the convert finishes
    assert proc.returncode == 0, err.decode()
    assert listing(work) == ["in.ndjson", "in.spky", "out.spky"]


def test_sigkill_mid_convert_leaves_nothing_named(work: Path) -> None:
    proc = _convert_from_pipe(work)
    proc.kill()
    proc.communicate(timeout=20)
    assert proc.returncode == -signal.SIGKILL
    assert listing(work) == ["in.ndjson", "in.spky"]


def test_an_existing_output_survives_a_signal(work: Path) -> None:
    (work / "out.spky").write_bytes(b"precious")
    proc = _convert_from_pipe(work)
    proc.terminate()
    proc.communicate(timeout=20)
    assert (work / "out.spky").read_bytes() == b"precious"
    assert listing(work) == ["in.ndjson", "in.spky", "out.spky"]


# -- a reader that goes away ------------------------------------------------------------


@pytest.mark.parametrize("command, code", [("export", 0), ("filter", 0), ("diff", 1)])
def test_a_pipe_reader_that_goes_away_stops_the_command_quietly(
    tmp_path: Path, command: str, code: int
) -> None:
    many = b"".join(orjson.dumps({"id": i, "pad": "x" * 200}) + b"\n" for i in range(50_000))
    (tmp_path / "big.ndjson").write_bytes(many)
    big = tmp_path / "big.spky"
    assert run_cli("convert", str(tmp_path / "big.ndjson"), "-o", str(big)).code == 0
    (tmp_path / "empty.ndjson").write_bytes(b"")
    empty = tmp_path / "empty.spky"
    assert run_cli("convert", str(tmp_path / "empty.ndjson"), "-o", str(empty)).code == 0
    args = {
        "export": ["export", str(big)],
        "filter": ["filter", str(big), "-w", "id >= 0"],
        "diff": ["diff", str(big), str(empty)],
    }[command]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from spooky_cli.app import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()  # one line, then the reader goes away
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == code
    assert b"Traceback" not in err and b"error" not in err
