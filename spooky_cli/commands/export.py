"""spooky export: a record file's records as NDJSON, in file order."""

from __future__ import annotations

import time

from spooky_cli import render
from spooky_cli.output import open_output
from spooky_cli.reader import RecordFileReader


def run(file: str, output: str, fields: list[str] | None = None, quiet: bool = False) -> None:
    """Writes FILE's records to OUTPUT (- for stdout) as one JSON object per line.

    fields keeps only the named fields, in that order (names the file does not
    know are an error listing the ones it has). A progress bar over the blocks'
    bytes and a one-line summary go to stderr unless quiet."""
    started = time.perf_counter()
    with RecordFileReader(file) as reader:
        if fields is not None:
            reader.projection(fields)  # unknown names fail before any output
        written = 0

        def write_block(data: memoryview) -> None:
            nonlocal written
            out.write(data)
            written += data.nbytes

        with (
            open_output(output, inputs=[file], direct=True) as out,
            render.progress(
                "exporting", reader.records_bytes, quiet=quiet, data_to_stdout=output == "-"
            ) as bar,
        ):
            records = reader.export_ndjson(write_block, fields, progress=bar.advance, views=True)
    seconds = time.perf_counter() - started
    render.summary(
        [
            f"exported {render.count(records, 'record')}",
            render.mb(written),
            *render.timing(seconds, records),
        ],
        quiet=quiet,
    )
