"""The C transcoder against the pure-Python reference encoder
(tests/reference_encoder.py): JSON text written by hypothesis strategies here
(number and string edge cases as text, duplicate keys, deep nesting), Python
dicts through serialize(), and golden pairs in fixtures/golden/.

The reference stores an integer beyond i64 and u64 as the nearest float; the
transcoder does so with big_int="float", and refuses it by default
(BigIntError), which every comparison here checks too.

Regenerate the golden .record files from the reference encoder with
    SPOOKY_REGEN_GOLDEN=1 python -m pytest tests/test_differential.py -k regenerate
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import reference_encoder as ref
from hypothesis import example, given
from hypothesis import strategies as st

from spooky_cli import (
    BigIntError,
    JsonError,
    SpookyRecord,
    TypeMismatch,
    record_from_json,
    record_from_json_into,
    serialize,
    serialize_into,
)

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
I64_MIN, I64_MAX, U64_MAX = ref.I64_MIN, ref.I64_MAX, ref.U64_MAX

# -- JSON text strategies ---------------------------------------------------------------

EDGE_NUMBERS = [
    "-0",
    "-0.0",
    "0",
    "0.0",
    "1",
    "-1",
    "1.0",
    str(I64_MIN),
    str(I64_MAX),
    str(U64_MAX),
    str(I64_MIN - 1),
    str(I64_MAX + 1),
    str(U64_MAX + 1),
    str(U64_MAX - 1),
    str(I64_MIN + 1),
    "1e5",
    "1E-5",
    "1e+300",
    "-1e+300",
    "5e-324",
    "-5e-324",
    "2.2250738585072014e-308",
    "2.2250738585072011e-308",
    "1.7976931348623157e308",
    "4.9e-324",
    "2.4703282292062328e-324",
    "0.48785665652414756",
    "123456789.123456789e-3",
    "1234567890123456789012345",
    "-1234567890123456789012345",
    "0.1",
    "0.30000000000000004",
    "9007199254740993",
    "1e-400",
    "1E400",
    "-1e400",
    "100000000000000000000000000000000000000000000e-30",
    "0e0",
    "0E+0",
    "-0e-0",
    "1.000000000000000005",
    "10000000000000000999",
    "0.000000000000000000000000000000000000000001",
]

WS = st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n", "  "])


@st.composite
def number_texts(draw) -> str:
    """A JSON number literal: an edge case, or sign, digits, fraction, exponent."""
    if draw(st.booleans()):
        return draw(st.sampled_from(EDGE_NUMBERS))
    sign = draw(st.sampled_from(["", "", "-"]))
    if draw(st.integers(0, 4)) == 0:
        int_part = "0"
    else:
        int_part = draw(st.sampled_from("123456789")) + draw(st.text("0123456789", max_size=25))
    frac = ""
    if draw(st.booleans()):
        frac = "." + draw(st.text("0123456789", min_size=1, max_size=20))
    exp = ""
    if draw(st.integers(0, 2)) == 0:
        exp = (
            draw(st.sampled_from("eE"))
            + draw(st.sampled_from(["", "+", "-"]))
            + str(draw(st.integers(0, 330)))
        )
    return sign + int_part + frac + exp


SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\b": "\\b",
    "\f": "\\f",
}

string_chars = st.characters(exclude_categories=("Cs",)) | st.sampled_from(
    list('"\\/\n\t\r\b\f\x00\x1f\x7f') + ["é", "日", "😀", "\U0010ffff", "\u2028"]
)


@st.composite
def string_texts(draw) -> str:
    """A JSON string literal; each character raw, short-escaped or \\u-escaped."""
    chars = draw(st.lists(string_chars, max_size=12))
    out = ['"']
    for c in chars:
        how = draw(st.integers(0, 3))
        cp = ord(c)
        if how == 0 and c == "/":
            out.append("\\/")
        elif how <= 1 and c in SHORT_ESCAPES:
            out.append(SHORT_ESCAPES[c])
        elif how == 2 or cp < 0x20 or c in '"\\':
            if cp > 0xFFFF:
                v = cp - 0x10000
                hi, lo = 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)
                fmt = draw(st.sampled_from(["\\u{:04x}", "\\u{:04X}"]))
                out.append(fmt.format(hi) + fmt.format(lo))
            else:
                out.append(draw(st.sampled_from(["\\u{:04x}", "\\u{:04X}"])).format(cp))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


KEY_POOL = ["a", "b", "id", "name", "é", "dup", "", "x y", "😀"]
key_texts = st.one_of(st.sampled_from([json.dumps(k) for k in KEY_POOL]), string_texts())


def _array(items: list[str], ws) -> str:
    return "[" + ws + ("," + ws).join(items) + ws + "]" if items else "[" + ws + "]"


@st.composite
def _join_array(draw, children) -> str:
    items = draw(st.lists(children, max_size=5))
    return _array(items, draw(WS))


@st.composite
def _join_object(draw, children, min_size=0, max_size=5) -> str:
    pairs = draw(st.lists(st.tuples(key_texts, children), min_size=min_size, max_size=max_size))
    if pairs and draw(st.integers(0, 3)) == 0:  # repeat a key
        k, _ = draw(st.sampled_from(pairs))
        pairs.append((k, draw(children)))
    ws = draw(WS)
    body = ("," + ws).join(f"{ws}{k}{ws}:{ws}{v}" for k, v in pairs)
    return "{" + body + ws + "}"


scalar_texts = st.one_of(
    st.just("null"), st.just("true"), st.just("false"), number_texts(), string_texts()
)

value_texts = st.recursive(
    scalar_texts,
    lambda inner: _join_array(inner) | _join_object(inner),
    max_leaves=25,
)


@st.composite
def deep_texts(draw) -> str:
    """A value nested 5 or more levels deep, arrays and objects mixed."""
    text = draw(scalar_texts)
    for _ in range(draw(st.integers(5, 8))):
        if draw(st.booleans()):
            text = "[" + text + "]"
        else:
            text = "{" + draw(key_texts) + ":" + text + "}"
    return text


field_values = st.one_of(scalar_texts, value_texts, deep_texts())

object_texts = st.one_of(
    _join_object(field_values, max_size=8),
    _join_object(scalar_texts, min_size=40, max_size=60),
)


def _reference(text: str) -> bytes | None:
    """The reference record, or None when the reference refuses the text."""
    try:
        return ref.record_of_json(text)
    except ref.ReferenceError_:
        return None


def _has_big_int(text: str | bytes) -> bool:
    """Whether valid JSON text holds an integer literal beyond i64 and u64."""
    found = []

    def parse_int(digits: str) -> int:
        if not I64_MIN <= int(digits) <= U64_MAX:
            found.append(digits)
        return 0

    json.loads(text, parse_int=parse_int, parse_float=float, parse_constant=float)
    return bool(found)


def assert_as_reference(text: str | bytes, expected: bytes | None) -> None:
    """record_from_json(text) against the reference's record (None: refused)."""
    if expected is None:
        with pytest.raises(JsonError):
            record_from_json(text, big_int="float")
        with pytest.raises(JsonError):
            record_from_json(text)
        return
    assert record_from_json(text, big_int="float") == expected, text
    if _has_big_int(text):
        with pytest.raises(BigIntError, match="does not fit i64 or u64"):
            record_from_json(text)
    else:
        assert record_from_json(text) == expected, text


# -- JSON text ------------------------------------------------------------------------------


@given(object_texts, WS, WS)
@example('{"a":-0}', "", "")
@example('{"a":[-0, 0, -0.0]}', "", "")
@example('{"a":1,"a":{"b":1,"b":2}}', "", "")
@example('{"s":"\\ud83d\\ude00\\n\\t\\"\\\\\\/"}', "", "")
def test_record_from_json_matches_reference(text, lead, trail):
    text = lead + text + trail
    expected = _reference(text)
    assert_as_reference(text, expected)
    if expected is None:
        return
    assert record_from_json(text.encode("utf-8"), big_int="float") == expected
    buf = bytearray(b"junk" * 100)
    assert record_from_json_into(text, buf, big_int="float") == len(expected)
    assert bytes(buf) == expected


@pytest.mark.parametrize(
    "text, cbor_hex",
    [
        ('{"n":{"a":1,"a":2}}', "a1616102"),
        ('{"n":{"b":1,"b":2,"c":3}}', "a2616202616303"),
        ('{"n":[{"a":1,"a":2}]}', "81a1616102"),
    ],
)
def test_sorted_nested_duplicate_keys_keep_last(text, cbor_hex):
    # regression: the C parser once skipped the last-wins dedup for an object
    # whose keys already came in sorted order (two "a" members in the CBOR)
    assert record_from_json(text) == ref.record_of_json(text)
    assert SpookyRecord(record_from_json(text)).get_cbor("n").hex() == cbor_hex


def test_unsorted_nested_duplicate_keys_keep_last():
    for text in (
        '{"n":{"c":1,"b":1,"b":2}}',
        '{"n":{"b":1,"a":0,"b":2}}',
        '{"n":{"k":1,"k":[2],"b":0}}',
    ):
        assert record_from_json(text) == ref.record_of_json(text)


@pytest.mark.parametrize("number", EDGE_NUMBERS)
def test_edge_numbers_at_top_level_and_nested(number):
    for text in (f'{{"n":{number}}}', f'{{"n":[{number}]}}', f'{{"n":{{"k":{number}}}}}'):
        assert_as_reference(text, _reference(text))


@given(st.lists(number_texts(), min_size=1, max_size=10))
def test_numbers_match_reference(numbers):
    text = (
        '{"v":['
        + ",".join(numbers)
        + "],"
        + ",".join(f'"n{i}":{n}' for i, n in enumerate(numbers))
        + "}"
    )
    assert_as_reference(text, _reference(text))


# -- Python values through serialize() -----------------------------------------------------

py_scalars = (
    st.none()
    | st.booleans()
    | st.integers(I64_MIN, U64_MAX)
    | st.sampled_from(
        [
            0,
            -1,
            I64_MIN,
            I64_MAX,
            I64_MAX + 1,
            U64_MAX,
            23,
            24,
            255,
            256,
            65536,
            2**32,
            -(2**32) - 1,
        ]
    )
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([-0.0, 0.0, 5e-324, 1e300, 2.2250738585072014e-308, 0.1])
    | st.text(max_size=20)
)
py_values = st.recursive(
    py_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)
py_objects = st.dictionaries(st.text(max_size=12), py_values, max_size=12) | st.dictionaries(
    st.text(max_size=12), py_scalars, min_size=40, max_size=50
)


@given(py_objects)
def test_serialize_matches_reference(obj):
    expected = ref.encode_record(obj)
    assert serialize(obj) == expected
    buf = bytearray(3)
    assert serialize_into(obj, buf) == len(expected)
    assert bytes(buf) == expected


@pytest.mark.parametrize(
    "bad",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        U64_MAX + 1,
        I64_MIN - 1,
        10**30,
        [float("nan")],
        {"k": float("inf")},
        [U64_MAX + 1],
        b"bytes",
        object(),
        {1, 2},
    ],
)
def test_serialize_refuses_non_json_values(bad):
    with pytest.raises(TypeMismatch):
        serialize({"x": bad})


@pytest.mark.parametrize("bad", [{1: "a"}, {"a": {2: "b"}}, {None: 1}])
def test_serialize_refuses_non_str_keys(bad):
    with pytest.raises(TypeMismatch):
        serialize(bad)


def test_serialize_refuses_non_mapping():
    with pytest.raises(TypeMismatch):
        serialize([("a", 1)])  # type: ignore[arg-type]


def test_serialize_tuple_is_array():
    assert serialize({"t": (1, "a")}) == ref.encode_record({"t": [1, "a"]})


@pytest.mark.parametrize("big", [U64_MAX + 1, I64_MIN - 1, 10**30, -(10**40)])
def test_serialize_big_int_as_float_on_request(big):
    for obj, as_float in (
        ({"x": big}, {"x": float(big)}),
        ({"x": [1, (big, "a")]}, {"x": [1, [float(big), "a"]]}),
        ({"x": {"k": big}, "y": U64_MAX}, {"x": {"k": float(big)}, "y": U64_MAX}),
    ):
        with pytest.raises(TypeMismatch, match=r"does not fit i64 or u64 \(big_int='float'"):
            serialize(obj)
        assert serialize(obj, big_int="float") == ref.encode_record(as_float)
        buf = bytearray()
        assert serialize_into(obj, buf, big_int="float") == len(buf)
        assert bytes(buf) == ref.encode_record(as_float)
    with pytest.raises(TypeMismatch, match="float"):
        serialize({"x": 10**400}, big_int="float")  # beyond a double too
    with pytest.raises(ValueError, match="big_int must be 'error' or 'float'"):
        serialize({"x": 1}, big_int="round")


def test_serialize_int_boundaries():
    obj = {"a": I64_MAX, "b": I64_MAX + 1, "c": I64_MIN, "d": U64_MAX, "e": True, "f": -0.0}
    rec = serialize(obj)
    assert rec == ref.encode_record(obj)


# -- golden pairs ------------------------------------------------------------------------------

GOLDEN = sorted(GOLDEN_DIR.glob("*.json"))


@pytest.mark.skipif(
    not os.environ.get("SPOOKY_REGEN_GOLDEN"),
    reason="set SPOOKY_REGEN_GOLDEN=1 to rewrite fixtures/golden/*.record",
)
def test_regenerate_golden():
    for path in GOLDEN:
        path.with_suffix(".record").write_bytes(ref.record_of_json(path.read_bytes()))


def test_golden_set_is_complete():
    assert len(GOLDEN) >= 10
    for path in GOLDEN:
        assert path.with_suffix(".record").exists(), f"{path.name} has no .record"
    # every type tag appears in some golden record
    tags = set()
    for path in GOLDEN:
        rec = path.with_suffix(".record").read_bytes()
        for i in range(int.from_bytes(rec[:4], "little")):
            tags.add(rec[20 + 20 * i + 16])
    assert tags == set(range(7))


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden(path):
    expected = path.with_suffix(".record").read_bytes()
    assert ref.record_of_json(path.read_bytes()) == expected, "reference encoder drifted"
    assert_as_reference(path.read_bytes(), expected)
    assert serialize(ref.json_to_python(path.read_bytes())) == expected
