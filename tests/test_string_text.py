"""Strings come back out as JSON text: escapes and UTF-8 as orjson writes
them, in any length (the core escapes long strings in steps of 4096 bytes,
never splitting a character), and bytes that are not UTF-8 have no JSON form."""

from __future__ import annotations

import random

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spooky_cli._native import ffi, lib


def str_text(raw: bytes) -> tuple[int, bytes]:
    buf = ffi.new("spooky_buf *")
    try:
        rc = lib.spooky_value_to_json(4, raw, len(raw), buf)
        return rc, ffi.buffer(buf.data, buf.len)[:]
    finally:
        lib.spooky_buf_free(buf)


ALPHABET = ["a", "é", "ř", "€", "𝄞", '"', "\\", "\n", "\x01", "\x1f", "\t", " ", "/"]


@pytest.mark.parametrize("length", [*range(20), 4095, 4096, 4097, 10000])
def test_strings_print_as_orjson_does(length: int) -> None:
    rnd = random.Random(length)
    for i in range(200):
        # mostly plain text, now and then one byte of each kind of special
        plain = ALPHABET[:1] if i % 2 else ALPHABET
        s = "".join(rnd.choice(plain) for _ in range(length))
        if i % 4 == 1 and length:
            at = rnd.randrange(length)
            s = s[:at] + rnd.choice(ALPHABET) + s[at + 1 :]
        rc, text = str_text(s.encode())
        assert rc == 0 and text == orjson.dumps(s)


def test_a_character_across_a_step_stays_whole() -> None:
    for pad in range(4090, 4100):
        s = "x" * pad + "𝄞€é" * 3 + '"'
        rc, text = str_text(s.encode())
        assert rc == 0 and text == orjson.dumps(s)


@pytest.mark.parametrize(
    "raw", [b"\xff", b"ab\xc3", b"x" * 4095 + b"\xe2\x82", b"\xed\xa0\x80", b"a\x80" * 3000]
)
def test_bytes_that_are_not_utf8_have_no_json_form(raw: bytes) -> None:
    rc, _ = str_text(raw)
    assert rc == lib.SPOOKY_E_NOT_JSON


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_any_text_prints_as_orjson_does(s: str) -> None:
    rc, text = str_text(s.encode())
    assert rc == 0 and text == orjson.dumps(s)
