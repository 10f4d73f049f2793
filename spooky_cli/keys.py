"""Record keys in their sort form (docs/FORMAT.md): byte order is key order.

The byte layout is the C core's (native/keys.c); here Python values become
the typed values it takes (a key is a str or an int in i64 or u64), and back.
"""

from __future__ import annotations

import struct
import threading

import orjson

from spooky_cli._native import ffi, lib
from spooky_cli.errors import error_for

_I64_MIN, _I64_MAX, _U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
_PACK_I64 = struct.Struct("<q").pack
_PACK_U64 = struct.Struct("<Q").pack


class _Buffer(threading.local):
    """A per-thread output buffer for the C calls, reused."""

    def __init__(self) -> None:
        self.buf = ffi.gc(ffi.new("spooky_buf *"), lib.spooky_buf_free)


_out = _Buffer()


def _typed(value: int | str) -> tuple[int, bytes]:
    """A key value as a record stores it: (type tag, value bytes)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"a key is a str or an int, not {type(value).__name__}")
    if isinstance(value, str):
        return lib.SPOOKY_STR, value.encode("utf-8")
    if _I64_MIN <= value <= _I64_MAX:
        return lib.SPOOKY_I64, _PACK_I64(value)
    if _I64_MAX < value <= _U64_MAX:
        return lib.SPOOKY_U64, _PACK_U64(value)
    raise ValueError(f"integer key {value} is outside the i64 and u64 ranges")


Key = int | str | tuple[int | str, ...]
"""A record key: a str or an int, or for a key of two or more parts (a
composite key) a tuple of them."""


def key_to_sort_form(value: Key) -> bytes:
    """The key bytes a record file stores for a key value: a str or an int,
    or a tuple of them for a composite key (a 1-tuple is its one value)."""
    parts = value if isinstance(value, tuple) else (value,)
    if not parts:
        raise ValueError("a key has at least one part")
    composite = 1 if len(parts) > 1 else 0
    typed = [_typed(part) for part in parts]
    buf = _out.buf
    buf.len = 0
    for tag, raw in typed:
        rc = lib.spooky_key_sort_form(tag, raw, len(raw), composite, buf)
        if rc:
            raise error_for(rc, "could not make the sort form of a key")
    return ffi.buffer(buf.data, buf.len)[:]


def key_from_sort_form(raw: bytes | memoryview, parts: int = 1) -> Key:
    """The key value of stored key bytes of a key of `parts` parts: a str or
    an int, a tuple of them when parts > 1."""
    raw = bytes(raw)
    buf = _out.buf
    buf.len = 0
    rc = lib.spooky_key_to_json(raw, len(raw), parts, buf)
    if rc == lib.SPOOKY_E_ARG:
        raise ValueError(
            f"not a stored key of {parts} part{'s' if parts != 1 else ''}: {raw[:16].hex()}"
        )
    if rc:
        raise error_for(rc, "could not read a stored key")
    value = orjson.loads(ffi.buffer(buf.data, buf.len)[:])
    return tuple(value) if parts > 1 else value  # type: ignore[no-any-return]


def parse_key_argument(text: str) -> list[bytes]:
    """Sort forms a command-line key may mean: an integer (if it reads as one)
    and the string, integer first."""
    forms = []
    try:
        forms.append(key_to_sort_form(int(text)))
    except ValueError:
        pass
    forms.append(key_to_sort_form(text))
    return forms
