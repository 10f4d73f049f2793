#!/usr/bin/env python3
"""`spooky merge` and `spooky apply` end to end, beside their peers (a report, not a test).

    python benchmarks/merge_apply.py                    # store 1,000,000, batch 100,000
    python benchmarks/merge_apply.py --records 20000    # a quick check that it runs

The harness is convert_export.py's: every contender is a subprocess (wall
time, start-up included, and peak RSS), runs interleaved, medians.

Data: the generated records (spooky_cli/bench/data.py) as the store, and a
batch of a tenth as many records spread over it: 10% of the batch changed
(version + 1, a new content_hash and price), 1% new keys, the rest the stored
records as they are. The store is converted to a record file and to Parquet
first, untimed: a spooky user holds a record file, a DuckDB user Parquet.

- merge: `spooky merge store.spky batch.ndjson -o new.spky --version-field
  version --hash-field content_hash` against a Python script that loads the
  store's NDJSON into a dict by id with orjson (GC paused), applies the batch
  by version and writes the merged store as NDJSON with orjson.dumps, and
  DuckDB (store Parquet, batch read_json: the batch rows that win by version,
  an anti-join of the store against them, the union written to Parquet).
- apply: `spooky apply store.spky changes.ndjson -o new.spky` of merge's
  change stream (ours only; its output is merge's, byte for byte).

Results go to --json (default merge_apply.json).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from convert_export import (  # noqa: E402
    DUCKDB_COPY,
    Contender,
    have,
    interleave,
    machine,
    spooky_cmd,
    sql_str,
    to_parquet,
)

from spooky_cli.bench import data  # noqa: E402

TARGETS = {"orjson": 5.0, "duckdb": 2.0}
CHANGED, NEW = 0.10, 0.01  # of the batch

DICT_MERGE = """\
import gc, sys, orjson
gc.disable()
store_path, batch_path, out_path = sys.argv[1:4]
loads = orjson.loads
with open(store_path, "rb") as f:
    store = {r["id"]: r for r in map(loads, f)}
with open(batch_path, "rb") as f:
    for r in map(loads, f):
        old = store.get(r["id"])
        if old is None or r["version"] > old["version"]:
            store[r["id"]] = r
dumps = orjson.dumps
with open(out_path, "wb") as out:
    out.writelines(dumps(r) + b"\\n" for r in store.values())
"""


def duckdb_merge(store_parquet: str, batch: str, out: str) -> str:
    return f"""
COPY (
  WITH s AS (SELECT * FROM read_parquet({sql_str(store_parquet)})),
       b AS (SELECT * FROM read_json({sql_str(batch)})),
       w AS (SELECT b.* FROM b LEFT JOIN s ON s.id = b.id
             WHERE s.id IS NULL OR b.version > s.version)
  SELECT * FROM s ANTI JOIN w ON s.id = w.id
  UNION ALL BY NAME
  SELECT * FROM w
) TO {sql_str(out)} (FORMAT parquet)
"""


def make_batch(store: str, n: int, size: int, path: str, seed: int) -> dict[str, int]:
    """size records over the store's n: CHANGED changed by version, NEW new keys."""
    rng = random.Random(seed)
    wanted = sorted(rng.sample(range(n), size - int(size * NEW)))
    changed = set(rng.sample(wanted, int(size * CHANGED)))
    counts = {"changed": 0, "unchanged": 0, "new": 0}
    last = b""
    with open(store, "rb") as src, open(path, "wb") as out:
        at = 0
        for i, line in enumerate(src):
            if at < len(wanted) and wanted[at] == i:
                at += 1
                if i in changed:
                    r = orjson.loads(line)
                    r["version"] += 1
                    r["content_hash"] = rng.getrandbits(63) | (1 << 63)
                    r["price"] = round(r["price"] + 1.25, 2)
                    line = orjson.dumps(r) + b"\n"
                    counts["changed"] += 1
                else:
                    counts["unchanged"] += 1
                out.write(line)
            last = line
        top = orjson.loads(last)["id"]
        for k in range(int(size * NEW)):
            r = orjson.loads(last)
            r["id"] = top + 1 + k
            out.write(orjson.dumps(r) + b"\n")
            counts["new"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="spooky merge/apply end to end against a dict merge and DuckDB.",
        epilog="example: python benchmarks/merge_apply.py --records 1000000",
    )
    ap.add_argument("--records", type=int, default=1_000_000, help="store records (1,000,000)")
    ap.add_argument("--batch", type=int, default=None, help="batch records (a tenth of the store)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per contender (default 3)")
    ap.add_argument("--workdir", default=None, help="where data and outputs go (default: temp)")
    ap.add_argument("--json", default="merge_apply.json", metavar="FILE", help="results as JSON")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    workdir = args.workdir or tempfile.mkdtemp(prefix="spooky-bench-")
    os.makedirs(workdir, exist_ok=True)
    py = sys.executable
    try:
        n = args.records
        size = args.batch or max(1, n // 10)
        print(f"generating a store of {n:,} and a batch of {size:,} in {workdir}", file=sys.stderr)
        store = data.ndjson(workdir, n, args.seed)
        batch = os.path.join(workdir, "batch.ndjson")
        made = make_batch(store, n, size, batch, args.seed)
        store_spky = os.path.join(workdir, "store.spky")
        Contender("convert", "", spooky_cmd() + ["convert", store, "-o", store_spky, "-q"]).run()
        new_spky = os.path.join(workdir, "new.spky")
        changes = os.path.join(workdir, "changes.ndjson")
        merge_args = ["--version-field", "version", "--hash-field", "content_hash", "-q"]
        group = [
            Contender(
                "spooky",
                "spooky merge --version-field --hash-field (subprocess, wall)",
                spooky_cmd() + ["merge", store_spky, batch, "-o", new_spky, *merge_args],
                cleanup=[new_spky],
            ),
            Contender(
                "orjson",
                "orjson.loads the store into a dict by id (GC off), batch by version, dumps NDJSON",
                [py, "-c", DICT_MERGE, store, batch, os.path.join(workdir, "dict.ndjson")],
            ),
        ]
        label = "DuckDB: store Parquet, batch read_json, winners by version, anti-join + union"
        if have("duckdb"):
            parquet = os.path.join(workdir, "store.parquet")
            to_parquet(store, parquet)
            out = os.path.join(workdir, "duck.parquet")
            group.append(
                Contender(
                    "duckdb", label, [py, "-c", DUCKDB_COPY, duckdb_merge(parquet, batch, out)]
                )
            )
        else:
            group.append(Contender("duckdb", label, None, "not installed"))
        interleave(group, args.repeats, "merge")

        # apply: merge's change stream onto the store (its output: merge's)
        Contender(
            "changes", "", spooky_cmd() + ["merge", store_spky, batch, "-o", new_spky,
                                           "--changes", changes, *merge_args],
        ).run()  # fmt: skip
        applied = os.path.join(workdir, "applied.spky")
        apply = [
            Contender(
                "spooky",
                "spooky apply store.spky changes.ndjson (subprocess, wall)",
                spooky_cmd() + ["apply", store_spky, changes, "-o", applied, "-q"],
                cleanup=[applied],
            )
        ]
        interleave(apply, args.repeats, "apply")
        with open(applied, "rb") as a, open(new_spky, "rb") as b:
            same = a.read() == b.read()

        ours = group[0]
        rows = []
        for c in group[1:]:
            o, p = ours.median(), c.median()
            speedup = p / o if o and p else None
            target = TARGETS.get(c.name)
            rows.append(
                {
                    "peer": c.name,
                    "label": c.label,
                    "ours_seconds": o,
                    "peer_seconds": p,
                    "speedup": speedup,
                    "target": target,
                    "ok": None if speedup is None or target is None else speedup >= target,
                    "ours_peak_rss_mb": ours.peak_rss(),
                    "peer_peak_rss_mb": c.peak_rss(),
                    "note": c.note,
                }
            )
        print(f"\nstore {n:,} records, batch {size:,}: {made}\n")
        print(f"{'peer':8} {'ours s':>8} {'peer s':>8} {'speedup':>8} {'target':>7} "
              f"{'ours RSS':>9} {'peer RSS':>9}")  # fmt: skip
        for r in rows:
            if r["peer_seconds"] is None:
                print(f"{r['peer']:8} {r['note']}")
                continue
            print(
                f"{r['peer']:8} {r['ours_seconds']:8.2f} {r['peer_seconds']:8.2f} "
                f"{r['speedup']:7.1f}x {r['target']:6.1f}x {r['ours_peak_rss_mb']:7.0f}MB "
                f"{r['peer_peak_rss_mb']:7.0f}MB"
            )
        a = apply[0]
        print(
            f"\napply of merge's changes: {a.median():.2f} s, peak RSS {a.peak_rss():.0f} MB, "
            f"output {'identical to' if same else 'DIFFERENT from'} merge's"
        )
        result = {
            "machine": machine(),
            "records": n,
            "batch": size,
            "made": made,
            "rows": rows,
            "apply": {"seconds": a.median(), "peak_rss_mb": a.peak_rss(), "same": same},
        }
        text = json.dumps(result, indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
        return 0 if same else 1
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
