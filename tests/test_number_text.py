"""JSON numbers into fields: the inline paths of the number parser (short
integers, decimals without an exponent whose digits fit 2^53) give exactly
what the general path and Python's float()/int() give."""

from __future__ import annotations

import math
import random

import pytest

import spooky_cli as sp


def field(text: str) -> object:
    rec = sp.SpookyRecord(
        sp.record_from_json(b'{"x": ' + text.encode() + b', "n": [' + text.encode() + b"]}")
    )
    value = rec.get("x")
    assert rec.get("n") == [value]  # nested (CBOR) the same
    return value


def expected(text: str) -> object:
    if any(c in text for c in ".eE") or text in ("-0",):
        return float(text)
    return int(text)


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


CASES = [
    "0",
    "-0",
    "7",
    "-7",
    "0.5",
    "-0.5",
    "-0.0",
    "0.0",
    "0.000123",
    "1.5e3",
    "12.25",
    "999999999999999999",
    "-999999999999999999",
    "1000000000000000000",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "9007199254740993.5",
    "9007199254740992.0",
    "900719925474099.25",
    "1234567890123456789.5",
    "0.1234567890123456789",
    "6.0498",
    "1094.3",
    "0.00000000000000000000001",
    "123456789012345678.9",
]


@pytest.mark.parametrize("text", CASES)
def test_numbers_read_as_python_reads_them(text: str) -> None:
    assert same(field(text), expected(text)), text


def test_random_decimals() -> None:
    rnd = random.Random(7)
    for _ in range(5000):
        ip = str(rnd.randint(0, 10 ** rnd.randint(0, 19)))
        fp = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 21)))
        text = ("-" if rnd.random() < 0.3 else "") + ip + "." + fp
        assert same(field(text), float(text)), text


@pytest.mark.parametrize("text", ["01", "-01", "1.", "-", ".5", "1.e5", "0x1", "1e", "-.5"])
def test_bad_numbers_are_errors(text: str) -> None:
    with pytest.raises(sp.JsonError):
        field(text)


def int_text(v: int) -> bytes:
    """An i64 (or u64 above it) field's JSON text, from the core."""
    from spooky_cli._native import ffi, lib

    tag, raw = (
        (2, v.to_bytes(8, "little", signed=True)) if v < 2**63 else (6, v.to_bytes(8, "little"))
    )
    buf = ffi.new("spooky_buf *")
    try:
        assert lib.spooky_value_to_json(tag, raw, 8, buf) == 0
        return ffi.buffer(buf.data, buf.len)[:]
    finally:
        lib.spooky_buf_free(buf)


def test_integers_print_back_as_python_prints_them() -> None:
    rnd = random.Random(3)
    values = [0, 1, 9, 10, 99, 100, 10**8 - 1, 10**8, 10**8 + 1, 10**16, 2**63 - 1, 2**64 - 1]
    values += [-v for v in values if 0 < v <= 2**63] + [-(2**63)]
    values += [rnd.randint(0, 10 ** rnd.randint(1, 19)) for _ in range(3000)]
    for v in values:
        assert int_text(v) == str(v).encode(), v
        rec = sp.SpookyRecord(sp.record_from_json(b'{"n": [' + str(v).encode() + b"]}"))
        assert rec.get("n") == [v]  # nested: CBOR back to JSON text, read by orjson
