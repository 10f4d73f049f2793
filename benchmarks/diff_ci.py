#!/usr/bin/env python3
"""`spooky diff` as a CI gate, end to end beside DuckDB (a report, not a test;
issue 13's targets).

    python benchmarks/diff_ci.py                     # two files of 1,000,000 records
    python benchmarks/diff_ci.py --records 20000     # a quick check that it runs
    python benchmarks/diff_ci.py --json              # JSON on stdout, table on stderr

The harness is convert_export.py's: every contender is a subprocess (wall
time, start-up included, and peak RSS from wait4, children included), --repeats
runs interleaved, medians.

Data, made here: the generated records (spooky_cli/bench/data.py) and a new
version with 1% of them changed (a higher version and another price), the same
keys. Untimed: both converted to record files, and to Parquet for DuckDB.

- diff: `spooky diff old.spky new.spky --format ndjson -o FILE` >= 3x DuckDB
  reading both Parquet files, full outer join on id, the differing rows
  written as NDJSON.
- ndjson: `spooky diff old.ndjson new.ndjson --format ndjson -o FILE` (sides
  converted on the fly) takes no longer (>= 1x) than `spooky convert` of both
  plus the diff of the record files, three processes run by one shell.
- peak RSS of our diffs (record files, NDJSON inputs) under 200 MB: flat.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import orjson  # noqa: E402
from convert_export import (  # noqa: E402
    DUCKDB_COPY,
    RSS_MAX_MB,
    Contender,
    have,
    interleave,
    machine,
    print_table,
    rows_of,
    rss_row,
    spooky_cmd,
    sql_str,
    to_parquet,
)

TARGETS = {("diff", "duckdb"): 3.0, ("ndjson", "convert+diff"): 1.0}
CHANGED = 0.01


def changed_copy(src: str, dst: str, seed: int) -> int:
    """dst: src with a share CHANGED of its records changed; returns how many."""
    rng = random.Random(seed + 7919)
    changed = 0
    with open(src, "rb") as f, open(dst, "wb") as out:
        for line in f:
            if rng.random() < CHANGED:
                d = orjson.loads(line)
                d["version"] += 1
                d["price"] = round(d["price"] + 1.25, 2)
                line = orjson.dumps(d) + b"\n"
                changed += 1
            out.write(line)
    return changed


def duckdb_diff_query(old: str, new: str, out: str) -> str:
    return (
        "COPY (SELECT coalesce(o.id, n.id) AS key, "
        "CASE WHEN n.id IS NULL THEN 'removed' WHEN o.id IS NULL THEN 'added' "
        "ELSE 'changed' END AS op, o AS old, n AS new "
        f"FROM read_parquet({sql_str(old)}) o "
        f"FULL OUTER JOIN read_parquet({sql_str(new)}) n ON o.id = n.id "
        "WHERE o.id IS NULL OR n.id IS NULL OR o IS DISTINCT FROM n) "
        f"TO {sql_str(out)} (FORMAT json)"
    )


def diff_group(paths: dict[str, str], workdir: str) -> list[Contender]:
    out = os.path.join(workdir, "diff.ndjson")
    peer_out = os.path.join(workdir, "diff-peer.ndjson")
    py = sys.executable
    group = [
        Contender(
            "spooky",
            "spooky diff old.spky new.spky --format ndjson -o FILE",
            spooky_cmd()
            + ["diff", paths["old_spky"], paths["new_spky"], "--format", "ndjson"]
            + ["-o", out],
            cleanup=[out],
            ok_codes=(1,),
        )
    ]
    label = "DuckDB read_parquet both, full outer join on id, differing rows to NDJSON"
    if have("duckdb"):
        q = duckdb_diff_query(paths["old_parquet"], paths["new_parquet"], peer_out)
        group.append(Contender("duckdb", label, [py, "-c", DUCKDB_COPY, q], cleanup=[peer_out]))
    else:
        group.append(Contender("duckdb", label, None, "not installed"))
    return group


def ndjson_group(paths: dict[str, str], workdir: str) -> list[Contender]:
    out = os.path.join(workdir, "diff-ndjson.ndjson")
    a, b = os.path.join(workdir, "a.spky"), os.path.join(workdir, "b.spky")
    spooky = " ".join(f"'{p}'" for p in spooky_cmd())
    script = (
        f"{spooky} convert '{paths['old']}' -o '{a}' -q && "
        f"{spooky} convert '{paths['new']}' -o '{b}' -q && "
        f"{{ {spooky} diff '{a}' '{b}' --format ndjson -o '{out}'; test $? -le 1; }}"
    )
    return [
        Contender(
            "spooky",
            "spooky diff old.ndjson new.ndjson --format ndjson -o FILE",
            spooky_cmd() + ["diff", paths["old"], paths["new"], "--format", "ndjson", "-o", out],
            cleanup=[out],
            ok_codes=(1,),
        ),
        Contender(
            "convert+diff",
            "spooky convert both, then spooky diff the record files (one shell)",
            ["sh", "-c", script],
            cleanup=[out, a, b],
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="spooky diff as a CI gate against DuckDB, and of NDJSON inputs.",
        epilog="example: python benchmarks/diff_ci.py --records 1000000 --json out.json",
    )
    ap.add_argument("--records", type=int, default=1_000_000, help="records (default 1,000,000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per contender (default 3)")
    ap.add_argument(
        "--workdir", default=None, help="where data and outputs go (default: a temp dir, removed)"
    )
    ap.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="results as JSON to FILE, or to stdout without FILE (the table goes to stderr)",
    )
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.records < 1 or args.repeats < 1:
        ap.error("--records and --repeats must be >= 1")
    from spooky_cli.bench import data

    table_out = sys.stderr if args.json == "-" else sys.stdout
    own_dir = args.workdir is None
    workdir = tempfile.mkdtemp(prefix="spooky-diff-ci-") if own_dir else args.workdir
    os.makedirs(workdir, exist_ok=True)
    try:
        n = args.records
        print(f"generating {n:,} records and a version 1% changed in {workdir}", file=sys.stderr)
        paths = {"old": data.ndjson(workdir, n, args.seed)}
        paths["new"] = os.path.join(workdir, "new.ndjson")
        changed = changed_copy(paths["old"], paths["new"], args.seed)
        for side in ("old", "new"):
            paths[f"{side}_spky"] = os.path.join(workdir, f"{side}.spky")
            argv_ = ["convert", paths[side], "-o", paths[f"{side}_spky"], "-q"]
            Contender("convert", "", spooky_cmd() + argv_).run()
            if have("duckdb"):
                paths[f"{side}_parquet"] = os.path.join(workdir, f"{side}.parquet")
                to_parquet(paths[side], paths[f"{side}_parquet"])

        diff = diff_group(paths, workdir)
        interleave(diff, args.repeats, "diff")
        nd = ndjson_group(paths, workdir)
        interleave(nd, args.repeats, "ndjson")

        size = os.path.getsize(paths["old"])
        rows = rows_of("diff", diff, n, size, TARGETS) + rows_of("ndjson", nd, n, size, TARGETS)
        rss = [
            rss_row("diff (record files)", n, diff[0].peak_rss()),
            rss_row("diff (NDJSON inputs)", n, nd[0].peak_rss()),
        ]
        print(
            f"\n{n:,} records a file ({size / 1e6:.0f} MB of NDJSON), {changed:,} changed\n",
            file=table_out,
        )
        print_table(rows, rss, table_out)
        result = {
            "machine": machine(),
            "records": n,
            "changed": changed,
            "rows": rows,
            "rss": rss,
            "rss_target_mb": RSS_MAX_MB,
        }
        if args.json is not None:
            text = json.dumps(result, indent=2)
            if args.json == "-":
                print(text)
            else:
                with open(args.json, "w") as f:
                    f.write(text + "\n")
    finally:
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
