"""spooky diff: what changed between two record files, by key. Either side
may be NDJSON/JSON text instead, converted first into an unnamed temporary
record file."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext

import orjson
import typer

from spooky_cli import render
from spooky_cli.commands.convert import Stats, convert_inputs
from spooky_cli.dataset import holds_parts
from spooky_cli.diff import LIMIT, DiffCounts, JsonDocument, Tolerance, diff_files, diff_summary
from spooky_cli.errors import SpookyError
from spooky_cli.filter import Filter
from spooky_cli.inputs import display_name, expand_inputs, input_size
from spooky_cli.keys import KeySpec
from spooky_cli.markdown import diff_markdown
from spooky_cli.output import Output, ReaderGone, open_output
from spooky_cli.reader import RecordFileReader, is_record_file
from spooky_cli.writer import RecordFileWriter

FORMATS = ("text", "json", "ndjson", "markdown")


def run(
    old: str,
    new: str,
    output: str = "-",
    fmt: str = "text",
    summary_only: bool = False,
    fields: list[str] | None = None,
    ignore: list[str] | None = None,
    deep: bool = False,
    quiet: bool = False,
    verify: bool = False,
    *,
    key: list[str] | None = None,
    tolerance: float | None = None,
    rel_tolerance: float | None = None,
    array_key: str | None = None,
    full: bool = False,
    limit: int | None = None,
    stat_file: str | None = None,
    where: list[str] | None = None,
    scheduler: str | None = None,
) -> None:
    """Writes the differences of NEW against OLD to OUTPUT in key order, then a
    summary line to stderr. Exits 0 when the files hold the same records, 1
    when they differ (like diff(1)); errors exit 2 from the caller.

    fmt "text": "- KEY {record}" (removed), "+ KEY {record}" (added), and
    "~ KEY" with a line "    field: OLD -> NEW" per changed field, coloured on
    a terminal. "ndjson": one object per line, {"op": "removed"|"added",
    "key": K, "record": {...}} or {"op": "changed", "key": K, "fields":
    {name: {"old": V, "new": V}}}. "json": one document {"changes": [those
    objects], "summary": {...}}. "markdown": a report for a pull request,
    the first `limit` differences (default 100). summary_only: just the
    counts on stdout. stat_file: the summary as JSON there too. key: the key
    of NDJSON sides (default: the record file side's, else id). verify:
    first every block of both files is checked as info --verify checks it.
    A folder of .spky parts is a dataset: two datasets, or a dataset and a
    file, are diffed on Dask (spooky_cli.dask.plan_diff) on a local cluster,
    or on the one at scheduler (text, ndjson and json output)."""
    if holds_parts(old) or holds_parts(new):
        unsupported = [
            name
            for name, given in (
                (f"--format {fmt}", fmt == "markdown" and not summary_only),
                ("--where", bool(where)),
                ("--tolerance", tolerance is not None or rel_tolerance is not None),
                ("--array-key", array_key is not None),
                ("--full", full),
                ("--limit", limit is not None),
                ("--stat-file", stat_file is not None),
                ("--key", bool(key)),
            )
            if given
        ]
        if unsupported:
            raise SpookyError(
                f"{', '.join(unsupported)}: not yet for datasets (folders of .spky parts); "
                "diff one file per side for these"
            )
        _run_datasets(
            old, new, output, fmt, summary_only, fields, ignore, deep, quiet, verify, scheduler
        )
        return
    if scheduler is not None:
        raise SpookyError("--scheduler diffs datasets (folders of .spky parts); these are files")
    if old == "-" and new == "-":
        raise SpookyError("stdin (-) can be read only once")
    if fmt not in FORMATS:
        raise SpookyError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
    if limit is not None and fmt != "markdown":
        raise SpookyError("--limit goes with --format markdown")
    if limit is not None and limit < 0:
        raise SpookyError(f"--limit must be 0 or more, got {limit}")
    if full and fmt not in ("json", "ndjson"):
        raise SpookyError("--full goes with --format json or ndjson")
    tol = Tolerance.of(tolerance, rel_tolerance)
    flt = Filter(where) if where else None  # a bad expression fails before any input is read
    key_spec = KeySpec.parse(key) if key else None
    for path in ([] if quiet else [output]) + ([stat_file] if stat_file is not None else []):
        Output(path, inputs=[old, new])  # refused before any side is converted
    started = time.perf_counter()
    with _sides(old, new, key_spec, quiet) as (a, b):
        if verify:
            _verify(a, b, quiet)
        c_fmt = "count" if summary_only or quiet else fmt
        try:
            with (
                nullcontext(_Discard()) if quiet else open_output(output, inputs=[old, new]) as out,
                render.progress(
                    "diffing",
                    max(a.record_count, b.record_count),
                    quiet=quiet,
                    unit="records",
                    data_to_stdout=output == "-",
                ) as bar,
            ):
                counts = diff_files(
                    a,
                    b,
                    out.write,
                    fmt=c_fmt,
                    fields=fields,
                    ignore=ignore,
                    deep=deep,
                    color=c_fmt == "text" and output == "-" and render.stdout_color(),
                    progress=bar.advance,
                    tolerance=tol,
                    array_key=array_key,
                    full=full,
                    limit=LIMIT if limit is None else limit,
                    where=flt,
                )
                if summary_only and not quiet:
                    out.write(_summary_text(counts, fmt, tol))
        except ReaderGone:
            raise typer.Exit(1) from None  # what was shown differs
    if stat_file is not None:
        with open_output(stat_file, inputs=[old, new]) as f:
            f.write(orjson.dumps(diff_summary(counts, tol)) + b"\n")
    seconds = time.perf_counter() - started
    if not summary_only:
        render.summary([_counts_line(counts, tol), *render.timing(seconds)], quiet=quiet)
    if counts.differences:
        raise typer.Exit(1)


def _run_datasets(
    old: str,
    new: str,
    output: str,
    fmt: str,
    summary_only: bool,
    fields: list[str] | None,
    ignore: list[str] | None,
    deep: bool,
    quiet: bool,
    verify: bool,
    scheduler: str | None,
) -> None:
    """diff of datasets: the same output, counts and exit codes as a diff of
    the records gathered into one file per side."""
    if "-" in (old, new):
        raise SpookyError("a dataset is diffed with files or folders, not stdin (-)")
    try:
        from spooky_cli import dask as sd
    except ImportError as exc:
        raise SpookyError(
            f"diffing datasets (folders) runs on Dask, which is not installed ({exc.name}): "
            "pip install 'spooky-cli[dask]'"
        ) from None
    started = time.perf_counter()
    c_fmt = "count" if summary_only or quiet else fmt
    color = c_fmt == "text" and output == "-" and render.stdout_color()
    with sd.cluster(scheduler):
        if verify:
            sd.verify_parts(old)
            sd.verify_parts(new)
        d = sd.plan_diff(old, new, fmt=c_fmt, fields=fields, ignore=ignore, deep=deep, color=color)
        if c_fmt == "count":
            counts = d.counts()
            if summary_only and not quiet:
                with open_output(output) as out:
                    out.write(_summary_text(counts, fmt, None))
        else:
            changes = d.changes.persist()
            counts = d.counts(changes)
            inputs = [*sd.dataset_parts(old), *sd.dataset_parts(new)]
            try:
                document = JsonDocument() if fmt == "json" else None
                with open_output(output, inputs=inputs) as out:
                    for part in changes.partitions:  # in key order
                        text = "".join(part["text"].compute()).encode("utf-8")
                        out.write(document.part(text) if document else text)
                    if document:
                        out.write(document.end(diff_summary(counts)))
            except ReaderGone:
                raise typer.Exit(1) from None
    if not summary_only:
        seconds = time.perf_counter() - started
        render.summary([_counts_line(counts), *render.timing(seconds)], quiet=quiet)
    if counts.differences:
        raise typer.Exit(1)


@contextmanager
def _sides(
    old: str, new: str, key: KeySpec | None, quiet: bool
) -> Iterator[tuple[RecordFileReader, RecordFileReader]]:
    """Both sides open as record files: record files as they are, then
    NDJSON/JSON sides converted (keyed by key, else by a record file side's
    key, else by id) into unnamed temporary record files."""
    paths = (old, new)
    kinds = [is_record_file(p) for p in paths]
    with ExitStack() as stack:
        readers: list[RecordFileReader | None] = [None, None]
        for i, path in enumerate(paths):
            if kinds[i]:
                r = stack.enter_context(RecordFileReader(path))
                if key is not None and r.key_spec != key:
                    raise SpookyError(
                        f"{r.path} is keyed by {r.key_field!r}, not {key.text!r} (--key)"
                    )
                readers[i] = r
        known = next((r.key_spec for r in readers if r is not None), None)
        for i, path in enumerate(paths):
            if readers[i] is None:
                spec = key or known or KeySpec.parse("id")
                readers[i] = stack.enter_context(_converted(path, spec, quiet))
        a, b = readers
        assert a is not None and b is not None
        yield a, b


def _converted(path: str, key: KeySpec, quiet: bool) -> RecordFileReader:
    """NDJSON/JSON text (a file, a folder of them, or - for stdin) as a
    record file with no name; its errors read as convert's."""
    inputs = expand_inputs([path])
    sizes = [input_size(p) for p in inputs]
    total = None if any(s is None for s in sizes) else sum(s for s in sizes if s)
    name = display_name(path)
    writer = RecordFileWriter(name, key=key, scratch=True)
    writer.duplicate_hint = ""  # diff keeps no record of a repeated key
    with writer, render.progress(f"converting {name}", total, quiet) as bar:
        convert_inputs(inputs, writer, False, bar, Stats())
    scratch = writer.take_file()
    try:
        return RecordFileReader(name, fd=scratch.fd)
    finally:
        scratch.discard()


class _Stopped(Exception):
    """The old file's verify failed: the new file's need not finish."""


def _verify(a: RecordFileReader, b: RecordFileReader, quiet: bool) -> None:
    """--verify: both files block by block, one thread each. The old file's
    error wins (the new file's check stops when it fails), so the error
    reported does not depend on which thread was quicker."""
    stop = threading.Event()
    with render.progress("verifying", a.records_bytes + b.records_bytes, quiet=quiet) as bar:

        def one(r: RecordFileReader) -> None:
            def advance(n: int) -> None:
                if r is b and stop.is_set():
                    raise _Stopped
                bar.advance(n)

            try:
                r.verify(progress=advance)
            except BaseException:
                if r is a:
                    stop.set()
                raise

        with ThreadPoolExecutor(2, thread_name_prefix="spooky-verify") as pool:
            futures = [pool.submit(one, r) for r in (a, b)]
    for f in futures:
        exc = f.exception()
        if exc is not None and not isinstance(exc, _Stopped):
            raise exc


class _Discard:
    """-q: nothing is written, not even an empty output file."""

    def write(self, data: bytes) -> int:
        return len(data)


def _counts_line(c: DiffCounts, tol: Tolerance | None = None) -> str:
    line = (
        f"{c.changed:,} changed, {c.added:,} added, {c.removed:,} removed, "
        f"{c.unchanged:,} unchanged"
    )
    return f"{line} ({tol.text()})" if tol is not None else line


def _summary_text(c: DiffCounts, fmt: str, tol: Tolerance | None) -> bytes:
    """--summary: the counts only, as the format shows them."""
    if fmt in ("json", "ndjson"):
        return orjson.dumps(diff_summary(c, tol)) + b"\n"
    if fmt == "markdown":
        return diff_markdown([], diff_summary(c, tol), details=False)
    return _counts_line(c, tol).encode() + b"\n"
