"""The reference encoder (tests/reference_encoder.py) checked against the format
document's worked example and against cbor2 as an independent CBOR decoder."""

from __future__ import annotations

import math
import struct

import cbor2
import pytest
import reference_encoder as ref
from hypothesis import given
from hypothesis import strategies as st

I64_MIN, I64_MAX, U64_MAX = ref.I64_MIN, ref.I64_MAX, ref.U64_MAX

WORKED_EXAMPLE = bytes.fromhex(
    "01000000"
    + "00" * 16
    + "5b6e8ca9f1c44ed2"
    + "28000000"
    + "08000000"
    + "02"
    + "000000"
    + "0100000000000000"
)


def same(a, b) -> bool:
    """Equal values of equal types (1 != 1.0 != True here; -0.0 != 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(I64_MIN, U64_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=30,
)


def test_worked_example_is_48_bytes():
    assert len(WORKED_EXAMPLE) == 48
    assert ref.name_hash("a") == 0xD24EC4F1A98C6E5B
    assert ref.encode_record({"a": 1}) == WORKED_EXAMPLE
    assert ref.record_of_json('{"a":1}') == WORKED_EXAMPLE


def test_empty_record_is_bare_header():
    assert ref.encode_record({}) == b"\x00" * 20


def test_index_is_sorted_and_offsets_are_absolute():
    obj = {"name": "x", "n": None, "b": True, "f": 1.5, "u": U64_MAX, "list": [1]}
    rec = ref.encode_record(obj)
    count = struct.unpack_from("<I", rec)[0]
    assert count == len(obj)
    entries = [struct.unpack_from("<QIIB3x", rec, 20 + 20 * i) for i in range(count)]
    hashes = [e[0] for e in entries]
    assert hashes == sorted(hashes)
    expect = 20 + 20 * count
    for _, off, length, _ in entries:
        assert off == expect
        expect += length
    assert expect == len(rec)


@pytest.mark.parametrize(
    "value, cbor_hex",
    [
        (None, "f6"),
        (True, "f5"),
        (False, "f4"),
        (0, "00"),
        (23, "17"),
        (24, "1818"),
        (255, "18ff"),
        (256, "190100"),
        (65535, "19ffff"),
        (65536, "1a00010000"),
        (2**32 - 1, "1affffffff"),
        (2**32, "1b0000000100000000"),
        (U64_MAX, "1bffffffffffffffff"),
        (-1, "20"),
        (-24, "37"),
        (-25, "3818"),
        (-256, "38ff"),
        (-257, "390100"),
        (I64_MIN, "3b7fffffffffffffff"),
        (1.5, "fb3ff8000000000000"),
        (0.0, "fb0000000000000000"),
        (-0.0, "fb8000000000000000"),
        (1.0, "fb3ff0000000000000"),
        ("", "60"),
        ("a", "6161"),
        ("é", "62c3a9"),
        ([], "80"),
        ({}, "a0"),
        ([1, [2]], "82018102"),
        # keys sorted by UTF-8 bytes, not length-first: "aa" < "b"
        ({"b": 1, "aa": 2}, "a262616102616201"),
    ],
)
def test_cbor_examples(value, cbor_hex):
    assert ref.encode_cbor(value).hex() == cbor_hex


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0", 0),
        ("-0", -0.0),
        ("-0.0", -0.0),
        ("1.0", 1.0),
        ("1e3", 1000.0),
        (str(I64_MAX), I64_MAX),
        (str(I64_MIN), I64_MIN),
        (str(U64_MAX), U64_MAX),
        (str(U64_MAX + 1), float(U64_MAX + 1)),
        (str(I64_MIN - 1), float(I64_MIN - 1)),
        ('{"a":1,"a":2}', {"a": 2}),
    ],
)
def test_json_number_typing(text, expected):
    assert same(ref.json_to_python(text), expected)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_json_non_numbers_rejected(text):
    with pytest.raises(ref.ReferenceError_):
        ref.json_to_python(text)


@given(json_values)
def test_cbor_round_trips_through_cbor2(value):
    decoded = cbor2.loads(ref.encode_cbor(value))
    assert same(decoded, value)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=10))
def test_record_fields_decode(obj):
    rec = ref.encode_record(obj)
    count = struct.unpack_from("<I", rec)[0]
    assert count == len(obj)
    by_hash = {ref.name_hash(k): v for k, v in obj.items()}
    for i in range(count):
        h, off, length, tag = struct.unpack_from("<QIIB3x", rec, 20 + 20 * i)
        raw = rec[off : off + length]
        value = by_hash[h]
        if tag == ref.TAG_NESTED:
            assert same(cbor2.loads(raw), value)
        elif tag == ref.TAG_F64:
            assert same(struct.unpack("<d", raw)[0], value)
        else:
            assert (tag, raw) == ref.field_value(value)


def test_non_finite_and_out_of_range_rejected():
    for bad in (math.nan, math.inf, -math.inf, U64_MAX + 1, I64_MIN - 1):
        with pytest.raises(ref.ReferenceError_):
            ref.encode_record({"x": bad})
        with pytest.raises(ref.ReferenceError_):
            ref.encode_cbor([bad])
