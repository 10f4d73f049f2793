"""spooky get: one record by key, as JSON."""

from __future__ import annotations

import sys

import orjson
import typer

from spooky_cli import render
from spooky_cli.keys import parse_key_argument
from spooky_cli.reader import RecordFileReader
from spooky_cli.record import SpookyRecord


def record_to_dict(reader: RecordFileReader, rec: SpookyRecord) -> dict:
    """A record as a dict of name -> value, names from the file's name table,
    fields in the record's (index) order, as export writes them."""
    out = {}
    for h, _type, value in rec.iter_fields():
        name = reader.name_for_hash(h)
        out[name if name is not None else f"#{h:016x}"] = value
    return out


def run(file: str, key: str, compact: bool = False) -> None:
    """Prints the record of KEY as JSON. KEY is tried as an integer key first
    when it reads as one, then as a string key. Exits 1 if no record has it."""
    with RecordFileReader(file) as reader:
        rec = None
        for form in parse_key_argument(key):
            rec = reader.get_sort_form(form)
            if rec is not None:
                break
        if rec is None:
            render.error(f"no record with key {key!r} in {file}")
            raise typer.Exit(1)
        obj = record_to_dict(reader, rec)
    text = orjson.dumps(obj) if compact else orjson.dumps(obj, option=orjson.OPT_INDENT_2)
    sys.stdout.flush()
    sys.stdout.buffer.write(text + b"\n")
    sys.stdout.buffer.flush()
