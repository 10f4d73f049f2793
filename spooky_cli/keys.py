"""Record keys: what keys a file's records (KeySpec: 1..N parts, each a path
to a field or into a nested value) and their sort form (docs/FORMAT.md),
whose byte order is key order.

The byte layouts are the C core's (native/keys.c); here Python values become
the typed values it takes (a key is a str or an int in i64 or u64, or a
tuple of them for a key of several parts), and back.
"""

from __future__ import annotations

import itertools
import re
import struct
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from spooky_cli._native import ffi, lib
from spooky_cli.errors import SpookyError, error_for
from spooky_cli.paths import parse_paths, path_text

_I64_MIN, _I64_MAX, _U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
_PACK_I64 = struct.Struct("<q").pack
_PACK_U64 = struct.Struct("<Q").pack
_U32 = struct.Struct("<I")


class KeySpec:
    """What keys records: 1..N parts, each a path, a top-level field and the
    steps into its nested value (object keys; decimal digits also index
    arrays), made once into the C core's key (handle). Two or more parts
    make a composite key, a tuple of the parts' values.

        KeySpec.parse("tenant,user.id").paths == (("tenant",), ("user", "id"))
    """

    def __init__(self, paths: Iterable[Sequence[str]]):
        self.paths: tuple[tuple[str, ...], ...] = tuple(tuple(p) for p in paths)
        if not self.paths or not all(self.paths):
            raise SpookyError("a key names at least one field")
        try:
            encoded = [[step.encode("utf-8") for step in p] for p in self.paths]
        except UnicodeEncodeError:
            raise SpookyError(f"key {self.text!r} is not UTF-8") from None
        self.section = b"".join(
            _U32.pack(len(p)) + b"".join(_U32.pack(len(step)) + step for step in p) for p in encoded
        )
        out = ffi.new("spooky_key **")
        rc = lib.spooky_key_new(self.section, len(self.section), len(self.paths), out)
        if rc:
            raise error_for(rc, f"could not make the key {self.text!r}")
        self.handle: Any = ffi.gc(out[0], lib.spooky_key_free)

    @classmethod
    def parse(cls, key: str | Iterable[str]) -> KeySpec:
        """A key from text: paths separated by commas ("tenant,user.id"; a
        step with a dot or comma as a JSON string: '"a.b"'), or several such
        texts (a repeated --key), their parts in order."""
        texts = [key] if isinstance(key, str) else list(key)
        spec = cls(path for text in texts for path in parse_paths(text, "key"))
        if len(set(spec.paths)) != spec.parts:
            raise SpookyError(f"key {spec.text!r} names a field twice")
        return spec

    @classmethod
    def from_section(cls, section: bytes, parts: int) -> KeySpec:
        """The key of a key section as FORMAT.md lays it out (well formed: a
        file's, which open checked)."""
        paths, at = [], 0
        for _ in range(parts):
            (steps,) = _U32.unpack_from(section, at)
            at += 4
            path = []
            for _ in range(steps):
                (n,) = _U32.unpack_from(section, at)
                path.append(section[at + 4 : at + 4 + n].decode("utf-8"))
                at += 4 + n
            paths.append(path)
        return cls(paths)

    @property
    def parts(self) -> int:
        return len(self.paths)

    @property
    def fields(self) -> list[str]:
        """Each part's path as text (filter's path syntax)."""
        return [path_text(p, listed=True) for p in self.paths]

    @property
    def text(self) -> str:
        """The parts' paths joined by commas: what KeySpec.parse reads back."""
        return ",".join(self.fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeySpec) and other.paths == self.paths

    def __hash__(self) -> int:
        return hash(self.paths)

    def __repr__(self) -> str:
        return f"KeySpec({self.text!r})"


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


_INTEGER = re.compile(r"-?[0-9]+")


def key_argument_values(text: str) -> list[int | str]:
    """The values a key part given on the command line may mean, in the
    order to try them: text in JSON string quotes ('"12"') only that string;
    text that reads as an integer (decimal digits, maybe a '-') in the i64 or
    u64 range that integer first, then the string; else the string."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, str):
            return [value]
    values: list[int | str] = []
    if _INTEGER.fullmatch(text) and _I64_MIN <= int(text) <= _U64_MAX:
        values.append(int(text))
    values.append(text)
    return values


def key_arguments(args: Sequence[str]) -> Iterator[Key]:
    """The keys command-line arguments (one per part of the key) may mean, in
    the order to try them: each part's integer before its string, the last
    part's choice changing fastest ('acme 42': ("acme", 42), ("acme", "42"))."""
    for values in itertools.product(*(key_argument_values(a) for a in args)):
        yield values[0] if len(values) == 1 else values
