"""spooky get: one record by key, as JSON."""

from __future__ import annotations

import sys

import typer

from spooky_cli import render
from spooky_cli.keys import parse_key_argument
from spooky_cli.reader import RecordFileReader


def run(file: str, key: str, compact: bool = False) -> None:
    """Prints the record of KEY as JSON (2-space indent, or one line when
    compact), rendered in C at any depth. KEY is tried as an integer key first
    when it reads as one, then as a string key. Exits 1 if no record has it."""
    with RecordFileReader(file) as reader:
        text = None
        for form in parse_key_argument(key):
            text = reader.get_json_sort_form(form, indent=0 if compact else 2)
            if text is not None:
                break
        if text is None:
            render.error(f"no record with key {key!r} in {file}")
            raise typer.Exit(1)
    sys.stdout.flush()
    sys.stdout.buffer.write(text + b"\n")
    sys.stdout.buffer.flush()
