"""spooky get: one record by key, as JSON."""

from __future__ import annotations

import sys

import typer

from spooky_cli import render
from spooky_cli.keys import key_arguments
from spooky_cli.reader import RecordFileReader


def run(
    file: str, key: list[str], compact: bool = False, usage: typer.Context | None = None
) -> None:
    """Prints the record of KEY as JSON (2-space indent, or one line when
    compact), rendered in C at any depth. KEY is one argument per part of the
    file's key (`spooky get orders.spky acme 42` for a file keyed by
    tenant,user_id); an argument that reads as an integer is tried as one
    first, then as a string; in JSON string quotes ('"12"') only as the
    string. Of several parts, every combination is tried in that order, the
    first found wins. Exits 1 if no record has it; a count of arguments that
    is not the key's count of parts is a usage error (against usage, the
    command's context, when given)."""
    with RecordFileReader(file) as reader:
        parts = reader.key_spec.parts
        if len(key) != parts:
            message = (
                f"{reader.path} is keyed by {reader.key_field}: give {parts} key "
                f"value{'s' if parts != 1 else ''}, one per part (not {len(key)})"
            )
            raise typer.BadParameter(message, ctx=usage, param_hint="'KEY...'")
        text = None
        for value in key_arguments(key):
            text = reader.get_json_sort_form(reader.sort_form(value), indent=0 if compact else 2)
            if text is not None:
                break
        if text is None:
            shown = key[0] if len(key) == 1 else " ".join(key)
            render.error(f"no record with key {shown!r} in {file}")
            raise typer.Exit(1)
    sys.stdout.flush()
    sys.stdout.buffer.write(text + b"\n")
    sys.stdout.buffer.flush()
