"""Fuzzing `diff` and `filter` past the checksums.

Bytes flipped at random mostly stop at a checksum (a block's, the footer's, a
record's digest in the key index): the fuzz tests of test_diff.py and
test_filter.py seldom reach the parsers behind them. Here a damaged file is
re-sealed first (tests/reseal.py: block checksums, record digests and the
footer checksum computed again), so the damage reaches the record, CBOR,
framing and key index checks. The commands must never crash: exit 0, 1 or 2,
and on 2 one line `spooky: error: ...` (the sanitizer run of this file checks
the memory accesses)."""

from __future__ import annotations

import random
import struct
import sys
from functools import lru_cache
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

import filebuilder as fb  # noqa: E402
from cli_runner import run_cli  # noqa: E402
from reseal import reseal  # noqa: E402

from spooky_cli.errors import ChecksumMismatch, SpookyError  # noqa: E402
from spooky_cli.reader import RecordFileReader  # noqa: E402

U32 = [0, 1, 2, 7, 19, 20, 21, 39, 40, 0x7F, 0x80, 0xFF, 0x7FFFFFFF, 0x80000000, 2**32 - 1]
U64 = [*U32, 2**31, 2**32, 2**63, 2**64 - 1]


@lru_cache
def sources() -> tuple[fb.Built, fb.Built]:
    """An old and a new file (every value type, nested values, odd names;
    some records changed, some removed), several blocks each."""
    objs = fb.sample_objects(60)
    new = [dict(o, score=o["score"] + 1) if i % 4 == 0 else o for i, o in enumerate(objs) if i % 9]
    return fb.build(objs, block_target=2000), fb.build(new, block_target=2000)


def entries(b: fb.Built) -> list[tuple[int, int, int, int]]:
    """(entry offset, key length, record offset, record length) of each record."""
    out = []
    for off in b.block_offsets:
        (plen,) = struct.unpack_from("<Q", b.data, off + 24)
        at, end = off + 40, off + 40 + plen
        while at < end:
            klen, rlen = struct.unpack_from("<II", b.data, at)
            out.append((at, klen, at + 8 + klen, rlen))
            at += 8 + klen + rlen
    return out


def mutate(b: fb.Built, rnd: random.Random) -> bytes:
    """b's bytes with one to three changes, aimed mostly at the records (their
    header, index, values) and the structures around them, then re-sealed
    (now and then without the record digests)."""
    data = bytearray(b.data)
    recs = entries(b)
    footer = b.footer_payload_offset

    def put(at: int, value: int, size: int) -> None:
        if at >= 0 and at + size <= len(data):
            data[at : at + size] = (value % 2 ** (8 * size)).to_bytes(size, "little")

    for _ in range(rnd.randint(1, 3)):
        entry, klen, rec, rlen = rnd.choice(recs)
        (count,) = struct.unpack_from("<I", data, rec)
        field = rec + 20 + 20 * rnd.randrange(max(1, min(count, 64)))
        values = rec + 20 + 20 * count  # where the values begin, in a valid record
        what = rnd.choice(
            [
                "value",
                "value",
                "value",
                "record",
                "field",
                "count",
                "framing",
                "key",
                "footer",
                "any",
            ]
        )
        if what == "value" and values < rec + rlen:  # a value's byte: CBOR, UTF-8, a float
            data[rnd.randrange(values, rec + rlen)] ^= rnd.randint(1, 255)
        elif what in ("value", "record"):  # any byte of the record
            data[rec + rnd.randrange(rlen)] ^= rnd.randint(1, 255)
        elif what == "field":  # an index entry of the record: offset, length, tag
            part = rnd.choice([8, 12, 16, 0])
            if part == 16:
                put(field + 16, rnd.randrange(12), 1)
            elif part == 0:
                data[field + rnd.randrange(8)] ^= rnd.randint(1, 255)
            else:
                put(field + part, rnd.choice([*U32, rnd.randrange(rlen + 8)]), 4)
        elif what == "count":
            put(rec, rnd.choice(U32), 4)
        elif what == "framing":  # key_len or record_len in front of the record
            old = struct.unpack_from("<I", data, entry + 4 * (at := rnd.randrange(2)))[0]
            put(entry + 4 * at, rnd.choice([*U32, old + rnd.randint(-3, 3)]), 4)
        elif what == "key":  # the stored key
            data[entry + 8 + rnd.randrange(klen)] ^= rnd.randint(1, 255)
        elif what == "footer":  # the footer: fixed part, names, block table, key index, heap
            at = footer + rnd.randrange(len(data) - 32 - footer)
            if rnd.random() < 0.5:
                put(at - at % 8 if at - footer < 72 else at, rnd.choice(U64), 8)
            else:
                data[at] ^= rnd.randint(1, 255)
        else:
            data[rnd.randrange(len(data))] ^= rnd.randint(1, 255)
    return reseal(bytes(data), digests=rnd.random() < 0.9)


def clean_exit(res, what: str) -> None:
    assert res.code in (0, 1, 2), (what, res.code, res.stderr)
    assert "Traceback" not in res.stderr, (what, res.stderr)
    if res.code == 2:
        assert res.stderr.startswith("spooky: error: "), (what, res.stderr)
        assert res.stderr.count("\n") == 1, (what, res.stderr)


DIFF_ARGS = [
    [],
    ["--format", "json"],
    ["--format", "ndjson", "--full"],
    ["--format", "markdown"],
    ["--where", "score >= 50", "-q"],
    ["--tolerance", "0.5", "--deep", "--array-key", "id"],
    ["-q"],
    ["--summary"],
    ["--deep"],
    ["--deep", "--format", "json", "--ignore", "nested.x"],
    ["--fields", "score,nested,tags"],
    ["--ignore", "score"],
    ["--verify", "-q"],
]

FILTER_ARGS = [
    ["-w", "score >= 50"],
    ["-w", "nested.x.y.0 == 1.5", "--any", "-w", 'tags contains "a"'],
    ["-w", "name exists", "--fields", "name,nested,big"],
    ["-w", 'name in ["user-3", "user-7"]', "--format", "spky"],
    ["--count", "-w", "ok == true"],
    ["-w", "big > 5", "-w", "neg0 <= 0", "--any"],
]


@settings(max_examples=150)
@given(rnd=st.randoms(use_true_random=False), args=st.sampled_from(DIFF_ARGS), side=st.booleans())
def test_diff_never_crashes(tmp_path_factory, rnd, args, side) -> None:
    old, new = sources()
    tmp = tmp_path_factory.mktemp("fz")
    a, b = tmp / "a.spky", tmp / "b.spky"
    a.write_bytes(mutate(old, rnd) if side else old.data)
    b.write_bytes(new.data if side else mutate(new, rnd))
    clean_exit(run_cli("diff", str(a), str(b), *args), f"diff {args}")


@settings(max_examples=150)
@given(rnd=st.randoms(use_true_random=False), args=st.sampled_from(FILTER_ARGS))
def test_filter_never_crashes(tmp_path_factory, rnd, args) -> None:
    tmp = tmp_path_factory.mktemp("fz")
    bad = tmp / "bad.spky"
    bad.write_bytes(mutate(sources()[0], rnd))
    out = ["-o", str(tmp / "out.spky")] if "spky" in args else []
    clean_exit(run_cli("filter", str(bad), *args, *out), f"filter {args}")


def test_resealing_a_whole_file_changes_nothing() -> None:
    for b in sources():
        assert reseal(b.data) == b.data


def test_mutations_reach_the_parsers(tmp_path: Path) -> None:
    """Of 300 re-sealed mutations, few stop at a checksum or a digest (the
    plain byte flips of the older fuzz tests: about 9 in 10); most reach a
    record, CBOR, framing or index check, or are valid files again."""
    rnd = random.Random(1)
    old = sources()[0]
    p = tmp_path / "m.spky"
    outcomes = {"checksum": 0, "other error": 0, "valid": 0}
    for _ in range(300):
        p.write_bytes(mutate(old, rnd))
        try:
            with RecordFileReader(p) as r:
                r.verify()
            outcomes["valid"] += 1
        except ChecksumMismatch:
            outcomes["checksum"] += 1
        except SpookyError:
            outcomes["other error"] += 1
    assert outcomes["checksum"] < 300 * 0.2, outcomes
    assert outcomes["other error"] > 300 * 0.5, outcomes
