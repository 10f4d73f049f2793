"""Reading inputs in large pieces that end on line boundaries: NDJSON/JSONL or
a JSON array of objects, plain or gzip, files or stdin (`-`)."""

from __future__ import annotations

import gzip
import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from spooky_cli._native import ffi, lib
from spooky_cli.encode import position
from spooky_cli.errors import JsonError

CHUNK_BYTES = 4 << 20


@dataclass
class Piece:
    """Whole lines of one input. `data` goes to the transcoder; `original` is
    the input's own bytes at the same offsets (they differ for JSON arrays)."""

    data: bytes | bytearray | memoryview
    original: bytes
    base_offset: int
    array_mode: bool


def text_position(text: bytes, line: int, column: int) -> tuple[int, int]:
    """The 0-based line and column (in characters) right after text, which
    starts at (line, column)."""
    last_nl = text.rfind(b"\n")
    if last_nl < 0:
        return line, column + len(text.decode("utf-8", "replace"))
    return line + text.count(b"\n"), len(text[last_nl + 1 :].decode("utf-8", "replace"))


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
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered, mode="rb"), buffered  # type: ignore[return-value]
    return buffered, buffered  # type: ignore[return-value]


def read_pieces(
    path: str, advance: Callable[[int], None] = lambda n: None, chunk_bytes: int | None = None
) -> Iterator[Piece]:
    """Pieces of about chunk_bytes (default CHUNK_BYTES), each ending at a
    newline (the last may not)."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    stream, raw = _open(path)
    try:
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
    carry_data: bytes | bytearray = b""
    carry_orig = b""
    base = 0
    array_state = None
    decided = False
    raw_pos = 0
    while True:
        block = stream.read(chunk_bytes)
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
        data: bytes | bytearray = block
        if array_state is not None and block:
            data = bytearray(block)
            err = ffi.new("size_t *")
            if lib.spooky_array_to_lines(array_state, ffi.from_buffer(data), len(data), err):
                _array_error(path, carry_orig + block, len(carry_orig) + err[0], base)
        if not block:
            if array_state is not None:
                err = ffi.new("size_t *")
                if lib.spooky_array_to_lines(array_state, ffi.NULL, 0, err):
                    raise JsonError(
                        "unterminated JSON array",
                        source=display_name(path),
                        offset=base + len(carry_orig),
                    )
            if carry_data:
                yield Piece(carry_data, carry_orig, base, array_state is not None)
            return
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry_data = carry_data + data
            carry_orig = carry_orig + block if array_state is not None else b""
            continue
        # one copy at most: the carried partial line joins the new whole lines
        head = memoryview(data)[:cut]
        piece = carry_data + head if carry_data else head
        orig = (carry_orig + block[:cut]) if array_state is not None else b""
        yield Piece(piece, orig if array_state is not None else b"", base, array_state is not None)
        base += len(piece)
        carry_data = data[cut:]
        carry_orig = block[cut:] if array_state is not None else b""


def _array_error(path: str, data: bytes, offset: int, base: int) -> None:
    line, column = position(data, offset)
    raise JsonError(
        "expected a JSON array of objects or JSON lines, found more text",
        source=display_name(path),
        line=line,
        column=column,
        offset=base + offset,
    )
