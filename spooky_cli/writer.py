"""Writing record files: RecordFileWriter (the Python API) and the chunked,
two-threaded transcoding that `spooky convert` drives.

Python hands the C core whole chunks of input (MBs of NDJSON); the core
transcodes every line, and the writer cuts blocks, counts types and builds the
key index. Python loops per chunk, never per record."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from spooky_cli._native import ffi, lib
from spooky_cli.encode import BIG_INT_HINT, big_int_mode, big_int_reason, to_json
from spooky_cli.errors import DuplicateKey, HashCollision, JsonError, SpookyError, error_for
from spooky_cli.keys import KeySpec, key_from_sort_form
from spooky_cli.output import Output, Temp


@dataclass(frozen=True)
class LineError:
    """A bad input line: where (1-based line and column, byte offset) and why."""

    source: str
    line: int
    column: int
    offset: int
    message: str
    snippet: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.message}"


class Transcoded:
    """One chunk's transcoded records (C-owned) and the errors found in it."""

    __slots__ = ("chunk", "lines", "records", "big_ints", "errors")

    def __init__(self) -> None:
        c = lib.spooky_chunk_new()
        if c == ffi.NULL:
            raise MemoryError("could not allocate a chunk")
        self.chunk = ffi.gc(c, lib.spooky_chunk_free)
        self.lines = self.records = self.big_ints = 0
        # (line, offset, code, message, key part at fault for a key error)
        self.errors: list[tuple[int, int, int, str, int]] = []


class _Encoders(threading.local):
    def __init__(self) -> None:
        self.enc = ffi.gc(lib.spooky_encoder_new(), lib.spooky_encoder_free)


_encoders = _Encoders()


def transcode_chunk(
    data: bytes | bytearray | memoryview,
    key: KeySpec,
    skip_errors: bool,
    into: Transcoded | None = None,
    big_int: str = "error",
    original: bytes | None = None,
) -> Transcoded:
    """Transcodes every line of data in C (the GIL is released meanwhile, so
    several threads can each run one chunk). big_int: "error" or "float" for
    integers beyond i64 and u64 (see encode.py). original: a JSON array's own
    bytes, when data are its elements as lines: records and errors then carry
    the input's line numbers. key: what keys each record."""
    if original is not None and len(original) != len(data):
        raise ValueError("original must be as long as data")
    t = into or Transcoded()
    lib.spooky_encoder_set_big_int(_encoders.enc, big_int_mode(big_int))
    rc = lib.spooky_chunk_transcode(
        _encoders.enc,
        t.chunk,
        ffi.from_buffer(data),
        len(data),
        ffi.NULL if original is None else ffi.from_buffer(original),
        key.handle,
        1 if skip_errors else 0,
    )
    t.lines = lib.spooky_chunk_lines(t.chunk)
    t.records = lib.spooky_chunk_records(t.chunk)
    t.big_ints = lib.spooky_chunk_big_ints(t.chunk)
    t.errors = []
    e = ffi.new("spooky_line_error *")
    for i in range(lib.spooky_chunk_error_count(t.chunk)):
        lib.spooky_chunk_error_at(t.chunk, i, e)
        t.errors.append((e.line, e.offset, e.code, ffi.string(e.message).decode(), e.key_part))
    if rc and rc != lib.SPOOKY_E_NOMEM and not t.errors:
        raise error_for(rc, "could not transcode input")
    if rc == lib.SPOOKY_E_NOMEM:
        raise MemoryError("out of memory while transcoding")
    return t


def line_errors(
    source: str,
    data: bytes | bytearray,
    errors: Sequence[tuple[int, int, str]],
    *,
    first_line: int = 0,
    first_column: int = 0,
    base_offset: int = 0,
    array_mode: bool = False,
) -> list[LineError]:
    """LineErrors for a chunk's errors, each (line in the chunk, byte offset,
    message), in their order. data are the chunk's original bytes; the chunk
    starts after first_line lines of its input, first_column characters into
    the next (a JSON array's chunk may start inside a line). One walk over
    data in offset order: linear in the chunk however many errors it has."""
    found: list[LineError | None] = [None] * len(errors)
    line_no = first_line + 1  # of the walk's position
    line_start = 0  # where that line starts in data (0: maybe before data)
    column = first_column + 1
    pos = 0
    for i in sorted(range(len(errors)), key=lambda i: errors[i][1]):
        line, offset, message = errors[i]
        last_nl = data.rfind(b"\n", pos, offset)
        if last_nl >= 0:
            line_no += data.count(b"\n", pos, offset)
            line_start = last_nl + 1
            column = _chars(data, line_start, offset) + 1
        else:
            column += _chars(data, pos, offset)
        pos = offset
        found[i] = LineError(
            source,
            line_no if array_mode else first_line + line + 1,  # NDJSON: lines are the input's
            column,
            base_offset + offset,
            message,
            _snippet(data, line_start, offset),
        )
    return found  # type: ignore[return-value]


def _chars(data: bytes | bytearray, start: int, end: int) -> int:
    return len(bytes(data[start:end]).decode("utf-8", "replace"))


def _snippet(data: bytes | bytearray, line_start: int, offset: int, width: int = 30) -> str:
    """The text of the line around offset, width characters either side. Only
    a window of bytes is decoded (a 4-byte character each is the most that
    fits), so that a long line costs nothing."""
    start = max(line_start, offset - 4 * width - 8)
    end = data.find(b"\n", offset, offset + 4 * width + 8)
    if end < 0:
        end = min(len(data), offset + 4 * width + 8)
    before = bytes(data[start:offset]).decode("utf-8", "replace")
    after = bytes(data[offset:end]).decode("utf-8", "replace")
    return before[max(0, len(before) - width) :] + after[:width]


def explain(
    code: int,
    message: str,
    data: bytes | bytearray | memoryview,
    offset: int,
    big_int_hint: str = BIG_INT_HINT,
    key: KeySpec | None = None,
    key_hint: str = "key=",
    key_part: int = 0,
) -> str:
    """A bad line's message: a big integer's digits and big_int_hint (what
    stores it), the key part (its path) a record lacks and key_hint (how to
    choose another), or the two field names whose hashes collide (an error
    path: it parses the lines up to the bad one again)."""
    if code == lib.SPOOKY_E_JSON_BIG_INT:
        return big_int_reason(data, offset, big_int_hint)
    if key is not None and code in (lib.SPOOKY_E_KEY_MISSING, lib.SPOOKY_E_KEY_TYPE):
        path = _quoted(key.fields[key_part] if key_part < key.parts else key.text)
        if code == lib.SPOOKY_E_KEY_MISSING:
            return f"record has no field {path} (choose the key with {key_hint})"
        return f"key field {path} is not a string or an integer"
    if code != lib.SPOOKY_E_HASH_COLLISION:
        return message
    text = bytes(data)
    end = text.find(b"\n", offset)
    seen: dict[int, str] = {}
    for line in text[: end if end >= 0 else len(text)].splitlines():
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        for name in obj if isinstance(obj, dict) else ():
            raw = name.encode("utf-8", "surrogatepass")
            other = seen.setdefault(lib.spooky_name_hash(raw, len(raw)), name)
            if other != name:
                return collision_message(other, name)
    return message


def _quoted(name: str) -> str:
    return orjson.dumps(name).decode()


def collision_message(a: str, b: str) -> str:
    return f"field names {a!r} and {b!r} share one xxh64 hash; a record file cannot hold both"


class RecordFileWriter:
    """Writes a record file atomically: records go to an unnamed temp file
    beside the target, which replaces the target only on a clean close().
    path "-" is stdout; a device or FIFO gets the file's bytes at close(). A
    path that is one of inputs (after links) is refused (spooky_cli.output).

        with RecordFileWriter("out.spky", key="id") as w:
            w.write({"id": 1, "name": "a"})
            w.write_ndjson(b'{"id": 2}\\n{"id": 3}\\n')

    key: the path of the field whose value (an int or a str) keys a record,
    as filter reads paths ("id", "user.id", '"a.b"'); several, separated by
    commas or as a list, make a composite key ("tenant,user_id": the tuple
    of their values); or a KeySpec.

    temp_dir: the folder for the key index being sorted (default
    tempfile.gettempdir(), which follows TMPDIR); its files there have no
    name, so nothing is left behind however the process ends.

    big_int: an integer beyond i64 and u64 is an error ("error", the
    default), or stored as the nearest float ("float"; counted in big_ints).

    scratch: the file goes to an unnamed temp file in TMPDIR instead (path
    only names it in messages), kept after close() for the caller to take
    (take_file()).
    """

    duplicate_hint = " (use --on-duplicate last to keep the last)"  # after "key K repeats"

    def __init__(
        self,
        path: str | os.PathLike[str],
        key: str | Sequence[str] | KeySpec = "id",
        keep_last: bool = False,
        *,
        inputs: Iterable[str] = (),
        temp_dir: str | os.PathLike[str] | None = None,
        big_int: str = "error",
        keep_highest: str | None = None,
        scratch: bool = False,
    ):
        big_int_mode(big_int)  # a bad value fails before any file is made
        self.key_spec = key if isinstance(key, KeySpec) else KeySpec.parse(key)
        self.path = os.fspath(path)
        self.key = self.key_spec.text  # the key's paths, joined by commas
        self.key_fields = self.key_spec.fields
        self.keep_last = keep_last
        self.big_int = big_int
        self.big_ints = 0  # integers stored as floats (big_int="float")
        self.temp_dir = os.fspath(temp_dir) if temp_dir is not None else tempfile.gettempdir()
        self.scratch = scratch
        self._output = (
            Output.scratch(self.path) if scratch else Output(self.path, inputs, binary=True)
        )
        self._temp = self._output.temp_file()
        self._closed = False
        self._sources: list[str] = []
        w = lib.spooky_writer_new(self._temp.fd, self.key_spec.handle, os.fsencode(self.temp_dir))
        if w == ffi.NULL:
            self.abort()
            raise MemoryError("could not create the record writer")
        self._w = ffi.gc(w, lib.spooky_writer_free)
        self._err = ffi.new("spooky_error *")
        if keep_highest is not None:
            raw = keep_highest.encode("utf-8")
            lib.spooky_writer_keep_highest(self._w, lib.spooky_name_hash(raw, len(raw)))
        self.records = 0
        self.bytes_written = 0
        self.replaced = 0  # keep_last: records a later one of their key replaced

    @property
    def _shown(self) -> str:
        return "<stdout>" if self.path == "-" else self.path

    def source_id(self, name: str) -> int:
        """A number for an input name, used in messages about its lines."""
        self._sources.append(name)
        return len(self._sources) - 1

    def source_name(self, source: int) -> str:
        return self._sources[source] if source < len(self._sources) else "<input>"

    # -- adding records -----------------------------------------------------------

    def add(self, t: Transcoded, source: int = 0, first_line: int = 0) -> None:
        """Adds a transcoded chunk (records only; its errors are the caller's)."""
        if self._closed:
            raise SpookyError(f"the record writer of {self._shown} is closed")
        rc = lib.spooky_writer_add(self._w, t.chunk, source, first_line, self._err)
        if rc == 0:
            self.big_ints += t.big_ints
        if rc == lib.SPOOKY_E_HASH_COLLISION:
            raise self._collision()
        if rc == lib.SPOOKY_E_TEMP_FILE:
            raise self._temp_error()
        if rc:
            raise error_for(rc, f"could not write {self._shown}")

    def write_ndjson(self, data: bytes | bytearray, source: str = "<data>") -> None:
        """Adds every line of NDJSON text; the first bad line raises JsonError."""
        sid = self.source_id(source)
        t = transcode_chunk(data, self.key_spec, skip_errors=False, big_int=self.big_int)
        if t.errors:
            line, offset, code, message, part = t.errors[0]
            message = explain(code, message, data, offset, key=self.key_spec, key_part=part)
            err = line_errors(source, data, [(line, offset, message)])[0]
            raise exception_for_line(code, err)
        self.add(t, sid, 0)

    def write(self, obj: Mapping[str, Any]) -> None:
        """Adds one record from a mapping (convenience; bulk input: write_ndjson)."""
        obj = obj if isinstance(obj, dict) else dict(obj)
        self.write_ndjson(to_json(obj, self.big_int), "<object>")

    def write_many(self, objs: Iterable[Mapping[str, Any]]) -> None:
        text = b"\n".join(to_json(dict(o), self.big_int) for o in objs)
        self.write_ndjson(text, "<objects>")

    # -- finishing -----------------------------------------------------------------------

    def close(self) -> None:
        """Writes the footer; the file then replaces the target (fsynced) or
        goes to stdout or the device."""
        if self._closed:
            return
        rewrite = self._output.temp_file()
        rewritten = ffi.new("int *")
        try:
            rc = lib.spooky_writer_finish(
                self._w, 1 if self.keep_last else 0, rewrite.fd, rewritten, self._err
            )
            if rc == lib.SPOOKY_E_DUPLICATE_KEY:
                raise self._duplicate()
            if rc == lib.SPOOKY_E_TEMP_FILE:
                raise self._temp_error()
            if rc:
                raise error_for(rc, f"could not write {self._shown}")
            self.records = lib.spooky_writer_records(self._w)
            self.bytes_written = lib.spooky_writer_bytes(self._w)
            self.replaced = lib.spooky_writer_replaced(self._w)
            if rewritten[0]:  # the live records went to the second file
                self._temp.discard()
                self._temp, rewrite = rewrite, self._temp
            self._closed = True
            self._output.install(self._temp)
        except BaseException:
            self._closed = False
            self.abort()
            raise
        finally:
            rewrite.discard()
        self._free_writer()

    def take_file(self) -> Temp:
        """A scratch writer's finished file (the caller discards it)."""
        if not self.scratch or not self._closed or self._output.kept < 0:
            raise SpookyError("take_file: only a closed scratch writer's file")
        temp, self._output.kept = Temp(self._output.kept, None), -1
        return temp

    def abort(self) -> None:
        """Drops everything written; the target is untouched."""
        if not self._closed:
            self._closed = True
            self._temp.discard()
            self._free_writer()

    def _free_writer(self) -> None:
        """Frees the C writer now, and with it its spill file's disk space."""
        w = getattr(self, "_w", None)
        if w is not None:
            self._w = None
            ffi.release(w)

    def __enter__(self) -> RecordFileWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- messages ----------------------------------------------------------------------------

    def _duplicate(self) -> DuplicateKey:
        key = ffi.new("const uint8_t **")
        klen = ffi.new("size_t *")
        s1, s2 = ffi.new("uint32_t *"), ffi.new("uint32_t *")
        l1, l2 = ffi.new("uint64_t *"), ffi.new("uint64_t *")
        lib.spooky_writer_duplicate(self._w, key, klen, s1, l1, s2, l2)
        value = key_from_sort_form(ffi.buffer(key[0], klen[0])[:], self.key_spec.parts)
        return DuplicateKey(
            f"key {value!r} ({self.key}) repeats: at {self._where(s1[0], l1[0])} and at "
            f"{self._where(s2[0], l2[0])}{self.duplicate_hint}"
        )

    def _temp_error(self) -> OSError:
        errno = ffi.errno or 5
        return OSError(
            errno,
            f"cannot use a temporary file in this folder (TMPDIR): {os.strerror(errno)}",
            self.temp_dir,
        )

    def _where(self, source: int, line: int) -> str:
        return f"{self.source_name(source)}:{line + 1}"

    def _collision(self) -> HashCollision:
        a, b = ffi.new("const uint8_t **"), ffi.new("const uint8_t **")
        alen, blen = ffi.new("size_t *"), ffi.new("size_t *")
        lib.spooky_writer_collision(self._w, a, alen, b, blen)
        na = ffi.buffer(a[0], alen[0])[:].decode("utf-8", "replace")
        nb = ffi.buffer(b[0], blen[0])[:].decode("utf-8", "replace")
        return HashCollision(collision_message(na, nb))


def exception_for_line(code: int, err: LineError) -> JsonError:
    """The JsonError (or subclass) for a bad line, naming input, line and column."""
    cls = type(error_for(code, ""))
    if not issubclass(cls, JsonError):
        cls = JsonError
    message = f"{err.message} near {err.snippet!r}" if err.snippet else err.message
    return cls(message, line=err.line, column=err.column, offset=err.offset, source=err.source)


__all__ = ["LineError", "RecordFileWriter", "Transcoded", "line_errors", "transcode_chunk"]
