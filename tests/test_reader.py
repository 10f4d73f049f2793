"""The record-file reader (native/reader.c, spooky_cli/reader.py) against files
built by tests/filebuilder.py, a pure-Python writer of docs/FORMAT.md."""

from __future__ import annotations

import random
import struct
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

import filebuilder as fb  # noqa: E402
from strict import same  # noqa: E402

from spooky_cli._native import ffi, lib  # noqa: E402
from spooky_cli.errors import (  # noqa: E402
    ChecksumMismatch,
    RecordFileError,
    SpookyError,
    TruncatedFile,
)
from spooky_cli.reader import RecordFileReader, open_records  # noqa: E402


@pytest.fixture(scope="module")
def sample() -> fb.Built:
    return fb.build(fb.sample_objects(300), block_target=3000)


def write(tmp_path: Path, data: bytes, name: str = "f.spky") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def exported(reader: RecordFileReader, fields: list[str] | None = None) -> list[bytes]:
    chunks: list[bytes] = []
    reader.export_ndjson(chunks.append, fields)
    return b"".join(chunks).splitlines()


# ---- valid files ----------------------------------------------------------------


def test_open_counts_and_names(tmp_path, sample):
    with open_records(write(tmp_path, sample.data)) as r:
        assert r.record_count == len(sample.objects) == len(r)
        assert r.block_count == len(sample.block_offsets) > 10
        assert r.key_field == "id"
        assert r.version == 1
        assert {f.name: f.type_counts for f in r.names} == sample.names
        for f in r.names:
            assert r.name_for_hash(f.hash) == f.name
        assert r.name_for_hash(12345) is None
        assert [b.offset for b in r.blocks()] == sample.block_offsets
        assert [b.record_count for b in r.blocks()] == sample.block_counts
        assert r.records_bytes + r.footer_bytes + 64 == len(sample.data)


def test_iterate_in_file_order(tmp_path, sample):
    with RecordFileReader(write(tmp_path, sample.data)) as r:
        seen = list(r)
    assert [k for k, _ in seen] == sample.keys
    for (key, rec), obj in zip(seen, sample.objects):
        assert rec.get_i64("id") == key
        assert rec.get_str("name") == obj["name"]
        assert isinstance(rec._data, memoryview)  # zero-copy view into the map


def test_get_keys_and_index(tmp_path, sample):
    with RecordFileReader(write(tmp_path, sample.data)) as r:
        assert list(r.keys()) == sorted(sample.keys)
        entries = list(r.index_entries())
        assert [e.key for e in entries] == sorted(sample.keys)
        offsets = dict(zip(sample.keys, sample.record_offsets))
        for e in entries:
            assert e.offset == offsets[e.key]
        for key, obj in zip(sample.keys, sample.objects):
            rec = r.get(key)
            assert rec is not None and rec.get("name") == obj["name"]
            assert key in r
        assert r.get(10**6) is None
        assert r.get("0") is None
        assert 10**6 not in r


# What `spooky get` printed before it rendered in C: the fields in record order
# as a dict, through orjson. get_json must print the same.
def orjson_text(reader: RecordFileReader, key: int | str, indent: int) -> bytes:
    rec = reader.get(key)
    obj = {reader.name_for_hash(h): v for h, _type, v in rec.iter_fields()}
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 if indent else 0)


# floats where Python's repr and orjson lay digits out differently, and others
EDGE_FLOATS = [1e-5, 1.5e-5, 9.999e-5, 1e-6, 2.5e-7, 1e-10, 5e-324, 1e-4, 1e15, 1e16, 1.5e300]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(EDGE_FLOATS + [-x for x in EDGE_FLOATS] + [0.0, -0.0])
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60)
@given(
    objs=st.lists(
        st.dictionaries(st.text(max_size=6).filter(lambda n: n != "id"), json_values, max_size=5),
        min_size=1,
        max_size=4,
    )
)
def test_get_json_prints_what_orjson_printed(tmp_path_factory, objs):
    built = fb.build([{**o, "id": i} for i, o in enumerate(objs)])
    p = write(tmp_path_factory.mktemp("g"), built.data)
    with RecordFileReader(p) as r:
        for i in range(len(objs)):
            for indent in (0, 2):
                assert r.get_json(i, indent) == orjson_text(r, i, indent)
        assert r.get_json(len(objs)) is None


def test_get_json_of_the_sample(tmp_path, sample):
    with RecordFileReader(write(tmp_path, sample.data)) as r:
        for key in sample.keys:
            for indent in (0, 2):
                assert r.get_json(key, indent) == orjson_text(r, key, indent)
        with pytest.raises(SpookyError, match="indent"):
            r.get_json(sample.keys[0], 17)


def test_mixed_key_kinds_sort_and_lookup(tmp_path):
    keys = [5, -3, 2**63 + 7, "b", "a", "", 0, -(2**63), 2**63 - 1, 2**64 - 1, "é", "aa"]
    objs = [{"k": k, "v": i} for i, k in enumerate(keys)]
    built = fb.build(objs, key="k", block_target=64)
    with RecordFileReader(write(tmp_path, built.data)) as r:
        assert r.key_field == "k"
        ints = sorted(k for k in keys if isinstance(k, int))
        strs = sorted((k for k in keys if isinstance(k, str)), key=lambda s: s.encode())
        assert list(r.keys()) == ints + strs
        for i, k in enumerate(keys):
            assert r.get(k).get("v") == i
        assert r.verify() == (r.block_count, len(keys))


def test_verify_good_file(tmp_path, sample):
    with RecordFileReader(write(tmp_path, sample.data)) as r:
        assert r.verify() == (len(sample.block_offsets), len(sample.objects))


def test_export_equals_source(tmp_path, sample):
    with RecordFileReader(write(tmp_path, sample.data)) as r:
        lines = exported(r)
    assert len(lines) == len(sample.objects)
    for line, obj in zip(lines, sample.objects):
        got = orjson.loads(line)
        # fields come in the record's (hash) order
        hashes = [fb.xxh64(k.encode()) for k in got]
        assert hashes == sorted(hashes)
        assert same(got, obj), (got, obj)


def test_export_keeps_floats_and_big_ints(tmp_path):
    objs = [
        {
            "id": 1,
            "z": -0.0,
            "u": 2**64 - 1,
            "i": -(2**63),
            "f": 1e300,
            "g": 5e-324,
            "h": 0.1,
            "t": 1e16,
            "n": {"a": [-0.0, 2**64 - 1, -(2**63), 2.5]},
        },
        {"id": 2, "z": 0.0, "u": 2**63, "i": 2**63 - 1, "f": -1.5, "e": "", "o": {}, "l": []},
    ]
    built = fb.build(objs)
    with RecordFileReader(write(tmp_path, built.data)) as r:
        lines = exported(r)
    for line, obj in zip(lines, objs):
        assert same(orjson.loads(line), obj)
    assert b'"z":-0.0' in lines[0]
    assert b'"u":18446744073709551615' in lines[0]


def test_export_projection(tmp_path, sample):
    with RecordFileReader(write(tmp_path, sample.data)) as r:
        lines = exported(r, ["tags", "id", "big"])
        with pytest.raises(SpookyError, match=r"unknown field 'nope' \(the file has: .*big"):
            exported(r, ["nope"])
        assert exported(r, []) == [b"{}"] * len(sample.objects)
        assert exported(r, ["id", "id"]) == exported(r, ["id"])
    for line, obj in zip(lines, sample.objects):
        want = {k: obj[k] for k in ["tags", "id", "big"] if k in obj}
        got = orjson.loads(line)
        assert list(got) == list(want)  # the order asked for
        assert same(got, want)


def test_export_projection_of_changing_schemas(tmp_path):
    # slots resolved on one schema must follow records of another
    rnd = random.Random(5)
    objs = []
    for i in range(400):
        names = rnd.sample(["a", "b", "c", "d", "e", "f"], rnd.randint(0, 6))
        obj = {"id": i}
        for n in names:
            obj[n] = rnd.choice([n * 3, i, 1.5, None, True, [i]])
        objs.append(obj)
    built = fb.build(objs, block_target=500)
    with RecordFileReader(write(tmp_path, built.data)) as r:
        lines = exported(r, ["f", "a", "id", "c"])
    for line, obj in zip(lines, objs):
        want = {k: obj[k] for k in ["f", "a", "id", "c"] if k in obj}
        assert same(orjson.loads(line), want)


def test_export_writes_once_per_block_with_progress(tmp_path, sample):
    calls, progress = [], []
    with RecordFileReader(write(tmp_path, sample.data)) as r:
        n = r.export_ndjson(calls.append, progress=progress.append)
        assert n == len(sample.objects)
        assert len(calls) == r.block_count
        assert sum(progress) == r.records_bytes
        assert all(isinstance(c, bytes) for c in calls)


def test_iter_range_covers_every_record_once(tmp_path, sample):
    rnd = random.Random(1)
    size = len(sample.data)
    with RecordFileReader(write(tmp_path, sample.data)) as r:
        for _ in range(60):
            cuts = sorted(rnd.sample(range(1, size), rnd.randint(1, 25)))
            bounds = [0, *cuts, size]
            keys = []
            for a, b in zip(bounds, bounds[1:]):
                keys.extend(k for k, _ in r.iter_range(a, b))
            assert keys == sample.keys
        # ranges of every size around each block start
        for off in sample.block_offsets:
            assert [k for k, _ in r.iter_range(off, off + 1)]
            assert not list(r.iter_range(off + 1, off + 16))


def test_find_block_skips_false_matches(tmp_path):
    # a record whose bytes hold the sync (two adjacent i64 values) is no block
    obj0 = {"id": 0, "s": "x"}
    sync = fb.build([obj0], block_target=1).sync
    lo, hi = struct.unpack("<qq", sync)
    names = sorted((f"f{i}" for i in range(50)), key=lambda n: fb.xxh64(n.encode()))
    id_hash = fb.xxh64(b"id")
    a, b = next(
        (x, y)
        for x, y in zip(names, names[1:])
        if not fb.xxh64(x.encode()) < id_hash < fb.xxh64(y.encode())
    )
    objs = [obj0, {"id": 1, a: lo, b: hi}, {"id": 2}]
    built = fb.build(objs, block_target=1)
    assert built.sync == sync and built.data.count(sync) == 6  # header, 3 blocks, footer, record
    data = built.data
    ptr = ffi.from_buffer("uint8_t[]", data)
    sync = ffi.from_buffer("uint8_t[]", built.sync)
    found, pos = [], 0
    while True:
        at = lib.spooky_find_block(ptr, len(data), sync, pos)
        if at < 0:
            break
        found.append(at)
        pos = at + 1
    assert found == [*built.block_offsets, built.footer_offset]
    # a fake sync inside the header is not a block; nothing after the footer
    assert lib.spooky_find_block(ptr, len(data), sync, 0) == built.block_offsets[0]
    assert lib.spooky_find_block(ptr, len(data), sync, built.footer_offset + 1) == -1
    # a flipped payload byte hides its block: the search moves on to the next
    bad = bytearray(data)
    bad[built.block_offsets[0] + 45] ^= 0xFF
    bptr = ffi.from_buffer("uint8_t[]", bytes(bad))
    assert lib.spooky_find_block(bptr, len(bad), sync, 0) == built.block_offsets[1]


def test_empty_file(tmp_path):
    built = fb.build([])
    with RecordFileReader(write(tmp_path, built.data)) as r:
        assert (r.record_count, r.block_count, r.names) == (0, 0, [])
        assert list(r) == [] and list(r.keys()) == []
        assert r.get(1) is None
        assert r.verify() == (0, 0)
        assert exported(r) == []
        assert list(r.iter_range(0, len(built.data))) == []


def test_zero_byte_and_foreign_files(tmp_path):
    with pytest.raises(TruncatedFile, match="could not open record file .*empty"):
        RecordFileReader(write(tmp_path, b"", "empty"))
    with pytest.raises(RecordFileError, match="bad magic"):
        RecordFileReader(write(tmp_path, b"{}\n" * 40, "json"))
    with pytest.raises(TruncatedFile):
        RecordFileReader(write(tmp_path, b"SPKY", "short"))
    with pytest.raises(FileNotFoundError):
        RecordFileReader(tmp_path / "missing.spky")


def test_version_and_flags_checked(tmp_path, sample):
    with pytest.raises(RecordFileError, match="version"):
        RecordFileReader(write(tmp_path, fb.patch(sample.data, 8, struct.pack("<I", 2))))
    with pytest.raises(RecordFileError, match="flags"):
        RecordFileReader(write(tmp_path, fb.patch(sample.data, 12, struct.pack("<I", 1))))


# ---- truncated and damaged files ----------------------------------------------------


def test_truncated_at_every_cut(tmp_path):
    built = fb.build(fb.sample_objects(12), block_target=400)
    data = built.data
    p = tmp_path / "cut.spky"
    cuts = [*range(0, built.footer_offset, 11), *range(built.footer_offset, len(data))]
    for cut in cuts:
        p.write_bytes(data[:cut])
        with pytest.raises(RecordFileError) as info:
            RecordFileReader(p)
        if cut >= 8:
            assert isinstance(info.value, TruncatedFile), cut


def test_missing_middle_with_tail_kept(tmp_path):
    # the end magic is there but bytes before it are missing: structure errors
    built = fb.build(fb.sample_objects(12), block_target=400)
    data, tail = built.data, built.data[-32:]
    p = tmp_path / "gap.spky"
    for cut in range(built.block_offsets[-1], len(data) - 32):
        p.write_bytes(data[:cut] + tail)
        with pytest.raises(RecordFileError):
            RecordFileReader(p)


def test_flipped_block_byte_fails_verify_export_and_iteration(tmp_path, sample):
    rnd = random.Random(2)
    for _ in range(20):
        b = rnd.randrange(len(sample.block_offsets))
        start = sample.block_offsets[b] + 40
        end = (
            sample.block_offsets[b + 1]
            if b + 1 < len(sample.block_offsets)
            else sample.footer_offset
        )
        at = rnd.randrange(start, end)
        bad = bytearray(sample.data)
        bad[at] ^= 1 << rnd.randrange(8)
        with RecordFileReader(write(tmp_path, bytes(bad))) as r:
            with pytest.raises(ChecksumMismatch, match=f"block {b} of"):
                r.verify()
            with pytest.raises(ChecksumMismatch):
                exported(r)
            with pytest.raises(ChecksumMismatch):
                list(r)


def test_flipped_footer_byte_fails_open(tmp_path, sample):
    rnd = random.Random(3)
    for _ in range(30):
        at = rnd.randrange(sample.footer_offset, len(sample.data))
        bad = bytearray(sample.data)
        bad[at] ^= 1 << rnd.randrange(8)
        with pytest.raises(RecordFileError):
            RecordFileReader(write(tmp_path, bytes(bad)))


def test_block_header_must_match_table(tmp_path, sample):
    off = sample.block_offsets[3]
    cases = {
        off + 16: b"\x02",  # kind
        off + 17: b"\x01",  # reserved
        off + 20: struct.pack("<I", 999),  # record count
        off: b"\x00" * 16,  # sync
    }
    for at, new in cases.items():
        with RecordFileReader(write(tmp_path, fb.patch(sample.data, at, new))) as r:
            with pytest.raises(RecordFileError, match="block 3 of"):
                r.verify()
            with pytest.raises(RecordFileError):
                exported(r)
            with pytest.raises(RecordFileError, match="block 3 of"):
                list(r)  # iteration checks as much as verify (the sync too)


@pytest.mark.parametrize(
    "field,value,message",
    [
        (0, 10**12, "key index outside"),  # record_count
        (8, 2**62, "block table outside"),  # block_count
        (16, 2**40, "name table outside"),  # name_count
        (24, 2**64 - 8, "name table outside"),  # names_off
        (32, 2**63, "block table outside"),  # blocks_off
        (40, 2**64 - 1, "key index outside"),  # index_off
        (48, 2**64 - 1, "key heap outside"),  # heap_off
        (56, 2**64 - 1, "key heap outside"),  # heap_len
        (0, 0, "add up"),  # record_count vs blocks
    ],
)
def test_footer_sections_checked(tmp_path, sample, field, value, message):
    bad = fb.patch_footer(sample, field, struct.pack("<Q", value))
    with pytest.raises(RecordFileError, match=message):
        RecordFileReader(write(tmp_path, bad))


def test_footer_structure_checks(tmp_path, sample):
    s = sample.sections
    payload = sample.footer_payload
    cases = [
        (64, struct.pack("<I", 10**6), "key section outside"),
        (68, b"\x01", "reserved"),
        (s["names"] + 64, struct.pack("<I", 10**9), "field name outside"),
        (s["names"] + 72, b"X", "does not match its hash"),
        (s["names"], struct.pack("<Q", 2**64 - 1), "sorted by hash|match its hash"),
        (s["blocks"], struct.pack("<Q", 33), "back to back"),
        (s["blocks"] + 16, struct.pack("<Q", 2**63), "runs into the footer|back to back"),
        (s["blocks"] + 12, b"\x01", "reserved"),
        (s["index"] + 8, struct.pack("<Q", 2**64 - 100), "outside the blocks"),
        (s["index"] + 8, struct.pack("<Q", 3), "outside the blocks"),
        (s["index"] + 16, struct.pack("<I", 2**32 - 1), "outside the blocks"),
        (s["index"] + 20, struct.pack("<I", 2**31), "outside the heap"),
        (s["index"] + 24, struct.pack("<Q", 2**64 - 2), "outside the heap"),
        (s["index"] + 32 + 24, struct.pack("<Q", 0), "not sorted"),
    ]
    for at, new, message in cases:
        bad = fb.with_footer(sample, fb.patch(payload, at, new))
        with pytest.raises(RecordFileError, match=message):
            RecordFileReader(write(tmp_path, bad))
    # a footer shorter than its fixed part, and the tail pointing elsewhere
    with pytest.raises(RecordFileError, match="fixed part"):
        RecordFileReader(write(tmp_path, fb.with_footer(sample, payload[:40])))
    for foff in (0, 31, sample.footer_offset - 1, len(sample.data), 2**64 - 1):
        bad = fb.patch(sample.data, len(sample.data) - 32, struct.pack("<Q", foff))
        with pytest.raises(RecordFileError):
            RecordFileReader(write(tmp_path, bad))


def test_footer_byte_fuzz_never_crashes(tmp_path):
    # every footer byte changed, checksum fixed: open fails cleanly or the
    # file still reads (or fails cleanly) end to end
    built = fb.build(fb.sample_objects(8), block_target=300)
    payload = built.footer_payload
    p = tmp_path / "fuzz.spky"
    rnd = random.Random(4)
    for at in range(len(payload)):
        for new in {payload[at] ^ 0xFF, rnd.randrange(256)} - {payload[at]}:
            p.write_bytes(fb.with_footer(built, fb.patch(payload, at, bytes([new]))))
            try:
                r = RecordFileReader(p)
            except RecordFileError:
                continue
            with r:
                for call in (
                    r.verify,
                    lambda r=r: exported(r),
                    lambda r=r: list(r),
                    lambda r=r: list(r.index_entries()),
                    lambda r=r: list(r.keys()),
                    lambda r=r: r.get(0),
                    lambda r=r: r.get_json(built.keys[-1], 2),
                ):
                    try:
                        call()
                    except SpookyError:
                        pass


def test_block_byte_fuzz_never_crashes(tmp_path):
    # every payload byte changed, checksum fixed: reads fail cleanly or work
    built = fb.build(fb.sample_objects(6), block_target=250)
    p = tmp_path / "fuzz.spky"
    ends = [*built.block_offsets[1:], built.footer_offset]
    for off, end in zip(built.block_offsets, ends):
        for at in range(off + 40, end):
            for flip in (0x01, 0xFF):
                bad = bytearray(built.data)
                bad[at] ^= flip
                p.write_bytes(fb.rechecksum_block(bytes(bad), off))
                with RecordFileReader(p) as r:
                    for call in (
                        r.verify,
                        lambda r=r: exported(r),
                        lambda r=r: exported(r, ["id", "tags"]),
                        lambda r=r: list(r),
                        lambda r=r: list(r.iter_range(0, 10**6)),
                        lambda r=r: r.get_json(built.keys[-1], 2),
                    ):
                        try:
                            call()
                        except SpookyError:
                            pass


def test_bad_records_with_good_checksums(tmp_path):
    objs = [{"id": i, "s": "abc", "n": [1, 2]} for i in range(5)]
    built = fb.build(objs)
    off = built.block_offsets[0]
    rec_off = built.record_offsets[2]
    rec = fb.record_from_json(orjson.dumps(objs[2]))
    s_at = rec.index(b"abc")
    n_at = rec.index(b"\x82\x01\x02")
    key_at = rec_off - 9
    cases = [
        (rec_off + s_at, b"\xff", "not UTF-8"),  # bad string
        (rec_off + n_at, b"\x9f", "CBOR"),  # bad nested value
        (rec_off + 4, b"\x01", "not valid"),  # reserved header byte
        (key_at + 8, b"\x63", "differs from the key field"),  # key != record's id
        (key_at, b"\x07", "not well formed"),  # unknown key kind
        (off + 40, struct.pack("<I", 2**31), "runs past"),  # key_len
    ]
    for at, new, message in cases:
        bad = fb.rechecksum_block(fb.patch(built.data, at, new), off)
        with RecordFileReader(write(tmp_path, bad)) as r, pytest.raises(SpookyError, match=message):
            r.verify()
    # exporting needs only valid records and JSON-able values
    bad = fb.rechecksum_block(fb.patch(built.data, rec_off + s_at, b"\xff"), off)
    with RecordFileReader(write(tmp_path, bad)) as r, pytest.raises(SpookyError, match="not UTF-8"):
        exported(r)


@pytest.mark.parametrize(
    ("keys", "new"),
    [
        (["a", "b", "c"], b"\x03\xff"),  # the last key: not UTF-8
        ([1, 2, 3], b"\x04"),  # the last key: an unknown kind (still sorted last)
    ],
)
def test_malformed_index_key(tmp_path, keys, new):
    built = fb.build([{"id": k, "v": i} for i, k in enumerate(keys)])
    heap = built.sections["heap"]
    at = heap + sum(len(fb.sort_form(k)) for k in keys[:-1])  # the last key in the heap
    bad = fb.patch_footer(built, at, new)
    byte = built.footer_payload_offset + at
    with RecordFileReader(write(tmp_path, bad)) as r:
        assert r.get(keys[0]).get("v") == 0  # the other keys still work
        for call in (r.keys, r.index_entries):
            with pytest.raises(RecordFileError) as info:
                list(call())
            assert not isinstance(info.value, ValueError)
            assert str(info.value) == (
                f"{r.path}: key 2 of the key index is not well formed (at byte {byte})"
            )


def test_digest_mismatch_found_by_get_and_verify(tmp_path):
    objs = [{"id": i, "v": i} for i in range(4)]
    built = fb.build(objs)
    s = built.sections
    # index entry 1 (key 1) gets another digest
    bad = fb.patch_footer(built, s["index"] + 32, struct.pack("<Q", 12345))
    with RecordFileReader(write(tmp_path, bad)) as r:
        assert r.get(0).get("v") == 0
        with pytest.raises(ChecksumMismatch, match="digest"):
            r.get(1)
        with pytest.raises(ChecksumMismatch, match="digest"):
            r.verify()


def test_index_pointing_at_another_record(tmp_path):
    objs = [{"id": i, "v": i} for i in range(4)]
    built = fb.build(objs)
    s = built.sections
    # swap the record offsets of index entries 0 and 1 (digests stay)
    e0 = s["index"] + 8
    e1 = s["index"] + 32 + 8
    p = built.footer_payload
    swapped = fb.patch(fb.patch(p, e0, p[e1 : e1 + 8]), e1, p[e0 : e0 + 8])
    with (
        RecordFileReader(write(tmp_path, fb.with_footer(built, swapped))) as r,
        pytest.raises(RecordFileError, match="points elsewhere"),
    ):
        r.verify()


# ---- lifetimes and threads ------------------------------------------------------------


def test_records_outlive_close(tmp_path, sample):
    r = RecordFileReader(write(tmp_path, sample.data))
    rec = r.get(sample.keys[5])
    first = next(iter(r))[1]
    r.close()
    r.close()  # twice is fine
    assert rec.get("name") == sample.objects[5]["name"]
    assert first.get_i64("id") == sample.keys[0]
    with pytest.raises(SpookyError, match="closed"):
        r.get(1)


def test_export_from_threads(tmp_path, sample):
    with RecordFileReader(write(tmp_path, sample.data)) as r:
        want = exported(r)

        def one(_):
            return exported(r)

        with ThreadPoolExecutor(4) as pool:
            for got in pool.map(one, range(8)):
                assert got == want


def test_export_many_blocks_large(tmp_path):
    objs = [{"id": f"k{i:06d}", "x": i, "y": "z" * (i % 50)} for i in range(20000)]
    built = fb.build(objs, block_target=1 << 16)
    with RecordFileReader(write(tmp_path, built.data)) as r:
        assert r.block_count > 5
        lines = exported(r)
        assert r.verify() == (r.block_count, 20000)
    assert [orjson.loads(x)["x"] for x in lines] == list(range(20000))
