"""Floats come back out as the shortest text that reads back to the same double
(Python's repr form), marked as floats, for export and nested values."""

from __future__ import annotations

import math
import random
import struct

import orjson
from hypothesis import given
from hypothesis import strategies as st

import spooky_cli
from spooky_cli._native import ffi, lib


def f64_text(d: float) -> str:
    buf = ffi.new("spooky_buf *")
    try:
        raw = struct.pack("<d", d)
        assert lib.spooky_value_to_json(3, raw, 8, buf) == 0
        return ffi.buffer(buf.data, buf.len)[:].decode()
    finally:
        lib.spooky_buf_free(buf)


def test_random_bit_patterns_print_as_repr() -> None:
    rnd = random.Random(5)
    seen = 0
    while seen < 20000:
        d = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(d):
            assert f64_text(d) == repr(d)
            seen += 1


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_float_round_trips_through_export_text(d: float) -> None:
    text = f64_text(d)
    assert text == repr(d)
    assert float(text) == d and math.copysign(1, float(text)) == math.copysign(1, d)
    assert "." in text or "e" in text  # stays a float when read again


def test_edges() -> None:
    for d in [
        0.0,
        -0.0,
        5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        1e16,
        1e15,
        0.1,
        0.30000000000000004,
        1e-05,
        123.45,
        9007199254740993.0,
    ]:
        assert f64_text(d) == repr(d)


def test_non_finite_has_no_json_form() -> None:
    buf = ffi.new("spooky_buf *")
    for d in [math.inf, -math.inf, math.nan]:
        assert lib.spooky_value_to_json(3, struct.pack("<d", d), 8, buf) == lib.SPOOKY_E_NOT_JSON
    lib.spooky_buf_free(buf)


def test_nested_floats_decode_exactly() -> None:
    values = [0.48785665652414756, -0.0, 1e300, 5e-324, 1.0]
    rec = spooky_cli.SpookyRecord(spooky_cli.serialize({"v": values}))
    got = rec.get("v")
    assert [struct.pack("<d", x) for x in got] == [struct.pack("<d", x) for x in values]
    assert orjson.dumps(got) == orjson.dumps(values)


def test_short_decimals_print_as_repr() -> None:
    # the fast path for decimals of up to 9 places, and its edges: the
    # largest products it takes, values near powers of ten and of two
    rnd = random.Random(11)
    values = []
    for _ in range(30000):
        k = rnd.randint(1, 12)
        m = rnd.randint(1, 10 ** rnd.randint(1, 17))
        values.append(m / 10**k)
    for e in range(-16, 17):
        for d in (10.0**e, 2.0**e * 3):
            values += [d, math.nextafter(d, 0), math.nextafter(d, math.inf)]
    for m in (2**50 - 1, 2**50, 2**50 + 1, 2**52 - 1, 2**53 - 1):
        for k in range(1, 10):
            values += [m / 10**k, math.nextafter(m / 10**k, 0)]
    values += [0.1 + 0.2, 1 / 3, 2 / 3, 0.000123, 6.0498, 11.03, 1094.3, 88.25, 1e-5]
    for d in values:
        assert f64_text(d) == repr(d), d
        assert f64_text(-d) == repr(-d), d


@given(
    st.integers(1, 10**15),
    st.integers(1, 12),
    st.sampled_from([0, 1, -1]),
)
def test_short_decimals_and_their_neighbours_print_as_repr(m: int, k: int, step: int) -> None:
    # the short-decimal path (at most 9 places, one division) against repr,
    # and the doubles next to a short decimal, which must not take its text
    d = m / 10**k
    if step:
        d = math.nextafter(d, math.inf if step > 0 else 0.0)
    assert f64_text(d) == repr(d)
    assert f64_text(-d) == repr(-d)


def test_short_decimals_around_the_one_test_limit_print_as_repr() -> None:
    # a * 1e9 < 2^50 takes one test at 9 places; above it, place by place
    limit = 2**50 / 1e9
    for base in (limit, 1125899.906842624, 1125899.9, 1125900.0000001):
        d = base
        for _ in range(200):
            for x in (d, round(d, 1), round(d, 3), round(d, 7)):
                assert f64_text(x) == repr(x)
            d = math.nextafter(d, math.inf)
