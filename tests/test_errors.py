"""Bad input never crashes: damaged records give InvalidRecord (or a clean read),
bad JSON gives JsonError with the right line, column and offset, corrupted
nested CBOR gives InvalidRecord or NotJsonValue, deep nesting stops at 1024."""

from __future__ import annotations

import json
import struct

import pytest
import reference_encoder as ref
from hypothesis import given
from hypothesis import strategies as st

from spooky_cli import (
    FieldType,
    HashCollision,
    InvalidRecord,
    JsonError,
    NotJsonValue,
    SpookyError,
    SpookyRecord,
    SpookyRecordMut,
    TypeMismatch,
    encode_value,
    record_from_json,
    serialize,
)

H = ref.name_hash

SAMPLES = [
    {"a": 1},
    {
        "id": 7,
        "name": "Ada",
        "ok": True,
        "none": None,
        "f": -0.5,
        "u": 2**64 - 1,
        "tags": ["x", 1, 2.5, None],
        "meta": {"k": {"deep": [True, False]}, "é": "日本"},
    },
    {f"f{i}": (i if i % 2 else "v" * i) for i in range(25)},
]
RECORDS = [serialize(o) for o in SAMPLES]


def build(entries, count=None, header_extra=b"\x00" * 16) -> bytes:
    """A record from (hash, tag, value bytes) in the order given: no sorting, no
    checks, so tests can make records the format forbids."""
    count = len(entries) if count is None else count
    index, data = b"", b""
    offset = 20 + 20 * len(entries)
    for h, tag, raw in entries:
        index += struct.pack("<QIIB3x", h, offset, len(raw), tag)
        data += raw
        offset += len(raw)
    return struct.pack("<I", count) + header_extra + index + data


def read_everything(rec: SpookyRecord) -> None:
    """Every read a caller could make; only InvalidRecord/NotJsonValue may escape."""
    try:
        for _, _, _ in rec.iter_fields():
            pass
    except (InvalidRecord, NotJsonValue):
        pass
    for name in ("a", "id", "name", "ok", "none", "f", "u", "tags", "meta", "f3", "f4"):
        for getter in (
            "get",
            "get_i64",
            "get_u64",
            "get_f64",
            "get_bool",
            "get_str",
            "get_cbor",
            "field_type",
            "has_field",
        ):
            try:
                getattr(rec, getter)(name)
            except (InvalidRecord, NotJsonValue):
                pass


# -- damaged records ----------


def test_sane_builder():
    entries = sorted([(H("a"), 2, struct.pack("<q", 1)), (H("b"), 4, b"xy")])
    assert build(entries) == serialize({"a": 1, "b": "xy"})


@pytest.mark.parametrize("data", RECORDS, ids=["one", "mixed", "many"])
def test_every_prefix_is_invalid(data):
    SpookyRecord(data)
    for n in range(len(data)):
        with pytest.raises(InvalidRecord):
            SpookyRecord(data[:n])
        with pytest.raises(InvalidRecord):
            SpookyRecordMut(data[:n])


@given(
    st.sampled_from(RECORDS),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=4),
)
def test_byte_flips_are_valid_or_invalid_record(data, flips):
    damaged = bytearray(data)
    for pos, mask in flips:
        damaged[pos % len(damaged)] ^= mask
    try:
        rec = SpookyRecord(bytes(damaged))
    except InvalidRecord:
        return
    read_everything(rec)


@given(st.binary(max_size=200))
def test_random_bytes(data):
    try:
        rec = SpookyRecord(data)
    except InvalidRecord:
        return
    read_everything(rec)


I64_A = (H("a"), 2, struct.pack("<q", 1))
STR_B = (H("b"), 4, b"xy")
OK = sorted([I64_A, STR_B])


def _patch(data: bytes, at: int, fmt: str, value) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


BAD_RECORDS = {
    "empty": b"",
    "short-header": b"\x00" * 19,
    "unsorted-hashes": build(OK[::-1]),
    "duplicate-hash": build([I64_A, I64_A]),
    "bad-tag-7": build([(H("a"), 7, b"")]),
    "bad-tag-255": build([(H("a"), 255, b"")]),
    "offset-out-of-bounds": _patch(build(OK), 20 + 8, "<I", 10_000),
    "length-out-of-bounds": _patch(build(OK), 20 + 12, "<I", 10_000),
    "offset-into-index": _patch(build(OK), 20 + 8, "<I", 20),
    "offset-huge": _patch(build(OK), 20 + 8, "<I", 0xFFFFFFFF),
    "count-too-big": build(OK, count=3),
    "count-huge": build(OK, count=0xFFFFFFFF),
    "count-too-small-index-leftover": build(OK, count=1),
    "i64-length-7": build([(H("a"), 2, b"\x01" * 7)]),
    "i64-length-9": build([(H("a"), 2, b"\x01" * 9)]),
    "u64-length-7": build([(H("a"), 6, b"\x01" * 7)]),
    "f64-length-4": build([(H("a"), 3, b"\x01" * 4)]),
    "bool-length-2": build([(H("a"), 1, b"\x01\x00")]),
    "bool-value-2": build([(H("a"), 1, b"\x02")]),
    "null-length-1": build([(H("a"), 0, b"\x00")]),
    "reserved-header-byte": build(OK, header_extra=b"\x00" * 15 + b"\x01"),
    "reserved-header-first": build(OK, header_extra=b"\x01" + b"\x00" * 15),
    "reserved-index-byte": _patch(build(OK), 20 + 17, "<B", 1),
    "reserved-index-last": _patch(build(OK), 20 + 19, "<B", 0x80),
    "overlapping-data": _patch(build(OK), 40 + 8, "<I", 44),
}


@pytest.mark.parametrize("data", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_invalid_record(data):
    with pytest.raises(InvalidRecord):
        SpookyRecord(data)
    with pytest.raises(InvalidRecord):
        SpookyRecordMut(data)


def test_invalid_record_is_a_spooky_error():
    assert issubclass(InvalidRecord, SpookyError) and issubclass(InvalidRecord, ValueError)
    assert issubclass(HashCollision, JsonError) and issubclass(JsonError, SpookyError)


def test_invalid_utf8_string_field_raises_on_read():
    data = build([(H("a"), 4, b"\xff\xfe")])
    try:
        rec = SpookyRecord(data)
    except InvalidRecord:
        return  # validating strings up front is fine too
    with pytest.raises(InvalidRecord):
        rec.get_str("a")
    with pytest.raises(InvalidRecord):
        rec.get("a")


BAD_CBOR = {
    "reserved-byte": b"\xff",
    "empty": b"",
    "truncated-array": b"\x82\x01",
    "truncated-head": b"\x19\x01",
    "truncated-float": b"\xfb\x00\x00",
    "trailing-bytes": b"\x80\x80",
    "indefinite-array": b"\x9f\x01\xff",
    "huge-length": b"\x9b" + b"\xff" * 8,
    "huge-string": b"\x7b" + b"\xff" * 8,
    "tag": b"\xc1\x80",
    "byte-string": b"\x81\x41\x00",
    "nan": b"\x81\xfb\x7f\xf8\x00\x00\x00\x00\x00\x00",
    "infinity": b"\x81\xfb\x7f\xf0\x00\x00\x00\x00\x00\x00",
    "undefined": b"\x81\xf7",
    "int-map-key": b"\xa1\x01\x02",
    "bad-utf8-text": b"\x81\x62\xff\xfe",
    "deep": b"\x81" * 5000 + b"\x80",
}


@pytest.mark.parametrize("cbor", BAD_CBOR.values(), ids=BAD_CBOR.keys())
def test_corrupted_nested_cbor(cbor):
    data = build(sorted([(H("n"), 5, cbor), (H("x"), 2, struct.pack("<q", 5))]))
    try:
        rec = SpookyRecord(data)
    except InvalidRecord:
        return
    assert rec.get("x") == 5
    assert rec.get_cbor("n") == cbor
    with pytest.raises((InvalidRecord, NotJsonValue)):
        rec.get("n")
    with pytest.raises((InvalidRecord, NotJsonValue)):
        list(rec.iter_fields())


@given(st.binary(max_size=40))
def test_random_nested_cbor(cbor):
    data = build([(H("n"), 5, cbor)])
    try:
        rec = SpookyRecord(data)
        rec.get("n")
    except (InvalidRecord, NotJsonValue):
        pass


@given(st.sampled_from(RECORDS), st.integers(0, 10**6), st.integers(1, 255))
def test_flips_inside_nested_values(data, pos, mask):
    rec = SpookyRecord(data)
    spans = [(s.offset, s.length) for s in (rec.resolve(n) for n in ("tags", "meta")) if s]
    if not spans:
        return
    off, length = spans[pos % len(spans)]
    damaged = bytearray(data)
    damaged[off + (pos // 7) % length] ^= mask
    try:
        read_everything(SpookyRecord(bytes(damaged)))
    except InvalidRecord:
        pass


# -- bad JSON ----------


def position(src: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset, computed here."""
    before = src[:offset]
    line = before.count(b"\n") + 1
    column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
    return line, column


@pytest.mark.parametrize(
    "text, line, column, offset",
    [
        (b'{\n  "a": 1,\n  "b": @\n}', 3, 8, 19),
        ('{\n "é": "日本", "x": @}'.encode(), 2, 18, 24),
        (b'{\n  "a": 1,\n  "b": [1, 2,, 3]\n}', 3, 14, 25),
        (b'{"a":1}\n{"b":2}', 2, 1, 8),
        (b'{\n\t"a": "\xff"\n}', 2, 8, 9),
        (b'{\r\n  "a" 1}', 2, 7, 9),
    ],
)
def test_json_error_position(text, line, column, offset):
    with pytest.raises(JsonError) as info:
        record_from_json(text)
    err = info.value
    assert (err.line, err.column, err.offset) == (line, column, offset)
    assert str(err).startswith(f"{line}:{column}:")


MULTILINE_BAD = [
    b'{\n  "id": 1,\n  "name": "x",\n  "tags": [1, 2, }\n}',
    b'{\n  "id": 1,\n  "name": "x\n"}',
    b'{\n  "id": 1\n  "name": 2}',
    b'{\n  "id": 01\n}',
    b'{\n  "id": 1.\n}',
    b'{\n  "id": -\n}',
    b'{\n  "id": 1e\n}',
    b'{\n  "id": "\\x41"\n}',
    b'{\n  "id": "\\ud800"\n}',
    b'{\n  "id": tru\n}',
    b'{\n  "id": nul\n}',
    b'{\n  "id": 1e999\n}',
    b"{\n  id: 1\n}",
    b"{\n  'id': 1\n}",
    b'{\n  "id": [1,]\n}',
    b'{\n  "a": {"b": {"c": [1, 2, 3, {"d": }]}}\n}',
]


@pytest.mark.parametrize("text", MULTILINE_BAD)
def test_json_error_position_is_consistent(text):
    with pytest.raises(JsonError) as info:
        record_from_json(text)
    err = info.value
    assert 0 <= err.offset <= len(text)
    assert (err.line, err.column) == position(text, err.offset)
    assert err.line > 1  # every error here is past the first line


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": 1}',
        b'{"name": "Ada", "tags": [1, 2.5, {"k": null}], "ok": true}',
        '{"é": "日本", "n": -0.0e1}'.encode(),
    ],
)
def test_every_truncation_is_a_json_error(text):
    record_from_json(text)
    for n in range(len(text)):
        with pytest.raises(JsonError) as info:
            record_from_json(text[:n])
        assert 0 <= info.value.offset <= n


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",
        b"\xfe",
        b"\xc3",
        b"\xc0\x80",
        b"\xc1\xbf",
        b"\xe0\x80\x80",
        b"\xed\xa0\x80",
        b"\xed\xbf\xbf",
        b"\xf4\x90\x80\x80",
        b"\xf5\x80\x80\x80",
        b"\xf0\x9f\x98",
        b"\x80",
        b"\xe6\x97",
        b"a\xffb",
    ],
)
@pytest.mark.parametrize("where", ["value", "key", "nested-value", "nested-key"])
def test_invalid_utf8_is_a_json_error(raw, where):
    text = {
        "value": b'{"a": "' + raw + b'"}',
        "key": b'{"' + raw + b'": 1}',
        "nested-value": b'{"a": ["' + raw + b'"]}',
        "nested-key": b'{"a": {"' + raw + b'": 1}}',
    }[where]
    with pytest.raises(JsonError) as info:
        record_from_json(text)
    assert text.find(raw) <= info.value.offset <= text.find(raw) + len(raw)


@pytest.mark.parametrize(
    "text",
    [
        b"\xff{}",
        b'{"a": 1}\xff',
        b"{\xff}",
        b'{"a"\xff: 1}',
    ],
)
def test_invalid_utf8_outside_strings(text):
    with pytest.raises(JsonError):
        record_from_json(text)


def test_lone_surrogate_in_str_input():
    for text in ('{"a": "\ud800"}', '{"\udfff": 1}', '{"a": ["x\ud83d"]}'):
        with pytest.raises(JsonError):
            record_from_json(text)
        with pytest.raises(TypeMismatch):
            serialize(json.loads(text))


def test_lone_surrogate_in_str_input_position():
    text = '{"é": "\ud800"}'
    with pytest.raises(JsonError) as info:
        record_from_json(text)
    err = info.value
    assert (err.line, err.column, err.offset) == (1, 8, 8)


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b" ",
        b"[]",
        b"1",
        b'"a"',
        b"null",
        b"{",
        b"}",
        b'{"a"}',
        b'{"a":}',
        b'{"a":1,}',
        b"{,}",
        b'{"a":1 "b":2}',
        b"{}{}",
        b"{} x",
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":-Infinity}',
        b'{"a":1e400}',
        b'{"a":-1e400}',
        b'{"a":0x10}',
        b'{"a":+1}',
        b'{"a":.5}',
        b'{"a":1.}',
        b'{"a":"\t"}',
        b'{"a":"\x00"}',
        b'{"a":"\\u12"}',
        b'{"a":"\\uZZZZ"}',
        b'{"a":"\\a"}',
        b"\xef\xbb\xbf{}",
        b'{"a":[1,2}',
        b'{"a":{"b":1]}',
        b"{\"a\":'x'}",
    ],
)
def test_not_a_record(text):
    with pytest.raises(JsonError):
        record_from_json(text)


# -- nesting limit ----------


def test_nesting_limit_1024():
    ok = b"[" * 1024 + b"]" * 1024
    assert encode_value(ok)[0] == FieldType.NESTED
    with pytest.raises(JsonError):
        encode_value(b"[" * 1025 + b"]" * 1025)
    # in a record the outer object is one level of the 1024
    record_from_json(b'{"v":' + b"[" * 1023 + b"]" * 1023 + b"}")
    with pytest.raises(JsonError):
        record_from_json(b'{"v":' + b"[" * 1024 + b"]" * 1024 + b"}")
    with pytest.raises(JsonError):
        record_from_json(b'{"v":' + b'{"k":' * 1024 + b"1" + b"}" * 1025)


@pytest.mark.parametrize(
    "text",
    [
        b"[" * 100_000,
        b'{"v":' + b"[" * 100_000,
        b'{"v":' + b'{"a":' * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"v":' + b"[{" * 50_000,
    ],
)
def test_very_deep_input_is_an_error_not_a_crash(text):
    with pytest.raises(JsonError):
        record_from_json(text)
    with pytest.raises(JsonError):
        encode_value(text)


# -- random JSON damage ----------

GOOD_JSON = [
    b'{"id": 1, "name": "Ada", "tags": ["x", 2.5, null], "ok": true, "m": {"k": [1, {"z": -0}]}}',
    '{"é": "日本\\u00e9\\ud83d\\ude00", "big": 18446744073709551615, "f": 1e-5}'.encode(),
]


@given(
    st.sampled_from(GOOD_JSON),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=3),
)
def test_damaged_json_is_error_or_matches_reference(text, flips):
    damaged = bytearray(text)
    for pos, mask in flips:
        damaged[pos % len(damaged)] ^= mask
    damaged = bytes(damaged)
    try:
        got = record_from_json(damaged)
    except JsonError:
        return
    try:
        expected = ref.record_of_json(damaged)
    except (ValueError, RecursionError) as exc:
        raise AssertionError(f"accepted {damaged!r}, which the reference refuses: {exc}") from None
    assert got == expected
    SpookyRecord(got)
