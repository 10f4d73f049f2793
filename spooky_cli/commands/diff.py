"""spooky diff: what changed between two record files, by key."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import orjson
import typer

from spooky_cli import render
from spooky_cli.dataset import is_dataset
from spooky_cli.diff import DiffCounts, diff_files
from spooky_cli.errors import SpookyError
from spooky_cli.output import ReaderGone, open_output
from spooky_cli.reader import RecordFileReader


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
    scheduler: str | None = None,
) -> None:
    """Writes the differences of NEW against OLD to OUTPUT in key order, then a
    summary line to stderr. Exits 0 when the files hold the same records, 1
    when they differ (like diff(1)); errors exit 2 from the caller.

    fmt "text": "- KEY {record}" (removed), "+ KEY {record}" (added), and
    "~ KEY" with a line "    field: OLD -> NEW" per changed field, coloured on
    a terminal. fmt "json": one object per line, {"op": "removed"|"added",
    "key": K, "record": {...}} or {"op": "changed", "key": K, "fields":
    {name: {"old": V, "new": V}}} ("old" or "new" left out when the field is
    absent on that side). deep: a change inside a nested field is listed by
    its path (user.address.city) instead of the whole field. summary_only:
    just the counts on stdout, a line of text or one JSON object {"added",
    "removed", "changed", "unchanged"}. verify: first every block of both
    files is checked as info --verify checks it (the diff itself reads only
    the records, through the key index).

    A folder is a dataset (its .spky parts): two datasets, or a dataset and a
    file, are diffed on Dask (spooky_cli.dask.plan_diff) on a local cluster,
    or on the one at scheduler."""
    if is_dataset(old) or is_dataset(new):
        _run_datasets(
            old, new, output, fmt, summary_only, fields, ignore, deep, quiet, verify, scheduler
        )
        return
    if scheduler is not None:
        raise SpookyError("--scheduler diffs datasets (folders of .spky parts); these are files")
    if old == "-" and new == "-":
        raise SpookyError("stdin (-) can be read only once")
    started = time.perf_counter()
    with RecordFileReader(old) as a, RecordFileReader(new) as b:
        if verify:
            _verify(a, b, quiet)
        c_fmt = "count" if summary_only or quiet else ("ndjson" if fmt == "json" else "text")
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
                )
                if summary_only and not quiet:
                    out.write(_summary_text(counts, fmt) + b"\n")
        except ReaderGone:
            raise typer.Exit(1) from None  # what was shown differs
    seconds = time.perf_counter() - started
    if not summary_only:
        render.summary([_counts_line(counts), *render.timing(seconds)], quiet=quiet)
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
    c_fmt = "count" if summary_only or quiet else ("ndjson" if fmt == "json" else "text")
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
                    out.write(_summary_text(counts, fmt) + b"\n")
        else:
            changes = d.changes.persist()
            counts = d.counts(changes)
            inputs = [*sd.dataset_parts(old), *sd.dataset_parts(new)]
            try:
                with open_output(output, inputs=inputs) as out:
                    for part in changes.partitions:  # in key order
                        out.write("".join(part["text"].compute()).encode("utf-8"))
            except ReaderGone:
                raise typer.Exit(1) from None
    if not summary_only:
        seconds = time.perf_counter() - started
        render.summary([_counts_line(counts), *render.timing(seconds)], quiet=quiet)
    if counts.differences:
        raise typer.Exit(1)


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


def _counts_line(c: DiffCounts) -> str:
    return (
        f"{c.changed:,} changed, {c.added:,} added, {c.removed:,} removed, "
        f"{c.unchanged:,} unchanged"
    )


def _summary_text(c: DiffCounts, fmt: str) -> bytes:
    if fmt == "json":
        return orjson.dumps(c.as_dict())
    return _counts_line(c).encode()
