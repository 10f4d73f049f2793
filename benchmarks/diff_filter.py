#!/usr/bin/env python3
"""`spooky diff` and `spooky filter` end to end, beside their peers (a report, not a test).

    python benchmarks/diff_filter.py                     # 1,000,000 records
    python benchmarks/diff_filter.py --records 200000    # quicker

The harness is convert_export.py's: every contender is a subprocess (wall
time, start-up included, and peak RSS), three runs interleaved, medians.

Data: the generated records (spooky_cli/bench/data.py) and their "new" version
(about 10% changed, 1% removed, 1% added). Both are converted to record files
first, untimed: a spooky user holds record files, a peer's user holds NDJSON.

- diff: `spooky diff old.spky new.spky --format ndjson -o FILE` against a Python
  script (spooky_cli/bench/peers.py) that loads both NDJSON files into dicts
  by id with orjson (GC paused) and writes every difference as ours does, and
  DuckDB `read_json` of both, full outer join on id, differing rows to NDJSON.
- filter: `spooky filter old.spky -w ... -o FILE` (three predicates, ~16% of
  the records) against an orjson loop with the same predicate and DuckDB
  `COPY (SELECT * FROM read_json(...) WHERE ...)`.

Records/s count the records of the old file. Results go to --json (default
diff_filter.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from convert_export import (  # noqa: E402
    DUCKDB_COPY,
    Contender,
    have,
    interleave,
    machine,
    print_table,
    rows_of,
    spooky_cmd,
)

from spooky_cli.bench import data  # noqa: E402
from spooky_cli.bench.macro import FILTER_SQL, _duckdb_diff_query  # noqa: E402
from spooky_cli.bench.peers import FILTER_WHERE  # noqa: E402


def diff_group(old: str, new: str, old_spky: str, new_spky: str, workdir: str) -> list[Contender]:
    out = os.path.join(workdir, "diff.ndjson")
    peer_out = os.path.join(workdir, "diff-peer.ndjson")
    py = sys.executable
    group = [
        Contender(
            "spooky",
            "spooky diff --format ndjson -o FILE (subprocess, wall)",
            spooky_cmd() + ["diff", old_spky, new_spky, "--format", "ndjson", "-o", out],
            cleanup=[out],
            ok_codes=(1,),
        ),
        Contender(
            "orjson",
            "orjson.loads both NDJSON files into dicts by id (GC off), compare, dumps changes",
            [py, "-m", "spooky_cli.bench.peers", "diff", old, new, peer_out],
            cleanup=[peer_out],
        ),
    ]
    label = "DuckDB read_json both, full outer join on id, differing rows to NDJSON"
    if have("duckdb"):
        q = _duckdb_diff_query(old, new, peer_out)
        group.append(Contender("duckdb", label, [py, "-c", DUCKDB_COPY, q], cleanup=[peer_out]))
    else:
        group.append(Contender("duckdb", label, None, "not installed"))
    return group


def filter_group(src: str, spky: str, workdir: str) -> list[Contender]:
    out = os.path.join(workdir, "filter.ndjson")
    peer_out = os.path.join(workdir, "filter-peer.ndjson")
    py = sys.executable
    where = [arg for w in FILTER_WHERE for arg in ("-w", w)]
    group = [
        Contender(
            "spooky",
            "spooky filter -w ... -o FILE (subprocess, wall)",
            spooky_cmd() + ["filter", spky, *where, "-o", out, "-q"],
            cleanup=[out],
        ),
        Contender(
            "orjson",
            "orjson.loads loop, predicate in Python, orjson.dumps matches",
            [py, "-m", "spooky_cli.bench.peers", "filter", src, peer_out],
            cleanup=[peer_out],
        ),
    ]
    label = "DuckDB COPY (SELECT * FROM read_json(...) WHERE ...) TO NDJSON"
    if have("duckdb"):
        q = (
            f"COPY (SELECT * FROM read_json('{src}') WHERE {FILTER_SQL}) "
            f"TO '{peer_out}' (FORMAT json)"
        )
        group.append(Contender("duckdb", label, [py, "-c", DUCKDB_COPY, q], cleanup=[peer_out]))
    else:
        group.append(Contender("duckdb", label, None, "not installed"))
    return group


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="spooky diff/filter end to end against orjson and DuckDB.",
        epilog="example: python benchmarks/diff_filter.py --records 1000000",
    )
    ap.add_argument("--records", type=int, default=1_000_000, help="records (default 1,000,000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per contender (default 3)")
    ap.add_argument("--workdir", default=None, help="where data and outputs go (default: temp)")
    ap.add_argument("--json", default="diff_filter.json", metavar="FILE", help="results as JSON")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    workdir = args.workdir or tempfile.mkdtemp(prefix="spooky-bench-")
    os.makedirs(workdir, exist_ok=True)
    try:
        n = args.records
        print(f"generating {n:,} records and their new version in {workdir}", file=sys.stderr)
        old = data.ndjson(workdir, n, args.seed)
        new, made = data.changed_ndjson(old, n, args.seed)
        old_spky, new_spky = os.path.join(workdir, "old.spky"), os.path.join(workdir, "new.spky")
        for src, dst in ((old, old_spky), (new, new_spky)):
            Contender("convert", "", spooky_cmd() + ["convert", src, "-o", dst, "-q"]).run()

        diff = diff_group(old, new, old_spky, new_spky, workdir)
        interleave(diff, args.repeats, "diff")
        filt = filter_group(old, old_spky, workdir)
        interleave(filt, args.repeats, "filter")

        size = os.path.getsize(old)
        rows = rows_of("diff", diff, n, size) + rows_of("filter", filt, n, size)
        ours_rss = {"diff": diff[0].peak_rss(), "filter": filt[0].peak_rss()}
        print(f"\n{n:,} records ({size / 1e6:.0f} MB of NDJSON); new version: {made}\n")
        print_table(rows, [], sys.stdout)
        print(f"ours peak RSS MB: {ours_rss}")
        result = {"machine": machine(), "records": n, "changes": made, "rows": rows}
        result["ours_peak_rss_mb"] = ours_rss
        text = json.dumps(result, indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
