"""Micro-benchmarks of the spooky core.

Each ``run_*`` function builds its test data, runs a pair of implementations
(``ours`` and a ``baseline``) and returns rows::

    {"group", "name", "unit", "ours", "baseline_name", "baseline", "speedup"}

``unit`` is a time per operation, so ``speedup = baseline / ours`` is how many
times faster ours is. Every number is the median of several repeats; the two
sides of a pair are run alternately (baseline, ours, baseline, ours, ...) so a
noisy neighbour on a shared machine hits both about equally. Only ratios taken
within one run are meaningful; absolute nanoseconds move from run to run.

The C rows (groups ``fieldslot``, ``serialize``, ``change-detection``) time
loops inside ``native/bench.c``, so they measure the core without the
Python/cffi call overhead. The ``python-*`` groups time the same pairs through
the Python API, call overhead included.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional

from spooky_cli.bench.data import CITIES, FIRST_NAMES, LAST_NAMES, TAGS

Row = dict[str, Any]
Progress = Optional[Callable[[Row], None]]

# Operation names, in the order of the spooky_bench_op enum.
OPS = ("get_i64", "get_str", "get_bool", "get_f64", "set_i64", "set_str")

# The benchmarked field of each op. In SAMPLE_RECORD the 12 index entries sort
# (by xxh64) as: verified, price, created_at, version, metadata, id, name,
# address, content_hash, tags, email, user_id. So the four fields sit at index
# positions 0, 1, 10 and 11: a binary search needs 3 or 4 probes for each of
# them, whichever midpoint convention it uses (neither is the first probe, 5 or
# 6, nor a second one).
FIELD_FOR_OP = {
    "get_i64": "user_id",
    "get_str": "email",
    "get_bool": "verified",
    "get_f64": "price",
    "set_i64": "user_id",
    "set_str": "email",
}

# Speedups the project aims at (same-run ratios, see benchmarks/README.md):
# slot access of fixed-width fields in the C loop. serialize_into has no
# speed target: a fresh output buffer costs one allocation per record (the
# encoder sizes it once), which its row counts beside the times.
TARGETS: dict[tuple[str, str], float] = {
    ("fieldslot", "get_i64"): 4.0,
    ("fieldslot", "get_bool"): 4.0,
    ("fieldslot", "get_f64"): 4.0,
    ("fieldslot", "set_i64"): 4.0,
}

# A realistic 12-field record: scalars of every type, a u64 above 2**63, a
# list and nested objects (stored as CBOR).
SAMPLE_RECORD: dict[str, Any] = {
    "id": 1_000_042_917,
    "user_id": 4_815_162_342,
    "version": 17,
    "content_hash": 0xD3A1_5F0C_9B2E_7744,
    "price": 129.99,
    "verified": True,
    "name": "Ada Lovelace",
    "email": "ada.lovelace@example.com",
    "tags": ["analytics", "premium", "beta-tester", "eu-west"],
    "address": {
        "street": "12 St James's Square",
        "city": "London",
        "zip": "SW1Y 4JH",
        "country": "GB",
        "geo": {"lat": 51.5074, "lon": -0.1349},
    },
    "metadata": {
        "source": "import-v2",
        "created_by": "sync-worker-3",
        "revision": 42,
        "flags": {"archived": False, "featured": True},
        "score": 0.875,
        "note": None,
    },
    "created_at": "2024-03-14T09:26:53Z",
}

_STREETS = (
    "High Street",
    "Main St",
    "Rue de Rivoli",
    "Unter den Linden",
    "Bahnhofstrasse",
    "Broadway",
    "Avenida Paulista",
    "Queen St W",
)
_SOURCES = ("import-v1", "import-v2", "api", "web-form", "sync", "backfill")


def _native() -> tuple[Any, Any]:
    from spooky_cli._native import ffi, lib

    return ffi, lib


def _api() -> Any:
    import spooky_cli

    return spooky_cli


def _check(rc: int, what: str) -> None:
    if rc != 0:
        ffi, lib = _native()
        reason = ffi.string(lib.spooky_strerror(rc)).decode("utf-8", "replace")
        raise RuntimeError(f"{what} failed: {reason} (status {rc})")


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _row(group: str, name: str, unit: str, ours: float, baseline_name: str, baseline: float) -> Row:
    return {
        "group": group,
        "name": name,
        "unit": unit,
        "ours": round(ours, 3),
        "baseline_name": baseline_name,
        "baseline": round(baseline, 3),
        "speedup": round(baseline / ours, 2) if ours > 0 else float("inf"),
    }


def allocs_text(row: Row) -> str:
    """Allocations per record, ours / baseline ("0 / 1"), for rows that count
    them (serialize_into); "" for the others."""
    if "ours_allocs" not in row:
        return ""
    return f"{row['ours_allocs']:.3g} / {row['baseline_allocs']:.3g}"


def _emit(rows: list[Row], row: Row, progress: Progress) -> None:
    rows.append(row)
    if progress is not None:
        progress(row)


# ---- timing -----------------------------------------------------------------


def _target_ns(quick: bool) -> int:
    """Wall time aimed at for one repeat of one side of a pair."""
    return 5_000_000 if quick else 30_000_000


def _repeats(quick: bool) -> int:
    return 3 if quick else 5


def _size(run: Callable[[int], int], target_ns: int, start: int = 1) -> int:
    """How many units of work ``run(n) -> elapsed_ns`` needs to last target_ns."""
    n = max(1, start)
    while True:
        ns = run(n)
        if ns >= target_ns // 8 or n >= 1 << 40:
            break
        grow = (target_ns // 8) / max(ns, 1)
        n = int(n * min(max(grow * 1.5, 2.0), 1000.0))
    return max(1, round(n * target_ns / max(ns, 1)))


def _pair(
    run_ours: Callable[[int], int], run_base: Callable[[int], int], quick: bool, start: int = 1
) -> tuple[float, float]:
    """Median ns per unit of ours and of the baseline, run alternately."""
    target = _target_ns(quick)
    n_base = _size(run_base, target, start)
    n_ours = _size(run_ours, target, start)
    ours: list[float] = []
    base: list[float] = []
    for _ in range(_repeats(quick)):
        base.append(run_base(n_base) / n_base)
        ours.append(run_ours(n_ours) / n_ours)
    return statistics.median(ours), statistics.median(base)


# ---- test data ---------------------------------------------------------------


def sample_record_bytes() -> bytes:
    """SAMPLE_RECORD as record bytes (through the Python API)."""
    return _api().record_from_json(_dumps(SAMPLE_RECORD))


def generate_records(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """n realistic, varied records with the field set of SAMPLE_RECORD.

    Values, string lengths, list lengths and nested objects vary; the top-level
    field set stays the same (one schema), as in a table of SpookyDB records.
    """
    rng = random.Random(seed)
    out = []
    for i in range(n):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, country = rng.choice(CITIES)[:2]
        meta: dict[str, Any] = {
            "source": rng.choice(_SOURCES),
            "created_by": f"sync-worker-{rng.randrange(1, 17)}",
            "revision": rng.randrange(1, 10_000),
            "flags": {"archived": rng.random() < 0.1, "featured": rng.random() < 0.2},
            "score": round(rng.random(), 4),
        }
        if rng.random() < 0.3:
            meta["note"] = rng.choice(
                [None, "migrated from legacy CRM", "manual review requested", "ok"]
            )
        if rng.random() < 0.2:
            meta["history"] = [
                {"rev": r, "at": 1_700_000_000 + rng.randrange(10**7)}
                for r in range(rng.randrange(1, 5))
            ]
        out.append(
            {
                "id": 1_000_000_000 + i,
                "user_id": rng.randrange(1, 10**10),
                "version": rng.randrange(1, 1000),
                "content_hash": rng.randrange(2**63, 2**64),
                "price": round(rng.uniform(0.5, 5000.0), 2),
                "verified": rng.random() < 0.7,
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{rng.randrange(1000)}@example.com",
                "tags": rng.sample(TAGS, rng.randrange(0, 7)),
                "address": {
                    "street": f"{rng.randrange(1, 9999)} {rng.choice(_STREETS)}",
                    "city": city,
                    "zip": f"{rng.randrange(100000):05d}",
                    "country": country,
                    "geo": {
                        "lat": round(rng.uniform(-90, 90), 6),
                        "lon": round(rng.uniform(-180, 180), 6),
                    },
                },
                "metadata": meta,
                "created_at": (
                    f"20{rng.randrange(18, 26)}-{rng.randrange(1, 13):02d}-"
                    f"{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:"
                    f"{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"
                ),
            }
        )
    return out


def _concat(chunks: Sequence[bytes]) -> tuple[Any, Any, bytes]:
    """(uint8_t[] over the joined bytes, size_t[n+1] offsets, the joined bytes)."""
    ffi, _ = _native()
    blob = b"".join(chunks)
    offsets = [0]
    for c in chunks:
        offsets.append(offsets[-1] + len(c))
    # The returned blob keeps the buffer alive as long as the cdata is used.
    return ffi.from_buffer("uint8_t[]", blob), ffi.new("size_t[]", offsets), blob


# ---- C kernels ------------------------------------------------------------------


def _c_field(rec: Any, name: Any, name_len: int, op: int, use_slot: int, iters: int) -> int:
    ffi, lib = _native()
    elapsed = ffi.new("uint64_t *")
    sink = ffi.new("uint64_t *")
    rc = lib.spooky_bench_field(rec, len(rec), name, name_len, op, use_slot, iters, elapsed, sink)
    _check(rc, "spooky_bench_field")
    return int(elapsed[0])


def run_fieldslot(quick: bool = False, progress: Progress = None) -> list[Row]:
    """C loop: typed access through a resolved slot vs by name (hash + search)."""
    ffi, lib = _native()
    data = sample_record_bytes()
    # A writable copy (ffi.new with a bytes initializer would add a NUL).
    rec = ffi.new("uint8_t[]", len(data))
    ffi.memmove(rec, data, len(data))
    rows: list[Row] = []
    for op_name in OPS:
        field = FIELD_FOR_OP[op_name].encode()
        name = ffi.from_buffer("uint8_t[]", field)
        op = getattr(lib, "SPOOKY_BENCH_" + op_name.upper())
        run = functools.partial(_c_field, rec, name, len(field), op)
        ours, base = _pair(functools.partial(run, 1), functools.partial(run, 0), quick, start=1000)
        if bytes(ffi.buffer(rec)) != data:
            raise RuntimeError(f"bench {op_name} left the record changed")
        _emit(rows, _row("fieldslot", op_name, "ns/op", ours, "by name", base), progress)
    return rows


def _c_serialize(json_c: Any, offs: Any, n: int, reuse: int, passes: int) -> int:
    ffi, lib = _native()
    elapsed = ffi.new("uint64_t *")
    sink = ffi.new("uint64_t *")
    allocs = ffi.new("uint64_t *")
    total = 0
    for _ in range(passes):
        rc = lib.spooky_bench_serialize(json_c, offs, n, reuse, elapsed, sink, allocs)
        _check(rc, "spooky_bench_serialize")
        total += int(elapsed[0])
    return total


def run_serialize(
    quick: bool = False, n_records: int | None = None, progress: Progress = None, seed: int = 1
) -> list[Row]:
    """C loop: JSON -> record into one reused buffer vs a fresh buffer each."""
    ffi, lib = _native()
    n = n_records if n_records is not None else (500 if quick else 2000)
    if n < 1:
        raise ValueError(f"n_records must be >= 1, got {n}")
    json_c, offs, _blob = _concat([_dumps(d) for d in generate_records(n, seed)])

    # Both modes must write the same number of bytes; the allocations of
    # each mode's timed loop are counted in the core's buffer-growth path.
    sinks, allocs = [], []
    for reuse in (0, 1):
        elapsed = ffi.new("uint64_t *")
        sink = ffi.new("uint64_t *")
        count = ffi.new("uint64_t *")
        _check(
            lib.spooky_bench_serialize(json_c, offs, n, reuse, elapsed, sink, count),
            "spooky_bench_serialize",
        )
        sinks.append(int(sink[0]))
        allocs.append(int(count[0]) / n)
    if sinks[0] != sinks[1]:
        raise RuntimeError(f"serialize modes disagree: {sinks[0]} != {sinks[1]} bytes")

    run = functools.partial(_c_serialize, json_c, offs, n)
    ours, base = _pair(functools.partial(run, 1), functools.partial(run, 0), quick)
    rows: list[Row] = []
    row = _row(
        "serialize",
        "serialize_into",
        "ns/record",
        ours / n,
        "serialize (fresh buffer)",
        base / n,
    )
    row["ours_allocs"], row["baseline_allocs"] = allocs[1], allocs[0]  # per record
    _emit(rows, row, progress)
    return rows


def make_change_sets(
    n: int, seed: int = 2, change_rate: float = 0.10
) -> tuple[list[bytes], list[bytes], int]:
    """Old and new record bytes; about change_rate of the pairs differ in
    version, content_hash or both. Returns (old, new, number of changed pairs)."""
    api = _api()
    old_docs = generate_records(n, seed)
    rng = random.Random(seed + 1_000_003)
    new_docs = []
    expected = 0
    for d in old_docs:
        nd = dict(d)
        if rng.random() < change_rate:
            kind = rng.randrange(3)
            if kind in (0, 2):
                nd["version"] = d["version"] + 1
            if kind in (1, 2):
                h = d["content_hash"]
                while h == d["content_hash"]:
                    h = rng.randrange(2**63, 2**64)
                nd["content_hash"] = h
            expected += 1
        new_docs.append(nd)
    old = [api.record_from_json(_dumps(d)) for d in old_docs]
    new = [api.record_from_json(_dumps(d)) for d in new_docs]
    return old, new, expected


def _c_change(
    old_c: Any, old_offs: Any, new_c: Any, new_offs: Any, n: int, use_slot: int, passes: int
) -> int:
    ffi, lib = _native()
    elapsed = ffi.new("uint64_t *")
    changed = ffi.new("uint64_t *")
    total = 0
    for _ in range(passes):
        rc = lib.spooky_bench_change_detection(
            old_c, old_offs, new_c, new_offs, n, use_slot, elapsed, changed
        )
        _check(rc, "spooky_bench_change_detection")
        total += int(elapsed[0])
    return total


def run_change_detection(
    quick: bool = False, n_records: int | None = None, progress: Progress = None, seed: int = 2
) -> list[Row]:
    """C loop: compare version + content_hash of record pairs, slots vs by name."""
    ffi, lib = _native()
    n = n_records if n_records is not None else (1000 if quick else 5000)
    if n < 1:
        raise ValueError(f"n_records must be >= 1, got {n}")
    old, new, expected = make_change_sets(n, seed)
    old_c, old_offs, _old_blob = _concat(old)
    new_c, new_offs, _new_blob = _concat(new)

    counts = []
    for use_slot in (0, 1):
        elapsed = ffi.new("uint64_t *")
        changed = ffi.new("uint64_t *")
        _check(
            lib.spooky_bench_change_detection(
                old_c, old_offs, new_c, new_offs, n, use_slot, elapsed, changed
            ),
            "spooky_bench_change_detection",
        )
        counts.append(int(changed[0]))
    if counts != [expected, expected]:
        raise RuntimeError(
            f"change detection counts disagree: by name {counts[0]}, "
            f"slots {counts[1]}, expected {expected}"
        )

    run = functools.partial(_c_change, old_c, old_offs, new_c, new_offs, n)
    ours, base = _pair(functools.partial(run, 1), functools.partial(run, 0), quick)
    rows: list[Row] = []
    _emit(
        rows,
        _row("change-detection", "detect_changes", "ns/record", ours / n, "by name", base / n),
        progress,
    )
    return rows


# ---- Python API -------------------------------------------------------------------


def _loop1(f: Callable[[Any], Any], a: Any, n: int) -> int:
    it = itertools.repeat(None, n)
    t0 = time.perf_counter_ns()
    for _ in it:
        f(a)
    return time.perf_counter_ns() - t0


def _loop2(f: Callable[[Any, Any], Any], a: Any, b: Any, n: int) -> int:
    it = itertools.repeat(None, n)
    t0 = time.perf_counter_ns()
    for _ in it:
        f(a, b)
    return time.perf_counter_ns() - t0


def _py_serialize_fresh(docs: Sequence[dict[str, Any]], passes: int) -> int:
    ser = _api().serialize
    t0 = time.perf_counter_ns()
    for _ in range(passes):
        for d in docs:
            ser(d)
    return time.perf_counter_ns() - t0


def _py_serialize_into(docs: Sequence[dict[str, Any]], passes: int) -> int:
    into = _api().serialize_into
    buf = bytearray()
    t0 = time.perf_counter_ns()
    for _ in range(passes):
        for d in docs:
            into(d, buf)
    return time.perf_counter_ns() - t0


def run_python_api(
    quick: bool = False, progress: Progress = None, n_records: int | None = None, seed: int = 1
) -> list[Row]:
    """The fieldslot and serialize pairs through the Python API."""
    api = _api()
    data = sample_record_bytes()
    rows: list[Row] = []

    r = api.SpookyRecord(data)
    m = api.SpookyRecordMut(data)
    for op_name in OPS:
        field = FIELD_FOR_OP[op_name]
        if op_name.startswith("get_"):
            typ = op_name[4:]
            by_name = functools.partial(_loop1, getattr(r, "get_" + typ), field)
            by_slot = functools.partial(_loop1, getattr(r, f"get_{typ}_at"), r.resolve(field))
        else:
            typ = op_name[4:]
            value = getattr(r, "get_" + typ)(field)  # write back what is there
            by_name = functools.partial(_loop2, getattr(m, "set_" + typ), field, value)
            by_slot = functools.partial(
                _loop2, getattr(m, f"set_{typ}_at"), m.resolve(field), value
            )
        ours, base = _pair(by_slot, by_name, quick, start=1000)
        _emit(rows, _row("python-fieldslot", op_name, "ns/op", ours, "by name", base), progress)
    if m.to_bytes() != data:
        raise RuntimeError("python set benchmarks left the record changed")
    rows += _slot_check_rows(api, data, quick, progress)

    n = n_records if n_records is not None else (200 if quick else 1000)
    docs = generate_records(n, seed)
    buf = bytearray()
    for d in docs[:20]:
        k = api.serialize_into(d, buf)
        if bytes(buf[:k]) != api.serialize(d):
            raise RuntimeError("serialize_into and serialize disagree")
    ours, base = _pair(
        functools.partial(_py_serialize_into, docs),
        functools.partial(_py_serialize_fresh, docs),
        quick,
    )
    _emit(
        rows,
        _row(
            "python-serialize",
            "serialize_into",
            "ns/record",
            ours / n,
            "serialize (fresh buffer)",
            base / n,
        ),
        progress,
    )
    return rows


SLOT_CHECKS = ("get_i64_at", "set_i64_at")


def _slot_check_rows(api: Any, data: bytes, quick: bool, progress: Progress) -> list[Row]:
    """What a slot's checks cost through the Python API: get_i64_at (the
    record check and, in debug runs, the generation assert) and set_i64_at
    (those and the O(1) index entry check), against the same calls with the
    checks taken out (the type check stays in both)."""

    class Unchecked(api.SpookyRecordMut):  # type: ignore[misc,name-defined]
        def _typed(self, slot: Any, tag: int) -> int:
            if slot.type != tag:
                raise TypeError(slot.name)
            return int(slot.offset)

        def _writable(self, slot: Any, tag: int) -> int:
            return self._typed(slot, tag)

    rows: list[Row] = []
    checked, unchecked = api.SpookyRecordMut(data), Unchecked(data)
    field = FIELD_FOR_OP["get_i64"]
    a, b = checked.resolve(field), unchecked.resolve(field)
    value = checked.get_i64_at(a)
    pairs = {
        "get_i64_at": (
            functools.partial(_loop1, checked.get_i64_at, a),
            functools.partial(_loop1, unchecked.get_i64_at, b),
        ),
        "set_i64_at": (
            functools.partial(_loop2, checked.set_i64_at, a, value),
            functools.partial(_loop2, unchecked.set_i64_at, b, value),
        ),
    }
    for name in SLOT_CHECKS:
        ours, base = _pair(*pairs[name], quick, start=1000)
        row = _row("python-slot-checks", name, "ns/op", ours, "checks taken out", base)
        row["note"] = f"the checks cost {max(ours - base, 0):.0f} ns"
        _emit(rows, row, progress)
    return rows


def run_all(quick: bool = False, progress: Progress = None, python_api: bool = True) -> list[Row]:
    """Every group, in the order the README describes them."""
    rows: list[Row] = []
    rows += run_fieldslot(quick, progress)
    rows += run_serialize(quick, progress=progress)
    rows += run_change_detection(quick, progress=progress)
    if python_api:
        rows += run_python_api(quick, progress)
    return rows
