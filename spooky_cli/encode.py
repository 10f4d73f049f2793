"""JSON and Python values into record bytes, through the C transcoder.

Python values reach the core as JSON text made by orjson, so serialize() and
record_from_json() share one encoder: same number rules, same canonical CBOR.

An integer beyond both i64 and u64 (123456789012345678901234567890) is an
error by default (BigIntError, or TypeMismatch for a Python int): storing it
would lose digits. big_int="float" stores the nearest float instead, as the
reference implementation does.
"""

from __future__ import annotations

import math
import re
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

BIG_INT_MODES = {"error": lib.SPOOKY_BIG_INT_ERROR, "float": lib.SPOOKY_BIG_INT_FLOAT}
BIG_INT_HINT = "big_int='float' stores it as the nearest float"
_INTEGER = re.compile(rb"-?[0-9]+")


def big_int_mode(big_int: str) -> int:
    """The core's spooky_big_int for "error" or "float"."""
    try:
        return BIG_INT_MODES[big_int]
    except (KeyError, TypeError):
        raise ValueError(f"big_int must be 'error' or 'float', not {big_int!r}") from None


def big_int_reason(src: bytes | bytearray | memoryview, offset: int, hint: str) -> str:
    """Why the integer literal at offset cannot be stored, and what would store it."""
    m = _INTEGER.match(src, offset)
    return big_int_text(m.group().decode() if m else "", hint)


def big_int_text(digits: str, hint: str) -> str:
    return f"integer {_shorten(digits)} does not fit i64 or u64 ({hint})"


def _shorten(digits: str) -> str:
    """An integer's text, cut when long."""
    if len(digits) <= 40:
        return digits
    return f"{digits[:24]}... ({len(digits.lstrip('-'))} digits)"


def _int_text(value: int) -> str:
    try:
        return _shorten(str(value))
    except ValueError:  # past sys.get_int_max_str_digits()
        return f"of {value.bit_length()} bits"


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
        self.big_int = lib.SPOOKY_BIG_INT_ERROR  # the encoder's mode

    def set_big_int(self, big_int: str) -> None:
        mode = big_int_mode(big_int)
        if mode != self.big_int:  # most calls keep the mode: no call into C
            lib.spooky_encoder_set_big_int(self.enc, mode)
            self.big_int = mode


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
    if code == lib.SPOOKY_E_JSON_BIG_INT:
        reason = big_int_reason(src, err.offset, BIG_INT_HINT)
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


def _transcode(data: bytes | bytearray | memoryview | str, big_int: str) -> _Scratch:
    s = _scratch
    s.set_big_int(big_int)
    src = _utf8(data)
    rc = lib.spooky_encode_record(s.enc, ffi.from_buffer(src), len(src), s.out, s.err)
    if rc:
        raise json_error(rc, s.err, bytes(src))
    return s


def record_from_json(
    data: bytes | bytearray | memoryview | str, *, big_int: str = "error"
) -> bytes:
    """One JSON object -> SpookyRecord bytes.

    An integer beyond i64 and u64 raises BigIntError; with big_int="float" it
    is stored as the nearest float (f64), as the reference does."""
    return out_bytes(_transcode(data, big_int))


def copy_into(s: _Scratch, buf: bytearray) -> int:
    """Copies the scratch output into buf, which ends up exactly that long."""
    if not isinstance(buf, bytearray):
        raise TypeError(f"buf must be a bytearray, not {type(buf).__name__}")
    n = s.out.len
    buf[:] = ffi.buffer(s.out.data, n)
    return n


def record_from_json_into(
    data: bytes | bytearray | memoryview | str, buf: bytearray, *, big_int: str = "error"
) -> int:
    """Like record_from_json, into buf (resized to the record; its memory is reused)."""
    return copy_into(_transcode(data, big_int), buf)


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


def _first_big_int(value: Any) -> int | None:
    """An int beyond i64 and u64 inside value, if any."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if not _I64_MIN <= value <= _U64_MAX else None
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return None
    for v in value:
        big = _first_big_int(v)
        if big is not None:
            return big
    return None


def _big_ints_as_literals(value: Any) -> Any:
    """value with every int beyond i64 and u64 as its JSON text (orjson writes
    no such int), for the transcoder to store as it stores such text."""
    if isinstance(value, int) and not isinstance(value, bool):
        if _I64_MIN <= value <= _U64_MAX:
            return value
        try:
            float(value)
        except OverflowError:
            raise TypeMismatch(f"integer {_int_text(value)} is beyond a float too") from None
        return orjson.Fragment(str(value))
    if isinstance(value, dict):
        return {k: _big_ints_as_literals(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_big_ints_as_literals(v) for v in value]
    return value


def to_json(value: Any, big_int: str = "error") -> bytes:
    """Python value -> JSON text for the transcoder, refusing what JSON can't
    hold. Ints beyond i64 and u64 are refused, or with big_int="float" written
    as they are (the transcoder then stores the nearest float)."""
    try:
        text = orjson.dumps(value, default=_reject, option=_ORJSON_OPTS)
    except TypeMismatch:
        raise
    except (orjson.JSONEncodeError, TypeError) as exc:
        big = _first_big_int(value)
        if big is None:
            raise TypeMismatch(f"cannot store this value in a record: {exc}") from None
        if big_int_mode(big_int) != lib.SPOOKY_BIG_INT_FLOAT:
            raise TypeMismatch(
                f"integer {_int_text(big)} does not fit i64 or u64 ({BIG_INT_HINT})"
            ) from None
        return to_json(_big_ints_as_literals(value))
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


def serialize(obj: Mapping[str, Any], *, big_int: str = "error") -> bytes:
    """A mapping of field names to Python values -> SpookyRecord bytes.

    An int beyond i64 and u64 raises TypeMismatch; with big_int="float" it is
    stored as the nearest float (f64)."""
    return out_bytes(_transcode(to_json(_as_dict(obj), big_int), big_int))


def serialize_into(obj: Mapping[str, Any], buf: bytearray, *, big_int: str = "error") -> int:
    """Like serialize, into buf (resized to the record; its memory is reused).

    Returns the record length."""
    return copy_into(_transcode(to_json(_as_dict(obj), big_int), big_int), buf)


_PACK_I64 = struct.Struct("<q").pack
_PACK_U64 = struct.Struct("<Q").pack
_PACK_F64 = struct.Struct("<d").pack


def encode_value(
    data: bytes | bytearray | memoryview | str, *, big_int: str = "error"
) -> tuple[FieldType, bytes]:
    """One JSON value -> (type, value bytes) as a record field stores it
    (an integer beyond i64 and u64: BigIntError, or with big_int="float" f64)."""
    s = _scratch
    s.set_big_int(big_int)
    src = _utf8(data)
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
