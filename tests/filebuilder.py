"""A small pure-Python record-file writer, written from docs/FORMAT.md section 2.

It is the tests' independent oracle for the reader: it builds valid files (and,
through its parameters and helpers, damaged ones) without the C writer. Record
bytes come from spooky_cli.record_from_json; checksums from the xxhash package.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import xxhash

from spooky_cli import record_from_json

MAGIC = b"SPKYFILE"
END_MAGIC = b"SPKYFEND"
HEADER_SIZE = 32
BLOCK_HEADER_SIZE = 40
TAIL_SIZE = 32
FOOTER_FIXED_SIZE = 72  # format 1
FOOTER_FIXED_SIZE_2 = 80  # format 2: key parts and the name order's offset
BLOCK_TARGET = 1 << 20
KIND_RECORDS, KIND_FOOTER = 1, 2
TYPE_NAMES = ("null", "bool", "i64", "f64", "str", "nested", "u64")

_FLIP = 1 << 63


def xxh64(data: bytes, seed: int = 0) -> int:
    return xxhash.xxh64_intdigest(data, seed=seed)


def sort_form(value: Any) -> bytes:
    """A key value's sort form (FORMAT.md), written here again on purpose: a
    str or an int, or a tuple of them for a key of two or more parts."""
    if isinstance(value, tuple):
        if len(value) == 1:
            return sort_form(value[0])
        return b"".join(_composite_part(v) for v in value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"key of type {type(value).__name__}")
    if isinstance(value, str):
        return b"\x03" + value.encode()
    if -(2**63) <= value < 2**63:
        return b"\x01" + ((value + 2**64) % 2**64 ^ _FLIP).to_bytes(8, "big")
    return b"\x02" + value.to_bytes(8, "big")


def _composite_part(value: Any) -> bytes:
    """A part of a composite key: an integer as alone, a string's 0x00 bytes
    as 0x00 0xFF and a 0x00 after it."""
    if isinstance(value, str):
        return b"\x03" + value.encode().replace(b"\x00", b"\x00\xff") + b"\x00"
    return sort_form(value)


def key_paths(key: str | Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    """A key as its parts' paths: a str is one top-level field."""
    return [(key,)] if isinstance(key, str) else [tuple(p) for p in key]


def key_value(obj: dict, key: str | Sequence[Sequence[str]]) -> Any:
    """The key of an object: each part's path walked (object keys; decimal
    steps index arrays), one value, or a tuple of several."""
    values = []
    for path in key_paths(key):
        v: Any = obj
        for step in path:
            v = v[int(step)] if isinstance(v, list) else v[step]
        values.append(v)
    return values[0] if len(values) == 1 else tuple(values)


def key_section(key: str | Sequence[Sequence[str]]) -> bytes:
    """The footer's key section (format 2): each part its step count, then
    each step's length and UTF-8."""
    return b"".join(
        struct.pack("<I", len(p))
        + b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in p)
        for p in key_paths(key)
    )


def record_fields(rec: bytes) -> list[tuple[int, int]]:
    """(name_hash, tag) of each field of record bytes."""
    (n,) = struct.unpack_from("<I", rec, 0)
    out = []
    for i in range(n):
        h, _off, _len, tag = struct.unpack_from("<QIIB", rec, 20 + 20 * i)
        out.append((h, tag))
    return out


def field_span(rec: bytes, name: str) -> tuple[int, int]:
    """(offset, length) of a field's value in record bytes (KeyError if absent)."""
    h = xxh64(name.encode())
    (n,) = struct.unpack_from("<I", rec, 0)
    for i in range(n):
        fh, off, length, _tag = struct.unpack_from("<QIIB", rec, 20 + 20 * i)
        if fh == h:
            return off, length
    raise KeyError(name)


def spoil(key_value: Any, name: str, how: str, key: str = "id") -> Callable[[bytes], bytes]:
    """A mangle for build(): the record whose key field is key_value gets a bad
    value in field `name`, of the same length: "nan", "inf" or "-inf" (an f64,
    or the first 8-byte float of a nested value), "utf8" (a str, first byte
    0xFF) or "cbor" (a nested value, first byte 0xFF: a break code where an
    item belongs)."""
    key_hash = xxh64(key.encode())

    def mangle(rec: bytes) -> bytes:
        k_off, k_len = field_span(rec, key)
        raw, tag = rec[k_off : k_off + k_len], dict(record_fields(rec))[key_hash]
        value = struct.unpack("<q" if tag == 2 else "<Q", raw)[0] if tag in (2, 6) else raw.decode()
        if value != key_value:
            return rec
        off, length = field_span(rec, name)
        out = bytearray(rec)
        if how in ("nan", "inf", "-inf"):
            order = "<"
            if dict(record_fields(rec))[xxh64(name.encode())] == 5:  # nested: after an fb head
                off, order = rec.index(b"\xfb", off, off + length) + 1, ">"
            out[off : off + 8] = struct.pack(order + "d", float(how))
        else:
            out[off] = 0xFF
        return bytes(out)

    return mangle


def value_offset(built: Built, i: int, name: str) -> int:
    """File offset of the value of field `name` in the i-th record (file order)."""
    at = built.record_offsets[i]
    return at + field_span(built.data[at:], name)[0]


def block_header(
    sync: bytes, kind: int, count: int, payload: bytes, checksum: int | None = None
) -> bytes:
    if checksum is None:
        checksum = xxh64(payload)
    return sync + struct.pack("<B3xIQQ", kind, count, len(payload), checksum)


@dataclass
class Built:
    """A built file and where its parts are."""

    data: bytes
    sync: bytes
    block_offsets: list[int]  # file offset of each records block's sync
    block_counts: list[int]
    footer_offset: int  # file offset of the footer block's sync
    footer_payload_offset: int
    record_offsets: list[int]  # file offset of each record, in file order
    keys: list[Any]  # key values in file order
    objects: list[dict]  # source objects in file order
    names: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> type counts
    sections: dict[str, int] = field(default_factory=dict)  # footer section offsets

    @property
    def footer_payload(self) -> bytes:
        return self.data[self.footer_payload_offset : len(self.data) - TAIL_SIZE]


def build(
    objects: Iterable[dict],
    key: str | Sequence[Sequence[str]] = "id",
    block_target: int = BLOCK_TARGET,
    version: int = 1,
    mangle: Callable[[bytes], bytes] | None = None,
) -> Built:
    """A record file of these JSON-able objects, keyed by their `key` field
    (or by a list of paths, each a tuple of steps: a nested or composite key,
    format 2 only), in input order. Keys must be unique. mangle, if given, rewrites each record's
    bytes before they are laid out (checksums and digests then hold for the
    damaged bytes). version 1 or 2 (what `spooky convert` writes: a key
    section and the names' first-appearance order)."""
    objects = list(objects)
    entries = []  # (key value, key bytes, record bytes, source object)
    for obj in objects:
        k = key_value(obj, key)
        rec = record_from_json(orjson.dumps(obj))
        entries.append((k, sort_form(k), mangle(rec) if mangle else rec, obj))

    # blocks: cut once the payload has reached the target
    payloads: list[tuple[bytes, int, list[int]]] = []  # payload, count, record positions
    cur, count, positions = bytearray(), 0, []
    for _k, kb, rec, _o in entries:
        cur += struct.pack("<II", len(kb), len(rec)) + kb
        positions.append(len(cur))
        cur += rec
        count += 1
        if len(cur) >= block_target:
            payloads.append((bytes(cur), count, positions))
            cur, count, positions = bytearray(), 0, []
    if count:
        payloads.append((bytes(cur), count, positions))

    first = payloads[0][0] if payloads else b""
    sync = struct.pack("<QQ", xxh64(first, 0), xxh64(first, 1))
    out = bytearray(MAGIC + struct.pack("<II", version, 0) + sync)
    block_offsets, block_counts, record_offsets, table = [], [], [], bytearray()
    for payload, n, pos in payloads:
        off = len(out)
        block_offsets.append(off)
        block_counts.append(n)
        record_offsets.extend(off + BLOCK_HEADER_SIZE + p for p in pos)
        out += block_header(sync, KIND_RECORDS, n, payload) + payload
        table += struct.pack("<QI4xQ", off, n, len(payload))

    # names and type counts from the records themselves; dict order is the
    # order of first appearance
    hash_to_name: dict[int, str] = {}
    for _k, _kb, _rec, obj in entries:
        for name in obj:
            hash_to_name.setdefault(xxh64(name.encode()), name)
    counts: dict[int, list[int]] = {h: [0] * 7 for h in hash_to_name}
    for _k, _kb, rec, _o in entries:
        for h, tag in record_fields(rec):
            counts[h][tag] += 1
    names = bytearray()
    by_hash = sorted(hash_to_name)
    for h in by_hash:
        nb = hash_to_name[h].encode()
        names += struct.pack("<Q7QI", h, *counts[h], len(nb)) + nb
    position = {h: i for i, h in enumerate(by_hash)}
    name_order = b"".join(struct.pack("<I", position[h]) for h in hash_to_name)

    # index sorted by key, keys in the heap in index order
    order = sorted(range(len(entries)), key=lambda i: entries[i][1])
    index, heap = bytearray(), bytearray()
    for i in order:
        _k, kb, rec, _o = entries[i]
        index += struct.pack("<QQIIQ", xxh64(rec), record_offsets[i], len(rec), len(kb), len(heap))
        heap += kb

    if version == 1:  # the key field's name, no name order
        assert isinstance(key, str), "format 1 keys by one top-level field"
        section, name_order, fixed_size = key.encode(), b"", FOOTER_FIXED_SIZE
    else:  # the key's parts, each a path of steps
        section, fixed_size = key_section(key), FOOTER_FIXED_SIZE_2
    names_off = fixed_size + len(section)
    order_off = names_off + len(names)
    blocks_off = order_off + len(name_order)
    index_off = blocks_off + len(table)
    heap_off = index_off + len(index)
    sizes = (len(entries), len(payloads), len(hash_to_name))
    offsets = (names_off, blocks_off, index_off, heap_off, len(heap))
    if version == 1:
        fixed = struct.pack("<8QI4x", *sizes, *offsets, len(section))
    else:
        parts = len(key_paths(key))
        fixed = struct.pack("<8QIIQ", *sizes, *offsets, len(section), parts, order_off)
    footer = fixed + section + names + name_order + table + index + heap
    footer_offset = len(out)
    out += block_header(sync, KIND_FOOTER, 0, footer) + footer
    out += struct.pack("<Q16x", footer_offset) + END_MAGIC
    return Built(
        data=bytes(out),
        sync=sync,
        block_offsets=block_offsets,
        block_counts=block_counts,
        footer_offset=footer_offset,
        footer_payload_offset=footer_offset + BLOCK_HEADER_SIZE,
        record_offsets=record_offsets,
        keys=[e[0] for e in entries],
        objects=objects,
        names={
            hash_to_name[h]: {TYPE_NAMES[t]: c for t, c in enumerate(counts[h]) if c}
            for h in hash_to_name
        },
        sections={
            "key": fixed_size,
            "names": names_off,
            "order": order_off,
            "blocks": blocks_off,
            "index": index_off,
            "heap": heap_off,
        },
    )


def with_footer(built: Built, payload: bytes) -> bytes:
    """The file with another footer payload (checksum made to match), so tests
    can reach the footer's structural checks."""
    head = built.data[: built.footer_offset]
    return (
        head
        + block_header(built.sync, KIND_FOOTER, 0, payload)
        + payload
        + struct.pack("<Q16x", built.footer_offset)
        + END_MAGIC
    )


def patch(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def patch_footer(built: Built, offset: int, new: bytes) -> bytes:
    """Overwrites bytes of the footer payload at `offset` (relative to it) and
    fixes the footer checksum."""
    return with_footer(built, patch(built.footer_payload, offset, new))


def rechecksum_block(data: bytes, block_offset: int) -> bytes:
    """Recomputes a block's payload checksum after its payload was edited."""
    (plen,) = struct.unpack_from("<Q", data, block_offset + 24)
    start = block_offset + BLOCK_HEADER_SIZE
    return patch(data, block_offset + 32, struct.pack("<Q", xxh64(data[start : start + plen])))


def sample_objects(n: int, seed: int = 0, key: str = "id") -> list[dict]:
    """Varied records: every type, a few schemas, string and int fields."""
    import random

    rnd = random.Random(seed)
    out = []
    for i in range(n):
        obj: dict[str, Any] = {key: i * 7 - 50, "name": f"user-{i}", "score": rnd.random() * 100}
        if i % 3 == 0:
            obj["tags"] = ["a", "b", i]
        if i % 5 == 0:
            obj["ok"] = i % 2 == 0
        if i % 7 == 0:
            obj["big"] = 2**64 - 1 - i
        if i % 11 == 0:
            obj["nothing"] = None
            obj["neg0"] = -0.0
        if i % 13 == 0:
            obj["nested"] = {"x": {"y": [1.5, -0.0, None, True]}, "s": 'é\n"q"'}
        if i % 17 == 0:
            obj['uni\u00e9"\\name\n'] = "v\u2028\U0001f600"
        out.append(obj)
    return out
