"""Record keys in their sort form (docs/FORMAT.md): byte order is key order."""

from __future__ import annotations

_FLIP = 1 << 63
_I64_MIN, _I64_MAX, _U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def key_to_sort_form(value: int | str) -> bytes:
    """The key bytes a record file stores for a key value."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"a key is a str or an int, not {type(value).__name__}")
    if isinstance(value, str):
        return b"\x03" + value.encode("utf-8")
    if _I64_MIN <= value <= _I64_MAX:
        return b"\x01" + ((value & 0xFFFFFFFFFFFFFFFF) ^ _FLIP).to_bytes(8, "big")
    if value <= _U64_MAX:
        return b"\x02" + value.to_bytes(8, "big")
    raise ValueError(f"integer key {value} is outside the i64 and u64 ranges")


def key_from_sort_form(raw: bytes | memoryview) -> int | str:
    """The key value of stored key bytes."""
    raw = bytes(raw)
    kind = raw[:1]
    if kind == b"\x03":
        return raw[1:].decode("utf-8")
    if kind == b"\x01" and len(raw) == 9:
        u = int.from_bytes(raw[1:], "big") ^ _FLIP
        return u - (1 << 64) if u >= _FLIP else u
    if kind == b"\x02" and len(raw) == 9:
        return int.from_bytes(raw[1:], "big")
    raise ValueError(f"not a stored key: {raw[:16].hex()}")


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
