"""Two different field names with one hash: always an error, never a merge.

No pair of names with equal 64-bit xxh64 is known, so these tests narrow every
name hash through the core's test hook (spooky_test_set_name_hash_mask) to 4
bits, where collisions are everywhere."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import xxhash
from cli_runner import run_cli

import spooky_cli
from spooky_cli import inputs
from spooky_cli._native import lib

MASK = 0xF


@pytest.fixture
def narrow_hashes():
    lib.spooky_test_set_name_hash_mask(MASK)
    try:
        yield
    finally:
        lib.spooky_test_set_name_hash_mask(2**64 - 1)
        # the encoder remembers the last record's key hashes: make it forget
        spooky_cli.record_from_json(b'{"forget the cached keys": 0}')


def colliding(avoid: str = "id") -> tuple[str, str]:
    """Two names whose narrowed hashes agree, neither colliding with `avoid`."""
    taken = xxhash.xxh64_intdigest(avoid.encode()) & MASK
    seen: dict[int, str] = {}
    for i in itertools.count():
        name = f"field_{i}"
        h = xxhash.xxh64_intdigest(name.encode()) & MASK
        if h == taken:
            continue
        if h in seen:
            return seen[h], name
        seen[h] = name
    raise AssertionError


def test_one_record(narrow_hashes) -> None:
    a, b = colliding()
    text = f'{{"{a}": 1, "{b}": 2}}'
    with pytest.raises(spooky_cli.HashCollision) as info:
        spooky_cli.record_from_json(text)
    assert info.value.offset == text.index(f'"{b}"')


def test_repeated_name_is_not_a_collision(narrow_hashes) -> None:
    a, _ = colliding()
    rec = spooky_cli.SpookyRecord(spooky_cli.record_from_json(f'{{"{a}": 1, "{a}": 2}}'))
    assert rec.get(a) == 2


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 40])  # same piece, and across pieces
def test_convert_across_records(
    narrow_hashes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int
) -> None:
    monkeypatch.setattr(inputs, "CHUNK_BYTES", chunk_bytes)
    a, b = colliding()
    src = tmp_path / "in.ndjson"
    src.write_text(f'{{"id": 1, "{a}": 1}}\n{{"id": 2, "x": 0}}\n{{"id": 3, "{b}": 2}}\n')
    out = tmp_path / "out.spky"
    res = run_cli("convert", str(src), "-o", str(out))
    assert res.code == 2, res.stderr
    assert "share one xxh64 hash" in res.stderr
    assert repr(a) in res.stderr and repr(b) in res.stderr
    assert not out.exists()


def test_convert_one_record_names_both(narrow_hashes, tmp_path: Path) -> None:
    a, b = colliding()
    src = tmp_path / "in.ndjson"
    src.write_text(f'{{"id": 1}}\n{{"id": 2, "{a}": 1, "{b}": 2}}\n')
    res = run_cli("convert", str(src), "-o", str(tmp_path / "o.spky"))
    assert res.code == 2 and "in.ndjson:2:" in res.stderr
    assert repr(a) in res.stderr and repr(b) in res.stderr


def test_add_field_collision(narrow_hashes) -> None:
    a, b = colliding()
    rec = spooky_cli.SpookyRecordMut(spooky_cli.serialize({a: 1}))
    with pytest.raises(spooky_cli.FieldExists):  # same hash: the record cannot hold both
        rec.add_field(b, 2)
