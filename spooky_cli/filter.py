"""Filtering records by predicates on their fields and nested values, in C.

A predicate is text: FIELD OP VALUE, where OP is one of == (or =), !=, <, <=,
>, >=, in, not in, contains and VALUE is JSON (strings quoted: 'city == "Oslo"';
a list for in: 'city in ["Oslo", "Rome"]'; an element of an array, or a part of
a string, for contains: 'tags contains "vip"'), or FIELD exists / FIELD missing. FIELD
may be a path into nested values: user.name, events.0.type (digits index an
array). A name with dots, spaces or operator characters is
written as a JSON string: '"first name" == "Ann"', '"a.b".c == 1'.

    f = Filter(["age >= 30", 'city == "Oslo"'])
    f.matches(record)                     # one record
    filter_file(reader, f, write=...)     # a whole file, two blocks at a time

Numbers compare by value across integer and float types; strings by code
point; null, booleans, arrays and objects only with == and !=. A missing field
matches only !=, `not in` and `missing`; `x == null` matches an explicit null
only."""

from __future__ import annotations

import re
import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import orjson

from spooky_cli._native import ffi, lib
from spooky_cli.encode import encode_value
from spooky_cli.errors import BigIntError, JsonError, PredicateError, SpookyError, error_for
from spooky_cli.parallel import in_order
from spooky_cli.paths import parse_path, path_text, read_path
from spooky_cli.reader import RecordFileReader, name_hash
from spooky_cli.record import SpookyRecord
from spooky_cli.writer import RecordFileWriter, Transcoded

OPERATORS = {
    "in": lib.SPOOKY_OP_IN,
    "not in": lib.SPOOKY_OP_NOT_IN,
    "contains": lib.SPOOKY_OP_CONTAINS,
    "==": lib.SPOOKY_OP_EQ,
    "=": lib.SPOOKY_OP_EQ,
    "!=": lib.SPOOKY_OP_NE,
    "<": lib.SPOOKY_OP_LT,
    "<=": lib.SPOOKY_OP_LE,
    ">": lib.SPOOKY_OP_GT,
    ">=": lib.SPOOKY_OP_GE,
}
WORDS = {"exists": lib.SPOOKY_OP_EXISTS, "missing": lib.SPOOKY_OP_MISSING}
_OPERATOR = re.compile(r"\s*(==|!=|<=|>=|=|<|>)\s*|\s+(not\s+in|in|contains)(?:\s+|(?=[\[\"]))")


class Predicate(NamedTuple):
    field: str  # the top-level field
    op: str  # a key of OPERATORS or WORDS
    value: bytes  # the literal's JSON text (b"" for exists/missing)
    text: str  # as the user wrote it
    path: tuple[str, ...] = ()  # keys (or array indexes) below field


def parse_predicate(text: str) -> Predicate:
    """'age >= 30' -> Predicate('age', '>=', b'30', ...); errors say what is wrong."""
    s = text.strip()
    steps, rest = read_path(s, text, "predicate")
    field, path = steps[0], tuple(steps[1:])
    rest_stripped = rest.strip()
    if rest_stripped in WORDS:
        return Predicate(field, rest_stripped, b"", text, path)
    m = _OPERATOR.match(rest)
    if not m:
        raise PredicateError(
            f"predicate {text!r}: expected an operator (== != < <= > >= in, not in, contains) or "
            "'exists'/'missing' after the field"
        )
    op = m.group(1) or " ".join(m.group(2).split())
    literal = rest[m.end() :].strip()
    if not literal:
        raise PredicateError(f"predicate {text!r}: no value after {op!r}")
    try:
        parsed = orjson.loads(literal)
    except orjson.JSONDecodeError:
        name = s[: len(s) - len(rest)].strip()
        hint = f" (quote strings: {name} {op} {orjson.dumps(literal).decode()})"
        if op in ("in", "not in"):
            hint = f' (a JSON array: {name} {op} ["a", "b"])'
        raise PredicateError(f"predicate {text!r}: the value is not JSON{hint}") from None
    if op in ("in", "not in") and not isinstance(parsed, list):
        raise PredicateError(f"predicate {text!r}: {op!r} takes a JSON array, e.g. [1, 2]")
    return Predicate(field, op, literal.encode("utf-8"), text, path)


class Filter:
    """Predicates combined with AND (or OR when any_=True), compiled once into
    the C core's form (a name hash and an encoded literal each)."""

    def __init__(self, where: Iterable[str | Predicate], any_: bool = False):
        self.predicates = [p if isinstance(p, Predicate) else parse_predicate(p) for p in where]
        self.any = any_
        self._keep: list[Any] = []  # literal buffers the C structs point into
        n = len(self.predicates)
        self._preds = ffi.new("spooky_predicate[]", max(n, 1))
        for i, p in enumerate(self.predicates):
            c = self._preds[i]
            c.field = name_hash(p.field)
            c.path, c.path_len = self._path(p.path)
            if p.op in WORDS:
                c.op, c.tag, c.value, c.value_len = WORDS[p.op], 0, ffi.NULL, 0
                continue
            try:
                tag, raw = encode_value(p.value)
            except BigIntError:
                example = "" if p.op in ("in", "not in") else f": {float(p.value)!r}"
                raise PredicateError(
                    f"predicate {p.text!r}: an integer beyond i64 and u64; a record file holds "
                    f"such numbers as floats (convert --big-int float), so write it as a "
                    f"float{example}"
                ) from None
            except JsonError as exc:
                raise PredicateError(f"predicate {p.text!r}: {exc}") from None
            buf = ffi.new("uint8_t[]", raw or b"\0")
            self._keep.append(buf)
            c.op, c.tag, c.value, c.value_len = OPERATORS[p.op], int(tag), buf, len(raw)
        self._spec, _ = self.spec()

    def _path(self, steps: tuple[str, ...]) -> tuple[Any, int]:
        """The core's form of a path: each step a u32 length and its UTF-8."""
        if not steps:
            return ffi.NULL, 0
        raw = b"".join(
            struct.pack("<I", len(b)) + b for b in (step.encode("utf-8") for step in steps)
        )
        buf = ffi.new("uint8_t[]", raw)
        self._keep.append(buf)
        return buf, len(raw)

    @property
    def fields(self) -> list[str]:
        return list(dict.fromkeys(p.field for p in self.predicates))

    def spec(self, projection: list[int] | None = None) -> tuple[Any, Any]:
        """A spooky_filter_spec for the core, and the projection array it points
        into (keep both, and this Filter, while the core uses the spec)."""
        s = ffi.new("spooky_filter_spec *")
        s.preds, s.npreds, s.match_any = self._preds, len(self.predicates), 1 if self.any else 0
        arr = ffi.NULL
        if projection is not None:
            arr = ffi.new("uint64_t[]", projection or [0])
        s.fields, s.nfields = arr, len(projection) if projection is not None else 0
        return s, arr

    def matches(self, record: SpookyRecord | bytes | bytearray | memoryview) -> bool:
        """Whether one record matches."""
        if not isinstance(record, SpookyRecord):
            record = SpookyRecord(record)
        out = ffi.new("int *")
        rc = lib.spooky_filter_match(record._ptr, record._len, self._spec, out)
        if rc:
            raise error_for(rc, "could not test the record")
        return bool(out[0])


def paths_no_record_has(reader: RecordFileReader, flt: Filter) -> list[str]:
    """The predicates' nested paths (user.nmae) that no record of the file
    holds: most likely typos. Reads blocks only until every path was seen."""
    nested = [i for i, p in enumerate(flt.predicates) if p.path]
    if not nested or not reader.record_count:
        return []
    spec, _ = flt.spec()
    found = ffi.new("uint8_t[]", max(len(flt.predicates), 1))
    for i, p in enumerate(flt.predicates):
        found[i] = 0 if p.path else 1
    err = ffi.new("spooky_error *")
    for block in reader.blocks():
        rc = lib.spooky_filter_block_found(reader.handle, block.number, spec, found, err)
        if rc:
            raise reader.core_error(rc, err, f"could not read block {block.number} of")
        if all(found[i] for i in nested):
            return []
    paths = (
        path_text((flt.predicates[i].field, *flt.predicates[i].path))
        for i in nested
        if not found[i]
    )
    return list(dict.fromkeys(paths))


def filter_file(
    reader: RecordFileReader,
    flt: Filter,
    *,
    fields: list[str] | None = None,
    write: Callable[[bytes], Any] | None = None,
    writer: RecordFileWriter | None = None,
    progress: Callable[[int], Any] | None = None,
) -> int:
    """The matching records of a file, in file order: as NDJSON to write, or
    into writer (a record file keyed like reader; the fields of the key's
    parts are kept whole in any projection), or only counted when neither is
    given. fields: the fields to keep, in that order; a field may be a path
    into nested values (user.plan), whose kept part is nested as in the
    input. Returns the records that matched."""
    if write is not None and writer is not None:
        raise SpookyError("give write or writer, not both")
    spec, _ = flt.spec()
    if fields is not None and reader.record_count:  # an empty file matches nothing
        names = list(fields)
        if writer is not None:  # a record file needs the key: every part's field, whole
            names += [path_text([p[0]]) for p in reader.key_spec.paths]
        hashes, n, paths, paths_len = reader.projection(names)
        spec.fields, spec.nfields, spec.paths, spec.paths_len = hashes, n, paths, paths_len
    f = reader.handle
    per_thread = threading.local()

    def run_block(index: int) -> tuple[Any, int]:
        if not hasattr(per_thread, "err"):
            per_thread.err = ffi.new("spooky_error *")
            per_thread.buf = ffi.gc(ffi.new("spooky_buf *"), lib.spooky_buf_free)
        err, matched = per_thread.err, ffi.new("uint64_t *")
        if writer is not None:
            t = Transcoded()
            rc = lib.spooky_filter_block(f, index, spec, ffi.NULL, t.chunk, matched, err)
            result: Any = t
        elif write is not None:
            buf = per_thread.buf
            buf.len = 0
            rc = lib.spooky_filter_block(f, index, spec, buf, ffi.NULL, matched, err)
            result = ffi.buffer(buf.data, buf.len)[:] if not rc else b""
        else:
            rc = lib.spooky_filter_block(f, index, spec, ffi.NULL, ffi.NULL, matched, err)
            result = None
        if rc:
            raise reader.core_error(rc, err, f"could not filter block {index} of")
        return result, matched[0]

    total, released = 0, 0
    with in_order(lambda b: run_block(b.number), reader.blocks(), name="spooky-filter") as done:
        for block, (result, matched) in done:
            total += matched
            if writer is not None and matched:
                writer.add(result)
            elif write is not None and result:
                write(result)
            released = reader.release_pages(released, block.payload_offset + block.payload_len)
            if progress is not None:
                progress(block.payload_len + lib.SPOOKY_BLOCK_HEADER_SIZE)
    return total


__all__ = [
    "Filter",
    "Predicate",
    "PredicateError",
    "filter_file",
    "paths_no_record_has",
    "parse_path",
    "parse_predicate",
    "path_text",
]
