"""`spooky convert`: JSON lines in, one record file out.

Two pieces of input are transcoded at once on two threads (the C core
releases the GIL); the writer takes them in order on this thread."""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from spooky_cli import render
from spooky_cli.errors import SpookyError
from spooky_cli.inputs import (
    Buffers,
    Piece,
    display_name,
    expand_inputs,
    input_size,
    read_pieces,
)
from spooky_cli.keys import KeySpec
from spooky_cli.writer import (
    RecordFileWriter,
    Transcoded,
    exception_for_line,
    explain,
    line_errors,
    transcode_chunk,
)

IN_FLIGHT = 5  # pieces read ahead of the writer: transcoding seldom waits for it
BIG_INT_HINT = "--big-int float stores it as the nearest float"


class Stats:
    def __init__(self) -> None:
        self.records = 0
        self.bad_lines = 0
        self.bytes_in = 0
        self.next_line: dict[int, int] = {}  # source -> lines taken so far


class Pools:
    """Read buffers and transcoded chunks, used again once a piece is written:
    no new 4 MB buffers (and their page faults) per piece."""

    def __init__(self) -> None:
        self.buffers = Buffers()
        self._chunks: deque[Transcoded] = deque()

    def chunk(self) -> Transcoded:
        try:
            return self._chunks.pop()
        except IndexError:
            return Transcoded()

    def give_back(self, piece: Piece, t: Transcoded | None) -> None:
        self.buffers.give_back(piece)
        if t is not None:
            self._chunks.append(t)


def run(
    inputs: list[str],
    output: str,
    *,
    key: str | list[str],
    keep_last: bool,
    skip_errors: bool,
    quiet: bool,
    big_int: str = "error",
) -> None:
    if inputs.count("-") > 1:
        raise SpookyError("stdin (-) can be read only once")
    inputs = expand_inputs(inputs)
    for path in inputs:
        if path != "-" and not os.path.exists(path):
            raise FileNotFoundError(2, "no such file", path)
    if not key:
        raise SpookyError("--key must name a field")

    start = time.perf_counter()
    sizes = [input_size(p) for p in inputs]
    total = None if any(s is None for s in sizes) else sum(s for s in sizes if s)
    stats = Stats()
    writer = RecordFileWriter(output, key=key, keep_last=keep_last, inputs=inputs, big_int=big_int)
    with writer, render.progress("converting", total, quiet) as bar:
        transcode_inputs(inputs, writer, writer.key_spec, skip_errors, bar, stats)
        if stats.bad_lines and not stats.records:  # leaves no output
            raise SpookyError(
                f"no record converted: {render.count(stats.bad_lines, 'bad line')}, "
                "no good one (listed above)"
            )

    seconds = time.perf_counter() - start
    parts = [
        render.count(writer.records, "record"),
        f"{render.mb(stats.bytes_in)} in",
        f"{render.mb(writer.bytes_written)} out",
        *render.timing(seconds, writer.records),
    ]
    if keep_last:
        parts.append(f"{writer.replaced:,} replaced")
    if big_int == "float":
        n = writer.big_ints
        parts.append(
            f"{render.count(n, 'big integer')} stored as {'a float' if n == 1 else 'floats'}"
        )
    if skip_errors:
        parts.append(f"{render.count(stats.bad_lines, 'bad line')} skipped")
    render.summary(parts, quiet)


def transcode_inputs(
    inputs: list[str],
    writer: RecordFileWriter,
    key: KeySpec,
    skip_errors: bool,
    bar: object,
    stats: Stats,
) -> None:
    """This thread reads; two threads transcode; one thread adds the results to
    the writer in input order. At most IN_FLIGHT pieces are held at once."""
    parse = ThreadPoolExecutor(max_workers=2, thread_name_prefix="spooky-transcode")
    write = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spooky-write")
    added: deque[Future[None]] = deque()
    pools = Pools()
    try:
        for path in inputs:
            source = writer.source_id(display_name(path))
            stats.next_line[source] = 0
            pieces = read_pieces(
                path,
                bar.advance,  # type: ignore[attr-defined]
                buffers=pools.buffers,
                count_lines=False,
            )
            for piece in pieces:
                stats.bytes_in += len(piece.data)
                done = parse.submit(
                    transcode_chunk,
                    piece.data,
                    key,
                    skip_errors,
                    into=pools.chunk(),
                    big_int=writer.big_int,
                    original=piece.original if piece.array_mode else None,
                )
                item = (piece, source, done)
                added.append(write.submit(_take, item, writer, skip_errors, stats, bar, pools))
                while len(added) >= IN_FLIGHT:
                    added.popleft().result()
        while added:
            added.popleft().result()
    finally:
        # on an error nothing queued may still touch the writer once we leave
        write.shutdown(wait=True, cancel_futures=True)
        parse.shutdown(wait=True, cancel_futures=True)


def _take(
    item: tuple[Piece, int, Future[Transcoded]],
    writer: RecordFileWriter,
    skip_errors: bool,
    stats: Stats,
    bar: Any,
    pools: Pools,
) -> None:
    piece, source, fut = item
    t = None
    try:
        t = fut.result()
        _add(piece, source, t, writer, skip_errors, stats, bar)
    finally:
        pools.give_back(piece, t)


def _add(
    piece: Piece,
    source: int,
    t: Transcoded,
    writer: RecordFileWriter,
    skip_errors: bool,
    stats: Stats,
    bar: Any,
) -> None:
    # the piece's first line: counted here, in input order, from the lines
    # the transcoder saw (NDJSON pieces come uncounted)
    first_line = piece.line if piece.line >= 0 else stats.next_line[source]
    stats.next_line[source] = first_line + t.lines
    original = piece.original if piece.array_mode else piece.data
    if t.errors:
        if isinstance(original, memoryview):
            original = original.tobytes()  # error path only: messages need a searchable copy
        found = [
            (
                line,
                offset,
                explain(
                    code, message, piece.data, offset, BIG_INT_HINT, writer.key_spec, "--key", part
                ),
            )
            for line, offset, code, message, part in t.errors
        ]
        errs = line_errors(
            writer.source_name(source),
            original,
            found,
            first_line=first_line,
            first_column=piece.column,
            base_offset=piece.base_offset,
            array_mode=piece.array_mode,
        )
        for (_, _, code, _, _), err in zip(t.errors, errs):
            if not skip_errors:
                raise exception_for_line(code, err)
            stats.bad_lines += 1
            render.warning(f"{err} near {err.snippet!r} (skipped)")
    writer.add(t, source, first_line)
    stats.records += t.records
    bar.add_records(t.records)
