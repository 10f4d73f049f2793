"""Every command has --help with an example, and is documented in docs/CLI.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import run_cli

from spooky_cli.app import app

DOC = (Path(__file__).resolve().parents[1] / "docs" / "CLI.md").read_text()
COMMANDS = [c.name or c.callback.__name__ for c in app.registered_commands]


def test_the_commands_we_promise() -> None:
    assert {"convert", "export", "info", "get", "bench"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_and_docs(command: str) -> None:
    res = run_cli(command, "--help")
    assert res.code == 0, res.stderr
    assert b"Example:" in res.stdout
    assert f"## spooky {command}" in DOC


def test_top_level_help_and_version() -> None:
    res = run_cli("--help")
    assert res.code == 0 and b"convert" in res.stdout and b"Exit codes" in res.stdout
    res = run_cli("--version")
    assert res.code == 0 and res.stdout.startswith(b"spooky ")


def test_usage_error_exit_code() -> None:
    res = run_cli("convert", "x.ndjson")  # no -o
    assert res.code == 2
    res = run_cli("no-such-command")
    assert res.code == 2
