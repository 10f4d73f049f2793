"""A small, readable, pure-Python SpookyRecord encoder written from
/work/shared/SPOOKY_FORMAT.md. It is the tests' independent oracle for the C
transcoder: slow and simple on purpose, sharing no code with spooky_cli.

    encode_record(dict) -> bytes     one record (header, sorted index, data)
    encode_cbor(value)  -> bytes     the canonical CBOR of a nested value
    json_to_python(text)             JSON text -> Python values, typed as the
                                     format types JSON numbers

Python value -> field type: None null, bool bool, int i64 (u64 above i64 max),
float f64, str str, list/tuple/dict nested (CBOR).
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import xxhash

I64_MIN, I64_MAX, U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

HEADER_SIZE = 20
INDEX_ENTRY_SIZE = 20

TAG_NULL, TAG_BOOL, TAG_I64, TAG_F64, TAG_STR, TAG_NESTED, TAG_U64 = range(7)


class ReferenceError_(ValueError):
    """A value the format cannot hold (NaN, an integer out of range, ...)."""


class Collision(ReferenceError_):
    """Two field names with one xxh64."""


def name_hash(name: str) -> int:
    """xxHash64, seed 0, of the name's UTF-8 bytes."""
    return xxhash.xxh64_intdigest(name.encode("utf-8"), seed=0)


# -- field values ----------------------------------------------------------------


def field_value(value: Any) -> tuple[int, bytes]:
    """(type tag, value bytes) of one top-level field."""
    if value is None:
        return TAG_NULL, b""
    if value is True or value is False:
        return TAG_BOOL, b"\x01" if value else b"\x00"
    if isinstance(value, int):
        if I64_MIN <= value <= I64_MAX:
            return TAG_I64, struct.pack("<q", value)
        if I64_MAX < value <= U64_MAX:
            return TAG_U64, struct.pack("<Q", value)
        raise ReferenceError_(f"integer {value} is outside i64 and u64")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ReferenceError_(f"{value!r} is not a JSON number")
        return TAG_F64, struct.pack("<d", value)
    if isinstance(value, str):
        return TAG_STR, value.encode("utf-8")
    if isinstance(value, (list, tuple, dict)):
        return TAG_NESTED, encode_cbor(value)
    raise ReferenceError_(f"cannot store a {type(value).__name__}")


def encode_record(obj: dict[str, Any]) -> bytes:
    """The record of a dict of field names to Python values."""
    fields = []  # (hash, tag, value bytes)
    seen: dict[int, str] = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise ReferenceError_("field names are strings")
        h = name_hash(name)
        if h in seen and seen[h] != name:
            raise Collision(f"{seen[h]!r} and {name!r} share hash {h:#x}")
        seen[h] = name
        tag, raw = field_value(value)
        fields.append((h, tag, raw))
    fields.sort(key=lambda f: f[0])

    header = struct.pack("<I", len(fields)) + bytes(16)
    index = b""
    data = b""
    offset = HEADER_SIZE + INDEX_ENTRY_SIZE * len(fields)
    for h, tag, raw in fields:
        index += struct.pack("<QIIB3x", h, offset, len(raw), tag)
        data += raw
        offset += len(raw)
    return header + index + data


# -- CBOR (RFC 8949), the canonical subset the format uses -----------------------------


def _head(major: int, n: int) -> bytes:
    """A CBOR initial byte plus the shortest argument for n."""
    if n < 24:
        return bytes([major << 5 | n])
    if n <= 0xFF:
        return bytes([major << 5 | 24, n])
    if n <= 0xFFFF:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    if n <= 0xFFFFFFFF:
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    return bytes([major << 5 | 27]) + struct.pack(">Q", n)


def encode_cbor(value: Any) -> bytes:
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        if 0 <= value <= U64_MAX:
            return _head(0, value)
        if I64_MIN <= value < 0:
            return _head(1, -1 - value)
        raise ReferenceError_(f"integer {value} is outside i64 and u64")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ReferenceError_(f"{value!r} is not a JSON number")
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(encode_cbor(v) for v in value)
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, str):
                raise ReferenceError_("object keys are strings")
            items.append((k.encode("utf-8"), v))
        items.sort(key=lambda kv: kv[0])
        out = _head(5, len(items))
        for k, v in items:
            out += _head(3, len(k)) + k + encode_cbor(v)
        return out
    raise ReferenceError_(f"cannot store a {type(value).__name__}")


# -- JSON text with the format's number typing -----------------------------------------


def _parse_int(text: str) -> int | float:
    value = int(text)
    if value == 0 and text.startswith("-"):
        return -0.0  # -0 is f64 negative zero
    if I64_MIN <= value <= U64_MAX:
        return value
    return float(text)  # nearest double


def _parse_float(text: str) -> float:
    value = float(text)  # correctly rounded
    if not math.isfinite(value):
        raise ReferenceError_(f"{text} overflows a double")
    return value


def _parse_constant(text: str) -> Any:
    raise ReferenceError_(f"{text} is not JSON")


def json_to_python(text: str | bytes) -> Any:
    """JSON text -> Python values; a repeated key keeps its last value."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    return json.loads(
        text,
        parse_int=_parse_int,
        parse_float=_parse_float,
        parse_constant=_parse_constant,
        object_pairs_hook=dict,
    )


def record_of_json(text: str | bytes) -> bytes:
    """The reference record of one JSON object's text."""
    obj = json_to_python(text)
    if not isinstance(obj, dict):
        raise ReferenceError_("a record is made from a JSON object")
    return encode_record(obj)


def value_of_json(text: str | bytes) -> tuple[int, bytes]:
    """(tag, bytes) the reference gives one JSON value, as encode_value does."""
    return field_value(json_to_python(text))
