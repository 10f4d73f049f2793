"""Reading record files (docs/FORMAT.md section 2) through the C core.

The file is memory-mapped read-only; records are zero-copy SpookyRecord views
into the map. spooky_file_open checks header, tail and footer once; blocks are
checked (header, checksum) as they are read.

    with RecordFileReader("events.spky") as r:
        rec = r.get(12345)
        for key, rec in r:
            ...
"""

from __future__ import annotations

import mmap
import os
import shutil
import struct
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, NamedTuple

from spooky_cli._native import ffi, lib
from spooky_cli.errors import ChecksumMismatch, RecordFileError, SpookyError, error_for
from spooky_cli.keys import Key, KeySpec, key_from_sort_form, key_to_sort_form
from spooky_cli.parallel import in_order
from spooky_cli.paths import projection_trees
from spooky_cli.record import SpookyRecord

TYPE_NAMES = ("null", "bool", "i64", "f64", "str", "nested", "u64")
_HEADER_SIZE = lib.SPOOKY_FILE_HEADER_SIZE
_BLOCK_HEADER_SIZE = lib.SPOOKY_BLOCK_HEADER_SIZE
_TAIL_SIZE = lib.SPOOKY_FILE_TAIL_SIZE
_NOT_FOUND = lib.SPOOKY_E_NOT_FOUND


class FieldInfo(NamedTuple):
    """A name of the file's name table; type_counts holds only the types that
    occur (type name -> number of records holding the field with that type)."""

    name: str
    hash: int
    type_counts: dict[str, int]


class BlockInfo(NamedTuple):
    number: int  # its position in the block table
    offset: int  # file offset of the block's sync
    payload_offset: int
    payload_len: int
    record_count: int


class IndexEntry(NamedTuple):
    key: Key
    digest: int
    offset: int  # file offset of the record
    length: int


def field_label(name: str) -> str:
    """A field name for a one-line message: as is when plain, else quoted."""
    return name if name and name.isprintable() and "," not in name else repr(name)


def name_hash(name: str) -> int:
    b = name.encode("utf-8")
    return lib.spooky_name_hash(b, len(b))


def _open_input(path: str) -> BinaryIO:
    """path opened for reading; - is stdin, first copied to an unnamed temp
    file (a record file is read at random, through a map)."""
    if path != "-":
        return open(path, "rb")
    if sys.stdin is None or sys.stdin.isatty():
        raise SpookyError("no record file on stdin (pipe one in, or give a path)")
    spool = tempfile.TemporaryFile(prefix="spooky-stdin-")  # noqa: SIM115 (the caller closes it)
    try:
        shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
        spool.flush()
    except BaseException:
        spool.close()
        raise
    return spool  # type: ignore[return-value]


class RecordFileReader:
    """A record file opened for reading: a context manager over a read-only mmap.
    The path - reads the file from stdin.

    Records returned stay valid after close (they keep the map alive)."""

    def __init__(self, path: str | os.PathLike[str], *, fd: int | None = None):
        """fd: read the file from this descriptor (a duplicate is kept;
        path then only names it in messages)."""
        self.path = os.fspath(path)
        self._mm: mmap.mmap | None = None
        self._view: memoryview | None = None
        self._ptr: Any = None
        self._file: Any = None
        self._fd = -1
        try:
            source = os.fdopen(os.dup(fd), "rb") if fd is not None else _open_input(self.path)
            with source as fh:
                self.file_size = os.fstat(fh.fileno()).st_size
                if self.file_size:
                    self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
                    self._fd = os.dup(fh.fileno())  # for pread (see fileno)
            if self.path == "-":
                self.path = "<stdin>"
            self._view = memoryview(self._mm if self._mm is not None else b"")
            self._ptr = ffi.from_buffer("uint8_t[]", self._view)
            out = ffi.new("spooky_file **")
            err = ffi.new("spooky_error *")
            flags = lib.SPOOKY_OPEN_RELEASE_PAGES if self._mm is not None else 0
            rc = lib.spooky_file_open(self._ptr, len(self._view), flags, out, err)
            if rc:
                raise self.core_error(rc, err, "could not open record file")
            self._file = out[0]
            self._load_footer()
        except BaseException:
            self.close()
            raise

    # -- life cycle -----------------------------------------------------------------

    def close(self) -> None:
        """Frees the C state, then the buffer, then the map (left to the garbage
        collector while records still view it)."""
        if self._file is not None:
            lib.spooky_file_close(self._file)
            self._file = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._ptr is not None:
            ffi.release(self._ptr)
            self._ptr = None
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:
                pass  # records still view the map; it closes when they go
            self._mm = None

    def __enter__(self) -> RecordFileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_file", None) is not None or getattr(self, "_mm", None) is not None:
            self.close()

    def fileno(self) -> int:
        """A descriptor of the file, open for reading: work that reads much of
        a file at random (diff) reads it with pread instead of through the
        map, whose pages would stay resident."""
        self._check_open()
        return self._fd

    # -- the surface the other modules use to call the core on this file -------

    def _check_open(self) -> None:
        if self._file is None:
            raise SpookyError(f"record file {self.path} is closed")

    @property
    def handle(self) -> Any:
        """The core's `spooky_file *` of this file, for calls into the C core
        (valid while the reader is open: SpookyError once closed)."""
        if self._file is None:
            raise SpookyError(f"record file {self.path} is closed")
        return self._file

    def core_error(self, code: int, err: Any, what: str) -> Exception:
        """The exception for a core status about this file: "WHAT PATH: detail
        (at byte N)", from the spooky_error the core filled in."""
        detail = ffi.string(err.message).decode() if err.message != ffi.NULL else ""
        exc = error_for(code, f"{what} {self.path}")
        if detail and isinstance(exc, SpookyError):  # the core's detail says more
            return type(exc)(f"{what} {self.path}: {detail} (at byte {err.offset})")
        return exc

    # -- footer -----------------------------------------------------------------------

    def _load_footer(self) -> None:
        f = self._file
        self.record_count: int = lib.spooky_file_record_count(f)
        self.block_count: int = lib.spooky_file_block_count(f)
        section, n, parts = ffi.new("const uint8_t **"), ffi.new("size_t *"), ffi.new("uint32_t *")
        lib.spooky_key_section(lib.spooky_file_key(f), section, n, parts)
        # what keys the records: its parts' paths, as text and joined by commas
        self.key_spec = KeySpec.from_section(ffi.buffer(section[0], n[0])[:], parts[0])
        self.key_fields: list[str] = self.key_spec.fields
        self.key_field: str = self.key_spec.text
        info = ffi.new("spooky_name_info *")
        names = []
        for i in range(lib.spooky_file_name_count(f)):
            lib.spooky_file_name_at(f, i, info)
            counts = {TYPE_NAMES[t]: info.type_counts[t] for t in range(7) if info.type_counts[t]}
            names.append(
                FieldInfo(
                    ffi.buffer(info.name, info.name_len)[:].decode("utf-8"), info.hash, counts
                )
            )
        self.names: list[FieldInfo] = names
        self._by_hash = {fi.hash: fi.name for fi in names}
        self._by_name = {fi.name: fi.hash for fi in names}
        b = ffi.new("spooky_block_info *")
        blocks = []
        for i in range(self.block_count):
            lib.spooky_file_block_at(f, i, b)
            blocks.append(BlockInfo(i, b.offset, b.payload_offset, b.payload_len, b.record_count))
        self._blocks = blocks
        self._block_at = {b.offset: b.number for b in blocks}
        view = self._view
        assert view is not None  # set in __init__ before the footer is read
        (self.version,) = struct.unpack_from("<I", view, 8)
        (self.footer_offset,) = struct.unpack_from("<Q", view, self.file_size - _TAIL_SIZE)
        self._sync = lib.spooky_file_sync(f)

    @property
    def records_bytes(self) -> int:
        """Bytes of the record blocks (headers and payloads)."""
        return self.footer_offset - _HEADER_SIZE

    @property
    def footer_bytes(self) -> int:
        """Bytes of the footer block (header and payload)."""
        return self.file_size - _TAIL_SIZE - self.footer_offset

    def name_for_hash(self, h: int) -> str | None:
        return self._by_hash.get(h)

    def hash_for_name(self, name: str) -> int | None:
        return self._by_name.get(name)

    def blocks(self) -> list[BlockInfo]:
        return list(self._blocks)

    def projection(self, fields: list[str] | None) -> tuple[Any, int, Any, int]:
        """The core's form of a projection (--fields): the top-level fields'
        hashes and count, and the paths below them (NULL, 0 when every field
        is kept whole); fields None: every field (NULL, 0, NULL, 0). Names
        the file lacks raise SpookyError. Keep the arrays while they are used."""
        if fields is None:
            return ffi.NULL, 0, ffi.NULL, 0
        names, trees = projection_trees(fields)
        hashes = ffi.new("uint64_t[]", self.field_hashes(names) or [0])
        if trees is None:
            return hashes, len(names), ffi.NULL, 0
        return hashes, len(names), ffi.new("uint8_t[]", trees), len(trees)

    def field_hashes(self, fields: list[str]) -> list[int]:
        """The hashes of field names, all of which the file must know."""
        out = []
        for name in fields:
            h = self._by_name.get(name)
            if h is None:
                known = ", ".join(field_label(n) for n in sorted(self._by_name)) or "no fields"
                raise SpookyError(f"unknown field {name!r} (the file has: {known})")
            out.append(h)
        return out

    # -- records in file order ------------------------------------------------------

    def _block_records(self, index: int) -> Iterator[tuple[Key, SpookyRecord]]:
        """The records of block index, checked in C (header against the block
        table, checksum, framing, every record) before any is yielded."""
        f, view = self.handle, self._view
        assert view is not None
        count = self._blocks[index].record_count
        entries = ffi.new("spooky_index_entry[]", max(count, 1))
        n, err = ffi.new("uint64_t *"), ffi.new("spooky_error *")
        rc = lib.spooky_file_block_records(f, index, entries, count, n, err)
        if rc:
            raise self.core_error(rc, err, f"could not read block {index} of")
        for e in entries[0 : n[0]]:
            off = e.record_offset
            key = self._stored_key(ffi.buffer(e.key, e.key_len), off - e.key_len)
            yield key, SpookyRecord(view[off : off + e.record_len])

    def _stored_key(self, raw: Any, offset: int) -> Key:
        try:
            return key_from_sort_form(raw, self.key_spec.parts)
        except (ValueError, UnicodeDecodeError):
            raise RecordFileError(f"{self.path}: bad stored key at byte {offset}") from None

    def __iter__(self) -> Iterator[tuple[Key, SpookyRecord]]:
        """(key, record) of every record in file order."""
        for b in self._blocks:
            yield from self._block_records(b.number)

    def __len__(self) -> int:
        return self.record_count

    def iter_range(self, start: int, end: int) -> Iterator[tuple[Key, SpookyRecord]]:
        """(key, record) of the blocks whose sync begins in [start, end): split a
        file into byte ranges and each record is in exactly one of them."""
        self._check_open()
        start = max(0, start)
        end = min(end, self.file_size)
        pos = start
        while pos < end:
            at = lib.spooky_find_block(self._ptr, self.file_size, self._sync, pos)
            if at < 0 or at >= end:
                return
            if at >= self.footer_offset:
                return  # the footer: no records after it
            index = self._block_at.get(at)
            if index is None:
                raise RecordFileError(f"{self.path}: block at byte {at} is not in the block table")
            yield from self._block_records(index)
            pos = at + _BLOCK_HEADER_SIZE + self._blocks[index].payload_len

    # -- the key index ---------------------------------------------------------------------

    def _entry(self, i: int, e: Any) -> None:
        lib.spooky_file_index_at(self.handle, i, e)

    def _find(self, key: bytes) -> int | None:
        """The key index position of a key given in sort form, or None."""
        pos = ffi.new("uint64_t *")
        rc = lib.spooky_file_find_key(self.handle, key, len(key), pos)
        if rc == _NOT_FOUND:
            return None
        if rc:
            raise error_for(rc, f"could not look up a key in {self.path}")
        return int(pos[0])

    def get_sort_form(self, key: bytes) -> SpookyRecord | None:
        """The record of a key given in sort form, or None."""
        at = self._find(key)
        if at is None:
            return None
        e = ffi.new("spooky_index_entry *")
        lib.spooky_file_index_at(self.handle, at, e)
        off, n = e.record_offset, e.record_len
        if lib.spooky_xxh64(self._ptr + off, n, 0) != e.digest:
            raise ChecksumMismatch(
                f"{self.path}: record at offset {off} does not match its digest in the key index"
            )
        view = self._view
        assert view is not None  # open: handle above checked it
        return SpookyRecord(view[off : off + n])

    def sort_form(self, key: Key) -> bytes:
        """The sort form of a key of this file: a str or an int, or for a
        file keyed by several parts a tuple of as many (SpookyError when the
        count differs)."""
        given = len(key) if isinstance(key, tuple) else 1
        parts = self.key_spec.parts
        if given != parts:
            want = "one value" if parts == 1 else f"a tuple of {parts} values"
            raise SpookyError(f"{self.path} is keyed by {self.key_field}: a key is {want}")
        return key_to_sort_form(key)

    def get(self, key: Key) -> SpookyRecord | None:
        """The record with this key (binary search of the key index), or None."""
        return self.get_sort_form(self.sort_form(key))

    def get_json_sort_form(self, key: bytes, indent: int = 0) -> bytes | None:
        """The record of a key given in sort form as JSON text (no newline), as
        `spooky get` prints it, or None. Rendered in C at any depth: fields in
        the record's order, floats as orjson writes them; indent 0 is one
        line, 2 orjson's OPT_INDENT_2. A value JSON cannot hold (NaN) raises."""
        if not 0 <= indent <= 16:
            raise SpookyError(f"indent must be 0 to 16, not {indent}")
        at = self._find(key)
        if at is None:
            return None
        buf = ffi.gc(ffi.new("spooky_buf *"), lib.spooky_buf_free)
        err = ffi.new("spooky_error *")
        rc = lib.spooky_file_record_json(self.handle, at, indent, buf, err)
        if rc:
            raise self.core_error(rc, err, "could not read a record of")
        return ffi.buffer(buf.data, buf.len)[:]

    def get_json(self, key: Key, indent: int = 0) -> bytes | None:
        """The record with this key as JSON text (see get_json_sort_form), or None."""
        return self.get_json_sort_form(self.sort_form(key), indent)

    def __contains__(self, key: Key) -> bool:
        return self._find(self.sort_form(key)) is not None

    def _index_key(self, i: int, e: Any) -> Key:
        """The key of index entry i (read into e); RecordFileError when the
        stored bytes are no key's sort form."""
        try:
            return key_from_sort_form(ffi.buffer(e.key, e.key_len), self.key_spec.parts)
        except ValueError:  # UnicodeDecodeError too
            at = int(ffi.cast("uintptr_t", e.key)) - int(ffi.cast("uintptr_t", self._ptr))
            raise RecordFileError(
                f"{self.path}: key {i} of the key index is not well formed (at byte {at})"
            ) from None

    def index_entries(self) -> Iterator[IndexEntry]:
        """(key, digest, record offset, record length) in key order."""
        e = ffi.new("spooky_index_entry *")
        for i in range(self.record_count):
            self._entry(i, e)
            yield IndexEntry(self._index_key(i, e), e.digest, e.record_offset, e.record_len)

    def keys(self) -> Iterator[Key]:
        """Every key in key order."""
        e = ffi.new("spooky_index_entry *")
        for i in range(self.record_count):
            self._entry(i, e)
            yield self._index_key(i, e)

    # -- whole-file work in C ----------------------------------------------------------

    def verify(
        self, progress: Callable[[int], Any] | None = None, index_step: int = 0
    ) -> tuple[int, int]:
        """Checks every block: header, checksum, framing, every record and its
        key and index entry. Returns (blocks, records); raises the mapped
        error naming the block. progress, if given, gets the bytes of each
        block checked. Memory stays flat: each block's pages are given back
        once checked, and a record is looked up in the key index through a
        sample of every index_step-th key (0: 64, more for long keys) and
        pread, never through the map."""
        f = self.handle
        if not 0 <= index_step < 2**32:
            raise SpookyError(f"index_step must be 0 to {2**32 - 1}, got {index_step}")
        err = ffi.new("spooky_error *")
        out = ffi.new("spooky_verifier **")
        rc = lib.spooky_verifier_new(f, self._fd, index_step, out, err)
        if rc:
            raise self.core_error(rc, err, "could not verify")
        try:
            for b in self._blocks:
                rc = lib.spooky_verifier_check_block(out[0], b.number, err)
                if rc:
                    raise self.core_error(rc, err, f"block {b.number} of")
                if progress is not None:
                    progress(b.payload_len + _BLOCK_HEADER_SIZE)
        finally:
            lib.spooky_verifier_free(out[0])
        return self.block_count, self.record_count

    def export_ndjson(
        self,
        write: Callable[[Any], Any],
        fields: list[str] | None = None,
        progress: Callable[[int], Any] | None = None,
        *,
        views: bool = False,
    ) -> int:
        """Writes every record as one JSON object per line, in file order: all
        fields (in the order their names first appeared in the input) or the
        named ones, in that order; a name may be a path into nested values
        (user.plan), whose kept part is nested as in the input (names the
        file lacks raise SpookyError). write gets one bytes per block, or with
        views=True a memoryview of the core's buffer, valid only during the
        call (no copy: the buffers are used again); progress, if given, the
        payload bytes of each block done. Returns the records written."""
        f = self.handle
        hashes, n, paths, paths_len = self.projection(fields)
        free: deque[Any] = deque()  # spooky_buf * for a block's text, used again

        def export_block(index: int) -> Any:
            try:
                buf = free.pop()
            except IndexError:
                buf = ffi.gc(ffi.new("spooky_buf *"), lib.spooky_buf_free)
            err = ffi.new("spooky_error *")
            buf.len = 0
            rc = lib.spooky_file_export_block(f, index, hashes, n, paths, paths_len, buf, err)
            if rc:
                free.append(buf)
                raise self.core_error(rc, err, f"could not export block {index} of")
            return buf

        # two blocks are turned into JSON at once, written in file order; up to
        # EXPORT_AHEAD wait their turn, so that the writing (direct I/O: this
        # thread waits for the disk) and other processes stall the two less
        released = 0
        wanted = self.prefetch(0, 0)
        with in_order(
            lambda b: export_block(b.number), self._blocks, ahead=EXPORT_AHEAD, name="spooky-export"
        ) as done:
            for block, buf in done:
                wanted = self.prefetch(wanted, block.payload_offset)
                text = ffi.buffer(buf.data, buf.len)
                if views:
                    with memoryview(text) as view:
                        write(view)
                else:
                    write(text[:])
                free.append(buf)
                released = self.release_pages(released, block.payload_offset + block.payload_len)
                if progress is not None:
                    progress(block.payload_len + _BLOCK_HEADER_SIZE)
        return self.record_count

    PREFETCH = 64 << 20  # bytes asked for ahead of a pass over the blocks

    def prefetch(self, wanted: int, at: int) -> int:
        """Asks the kernel to read the file ahead of a pass that is at byte at
        (MADV_WILLNEED: the reads run meanwhile), up to PREFETCH bytes past it,
        in 16 MB steps; wanted is how far earlier calls asked (returned
        updated). A file just written with direct I/O is not in the page
        cache: without this, each page fault would wait for its read."""
        want = min(at + self.PREFETCH, self.file_size)
        if self._mm is None or not hasattr(mmap, "MADV_WILLNEED") or want <= wanted:
            return wanted
        if want - wanted < (16 << 20) and want < self.file_size:
            return wanted
        start = wanted - wanted % mmap.PAGESIZE
        try:
            self._mm.madvise(mmap.MADV_WILLNEED, start, want - start)
        except OSError:
            pass  # advice only
        return want

    def release_pages(self, start: int, end: int) -> int:
        """Drops mapped pages in [start, end) already read, so that a pass over a
        large file keeps a flat resident size (the page cache keeps them)."""
        end -= end % mmap.PAGESIZE
        if self._mm is not None and end - start >= (16 << 20) and hasattr(mmap, "MADV_DONTNEED"):
            self._mm.madvise(mmap.MADV_DONTNEED, start, end - start)
            return end
        return start


EXPORT_AHEAD = 16  # blocks rendered ahead of the one being written (~1 MB of text each)


def open_records(path: str | os.PathLike[str]) -> RecordFileReader:
    """Opens a record file for reading (use it as a context manager)."""
    return RecordFileReader(path)
