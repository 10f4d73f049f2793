"""Record keys: the sort form of one-part and composite keys (native/keys.c)
against an independent writer of FORMAT.md (filebuilder.sort_form) and
against Python's own tuple order."""

from __future__ import annotations

import filebuilder as fb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spooky_cli.keys import key_from_sort_form, key_to_sort_form

ints = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(2**63, 2**64 - 1),
    st.sampled_from([0, -1, 1, 2**63 - 1, 2**63, -(2**63), 2**64 - 1]),
)
# strings that hold 0x00, and prefixes of each other ("", "a", "a\0", "a\0b", "ab")
texts = st.one_of(
    st.text(alphabet=st.sampled_from(["a", "b", "\x00", "\x01", "\xff", "é", "\U0001f600"])),
    st.text(max_size=6),
)
parts = st.one_of(ints, texts)


def oracle(key: tuple[int | str, ...]) -> tuple[tuple[int, int | bytes], ...]:
    """Tuple order: part by part, integers by value before strings, strings
    by their UTF-8 bytes (code point order)."""
    return tuple((0, v) if isinstance(v, int) else (1, v.encode()) for v in key)


@given(st.integers(2, 4).flatmap(lambda n: st.lists(st.tuples(*[parts] * n), max_size=30)))
def test_composite_byte_order_is_tuple_order(keys: list[tuple[int | str, ...]]) -> None:
    forms = {k: key_to_sort_form(k) for k in keys}
    assert sorted(keys, key=forms.__getitem__) == sorted(keys, key=oracle)
    for k, form in forms.items():
        assert form == fb.sort_form(k)  # the bytes FORMAT.md describes
        assert key_from_sort_form(form, len(k)) == k
    assert len(set(forms.values())) == len(forms)  # one key, one form


@given(st.lists(parts, max_size=30))
def test_one_part_keys_keep_their_bytes(keys: list[int | str]) -> None:
    for k in keys:
        form = key_to_sort_form(k)
        assert form == fb.sort_form(k) == key_to_sort_form((k,))
        assert key_from_sort_form(form) == k
    assert sorted(keys, key=key_to_sort_form) == sorted(keys, key=lambda k: oracle((k,)))


def test_composite_forms() -> None:
    assert key_to_sort_form(("acme", 42)) == b"\x03acme\x00\x01" + (42 ^ 2**63).to_bytes(8, "big")
    assert key_to_sort_form(("a\x00b", "")) == b"\x03a\x00\xffb\x00\x03\x00"
    # a one-part string is not escaped and has no end
    assert key_to_sort_form("a\x00b") == b"\x03a\x00b"
    assert key_from_sort_form(b"\x03a\x00\xffb\x00\x03\x00", 2) == ("a\x00b", "")


@pytest.mark.parametrize(
    "raw,parts",
    [
        (b"\x03ab", 2),  # a string part without its end
        (b"\x03a\x00", 1),  # fine as one part ("a\0") ...
        (b"\x03a\x00\x03b\x00\x03", 2),  # bytes after the parts
        (b"\x03a\x00", 2),  # one part short
        (b"\x03\xff\x00\x03b\x00", 2),  # not UTF-8
        (b"\x01\x00\x00", 2),  # an integer cut short
        (b"\x04a\x00\x03b\x00", 2),  # an unknown kind
        (b"", 1),
    ],
)
def test_malformed_composite_forms(raw: bytes, parts: int) -> None:
    if raw == b"\x03a\x00" and parts == 1:
        assert key_from_sort_form(raw) == "a\x00"
        return
    with pytest.raises(ValueError, match="not a stored key"):
        key_from_sort_form(raw, parts)


def test_bad_key_values() -> None:
    with pytest.raises(ValueError, match="at least one part"):
        key_to_sort_form(())
    with pytest.raises(TypeError):
        key_to_sort_form(("a", 1.5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):
        key_to_sort_form(("a", 2**64))
