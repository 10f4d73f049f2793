"""Generated NDJSON for the macro benchmarks: realistic, nested, deterministic.

Each record is about 400 bytes of compact JSON::

    {"id": 1000000042, "content_hash": 17293822569102704640, "version": 17,
     "created_at": "2024-03-14T09:26:53Z", "price": 129.99, "active": true,
     "user": {"id": ..., "name": "José Müller", "email": ..., "verified": true,
              "score": 0.875},
     "tags": ["premium", "eu-west"],
     "events": [{"type": "click", "at": 1700000123, "value": 1.5}, ...],
     "location": {"city": "Zürich", "country": "CH", "lat": 47.3769, "lon": 8.5417},
     "note": null}

ids are unique (the key of `spooky convert`), `content_hash` is a u64 above
2**63, some strings are not ASCII. The first POOL records are built one by one
from ``random.Random(seed)``; past that, lines reuse a pool record's body with a
new ``id``, ``content_hash`` and ``version`` (at the front of the line), so
millions of lines take seconds, not minutes. Same (n, seed), same bytes.

For the diff benchmark, changed_lines() / changed_ndjson() make a "new"
version of those lines: about CHANGED of the records get a higher version, a
new content_hash and one more field changed, REMOVED are left out, and ADDED
new records (ids above the old ones) come in between. Same (n, seed), same
bytes, and the counts of what changed come with them.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

POOL = 20_000  # records built from scratch; later lines reuse their bodies
FIRST_ID = 1_000_000_000

FIRST_NAMES = (
    "Ada",
    "Alan",
    "Grace",
    "José",
    "Barbara",
    "Donald",
    "Françoise",
    "Ken",
    "Margaret",
    "Zoë",
    "Radia",
    "Linus",
    "Søren",
    "Tim",
    "Katherine",
    "Jürgen",
    "Hedy",
    "Niklaus",
    "Łukasz",
    "Leslie",
    "Amélie",
    "Björn",
    "Chloé",
    "Ñico",
)
LAST_NAMES = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Müller",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Torvalds",
    "Wilson",
    "Nøkleby",
    "Johnson",
    "Backus",
    "Lamarr",
    "Wirth",
    "Goldwasser",
    "Lamport",
    "Dvořák",
    "Öztürk",
    "García",
    "Kowalski",
)
CITIES = (
    ("London", "GB", 51.5074, -0.1278),
    ("Paris", "FR", 48.8566, 2.3522),
    ("Berlin", "DE", 52.52, 13.405),
    ("Zürich", "CH", 47.3769, 8.5417),
    ("New York", "US", 40.7128, -74.006),
    ("São Paulo", "BR", -23.5505, -46.6333),
    ("Tokyo", "JP", 35.6762, 139.6503),
    ("Toronto", "CA", 43.6532, -79.3832),
    ("Kraków", "PL", 50.0647, 19.945),
    ("Lagos", "NG", 6.5244, 3.3792),
    ("Malmö", "SE", 55.605, 13.0038),
    ("Reykjavík", "IS", 64.1466, -21.9426),
)
TAGS = (
    "analytics",
    "premium",
    "beta-tester",
    "eu-west",
    "us-east",
    "newsletter",
    "trial",
    "enterprise",
    "mobile",
    "legacy",
    "vip",
    "churn-risk",
    "partner",
    "internal",
)
_EVENTS = ("click", "view", "purchase", "login", "logout", "share", "search")
_NOTES = (
    "migrated from legacy CRM",
    "manual review requested",
    "ok",
    "clé invalide corrigée",
    "überprüft",
)


def record(i: int, rng: random.Random) -> dict[str, Any]:
    """Record number i (its id is FIRST_ID + i), values drawn from rng."""
    r = rng.random
    first, last = FIRST_NAMES[int(r() * len(FIRST_NAMES))], LAST_NAMES[int(r() * len(LAST_NAMES))]
    city, country, lat, lon = CITIES[int(r() * len(CITIES))]
    created = 1_514_764_800 + int(r() * 252_000_000)  # 2018 .. 2025
    at = created + int(r() * 1_000_000)
    events = []
    for _ in range(int(r() * 3)):
        at += 1 + int(r() * 86_400)
        events.append(
            {"type": _EVENTS[int(r() * len(_EVENTS))], "at": at, "value": round(r() * 100, 2)}
        )
    t = int(r() * len(TAGS))
    note = _NOTES[int(r() * len(_NOTES))] if r() < 0.25 else None
    return {
        "id": FIRST_ID + i,
        "content_hash": rng.getrandbits(63) | (1 << 63),
        "version": 1 + int(r() * 999),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
        "price": round(0.5 + r() * 4999.5, 2),
        "active": r() < 0.8,
        "user": {
            "id": 1 + int(r() * 9_999_999_999),
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{int(r() * 1000)}@example.com",
            "verified": r() < 0.7,
            "score": round(r(), 3),
        },
        "tags": list(TAGS[t : t + int(r() * 4)]),
        "events": events,
        "location": {
            "city": city,
            "country": country,
            "lat": round(lat + r() - 0.5, 4),
            "lon": round(lon + r() - 0.5, 4),
        },
        "note": note,
    }


def records(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """The first min(n, POOL) records as dicts (what lines() starts with)."""
    rng = random.Random(seed)
    return [record(i, rng) for i in range(min(n, POOL))]


def lines(n: int, seed: int = 1, batch: int = 10_000) -> Iterator[bytes]:
    """n NDJSON lines, yielded in batches of up to `batch` joined lines."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    pool: list[bytes] = []  # each pool record's line after its "version" value
    out: list[bytes] = []
    for i in range(min(n, POOL)):
        line = orjson.dumps(record(i, rng))
        out.append(line)
        # '{"id":N,"content_hash":H,"version":V,' + rest: keep the rest.
        pool.append(line[line.index(b',"created_at"') :])
        if len(out) >= batch:
            yield b"\n".join(out) + b"\n"
            out = []
    rest = random.Random(seed + 7_919)
    bits = rest.getrandbits
    for i in range(len(pool), n):
        out.append(
            b'{"id":%d,"content_hash":%d,"version":%d%s'
            % (FIRST_ID + i, bits(63) | (1 << 63), bits(10) + 1, pool[i % POOL])
        )
        if len(out) >= batch:
            yield b"\n".join(out) + b"\n"
            out = []
    if out:
        yield b"\n".join(out) + b"\n"


# ---- a "new" version, for the diff benchmark ----------------------------------------

CHANGED = 0.10  # share of records changed (version, content_hash and one more field)
REMOVED = 0.01  # share of records left out
ADDED = 0.01  # chance of a new record after each line of the old file


def _changed(line: bytes, rng: random.Random) -> bytes:
    """line with a higher version, a new content_hash and one more field
    changed (top-level or nested)."""
    d = orjson.loads(line)
    d["version"] += 1
    d["content_hash"] = rng.getrandbits(63) | (1 << 63)
    what = int(rng.random() * 5)
    if what == 0:
        d["price"] = round(d["price"] + 0.01 + rng.random() * 100, 2)
    elif what == 1:
        d["active"] = not d["active"]
    elif what == 2:
        d["user"]["verified"] = not d["user"]["verified"]
    elif what == 3:
        d["tags"] = [*d["tags"], "vip"]
    else:
        d["note"] = "manual review requested" if d["note"] is None else None
    return orjson.dumps(d)


def changed_lines(
    n: int,
    seed: int = 1,
    counts: dict[str, int] | None = None,
    source: Iterable[bytes] | None = None,
) -> Iterator[bytes]:
    """The "new" version of lines(n, seed), in batches: each line is kept,
    changed (share CHANGED) or left out (REMOVED; never the first, so the new
    version is never empty), and after each line comes, with chance ADDED, a
    record with a new id (FIRST_ID + n + k: keys stay unique). source:
    lines(n, seed) as already written (batches of whole lines, e.g. read from
    its file), to skip generating them again. counts, if given, gets the
    "changed", "removed" and "added" records. Same (n, seed), same bytes."""
    rng = random.Random(seed + 104_729)
    r = rng.random
    tally = {"changed": 0, "removed": 0, "added": 0}
    next_id = FIRST_ID + n
    keep = True  # the first line stays
    for chunk in source if source is not None else lines(n, seed):
        out: list[bytes] = []
        for line in chunk.splitlines():
            x = r()
            if x < REMOVED and not keep:
                tally["removed"] += 1
            elif x < REMOVED + CHANGED:
                out.append(_changed(line, rng))
                tally["changed"] += 1
            else:
                out.append(line)
            keep = False
            if r() < ADDED:
                rest = line[line.index(b',"created_at"') :]
                out.append(
                    b'{"id":%d,"content_hash":%d,"version":1%s'
                    % (next_id, rng.getrandbits(63) | (1 << 63), rest)
                )
                next_id += 1
                tally["added"] += 1
        if out:
            yield b"\n".join(out) + b"\n"
    if counts is not None:
        counts.update(tally)


def _chunks(path: str, size: int = 1 << 22) -> Iterator[bytes]:
    """path's bytes in chunks of whole lines."""
    with open(path, "rb") as f:
        rest = b""
        for block in iter(lambda: f.read(size), b""):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            if cut:
                yield block[:cut]
        if rest:
            yield rest


def _write_lines(path: str, chunks: Iterable[bytes]) -> int:
    tmp = f"{path}.tmp{os.getpid()}"
    size = 0
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
            size += len(chunk)
    os.replace(tmp, path)
    return size


def changed_ndjson(src: str, n: int, seed: int = 1) -> tuple[str, dict[str, int]]:
    """Writes the "new" version of src, the n records of ndjson(..., n, seed)
    (or a prefix file of n lines: see head()), beside it; returns its path and
    counts ({"changed", "removed", "added"})."""
    path = f"{os.path.splitext(src)[0]}-new.ndjson"
    counts: dict[str, int] = {}
    _write_lines(path, changed_lines(n, seed, counts, source=_chunks(src)))
    return path, counts


def write(path: str, n: int, seed: int = 1) -> int:
    """Writes n records to path (atomically); returns the bytes written."""
    return _write_lines(path, lines(n, seed))


_cache: dict[tuple, str] = {}


def ndjson(directory: str, n: int, seed: int = 1) -> str:
    """Path of an NDJSON file of n records in directory, written on the first
    call for (directory, n, seed) and reused afterwards."""
    key = (os.path.abspath(directory), n, seed)
    path = _cache.get(key)
    if path is not None and os.path.exists(path):
        return path
    path = os.path.join(directory, f"records-{n}-{seed}.ndjson")
    if not os.path.exists(path):
        write(path, n, seed)
    _cache[key] = path
    return path


def head(src: str, m: int, directory: str) -> str:
    """Path of a file holding the first m lines of src (made once)."""
    base = os.path.splitext(os.path.basename(src))[0]
    path = os.path.join(directory, f"{base}-head{m}.ndjson")
    if not os.path.exists(path):
        tmp = f"{path}.tmp{os.getpid()}"
        with open(src, "rb") as f, open(tmp, "wb") as out:
            out.writelines(itertools.islice(f, m))
        os.replace(tmp, path)
    return path


def average_size(path: str, n: int | None = None) -> float:
    """Mean bytes per line of an NDJSON file."""
    size = os.path.getsize(path)
    if n is None:
        with open(path, "rb") as f:
            n = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return size / max(n, 1)
