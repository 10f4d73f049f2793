"""spooky export: a record file's records as NDJSON, in file order (a
dataset's parts one after the other, in name order)."""

from __future__ import annotations

import time

from spooky_cli import render
from spooky_cli.dataset import check_fields, input_parts, is_dataset, part_fields
from spooky_cli.output import open_output
from spooky_cli.reader import RecordFileReader


def run(file: str, output: str, fields: list[str] | None = None, quiet: bool = False) -> None:
    """Writes FILE's records (a folder: its parts' records, part after part)
    to OUTPUT (- for stdout) as one JSON object per line.

    fields keeps only the named fields, in that order (names the file does not
    know are an error listing the ones it has). A progress bar over the blocks'
    bytes and a one-line summary go to stderr unless quiet."""
    started = time.perf_counter()
    parts = input_parts(file)
    dataset = is_dataset(file)
    first = RecordFileReader(parts[0])  # a damaged file fails before any output
    with first:
        total = first.records_bytes
        if not dataset and fields is not None:
            first.projection(fields)  # unknown names fail before any output
        if dataset:
            known = {fi.name for fi in first.names}
            for path in parts[1:]:
                with RecordFileReader(path) as r:
                    known.update(fi.name for fi in r.names)
                    total += r.records_bytes
            if fields is not None:
                check_fields(fields, known)
        written = records = 0

        def write_block(data: memoryview) -> None:
            nonlocal written
            out.write(data)
            written += data.nbytes

        with (
            open_output(output, inputs=parts, direct=True) as out,
            render.progress("exporting", total, quiet=quiet, data_to_stdout=output == "-") as bar,
        ):
            for i, path in enumerate(parts):
                with first if i == 0 else RecordFileReader(path) as reader:
                    kept = part_fields(reader, fields) if dataset else fields
                    records += reader.export_ndjson(
                        write_block, kept, progress=bar.advance, views=True
                    )
    seconds = time.perf_counter() - started
    render.summary(
        [
            f"exported {render.count(records, 'record')}",
            render.mb(written),
            *render.timing(seconds, records),
        ],
        quiet=quiet,
    )
