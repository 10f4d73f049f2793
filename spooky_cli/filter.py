"""Filtering records by expressions on their fields and nested values, in C.

An expression (spooky_cli/expr.py, docs/CLI.md "Expressions") joins
comparisons with and, or, not and parentheses:

    age >= 30 and (city == 'Oslo' or vip)
    events[*].type == "click" and not deleted

    f = Filter(["age >= 30 and active", 'city == "Oslo"'])   # the list: AND
    f.matches(record)                     # one record
    filter_file(reader, f, write=...)     # a whole file, two blocks at a time

The whole expression is compiled once into the core's program: one
predicate per comparison (its field resolved to a slot once per schema, its
literal encoded as a record stores values) and the and / or / not nodes over
them, which the core evaluates per record with short circuits. Numbers
compare by value across integer and float types; strings by code point;
null, booleans, arrays and objects only with == and !=. A missing field
matches only !=, `not in`, `missing` and `is null`."""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any

from spooky_cli._native import ffi, lib
from spooky_cli.encode import encode_value
from spooky_cli.errors import BigIntError, JsonError, PredicateError, SpookyError, error_for
from spooky_cli.expr import ANY, All, Comparison, ExpressionError, Node, Not, Some, fields_of, parse
from spooky_cli.parallel import in_order
from spooky_cli.paths import path_text
from spooky_cli.reader import RecordFileReader, name_hash
from spooky_cli.record import SpookyRecord
from spooky_cli.writer import RecordFileWriter, Transcoded

OPERATORS = {
    "==": lib.SPOOKY_OP_EQ,
    "!=": lib.SPOOKY_OP_NE,
    "<": lib.SPOOKY_OP_LT,
    "<=": lib.SPOOKY_OP_LE,
    ">": lib.SPOOKY_OP_GT,
    ">=": lib.SPOOKY_OP_GE,
    "exists": lib.SPOOKY_OP_EXISTS,
    "missing": lib.SPOOKY_OP_MISSING,
    "in": lib.SPOOKY_OP_IN,
    "not in": lib.SPOOKY_OP_NOT_IN,
    "contains": lib.SPOOKY_OP_CONTAINS,
    "startswith": lib.SPOOKY_OP_STARTSWITH,
    "endswith": lib.SPOOKY_OP_ENDSWITH,
    "is null": lib.SPOOKY_OP_IS_NULL,
    "is not null": lib.SPOOKY_OP_IS_NOT_NULL,
    "true": lib.SPOOKY_OP_TRUE,
}
_KINDS = {All: lib.SPOOKY_EXPR_ALL, Some: lib.SPOOKY_EXPR_SOME}


class Filter:
    """Expressions, all of which must hold (any one with any_=True),
    compiled once into the C core's program."""

    def __init__(self, where: Iterable[str], any_: bool = False):
        trees = [parse(w) for w in where]
        if not trees:
            raise PredicateError("no expression to filter by")
        self.expression: Node = (
            trees[0] if len(trees) == 1 else (Some if any_ else All)(tuple(trees))
        )
        self.any = any_
        self.comparisons: list[Comparison] = []
        self._keep: list[Any] = []  # buffers the C structs point into
        nodes: list[tuple[int, int, int]] = []  # (kind, arg, count)
        children: list[int] = []
        self._compile(self.expression, nodes, children)
        self._preds = ffi.new("spooky_predicate[]", max(len(self.comparisons), 1))
        for i, c in enumerate(self.comparisons):
            self._predicate(self._preds[i], c)
        self._nodes = ffi.new("spooky_expr_node[]", nodes)
        self._children = ffi.new("uint32_t[]", children or [0])
        self._nnodes, self._nchildren = len(nodes), len(children)
        self._spec, _ = self.spec()

    def _compile(self, node: Node, nodes: list[tuple[int, int, int]], children: list[int]) -> int:
        """Appends node's program (preorder: a node before its children) and
        returns its index."""
        at = len(nodes)
        nodes.append((0, 0, 0))
        if isinstance(node, Comparison):
            nodes[at] = (lib.SPOOKY_EXPR_TEST, len(self.comparisons), 0)
            self.comparisons.append(node)
        elif isinstance(node, Not):
            nodes[at] = (lib.SPOOKY_EXPR_NOT, self._compile(node.item, nodes, children), 0)
        else:
            kids = [self._compile(item, nodes, children) for item in node.items]
            nodes[at] = (_KINDS[type(node)], len(children), len(kids))
            children.extend(kids)
        return at

    def _predicate(self, c: Any, comp: Comparison) -> None:
        c.field = name_hash(str(comp.path[0]))
        c.path, c.path_len = self._path(comp.path[1:])
        c.op = OPERATORS[comp.op]
        if not comp.value:
            c.tag, c.value, c.value_len = 0, ffi.NULL, 0
            return
        try:
            tag, raw = encode_value(comp.value)
        except BigIntError:
            example = "" if comp.op in ("in", "not in") else f": {float(comp.value)!r}"
            raise PredicateError(
                f"in {comp.text!r}: an integer beyond i64 and u64; a record file holds such "
                f"numbers as floats (convert --big-int float), so write it as a float{example}"
            ) from None
        except JsonError as exc:
            raise PredicateError(f"in {comp.text!r}: {exc}") from None
        buf = ffi.new("uint8_t[]", raw or b"\0")
        self._keep.append(buf)
        c.tag, c.value, c.value_len = int(tag), buf, len(raw)

    def _path(self, steps: tuple[str | None, ...]) -> tuple[Any, int]:
        """The core's form of a path: each step a u32 length and its UTF-8;
        [*] the length SPOOKY_PATH_ANY alone."""
        if not steps:
            return ffi.NULL, 0
        parts = []
        for step in steps:
            if step is ANY:
                parts.append(struct.pack("<I", lib.SPOOKY_PATH_ANY))
            else:
                raw = step.encode("utf-8")
                parts.append(struct.pack("<I", len(raw)) + raw)
        joined = b"".join(parts)
        buf = ffi.new("uint8_t[]", joined)
        self._keep.append(buf)
        return buf, len(joined)

    @property
    def fields(self) -> list[str]:
        """The top-level fields the expression reads."""
        return fields_of(self.expression)

    def spec(self, projection: list[int] | None = None) -> tuple[Any, Any]:
        """A spooky_filter_spec for the core, and the projection array it points
        into (keep both, and this Filter, while the core uses the spec)."""
        s = ffi.new("spooky_filter_spec *")
        s.preds, s.npreds = self._preds, len(self.comparisons)
        s.nodes, s.nnodes = self._nodes, self._nnodes
        s.children, s.nchildren = self._children, self._nchildren
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
    """The expression's nested paths (user.nmae) that no record of the file
    holds: most likely typos. Reads blocks only until every path was seen."""
    comps = flt.comparisons
    nested = [i for i, c in enumerate(comps) if len(c.path) > 1]
    if not nested or not reader.record_count:
        return []
    spec, _ = flt.spec()
    found = ffi.new("uint8_t[]", max(len(comps), 1))
    for i, c in enumerate(comps):
        found[i] = 0 if len(c.path) > 1 else 1
    err = ffi.new("spooky_error *")
    for block in reader.blocks():
        rc = lib.spooky_filter_block_found(reader.handle, block.number, spec, found, err)
        if rc:
            raise reader.core_error(rc, err, f"could not read block {block.number} of")
        if all(found[i] for i in nested):
            return []
    paths = (_shown(comps[i].path) for i in nested if not found[i])
    return list(dict.fromkeys(paths))


def _shown(path: tuple[str | None, ...]) -> str:
    """A path as written: steps joined by dots, [*] for ANY."""
    out = ""
    for i, step in enumerate(path):
        if step is ANY:
            out += "[*]"
        else:
            out += ("." if i else "") + path_text([step])
    return out


def filter_file(
    reader: RecordFileReader,
    flt: Filter,
    *,
    fields: list[str] | None = None,
    write: Callable[[bytes], Any] | None = None,
    writer: RecordFileWriter | None = None,
    progress: Callable[[int], Any] | None = None,
    blocks: Iterable[int] | None = None,
) -> int:
    """The matching records of a file, in file order: as NDJSON to write, or
    into writer (a record file keyed like reader; the fields of the key's
    parts are kept whole in any projection), or only counted when neither is
    given. fields: the fields to keep, in that order; a field may be a path
    into nested values (user.plan), whose kept part is nested as in the
    input. blocks: only these blocks (numbers in the block table, in the
    order given). Returns the records that matched."""
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
    with in_order(
        lambda b: run_block(b.number), reader.blocks(blocks), name="spooky-filter"
    ) as done:
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
    "ExpressionError",
    "Filter",
    "PredicateError",
    "filter_file",
    "paths_no_record_has",
    "path_text",
]
