"""spooky_cbor_check_json, the check of nested values copied as they are
(merge, filter -o), says exactly what spooky_cbor_to_json would: the same
status for valid CBOR with and without a JSON form, and for broken bytes."""

from __future__ import annotations

import math

import cbor2
from hypothesis import given
from hypothesis import strategies as st

from spooky_cli._native import ffi, lib


def both(raw: bytes) -> tuple[int, int]:
    buf = ffi.new("spooky_buf *")
    try:
        return lib.spooky_cbor_check_json(raw, len(raw)), lib.spooky_cbor_to_json(
            raw, len(raw), buf
        )
    finally:
        lib.spooky_buf_free(buf)


leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.floats()
    | st.text()
    | st.binary(max_size=4)
    | st.builds(lambda v: cbor2.CBORTag(1, v), st.integers(0, 9))
)
values = st.recursive(
    leaves,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=4), kids, max_size=4)
    ),
    max_leaves=12,
)


@given(values, st.sampled_from([False, True]))
def test_valid_cbor_checks_as_it_renders(v: object, canonical: bool) -> None:
    check, render = both(cbor2.dumps(v, canonical=canonical))
    assert check == render


@given(values, st.data())
def test_cut_and_damaged_cbor_checks_as_it_renders(v: object, data: st.DataObject) -> None:
    raw = bytearray(cbor2.dumps(v))
    at = data.draw(st.integers(0, len(raw)))
    if data.draw(st.booleans()):
        raw = raw[:at]
    elif at < len(raw):
        raw[at] = data.draw(st.integers(0, 255))
    check, render = both(bytes(raw))
    assert check == render


def test_floats_without_a_json_form_in_every_width() -> None:
    for raw in (
        b"\xf9\x7c\x00",
        b"\xfa\x7f\xc0\x00\x00",
        cbor2.dumps(math.inf),
        b"\xfb" + b"\xff" * 8,
    ):
        assert both(raw) == (lib.SPOOKY_E_NOT_JSON, lib.SPOOKY_E_NOT_JSON)
    assert both(b"\x62\xc3\x28")[0] == lib.SPOOKY_E_NOT_JSON  # not UTF-8
    too_deep = b"\x81" * (lib.SPOOKY_MAX_DEPTH + 2) + b"\x00"
    assert both(too_deep)[0] == lib.SPOOKY_E_CBOR_INVALID
