"""JSONTestSuite (/work/shared/conformance/JSONTestSuite) through the transcoder:
y_* accepted, n_* rejected with JsonError, i_* either way but never a crash;
accepted values agree with the reference encoder where the reference accepts too.

Each file goes in twice: wrapped as the value of one field, {"v": <file>}, through
record_from_json, and directly through encode_value (the nested-value parser)."""

from __future__ import annotations

from pathlib import Path

import pytest
import reference_encoder as ref
from conftest import JSON_TEST_SUITE

from spooky_cli import BigIntError, JsonError, SpookyRecord, encode_value, record_from_json

SUITE = JSON_TEST_SUITE
PARSING = SUITE / "test_parsing"
TRANSFORM = SUITE / "test_transform"

pytestmark = pytest.mark.skipif(not PARSING.is_dir(), reason=f"JSONTestSuite not found at {SUITE}")


def _files(directory: Path, prefix: str = "") -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if p.name.startswith(prefix) and p.suffix == ".json"
    )


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def wrap(data: bytes) -> bytes:
    return b'{"v": ' + data + b"}"


def reference_value(data: bytes) -> tuple[int, bytes] | None:
    """The reference's (tag, bytes) for a JSON value, None if it refuses it."""
    try:
        return ref.value_of_json(data)
    except (ValueError, RecursionError):  # includes UnicodeError and ReferenceError_
        return None


def check_against_reference(data: bytes) -> None:
    """Both ways in agree with each other, and with the reference if it accepts."""
    tag, raw = encode_value(data)
    rec = SpookyRecord(record_from_json(wrap(data)))
    slot = rec.resolve("v")
    assert slot is not None and slot.type == tag
    assert rec.to_bytes()[slot.offset : slot.offset + slot.length] == raw
    expected = reference_value(data)
    if expected is None:
        return
    assert (int(tag), raw) == expected
    assert record_from_json(wrap(data)) == ref.encode_record({"v": ref.json_to_python(data)})


Y = _files(PARSING, "y_")
N = _files(PARSING, "n_")
I = _files(PARSING, "i_")


def test_suite_is_there():
    assert len(Y) > 90 and len(N) > 150 and len(I) > 20


@pytest.mark.parametrize("path", Y, ids=_ids(Y))
def test_y_accepted(path):
    check_against_reference(path.read_bytes())


@pytest.mark.parametrize("path", N, ids=_ids(N))
def test_n_rejected(path):
    data = path.read_bytes()
    with pytest.raises(JsonError):
        record_from_json(wrap(data))
    with pytest.raises(JsonError):
        encode_value(data)


@pytest.mark.parametrize("path", I, ids=_ids(I))
def test_i_no_crash(path):
    data = path.read_bytes()
    try:
        encode_value(data)
    except JsonError:
        with pytest.raises(JsonError):
            record_from_json(wrap(data))
        return
    check_against_reference(data)


# the project's documented choices for the implementation-defined cases
@pytest.mark.parametrize(
    "name, accepted",
    [
        ("i_number_huge_exp", False),  # overflows a double: error
        ("i_number_real_pos_overflow", False),
        ("i_number_real_neg_overflow", False),
        ("i_number_real_underflow", True),  # underflows to 0.0
        ("i_number_too_big_pos_int", "float"),  # beyond i64 and u64: error, or on
        ("i_number_too_big_neg_int", "float"),  # request the nearest double
        ("i_string_invalid_utf-8", False),  # input must be UTF-8
        ("i_string_UTF-16LE_with_BOM", False),
        ("i_string_1st_surrogate_but_2nd_missing", False),  # lone surrogates have no UTF-8
        ("i_string_lone_second_surrogate", False),
        ("i_structure_500_nested_arrays", True),  # under the 1024 nesting limit
        ("i_structure_UTF-8_BOM_empty_object", False),
    ],
)
def test_i_documented_choices(name, accepted):
    path = PARSING / f"{name}.json"
    if not path.exists():
        pytest.skip(f"{path.name} not in this copy of the suite")
    data = path.read_bytes()
    if accepted == "float":
        with pytest.raises(BigIntError):
            encode_value(data)
        with pytest.raises(BigIntError):
            record_from_json(wrap(data))
        tag, raw = encode_value(data, big_int="float")
        assert (int(tag), raw) == ref.value_of_json(data)
        assert record_from_json(wrap(data), big_int="float")
    elif accepted:
        encode_value(data)
        record_from_json(wrap(data))
    else:
        with pytest.raises(JsonError):
            encode_value(data)
        with pytest.raises(JsonError):
            record_from_json(wrap(data))


T = _files(TRANSFORM)


@pytest.mark.parametrize("path", T, ids=_ids(T))
def test_transform_agrees_with_reference(path):
    data = path.read_bytes()
    try:
        encode_value(data)
    except JsonError:
        return  # refusing is allowed; what is accepted must be right
    check_against_reference(data)


@pytest.mark.parametrize(
    "name, tag, value_hex",
    [
        ("number_-9223372036854775808", 2, "0000000000000080"),
        ("number_9223372036854775807", 2, "ffffffffffffff7f"),
        ("number_9223372036854775808", 6, "0000000000000080"),
        ("number_1.0", 3, "000000000000f03f"),
        ("number_1e6", 3, "0000000080842e41"),
        ("number_1000000000000000", 2, "0080c6a47e8d0300"),
    ],
)
def test_transform_number_types(name, tag, value_hex):
    path = TRANSFORM / f"{name}.json"
    if not path.exists():
        pytest.skip(f"{path.name} not in this copy of the suite")
    data = path.read_bytes().strip()
    # the files hold a one-element array: look at the value itself as well
    inner = data[1:-1] if data.startswith(b"[") else data
    got_tag, raw = encode_value(inner)
    assert (int(got_tag), raw.hex()) == (tag, value_hex)
