"""The orjson peers of the diff and filter benchmarks: what a user without
spooky would write. Used in-process by macro.py and as a process by
benchmarks/diff_filter.py:

    python -m spooky_cli.bench.peers diff OLD.ndjson NEW.ndjson OUT.ndjson
    python -m spooky_cli.bench.peers filter IN.ndjson OUT.ndjson
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import orjson

# About 16% of the generated records: version is uniform in 1..1024, created_at
# in 2018..2025, active true for 80%. macro.py has the same predicate in the
# other peers' terms.
FILTER_WHERE = ["version <= 400", 'created_at >= "2022-01-01T00:00:00Z"', "active == true"]


def matches(d: dict[str, Any]) -> bool:
    """FILTER_WHERE in Python."""
    return d["version"] <= 400 and d["created_at"] >= "2022-01-01T00:00:00Z" and d["active"] is True


def orjson_filter(src: str, out: str) -> int:
    """The records of src that match, to out; returns how many."""
    loads, dumps, nl = orjson.loads, orjson.dumps, orjson.OPT_APPEND_NEWLINE
    n = 0
    with open(src, "rb") as f, open(out, "wb") as w:
        for line in f:
            d = loads(line)
            if matches(d):
                w.write(dumps(d, option=nl))
                n += 1
    return n


def orjson_diff(old: str, new: str, out: str) -> dict[str, int]:
    """Both files parsed into dicts by id (GC paused while they are built: a
    plain loop spends as long again in the cyclic GC), compared, and every
    difference written as `spooky diff --format json` writes it. Returns the
    counts of changed, removed and added records."""
    loads, dumps, nl = orjson.loads, orjson.dumps, orjson.OPT_APPEND_NEWLINE

    def by_id(path: str) -> dict[Any, Any]:
        with open(path, "rb") as f:
            return {d["id"]: d for d in map(loads, f)}

    collecting = gc.isenabled()
    gc.disable()
    try:
        a, b = by_id(old), by_id(new)
        n = {"changed": 0, "removed": 0, "added": 0}
        with open(out, "wb") as w:
            for key, was in a.items():
                now = b.get(key)
                if now is None:
                    w.write(dumps({"op": "removed", "key": key, "record": was}, option=nl))
                    n["removed"] += 1
                elif now != was:
                    fields = {}
                    for name in was.keys() | now.keys():
                        if name not in now:
                            fields[name] = {"old": was[name]}
                        elif name not in was:
                            fields[name] = {"new": now[name]}
                        elif was[name] != now[name]:
                            fields[name] = {"old": was[name], "new": now[name]}
                    w.write(dumps({"op": "changed", "key": key, "fields": fields}, option=nl))
                    n["changed"] += 1
            for key, now in b.items():
                if key not in a:
                    w.write(dumps({"op": "added", "key": key, "record": now}, option=nl))
                    n["added"] += 1
        return n
    finally:
        if collecting:
            gc.enable()


if __name__ == "__main__":
    if sys.argv[1:2] == ["diff"] and len(sys.argv) == 5:
        orjson_diff(*sys.argv[2:5])
    elif sys.argv[1:2] == ["filter"] and len(sys.argv) == 4:
        orjson_filter(*sys.argv[2:4])
    else:
        sys.exit(__doc__)
