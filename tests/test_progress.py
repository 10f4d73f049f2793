"""Progress bars: only on a terminal, only after a second of work, gone before
the summary, never drawn over data going to the same terminal. The terminal
is forced through --color always (Rich's force_terminal)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from cli_runner import run_cli

from spooky_cli import render
from spooky_cli.diff import diff_files
from spooky_cli.reader import RecordFileReader

ERASE_LINE = "\x1b[2K"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    lines = [orjson.dumps({"id": i, "age": i % 90}) + b"\n" for i in range(2000)]
    (tmp_path / "a.ndjson").write_bytes(b"".join(lines))
    (tmp_path / "b.ndjson").write_bytes(b"".join(lines[:1000]))
    for name in ("a", "b"):
        res = run_cli(
            "convert", str(tmp_path / f"{name}.ndjson"), "-o", str(tmp_path / f"{name}.spky")
        )
        assert res.code == 0
    return tmp_path


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch):
    """stderr a terminal (forced), bars shown at once."""
    monkeypatch.setattr(render, "PROGRESS_DELAY", 0.0)
    render.set_color("always")
    yield
    render.set_color("auto")


def commands(d: Path) -> dict[str, tuple[list[str], str]]:
    """Each command with its output going to a file, and its bar's verb."""
    return {
        "convert": (["convert", f"{d}/a.ndjson", "-o", f"{d}/c.spky"], "converting"),
        "export": (["export", f"{d}/a.spky", "-o", f"{d}/e.ndjson"], "exporting"),
        "filter": (["filter", f"{d}/a.spky", "-w", "age > 1", "-o", f"{d}/f.ndjson"], "filtering"),
        "diff": (["diff", f"{d}/a.spky", f"{d}/b.spky", "-o", f"{d}/d.txt"], "diffing"),
        "info": (["info", f"{d}/a.spky", "--verify"], "verifying"),
    }


@pytest.mark.parametrize("name", ["convert", "export", "filter", "diff", "info"])
def test_the_bar_is_gone_before_the_summary(files: Path, terminal: None, name: str) -> None:
    args, verb = commands(files)[name]
    res = run_cli("--color", "always", *args)
    assert res.code in (0, 1), res.stderr
    assert verb in res.stderr  # a bar was drawn
    if name != "info":  # info prints its facts on stdout
        # the bar's line is erased, then the summary takes it: nothing glued to a bar
        last = res.stderr.rsplit(ERASE_LINE, 1)[1]
        assert "━" not in last and last.endswith("\n") and last.count("\n") == 1


@pytest.mark.parametrize("name", ["convert", "export", "filter", "diff"])
def test_no_bar_for_short_work(files: Path, name: str) -> None:
    args, verb = commands(files)[name]
    try:
        res = run_cli("--color", "always", *args)  # the default delay: a second
    finally:
        render.set_color("auto")
    assert verb not in res.stderr and "━" not in res.stderr


def test_no_bar_off_a_terminal(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "PROGRESS_DELAY", 0.0)
    for args, verb in commands(files).values():
        res = run_cli("--color", "never", *args)
        assert verb not in res.stderr and "\x1b[" not in res.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["export", "{d}/a.spky"],
        ["filter", "{d}/a.spky", "-w", "age > 1"],
        ["diff", "{d}/a.spky", "{d}/b.spky"],
        ["diff", "{d}/a.spky", "{d}/b.spky", "--summary"],
    ],
)
def test_no_bar_over_data_on_the_same_terminal(
    files: Path, terminal: None, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setattr(render, "_shares_terminal_with_stdout", lambda: True)
    res = run_cli("--color", "always", *(a.format(d=files) for a in args))
    assert res.code in (0, 1)
    assert "━" not in res.stderr
    assert res.stdout  # the data came, unglued


def test_filter_count_with_a_bar(files: Path, terminal: None) -> None:
    res = run_cli("--color", "always", "filter", f"{files}/a.spky", "-w", "age > 1", "--count")
    want = sum(1 for i in range(2000) if i % 90 > 1)
    assert res.code == 0 and res.stdout == b"%d\n" % want


def test_diff_counts_the_records_of_the_larger_file(files: Path) -> None:
    done: list[int] = []
    with RecordFileReader(files / "a.spky") as a, RecordFileReader(files / "b.spky") as b:
        diff_files(a, b, progress=done.append, range_size=300)
        assert sum(done) == a.record_count == 2000  # not the two files' sum
        done.clear()
        diff_files(b, a, progress=done.append, range_size=300)
        assert sum(done) == 2000


def test_counts_have_thousands_separators(files: Path, terminal: None) -> None:
    res = run_cli("--color", "always", "diff", f"{files}/a.spky", f"{files}/b.spky", "-q")
    assert res.code == 1
    res = run_cli("--color", "always", *commands(files)["diff"][0])
    assert "2,000/2,000" in res.stderr
