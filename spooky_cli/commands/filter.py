"""spooky filter: the records of a record file that match predicates."""

from __future__ import annotations

import time

import typer

from spooky_cli import render
from spooky_cli.dataset import check_fields, check_one_key, input_parts, is_dataset, part_fields
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
    parts = input_parts(file)
    readers: list[RecordFileReader] = []
    try:
        for path in parts:
            readers.append(RecordFileReader(path))
        check_one_key(readers)
        matched, total = _filter(
            readers, parts, is_dataset(file), flt, output, fmt, fields, count_only, quiet
        )
    finally:
        for r in readers:
            r.close()
    if count_only:
        print(matched, flush=True)  # once the bar is gone
    seconds = time.perf_counter() - started
    render.summary(
        [f"{matched:,} of {render.count(total, 'record')} matched", *render.timing(seconds)],
        quiet=quiet,
    )
    if not matched:
        raise typer.Exit(1)


def _filter(
    readers: list[RecordFileReader],
    inputs: list[str],
    dataset: bool,
    flt: Filter,
    output: str,
    fmt: str,
    fields: list[str] | None,
    count_only: bool,
    quiet: bool,
) -> tuple[int, int]:
    """The matches of every part (inputs: their paths as given; dataset: a
    folder's parts), in order: (matched, records)."""
    total = sum(r.record_count for r in readers)
    known = {fi.name for r in readers for fi in r.names}
    for name in flt.fields:
        if name not in known and total:
            listed = ", ".join(field_label(n) for n in sorted(known))
            raise SpookyError(
                f"unknown field {name!r} in --where (the file has: {listed or 'no fields'})"
            )
    if fields is not None and total:  # unknown names fail before any output
        if dataset:
            check_fields(fields, known)
        else:
            readers[0].projection(fields)
    unseen = None  # nested paths no record of any part has
    for r in readers:
        missing = paths_no_record_has(r, flt)
        unseen = missing if unseen is None else [p for p in unseen if p in missing]
    for path in unseen or []:
        render.warning(f"no record has {path} (in --where): is it spelled right?")
    to_stdout = output == "-" and fmt == "json" and not count_only
    matched = 0
    with render.progress(
        "filtering", sum(r.records_bytes for r in readers), quiet=quiet, data_to_stdout=to_stdout
    ) as bar:
        if count_only:
            for r in readers:
                matched += filter_file(r, flt, progress=bar.advance)
        elif fmt == "spky":
            with RecordFileWriter(output, key=readers[0].key_spec, inputs=inputs) as writer:
                for r in readers:
                    kept = part_fields(r, fields) if dataset else fields
                    matched += filter_file(r, flt, fields=kept, writer=writer, progress=bar.advance)
        else:
            with open_output(output, inputs=inputs) as out:
                for r in readers:
                    kept = part_fields(r, fields) if dataset else fields
                    matched += filter_file(
                        r, flt, fields=kept, write=out.write, progress=bar.advance
                    )
    return matched, total
