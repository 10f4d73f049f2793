"""JSON and Python values into record bytes, through the C transcoder.

Python values reach the core as JSON text made by orjson, so serialize() and
record_from_json() share one encoder: same number rules, same canonical CBOR.
"""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Mapping
from typing import Any

import orjson

from spooky_cli._native import ffi, lib
from spooky_cli.errors import JsonError, TypeMismatch, error_for
from spooky_cli.types import FieldType

_I64_MIN, _I64_MAX, _U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
_ORJSON_OPTS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class _Scratch(threading.local):
    """Per-thread transcoder state and output buffer, reused across calls."""

    def __init__(self) -> None:
        enc = lib.spooky_encoder_new()
        if enc == ffi.NULL:
            raise MemoryError("could not create the spooky encoder")
        self.enc = ffi.gc(enc, lib.spooky_encoder_free)
        self.out = ffi.gc(ffi.new("spooky_buf *"), lib.spooky_buf_free)
        self.err = ffi.new("spooky_error *")
        self.tag = ffi.new("uint8_t *")
        self.slot = ffi.new("spooky_slot *")


_scratch = _Scratch()


def scratch() -> _Scratch:
    return _scratch


def out_bytes(s: _Scratch) -> bytes:
    return ffi.buffer(s.out.data, s.out.len)[:]


def position(src: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset."""
    line_start = src.rfind(b"\n", 0, offset) + 1
    line = src.count(b"\n", 0, offset) + 1
    column = len(src[line_start:offset].decode("utf-8", "replace")) + 1
    return line, column


def json_error(code: int, err: Any, src: bytes) -> Exception:
    """The exception for a failed transcode of src, positioned in it."""
    reason = ffi.string(err.message).decode()
    exc = error_for(code, reason)
    if not isinstance(exc, JsonError):  # out of memory, record too large
        return exc
    line, column = position(src, err.offset)
    return type(exc)(reason, line=line, column=column, offset=err.offset)


def _utf8(data: bytes | bytearray | memoryview | str) -> bytes | bytearray | memoryview:
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            prefix = data[: exc.start].encode("utf-8", "surrogatepass")
            line, column = position(prefix, len(prefix))
            raise JsonError(
                f"string is not valid Unicode: {exc.reason}",
                line=line,
                column=column,
                offset=len(prefix),
            ) from None
    return data


def _transcode(data: bytes | bytearray | memoryview | str) -> _Scratch:
    src = _utf8(data)
    s = _scratch
    rc = lib.spooky_encode_record(s.enc, ffi.from_buffer(src), len(src), s.out, s.err)
    if rc:
        raise json_error(rc, s.err, bytes(src))
    return s


def record_from_json(data: bytes | bytearray | memoryview | str) -> bytes:
    """One JSON object -> SpookyRecord bytes."""
    return out_bytes(_transcode(data))


def copy_into(s: _Scratch, buf: bytearray) -> int:
    """Copies the scratch output into buf, which ends up exactly that long."""
    if not isinstance(buf, bytearray):
        raise TypeError(f"buf must be a bytearray, not {type(buf).__name__}")
    n = s.out.len
    buf[:] = ffi.buffer(s.out.data, n)
    return n


def record_from_json_into(data: bytes | bytearray | memoryview | str, buf: bytearray) -> int:
    """Like record_from_json, into buf (resized to the record; its memory is reused)."""
    return copy_into(_transcode(data), buf)


def _reject(value: Any) -> Any:
    raise TypeMismatch(f"cannot store a {type(value).__name__} in a record")


def _check_finite(value: Any) -> None:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeMismatch(f"{value!r} is not a JSON number and cannot be stored")
    elif isinstance(value, dict):
        for v in value.values():
            _check_finite(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_finite(v)


def to_json(value: Any) -> bytes:
    """Python value -> JSON text for the transcoder, refusing what JSON can't hold."""
    try:
        text = orjson.dumps(value, default=_reject, option=_ORJSON_OPTS)
    except TypeMismatch:
        raise
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise TypeMismatch(f"cannot store this value in a record: {exc}") from None
    # orjson writes NaN and infinities as null. Comparing a re-parse (in C) is
    # cheaper than walking the value in Python; only a mismatch (a NaN, or a
    # tuple that came back a list) needs the walk.
    if b"null" in text and orjson.loads(text) != value:
        _check_finite(value)
    return text


def _as_dict(obj: Mapping[str, Any]) -> dict:
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeMismatch(f"a record is made from a mapping, not a {type(obj).__name__}")


def serialize(obj: Mapping[str, Any]) -> bytes:
    """A mapping of field names to Python values -> SpookyRecord bytes."""
    return out_bytes(_transcode(to_json(_as_dict(obj))))


def serialize_into(obj: Mapping[str, Any], buf: bytearray) -> int:
    """Like serialize, into buf (resized to the record; its memory is reused).

    Returns the record length."""
    return copy_into(_transcode(to_json(_as_dict(obj))), buf)


_PACK_I64 = struct.Struct("<q").pack
_PACK_U64 = struct.Struct("<Q").pack
_PACK_F64 = struct.Struct("<d").pack


def encode_value(data: bytes | bytearray | memoryview | str) -> tuple[FieldType, bytes]:
    """One JSON value -> (type, value bytes) as a record field stores it."""
    src = _utf8(data)
    s = _scratch
    rc = lib.spooky_encode_value(s.enc, ffi.from_buffer(src), len(src), s.out, s.tag, s.err)
    if rc:
        raise json_error(rc, s.err, bytes(src))
    return FieldType(s.tag[0]), out_bytes(s)


def python_value(value: Any) -> tuple[int, bytes]:
    """Python value -> (type tag, value bytes), scalars without the transcoder."""
    if value is None:
        return FieldType.NULL, b""
    if value is True or value is False:
        return FieldType.BOOL, b"\x01" if value else b"\x00"
    if isinstance(value, int):
        if _I64_MIN <= value <= _I64_MAX:
            return FieldType.I64, _PACK_I64(value)
        if _I64_MAX < value <= _U64_MAX:
            return FieldType.U64, _PACK_U64(value)
        raise TypeMismatch(f"integer {value} is outside the i64 and u64 ranges")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeMismatch(f"{value!r} is not a JSON number and cannot be stored")
        return FieldType.F64, _PACK_F64(value)
    if isinstance(value, str):
        try:
            return FieldType.STR, value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise TypeMismatch(f"string is not valid Unicode: {exc.reason}") from None
    tag, raw = encode_value(to_json(value))
    return tag, raw
