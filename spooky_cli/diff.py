"""Diffing two record files in key order (the C core walks both key indexes).

    with open_records("old.spky") as old, open_records("new.spky") as new:
        counts = diff_files(old, new, sys.stdout.buffer.write, fmt="ndjson")

The key space is cut into ranges of about RANGE records; two ranges are
diffed at once on two threads (the core releases the GIL) and their output is
written in key order. The JSON document streams the ranges' elements between
its head and its summary, so memory stays flat; Markdown is made here from
the first `limit` differences only, with the counts of all."""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Callable, Collection, Sequence
from typing import Any, NamedTuple

import orjson

from spooky_cli._native import ffi, lib
from spooky_cli.errors import SpookyError
from spooky_cli.filter import Filter
from spooky_cli.markdown import diff_markdown, tolerance_bounds
from spooky_cli.parallel import in_order
from spooky_cli.paths import parse_path, path_text
from spooky_cli.reader import RecordFileReader, field_label, name_hash

RANGE = 16384  # records of the larger file per range
BATCH = 4096  # records of a file read at once (pread, in file order)
LIMIT = 100  # Markdown: differences shown
FORMATS = {
    "count": lib.SPOOKY_DIFF_COUNT,
    "ndjson": lib.SPOOKY_DIFF_NDJSON,
    "json": lib.SPOOKY_DIFF_JSON,
    "text": lib.SPOOKY_DIFF_TEXT,
    "markdown": lib.SPOOKY_DIFF_NDJSON,  # the first `limit` differences, rendered here
}


class DiffCounts(NamedTuple):
    added: int
    removed: int
    changed: int
    unchanged: int

    @property
    def differences(self) -> int:
        return self.added + self.removed + self.changed

    def as_dict(self) -> dict[str, int]:
        return self._asdict()


class Tolerance(NamedTuple):
    """Numbers a and b are equal when |a-b| <= abs or |a-b| <= rel * max(|a|,
    |b|): exactly between integers, in double arithmetic when either is a
    float (docs/CLI.md)."""

    abs: float = 0.0
    rel: float = 0.0

    @classmethod
    def of(cls, abs_: float | None, rel: float | None) -> Tolerance | None:
        """The tolerance of --tolerance and --rel-tolerance (None: neither given)."""
        if abs_ is None and rel is None:
            return None
        for name, v in (("tolerance", abs_), ("rel_tolerance", rel)):
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise SpookyError(f"{name} must be a finite number >= 0, got {v!r}")
        return cls(float(abs_ or 0.0), float(rel or 0.0))

    def text(self) -> str:
        return f"numbers within {self.bounds()} are equal"

    def bounds(self) -> str:
        return tolerance_bounds(self.abs, self.rel)


def diff_summary(counts: DiffCounts, tolerance: Tolerance | None = None) -> dict[str, Any]:
    """The summary as JSON shows it: the counts, and the tolerance when one was used."""
    out: dict[str, Any] = dict(counts.as_dict())
    if tolerance is not None:
        out["tolerance"] = tolerance._asdict()
    return out


class JsonDocument:
    """diff's one JSON document, {"changes": [...], "summary": {...}}, around
    the core's elements (",\n{...}" each, SPOOKY_DIFF_JSON) as they come."""

    def __init__(self) -> None:
        self.first = True  # its head goes before the first element, its leading comma goes

    def part(self, text: bytes) -> bytes:
        if not text:
            return b""
        out = b'{"changes":[' + text[1:] if self.first else text
        self.first = False
        return out

    def end(self, summary: dict[str, Any]) -> bytes:
        head = b'{"changes":[' if self.first else b"\n"
        return b'%s],"summary":%s}\n' % (head, orjson.dumps(summary))


def _field_hashes(names: list[str], known: Collection[str], where: str = "") -> list[int]:
    """Hashes of field names, each of which known (the names of either side) holds."""
    out = []
    for name in dict.fromkeys(names):
        if name not in known:
            listed = ", ".join(field_label(n) for n in sorted(known)) or "no fields"
            raise SpookyError(f"unknown field {name!r}{where} (the files have: {listed})")
        out.append(name_hash(name))
    return out


class DiffSpec(NamedTuple):
    c: Any  # spooky_diff_spec *
    arrays: tuple[Any, ...]  # what c points into: keep them alive together


class DiffOptions:
    """What a diff compares and writes, checked once against the field names
    either side knows (known); spec() then makes the core's spec for any pair
    of files with those names (see diff_files for the arguments). empty: both
    sides hold no record (a --where then names no field of theirs)."""

    def __init__(
        self,
        known: Collection[str],
        *,
        fmt: str = "ndjson",
        fields: list[str] | None = None,
        ignore: list[str] | None = None,
        color: bool = False,
        deep: bool = False,
        batch: int = BATCH,
        tolerance: Tolerance | None = None,
        array_key: str | None = None,
        full: bool = False,
        limit: int = LIMIT,
        where: Filter | Sequence[str] | None = None,
        empty: bool = False,
    ):
        if fields is not None and ignore is not None:
            raise SpookyError("give either fields to compare or fields to ignore, not both")
        if fmt not in FORMATS:
            raise SpookyError(f"unknown diff format {fmt!r} (one of: {', '.join(FORMATS)})")
        if not 1 <= batch <= 2**32 - 1:
            raise SpookyError(f"batch must be 1 to {2**32 - 1} records, got {batch}")
        if not 0 <= limit <= 2**63:
            raise SpookyError(f"limit must be 0 to {2**63} differences, got {limit}")
        if full and fmt not in ("ndjson", "json", "count"):
            raise SpookyError("full records go with the json and ndjson formats only")
        if tolerance is not None:
            tolerance = Tolerance.of(tolerance.abs, tolerance.rel)  # checked
        self.where: Filter | None = None
        if where is not None:
            self.where = where if isinstance(where, Filter) else Filter(where)
            if not empty:  # an empty file matches nothing
                _field_hashes(self.where.fields, known, " in --where")
        self.key_step = b""
        if array_key is not None:
            steps = parse_path(array_key, "array key") if array_key.strip() else []
            if len(steps) != 1 or not steps[0]:
                raise SpookyError(
                    f"array key {array_key!r}: give one field name of the array elements"
                )
            self.key_step = steps[0].encode("utf-8")
            deep = True
        ignore_paths: list[str] = []
        if ignore is not None:
            names_only = []
            for name in ignore:
                steps = parse_path(name) if "." in name or name.startswith('"') else [name]
                if len(steps) == 1:
                    names_only.append(steps[0])
                else:  # a path: changes are listed by path (deep), else it could not apply
                    deep = True
                    _field_hashes(steps[:1], known)  # its field must be known
                    ignore_paths.append(path_text(steps))
            ignore = names_only
        names = fields if fields is not None else ignore
        self.hashes = _field_hashes(names, known) if names is not None else []
        self.mode = (
            lib.SPOOKY_DIFF_ONLY_FIELDS
            if fields is not None
            else lib.SPOOKY_DIFF_IGNORE_FIELDS
            if ignore is not None
            else lib.SPOOKY_DIFF_ALL_FIELDS
        )
        self.fmt, self.color, self.deep, self.batch = fmt, color, deep, batch
        self.tolerance, self.full, self.limit = tolerance, full, limit
        self.ignore_paths = b"".join(
            struct.pack("<I", len(b)) + b for b in (p.encode("utf-8") for p in ignore_paths)
        )

    def spec(
        self,
        old: RecordFileReader,
        new: RecordFileReader,
        read_fds: bool = True,
        c_format: int | None = None,
    ) -> DiffSpec:
        """The core's spooky_diff_spec for old against new (in fmt, or in
        c_format), with the arrays it points into."""
        keep = ffi.new("uint64_t[]", self.hashes or [0])
        paths = ffi.new("uint8_t[]", self.ignore_paths or b"\0")
        key = ffi.new("uint8_t[]", self.key_step or b"\0")
        spec = ffi.new("spooky_diff_spec *")
        spec.old_file, spec.new_file = old.handle, new.handle
        spec.fields, spec.nfields = keep, len(self.hashes)
        spec.fields_mode = self.mode
        spec.format = FORMATS[self.fmt] if c_format is None else c_format
        spec.color, spec.deep = 1 if self.color else 0, 1 if self.deep else 0
        spec.ignore_paths, spec.ignore_paths_len = paths, len(self.ignore_paths)
        spec.read_fds, spec.batch = 1 if read_fds else 0, self.batch
        if read_fds:
            spec.old_fd, spec.new_fd = old.fileno(), new.fileno()
        if self.tolerance is not None:
            spec.tolerance, spec.abs_tolerance, spec.rel_tolerance = 1, *self.tolerance
        spec.array_key, spec.array_key_len = key, len(self.key_step)
        spec.full = 1 if self.full else 0
        spec.limit = self.limit if self.fmt == "markdown" else 0
        arrays: tuple[Any, ...] = (keep, paths, key)
        if self.where is not None:
            where_spec, held = self.where.spec()
            spec.where = where_spec
            arrays += (where_spec, held)
        return DiffSpec(spec, arrays)


def _ranges(
    old: RecordFileReader, new: RecordFileReader, size: int
) -> list[tuple[int, int, int, int]]:
    """(old_begin, old_end, new_begin, new_end): cuts of the larger index every
    size records, and the same keys' positions in the other."""
    big, small = (old, new) if old.record_count >= new.record_count else (new, old)
    fb, fs = big.handle, small.handle
    e = ffi.new("spooky_index_entry *")
    cuts_big, cuts_small = [0], [0]
    for pos in range(size, big.record_count, size):
        lib.spooky_file_index_at(fb, pos, e)
        cuts_big.append(pos)
        cuts_small.append(lib.spooky_file_lower_bound(fs, e.key, e.key_len))
        if len(cuts_big) % 8 == 0:  # keep the key index pages read here few
            lib.spooky_file_release(fb)
            lib.spooky_file_release(fs)
    cuts_big.append(big.record_count)
    cuts_small.append(small.record_count)
    pairs = list(zip(cuts_big, cuts_small))
    out = []
    for (b0, s0), (b1, s1) in zip(pairs, pairs[1:]):
        out.append((b0, b1, s0, s1) if big is old else (s0, s1, b0, b1))
    return out


def diff_files(
    old: RecordFileReader,
    new: RecordFileReader,
    write: Callable[[bytes], Any] | None = None,
    *,
    fmt: str = "ndjson",
    fields: list[str] | None = None,
    ignore: list[str] | None = None,
    color: bool = False,
    deep: bool = False,
    progress: Callable[[int], Any] | None = None,
    range_size: int = RANGE,
    batch: int = BATCH,
    tolerance: Tolerance | None = None,
    array_key: str | None = None,
    full: bool = False,
    limit: int = LIMIT,
    where: Filter | Sequence[str] | None = None,
) -> DiffCounts:
    """Compares old and new by key. fmt: "ndjson" (one JSON object per
    difference), "json" (one document: {"changes": [those objects],
    "summary": diff_summary()}), "text" (lines for people), "markdown" (a
    report: the counts, then the first `limit` differences as tables) or
    "count" (no output). tolerance: numbers (nested ones too) within it are
    equal, so a record whose bytes differ may count as unchanged. array_key:
    array elements that are objects are matched by this field's value, not
    by position (turns deep on). full: json and ndjson give a changed key's
    old and new records too. where: an expression (filter's language; a
    list: all of them), and only keys whose record matches it on either
    side are compared, the others counted nowhere (every record is then
    read and checked, the key index's digests no longer enough). fields: only
    these fields count; ignore: these do not (with deep, paths too:
    "user.updated_at"). deep: changes inside nested
    fields are listed by path ("user.address.city", "tags.2"; a path in
    ignore turns deep on; a step that is
    not plain is a JSON string, as filter paths read), the rest of the nested
    value left out. write gets the output in key
    order; progress the records of the larger file done, range by range
    (ranges of range_size records of the larger file). The key index is trusted: a key whose
    record digest and length are the same in both indexes is unchanged and
    neither record is read (verify the files for more). The records that
    differ are read `batch` differences at a time, in file order (long runs
    in place, scattered records with pread), so memory stays flat whatever
    the files' record order. Returns the counts."""
    if old.key_spec != new.key_spec:
        raise SpookyError(
            f"{old.path} is keyed by {old.key_field!r} and {new.path} by {new.key_field!r}: "
            "a diff needs one key"
        )
    known = {fi.name for fi in (*old.names, *new.names)}
    options = DiffOptions(
        known,
        fmt=fmt,
        fields=fields,
        ignore=ignore,
        color=color,
        deep=deep,
        batch=batch,
        tolerance=tolerance,
        array_key=array_key,
        full=full,
        limit=limit,
        where=where,
        empty=not (old.record_count or new.record_count),
    )
    tolerance = options.tolerance
    markdown = fmt == "markdown"
    if markdown and limit == 0:
        fmt = "count"  # the counts alone
    held = options.spec(old, new, c_format=FORMATS[fmt])
    spec = held.c
    counting_held = options.spec(old, new, c_format=lib.SPOOKY_DIFF_COUNT)
    counting = counting_held.c  # markdown, once `limit` are in hand
    shown: list[bytes] = []  # markdown: the first `limit` differences, NDJSON lines
    enough = threading.Event()
    readers = (old, new)
    per_thread = threading.local()

    def diff_range(r: tuple[int, int, int, int]) -> tuple[bytes, tuple[int, int, int, int]]:
        if not hasattr(per_thread, "buf"):
            per_thread.buf = ffi.gc(ffi.new("spooky_buf *"), lib.spooky_buf_free)
            per_thread.err = ffi.new("spooky_error *")
            per_thread.side = ffi.new("int *")
        buf, err, side = per_thread.buf, per_thread.err, per_thread.side
        buf.len = 0
        counts = ffi.new("spooky_diff_counts *")
        use = counting if enough.is_set() else spec
        rc = lib.spooky_diff_range(use, r[0], r[1], r[2], r[3], buf, counts, err, side)
        if rc:
            raise readers[side[0]].core_error(rc, err, "could not diff")
        text = ffi.buffer(buf.data, buf.len)[:] if buf.len else b""
        return text, (counts.added, counts.removed, counts.changed, counts.unchanged)

    totals = [0, 0, 0, 0]
    ranges = _ranges(old, new, max(1, range_size))
    old_is_larger = old.record_count >= new.record_count  # progress counts its records
    for reader in readers:  # what the binary searches of _ranges mapped
        lib.spooky_file_release(reader.handle)
    emit: Callable[[bytes], Any] = write if write is not None else len
    document = JsonDocument() if fmt == "json" else None
    with in_order(diff_range, ranges, name="spooky-diff") as done:
        for n, (r, (text, counts)) in enumerate(done, 1):
            if n % 64 == 0:  # a range may map pages past its end that the next gave back
                for reader in readers:
                    lib.spooky_file_release(reader.handle)
            if markdown:
                if text and len(shown) < limit:
                    shown += text.splitlines()[: limit - len(shown)]
                if len(shown) >= limit:
                    enough.set()
            elif text:
                emit(document.part(text) if document else text)
            for i, c in enumerate(counts):
                totals[i] += c
            if progress is not None:
                progress(r[1] - r[0] if old_is_larger else r[3] - r[2])
    result = DiffCounts(*totals)
    if document:
        emit(document.end(diff_summary(result, tolerance)))
    if markdown:
        changes = [orjson.loads(line) for line in shown]
        emit(diff_markdown(changes, diff_summary(result, tolerance)))
    return result


__all__ = ["DiffCounts", "DiffOptions", "JsonDocument", "Tolerance", "diff_files", "diff_summary"]
