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
