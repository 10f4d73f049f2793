"""Reading inputs in large pieces that end on line boundaries: NDJSON/JSONL or
a JSON array of objects, plain or gzip, files or stdin (`-`)."""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from spooky_cli._native import ffi, lib
from spooky_cli.errors import JsonError, SpookyError

CHUNK_BYTES = 4 << 20


@dataclass
class Piece:
    """Whole lines of one input. `data` goes to the transcoder; `original` is
    the input's own bytes at the same offsets (they differ for JSON arrays;
    empty for NDJSON). The piece starts at byte base_offset of its input, on
    its 0-based line `line`, `column` characters in (a JSON array's piece may
    start inside a line)."""

    data: bytes | bytearray | memoryview
    original: bytes
    base_offset: int
    array_mode: bool
    line: int = 0  # -1: not counted (read_pieces(count_lines=False))
    column: int = 0
    buffer: bytearray | None = None  # data's buffer, to give back to its Buffers


class Buffers:
    """Read buffers used again: read_pieces takes one for each piece (a new
    one when none is free) and the caller gives it back with give_back(piece)
    once nothing uses the piece's data any more. Buffers are never resized
    (a memoryview of a piece may still be alive), so a line longer than one
    gets a buffer of its own. Thread-safe (a deque's append and pop are)."""

    def __init__(self) -> None:
        self._free: deque[bytearray] = deque()

    def take(self, size: int) -> bytearray:
        while True:
            try:
                buf = self._free.pop()
            except IndexError:
                return bytearray(size)
            if len(buf) >= size:
                return buf

    def give_back(self, piece: Piece) -> None:
        if piece.buffer is not None:
            self._free.append(piece.buffer)
            piece.buffer = None


def text_position(text: bytes, line: int, column: int) -> tuple[int, int]:
    """The 0-based line and column (in characters) right after text, which
    starts at (line, column)."""
    last_nl = text.rfind(b"\n")
    if last_nl < 0:
        return line, column + len(text.decode("utf-8", "replace"))
    return line + text.count(b"\n"), len(text[last_nl + 1 :].decode("utf-8", "replace"))


INPUT_SUFFIXES = (".ndjson", ".jsonl", ".json")


def expand_inputs(paths: list[str]) -> list[str]:
    """The input files: a folder stands for its .ndjson, .jsonl and .json
    files (and their .gz forms), in name order; other paths as given."""
    out: list[str] = []
    for path in paths:
        if path == "-" or not os.path.isdir(path):
            out.append(path)
            continue
        names = sorted(
            name
            for name in os.listdir(path)
            if name.removesuffix(".gz").endswith(INPUT_SUFFIXES)
            and os.path.isfile(os.path.join(path, name))
        )
        if not names:
            raise SpookyError(
                f"{path}: a folder with no .ndjson, .jsonl or .json files (or their .gz forms)"
            )
        out += [os.path.join(path, name) for name in names]
    return out


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def input_size(path: str) -> int | None:
    if path == "-":
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size if st.st_size > 0 else None


def _open(path: str) -> tuple[BinaryIO, BinaryIO]:
    """(the stream to read, the raw file under it) for progress by raw bytes."""
    raw: BinaryIO = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type, type-var]
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered, mode="rb"), buffered  # type: ignore[return-value]
    return buffered, buffered  # type: ignore[return-value]


def read_pieces(
    path: str,
    advance: Callable[[int], None] = lambda n: None,
    chunk_bytes: int | None = None,
    *,
    buffers: Buffers | None = None,
    count_lines: bool = True,
) -> Iterator[Piece]:
    """Pieces of about chunk_bytes (default CHUNK_BYTES), each ending at a
    newline (the last may not).

    Plain (not compressed) NDJSON is read straight into buffers (taken from
    buffers, when given, and to be given back there), with no copy but the
    partial line carried from one read to the next. count_lines=False leaves
    such pieces' `line` at -1: the caller counts (the transcoder does, as
    Transcoded.lines), which saves a pass over the text."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    stream, raw = _open(path)
    try:
        if stream is raw and _plain_lines(raw):
            yield from _line_pieces(raw, advance, chunk_bytes, buffers or Buffers(), count_lines)
        else:
            yield from _pieces(path, stream, raw, advance, chunk_bytes)
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile) and exc.errno:
            raise
        raise JsonError(
            f"could not read compressed input: {exc}", source=display_name(path)
        ) from None
    finally:
        if path != "-":
            raw.close()


def _pieces(
    path: str, stream: BinaryIO, raw: BinaryIO, advance: Callable[[int], None], chunk_bytes: int
) -> Iterator[Piece]:
    # a line that spans reads is kept in parts and joined once, when it ends
    carry: list[bytes | bytearray] = []  # the transcoder's text
    carry_orig: list[bytes] = []  # the input's own bytes (JSON arrays)
    base = line = column = 0  # where the carried text starts
    array_state = None
    decided = False
    raw_pos = 0
    while True:
        block, failure = _read_block(stream, chunk_bytes)
        if failure is not None:  # a damaged or cut compressed input: say where it stopped
            text = b"".join([*(carry_orig if array_state is not None else carry), block])
            at_line, at_column = text_position(bytes(text), line, column)
            raise JsonError(
                f"compressed input is cut short or damaged ({failure}); it stops here",
                source=display_name(path),
                line=at_line + 1,
                column=at_column + 1,
                offset=base + len(text),
            )
        try:
            pos = raw.tell()
        except (OSError, ValueError):
            pos = raw_pos + len(block)
        advance(max(0, pos - raw_pos))
        raw_pos = pos
        if not decided and block:
            if block.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM: blank it, offsets stay
                block = b"   " + block[3:]
            first = block.lstrip()[:1]
            if first:
                decided = True
                if first == b"[":
                    array_state = ffi.new("spooky_array_state *")
        array_mode = array_state is not None
        data: bytes | bytearray = block
        if array_mode and block:
            data = bytearray(block)
            err = ffi.new("size_t *")
            if lib.spooky_array_to_lines(array_state, ffi.from_buffer(data), len(data), err):
                text = b"".join(carry_orig) + block
                _array_error(path, text, _text_len(carry_orig) + err[0], base, line, column)
        if not block:
            if array_mode:
                err = ffi.new("size_t *")
                if lib.spooky_array_to_lines(array_state, ffi.NULL, 0, err):
                    raise JsonError(
                        "unterminated JSON array",
                        source=display_name(path),
                        offset=base + _text_len(carry_orig),
                    )
            if carry:
                yield Piece(b"".join(carry), b"".join(carry_orig), base, array_mode, line, column)
            return
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry.append(data)
            if array_mode:
                carry_orig.append(block)
            continue
        head = memoryview(data)[:cut]
        piece = b"".join([*carry, head]) if carry else head
        orig = b"".join([*carry_orig, block[:cut]]) if array_mode else b""
        yield Piece(piece, orig, base, array_mode, line, column)
        base += len(piece)
        if array_mode:  # the original's lines: a piece may end inside one
            line, column = text_position(orig, line, column)
        else:  # the carried text holds no newline
            line, column = line + block.count(b"\n", 0, cut), 0
        carry = [data[cut:]] if cut < len(data) else []
        carry_orig = [block[cut:]] if array_mode and cut < len(block) else []


def _plain_lines(raw: BinaryIO) -> bool:
    """Whether an uncompressed input is JSON lines, not a JSON array: its
    first non-blank byte (within what peek shows) is not '['."""
    head = raw.peek(1 << 16)  # type: ignore[attr-defined]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    first = head.lstrip()[:1]
    return bool(first) and first != b"["


def _line_pieces(
    raw: BinaryIO,
    advance: Callable[[int], None],
    chunk_bytes: int,
    buffers: Buffers,
    count_lines: bool,
) -> Iterator[Piece]:
    """_pieces for plain JSON lines: reads into reused buffers. A piece is
    the carried partial line and what the reads added, up to the last
    newline; a line that fills a buffer moves to one twice as large."""
    base = line = 0
    carry = b""  # the partial line after the last piece (a copy)
    first = True
    while True:
        buf = buffers.take(max(chunk_bytes, 2 * len(carry)))
        view = memoryview(buf)
        n = len(carry)
        view[:n] = carry
        scanned = n  # buf[:scanned] holds no newline
        cut = 0
        while True:
            k = raw.readinto(view[n : n + chunk_bytes])  # type: ignore[attr-defined]
            if k:
                advance(k)
                if first and n == 0 and buf.startswith(b"\xef\xbb\xbf"):
                    buf[:3] = b"   "  # a UTF-8 BOM: blanked, offsets stay
                first = False
                n += k
                if n < chunk_bytes and n < len(buf):
                    continue  # a short read: fill the piece
            cut = buf.rfind(b"\n", scanned, n) + 1
            scanned = n
            if cut or not k:
                break
            if n < len(buf):
                continue  # no newline yet, room left
            bigger = bytearray(2 * len(buf))  # one line fills the buffer
            bigger[:n] = view[:n]
            view.release()
            buf, view = bigger, memoryview(bigger)
        if not k and cut < n:
            cut = n  # the last line has no newline
        if cut == 0:  # the input ended
            view.release()
            buffers.give_back(Piece(b"", b"", base, False, buffer=buf))
            return
        carry = bytes(view[cut:n])
        lines = -1
        if count_lines:
            lines = line
            line += buf.count(b"\n", 0, cut)
        yield Piece(view[:cut], b"", base, False, lines, 0, buf)
        base += cut
        if not k and not carry:
            return


def _read_block(stream: BinaryIO, n: int) -> tuple[bytes, Exception | None]:
    """Up to n bytes, and the error that stopped the reading early, if any
    (read in steps, so that the bytes a damaged gzip gave before it broke
    are not lost: they say where it broke)."""
    parts: list[bytes] = []
    size = 0
    read1 = getattr(stream, "read1", None)
    try:
        while size < n:
            chunk = read1(n - size) if read1 is not None else stream.read(n - size)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        return b"".join(parts), exc
    return b"".join(parts), None


def _text_len(parts: list[bytes]) -> int:
    return sum(len(p) for p in parts)


def _array_error(path: str, text: bytes, offset: int, base: int, line: int, column: int) -> None:
    line, column = text_position(text[:offset], line, column)
    raise JsonError(
        "expected a JSON array of objects or JSON lines, found more text",
        source=display_name(path),
        line=line + 1,
        column=column + 1,
        offset=base + offset,
    )
