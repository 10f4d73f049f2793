"""What a person sees on the command line: global options (--color, --quiet,
--debug) before or after the command (an option of the command's own keeps
its meaning: diff -q), shell completion, summaries and headings."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import run_cli

from spooky_cli import render
from spooky_cli.app import hoist_global_options


@pytest.fixture
def spky(tmp_path: Path) -> Path:
    (tmp_path / "a.ndjson").write_bytes(b'{"id": 1}\n{"id": 2}\n')
    assert run_cli("convert", str(tmp_path / "a.ndjson"), "-o", str(tmp_path / "a.spky")).code == 0
    return tmp_path / "a.spky"


@pytest.mark.parametrize(
    "argv, want",
    [
        (["info", "x", "--color", "never"], ["--color", "never", "info", "x"]),
        (["info", "x", "--color=never", "--debug"], ["--color=never", "--debug", "info", "x"]),
        (["--debug", "info", "x", "-q"], ["--debug", "-q", "info", "x"]),
        (["diff", "a", "b", "-q"], ["diff", "a", "b", "-q"]),  # diff's own -q
        (
            ["export", "x", "--quiet", "--color", "always"],
            ["--color", "always", "export", "x", "--quiet"],
        ),
        (["export", "x", "--fields", "--debug"], ["export", "x", "--fields", "--debug"]),  # a value
        (["get", "x", "--", "--debug"], ["get", "x", "--", "--debug"]),
        (["--color", "never", "info", "x"], ["--color", "never", "info", "x"]),
        (["nosuch", "--debug"], ["nosuch", "--debug"]),
    ],
)
def test_hoisting(argv: list[str], want: list[str]) -> None:
    assert hoist_global_options(argv) == want


def test_color_after_the_command(spky: Path) -> None:
    try:
        res = run_cli("info", str(spky), "--color", "never")
        assert res.code == 0 and b"\x1b[" not in res.stdout
    finally:
        render.set_color("auto")


def test_quiet_before_or_after_any_command(spky: Path, tmp_path: Path) -> None:
    try:
        for args in (
            ["--quiet", "export", str(spky), "-o", str(tmp_path / "o.ndjson")],
            ["export", str(spky), "-o", str(tmp_path / "o.ndjson"), "--quiet"],
            ["info", str(spky), "--verify", "-q"],
        ):
            res = run_cli(*args)
            assert res.code == 0 and res.stderr == "", (args, res.stderr)
    finally:
        render.set_quiet(False)


def test_diff_q_keeps_its_meaning(spky: Path) -> None:
    res = run_cli("diff", str(spky), str(spky), "-q")
    assert res.code == 0 and res.stdout == b"" and res.stderr == ""


def test_debug_after_the_command_shows_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "bad.spky").write_bytes(b"not a record file")
    with pytest.raises(Exception, match="could not open record file"):
        run_cli("info", str(tmp_path / "bad.spky"), "--debug")
    res = run_cli("info", str(tmp_path / "bad.spky"))
    assert res.code == 2 and "could not open record file" in res.stderr


def test_shell_completion_works() -> None:
    import os
    import shutil
    import subprocess

    exe = shutil.which("spooky")
    if exe is None:
        pytest.skip("the spooky entry point is not installed")
    env = {
        **os.environ,
        "_SPOOKY_COMPLETE": "complete_bash",
        "COMP_WORDS": "spooky ex",
        "COMP_CWORD": "1",
    }
    out = subprocess.run([exe], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["export"]
    res = run_cli("--help")
    assert "--install-completion" in res.stdout.decode()


def test_info_has_one_fields_heading(spky: Path) -> None:
    res = run_cli("--color", "never", "info", str(spky))
    heads = [line for line in res.stdout.decode().splitlines() if line.startswith("fields")]
    assert heads == ["fields          1"]


@pytest.mark.parametrize(
    "seconds, records, want",
    [
        (0.0034, 60, ["3 ms"]),  # too short for a rate to mean anything
        (0.25, 100_000, ["250 ms", "400,000 records/s"]),
        (2.5, 1_000_000, ["2.50 s", "400,000 records/s"]),
        (0.01, None, ["10 ms"]),
    ],
)
def test_summary_times(seconds: float, records: int | None, want: list[str]) -> None:
    assert render.timing(seconds, records) == want


def test_top_level_help_points_at_what_a_pip_user_has() -> None:
    text = run_cli("--help").stdout.decode()
    assert "spooky COMMAND --help" in text and "docs/" not in text


def test_messages_to_a_pipe_are_plain_lines_without_rich(monkeypatch, capsys):
    # many skipped lines mean many warnings: off a terminal they are written
    # as plain lines (Rich costs ~100 us a line), on one through Rich
    from spooky_cli import render

    monkeypatch.setattr(render, "_consoles", {})
    monkeypatch.setattr(render, "_color", "auto")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    render.warning("a.ndjson:3:1: [bold]x[/] (skipped)")
    render.error("boom")
    assert capsys.readouterr().err == (
        "spooky: warning: a.ndjson:3:1: [bold]x[/] (skipped)\nspooky: error: boom\n"
    )
    assert render._consoles == {}
    monkeypatch.setattr(render, "_color", "always")
    render.warning("[bold]x[/]")
    assert render._consoles and "\x1b[" in capsys.readouterr().err
