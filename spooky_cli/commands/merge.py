"""`spooky merge`: batches of records into a store, by key.

1. The batches are transcoded (as `convert` does) into an unnamed scratch
   record file keyed as the store: one record per key (the last, or with a
   version field the highest), in batch order, with a sorted key index.
2. The core walks both key indexes once and decides what each key does
   (spooky_merge_plan).
3. The store's blocks are copied in file order, updates in place and
   deletes left out, then the inserts follow in batch order; a chunk per
   block, so Python loops per chunk, never per record."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, BinaryIO, NamedTuple

from spooky_cli import render
from spooky_cli._native import ffi, lib
from spooky_cli.commands.convert import Stats, convert_inputs
from spooky_cli.errors import SpookyError
from spooky_cli.inputs import display_name, expand_inputs, input_size
from spooky_cli.output import Output, Temp, open_output
from spooky_cli.reader import RecordFileReader, name_hash
from spooky_cli.writer import RecordFileWriter, Transcoded

INSERTS_PER_CHUNK = 16384
CHANGES_FORMATS = {"debezium": lib.SPOOKY_CHANGES_DEBEZIUM, "dbsp": lib.SPOOKY_CHANGES_DBSP}
BATCH_NAME = "<batch>"
RECORD_FILE_MAGIC = b"SPKYFILE"


class MergeCounts(NamedTuple):
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    stale: int

    def as_dict(self) -> dict[str, int]:
        return self._asdict()


def is_record_file(path: str) -> bool:
    """A batch given as a record file (by its magic; stdin is read as JSON)."""
    if path == "-":
        return False
    try:
        with open(path, "rb") as f:
            return f.read(8) == RECORD_FILE_MAGIC
    except OSError:
        return False


def run(
    store: str,
    batches: list[str],
    output: str,
    *,
    changes: str | None = None,
    changes_format: str = "debezium",
    version_field: str | None = None,
    hash_field: str | None = None,
    delete_missing: bool = False,
    delete_field: str | None = None,
    quiet: bool = False,
) -> MergeCounts:
    """Writes OUTPUT: STORE's records in store order with the batch's
    updates in place and its deletes left out, then its inserts in batch
    order; the change stream to CHANGES. Errors exit 2 from the caller."""
    if changes_format not in CHANGES_FORMATS:
        raise SpookyError(f"--changes-format must be debezium or dbsp (not {changes_format!r})")
    if not batches:
        raise SpookyError("give at least one batch")
    if (store == "-") + batches.count("-") > 1:
        raise SpookyError("stdin (-) can be read only once")
    if changes is not None and (
        (changes == "-" and output == "-") or (changes != "-" and _same_path(changes, output))
    ):
        raise SpookyError(f"--changes and -o name one file: {changes}")
    fields = {"--version-field": version_field, "--hash-field": hash_field,
              "--delete-field": delete_field}  # fmt: skip
    for option, field in fields.items():
        if field is not None and not field:
            raise SpookyError(f"{option} must name a field")
    batches = expand_inputs(batches)
    for path in [store, *batches]:
        if path != "-" and not os.path.exists(path):
            raise FileNotFoundError(2, "no such file", path)
    inputs = [store, *batches]
    Output(output, inputs, binary=True)  # refused now, not after the batch is read
    if changes is not None:
        Output(changes, inputs)
    started = time.perf_counter()
    with RecordFileReader(store) as st:
        scratch = _batch_file(st, batches, version_field, quiet)
        try:
            with RecordFileReader(BATCH_NAME, fd=scratch.fd) as bt:
                for option, name in fields.items():
                    if name and st.hash_for_name(name) is None and bt.hash_for_name(name) is None:
                        render.warning(f"no record has {option} {name!r}: is it spelled right?")
                counts = write_merged(
                    st,
                    bt,
                    output,
                    inputs,
                    changes=changes,
                    changes_format=changes_format,
                    version_field=version_field,
                    hash_field=hash_field,
                    delete_missing=delete_missing,
                    delete_field=delete_field,
                    quiet=quiet,
                )
        finally:
            scratch.discard()
    seconds = time.perf_counter() - started
    render.summary([_counts_line(counts), *render.timing(seconds)], quiet=quiet)
    return counts


def _same_path(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _batch_file(
    st: RecordFileReader, batches: list[str], version_field: str | None, quiet: bool
) -> Temp:
    """The batches as one scratch record file keyed as the store, a record per key."""
    writer = RecordFileWriter(
        BATCH_NAME, key=st.key_spec, keep_last=True, keep_highest=version_field, scratch=True
    )
    json_inputs = [b for b in batches if not is_record_file(b)]
    sizes = [input_size(p) for p in json_inputs]
    total = None if any(s is None for s in sizes) else sum(s for s in sizes if s)
    with writer, render.progress("reading batch", total, quiet) as bar:
        for path in batches:
            if is_record_file(path):
                _add_record_file(path, st, writer)
            else:
                convert_inputs([path], writer, False, bar, Stats())
    return writer.take_file()


def _add_record_file(path: str, st: RecordFileReader, writer: RecordFileWriter) -> None:
    """A batch that is a record file: its records as they are, block by block."""
    with RecordFileReader(path) as r:
        if r.key_spec != st.key_spec:
            raise SpookyError(
                f"{path} is keyed by {r.key_field} but {st.path} by {st.key_field}: "
                "a batch must be keyed as the store"
            )
        source = writer.source_id(display_name(path))
        spec = ffi.new("spooky_filter_spec *")
        node = ffi.new("spooky_expr_node *", {"kind": lib.SPOOKY_EXPR_ALL, "arg": 0, "count": 0})
        spec.nodes = node  # all of no predicates: every record
        spec.nnodes = 1
        matched = ffi.new("uint64_t *")
        err = ffi.new("spooky_error *")
        t = Transcoded()
        for i in range(r.block_count):
            rc = lib.spooky_filter_block(r.handle, i, spec, ffi.NULL, t.chunk, matched, err)
            if rc:
                raise r.core_error(rc, err, "could not read batch")
            writer.add(t, source, 0)


def write_merged(
    st: RecordFileReader,
    bt: RecordFileReader,
    output: str,
    inputs: list[str],
    *,
    changes: str | None = None,
    changes_format: str = "debezium",
    version_field: str | None = None,
    hash_field: str | None = None,
    delete_missing: bool = False,
    delete_field: str | None = None,
    upsert: bool = False,
    quiet: bool = False,
    progress: Callable[[int], None] | None = None,
) -> MergeCounts:
    """OUTPUT from the store st and the scratch batch bt (one record per
    key): the plan, then the store's blocks and the inserts, a chunk at a
    time; the change stream to changes. upsert: spooky apply's rules.
    progress: called with the bytes of each store block done."""
    spec = ffi.new("spooky_merge_spec *")
    spec.store, spec.batch = st.handle, bt.handle
    spec.store_fd, spec.batch_fd = st.fileno(), bt.fileno()
    for field, attr in ((version_field, "version"), (hash_field, "hash"), (delete_field, "delete")):
        if field is not None:
            setattr(spec, f"{attr}_field", name_hash(field))
            setattr(spec, f"has_{attr}", 1)
    spec.delete_missing = 1 if delete_missing else 0
    spec.upsert = 1 if upsert else 0
    spec.changes = CHANGES_FORMATS[changes_format] if changes is not None else 0
    m = lib.spooky_merge_new(spec)
    if m == ffi.NULL:
        raise MemoryError("could not start the merge")
    m = ffi.gc(m, lib.spooky_merge_free)
    err = ffi.new("spooky_error *")
    err_file = ffi.new("int *")
    c = ffi.new("spooky_merge_counts *")
    rc = lib.spooky_merge_plan(m, c, err, err_file)
    if rc:
        raise (bt if err_file[0] else st).core_error(rc, err, "could not merge")
    counts = MergeCounts(c.inserted, c.updated, c.deleted, c.unchanged, c.stale)
    stream = (
        nullcontext(None) if changes is None else open_output(changes, inputs=inputs, direct=True)
    )
    inserts = -(-counts.inserted // INSERTS_PER_CHUNK)
    steps = [*range(st.block_count), *[-1] * inserts]  # store blocks, then inserts
    parts = _Parts(m, with_changes=changes is not None)
    block = ffi.new("spooky_block_info *")
    # one thread makes the next part while this one writes the last
    pool = ThreadPoolExecutor(1, thread_name_prefix="spooky-merge")
    try:
        with stream as ch, render.progress("merging", st.records_bytes, quiet) as bar:
            writer = RecordFileWriter(output, key=st.key_spec, inputs=inputs)
            with writer:
                ahead = pool.submit(parts.make, steps[0], 0) if steps else None
                for n, step in enumerate(steps):
                    assert ahead is not None
                    rc = ahead.result()
                    slot = n % 2
                    if rc:
                        source = bt if step < 0 or parts.err_file[slot][0] else st
                        raise source.core_error(rc, parts.err[slot], "could not merge")
                    if n + 1 < len(steps):
                        ahead = pool.submit(parts.make, steps[n + 1], 1 - slot)
                    _flush(ch, parts.changes[slot])
                    writer.add(parts.chunk[slot])
                    if step >= 0:
                        lib.spooky_file_block_at(st.handle, step, block)
                        bar.advance(block.payload_len)
                        if progress is not None:
                            progress(block.payload_len)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # nothing may touch m once we leave
    return counts


class _Parts:
    """Two slots of output parts (records and change lines), filled in turn:
    one is written while the other is made."""

    def __init__(self, m: Any, with_changes: bool):
        self.m = m
        self.chunk = [Transcoded(), Transcoded()]
        self.changes = [ffi.gc(ffi.new("spooky_buf *"), lib.spooky_buf_free) for _ in range(2)]
        self.out = self.changes if with_changes else [ffi.NULL, ffi.NULL]
        self.err = [ffi.new("spooky_error *") for _ in range(2)]
        self.err_file = [ffi.new("int *") for _ in range(2)]
        self.taken = ffi.new("uint64_t *")

    def make(self, step: int, slot: int) -> int:
        """Store block `step` into slot, or (step -1) the next inserts."""
        self.changes[slot].len = 0
        chunk, err = self.chunk[slot].chunk, self.err[slot]
        if step >= 0:
            return int(
                lib.spooky_merge_block(
                    self.m, step, chunk, self.out[slot], err, self.err_file[slot]
                )
            )
        return int(
            lib.spooky_merge_inserts(
                self.m, INSERTS_PER_CHUNK, chunk, self.out[slot], self.taken, err
            )
        )


def _flush(out: BinaryIO | None, buf: Any) -> None:
    if out is not None and buf.len:
        out.write(ffi.buffer(buf.data, buf.len))


def _counts_line(c: MergeCounts) -> str:
    return (
        f"{c.inserted:,} inserted, {c.updated:,} updated, {c.deleted:,} deleted, "
        f"{c.unchanged:,} unchanged, {c.stale:,} stale"
    )


__all__ = ["MergeCounts", "run", "write_merged"]
