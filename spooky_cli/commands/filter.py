"""spooky filter: the records of a record file that match predicates."""

from __future__ import annotations

import time

import typer

from spooky_cli import render
from spooky_cli.errors import SpookyError
from spooky_cli.filter import Filter, filter_file, paths_no_record_has
from spooky_cli.output import open_output
from spooky_cli.reader import RecordFileReader, field_label
from spooky_cli.writer import RecordFileWriter


def output_format(output: str, fmt: str | None) -> str:
    """ "spky" or "json": as given, else a record file for a path ending in .spky."""
    if fmt is not None:
        return fmt
    return "spky" if output.endswith(".spky") else "json"


def run(
    file: str,
    where: list[str],
    output: str = "-",
    fmt: str | None = None,
    any_: bool = False,
    fields: list[str] | None = None,
    count_only: bool = False,
    quiet: bool = False,
) -> None:
    """Writes FILE's records that match every predicate of where (any one with
    any_) to OUTPUT, in file order: NDJSON, or a record file keyed like FILE.
    count_only prints the number of matches instead. Exits 0 when a record
    matched, 1 when none did (like grep); errors exit 2 from the caller."""
    if not where:
        raise SpookyError("give at least one --where predicate, e.g. --where 'age >= 30'")
    flt = Filter(where, any_=any_)
    fmt = output_format(output, fmt)
    started = time.perf_counter()
    with RecordFileReader(file) as reader:
        empty = reader.record_count == 0  # matches nothing, whatever the fields
        for name in flt.fields:
            if reader.hash_for_name(name) is None and not empty:
                known = ", ".join(field_label(n) for n in sorted(fi.name for fi in reader.names))
                raise SpookyError(
                    f"unknown field {name!r} in --where (the file has: {known or 'no fields'})"
                )
        if fields is not None and not empty:
            reader.projection(fields)  # unknown names fail before any output
        for path in paths_no_record_has(reader, flt):
            render.warning(f"no record has {path} (in --where): is it spelled right?")
        to_stdout = output == "-" and fmt == "json" and not count_only
        with render.progress(
            "filtering", reader.records_bytes, quiet=quiet, data_to_stdout=to_stdout
        ) as bar:
            if count_only:
                matched = filter_file(reader, flt, progress=bar.advance)
            elif fmt == "spky":
                with RecordFileWriter(output, key=reader.key_spec, inputs=[file]) as writer:
                    matched = filter_file(
                        reader, flt, fields=fields, writer=writer, progress=bar.advance
                    )
            else:
                with open_output(output, inputs=[file]) as out:
                    matched = filter_file(
                        reader, flt, fields=fields, write=out.write, progress=bar.advance
                    )
        total = reader.record_count
    if count_only:
        print(matched, flush=True)  # once the bar is gone
    seconds = time.perf_counter() - started
    render.summary(
        [f"{matched:,} of {render.count(total, 'record')} matched", *render.timing(seconds)],
        quiet=quiet,
    )
    if not matched:
        raise typer.Exit(1)
