"""Runs the `spooky` entry point in-process, as a shell would see it."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from typer.testing import CliRunner

from spooky_cli.app import main


@dataclass
class Result:
    code: int
    stdout: bytes
    stderr: str


def run_cli(*args: str, input: bytes | None = None) -> Result:
    """Exit code, stdout bytes and stderr text of `spooky ARGS` (stdin = input)."""
    runner = CliRunner()
    with runner.isolation(input=input) as outs:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        return Result(code, outs[0].getvalue(), outs[1].getvalue().decode("utf-8", "replace"))
