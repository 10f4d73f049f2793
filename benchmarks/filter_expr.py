#!/usr/bin/env python3
"""`spooky filter` with one expression, beside its peers (a report, not a test).

    python benchmarks/filter_expr.py                          # 1,000,000 records
    python benchmarks/filter_expr.py --old-spooky /venv/bin/spooky
    python benchmarks/filter_expr.py --records 20000 --repeats 1  # a quick look

The harness is convert_export.py's: every contender is a whole process (wall
time, start-up included, and peak RSS), runs alternate, medians count.

The predicate is EXPR below (the generated records have no `age`; `version`
plays its part), about 4% of the records match. The record file and DuckDB's
Parquet file are made once, untimed: each tool reads its own stored form.

- count: `spooky filter --count -w EXPR` against an orjson loop that counts.
- ndjson: `spooky filter -w EXPR -o FILE` (whole records) against an orjson
  loop that writes the matches, DuckDB `COPY (SELECT * FROM parquet WHERE ..)
  TO FILE (FORMAT json)`, the same predicate as three repeated -w (the form
  the expression language replaced), and, with --old-spooky, that repeated -w
  form run by an older build (e.g. one installed from the commit before
  expressions: `git worktree add /tmp/old af01006 && pip install /tmp/old`).

Targets: count and ndjson >= 5x the orjson loop; ndjson >= 2x DuckDB; no slower
than the repeated -w form (>= 1x).
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
    sql_str,
    to_parquet,
)

EXPR = "version >= 300 and active and location.city == 'Zürich'"
REPEATED = ["-w", "version >= 300", "-w", "active == true", "-w", 'location.city == "Zürich"']
SQL = "version >= 300 AND active AND location.city = 'Zürich'"

TARGETS = {
    ("count", "orjson"): 5.0,
    ("ndjson", "orjson"): 5.0,
    ("ndjson", "duckdb"): 2.0,
    ("ndjson", "repeated-w"): 1.0,
    ("ndjson", "old-build"): 1.0,
}

# The predicate in Python; argv: src, out (or "-" to count only).
ORJSON_FILTER = """\
import sys, orjson
loads, dumps, nl = orjson.loads, orjson.dumps, orjson.OPT_APPEND_NEWLINE
def keep(d):
    loc = d.get("location")
    return (
        d.get("version", 0) >= 300
        and d.get("active") is True
        and isinstance(loc, dict)
        and loc.get("city") == "Zürich"
    )
n = 0
with open(sys.argv[1], "rb") as f:
    if sys.argv[2] == "-":
        for line in f:
            if keep(loads(line)):
                n += 1
    else:
        with open(sys.argv[2], "wb") as out:
            for line in f:
                d = loads(line)
                if keep(d):
                    out.write(dumps(d, option=nl))
                    n += 1
print(n, file=sys.stderr)
"""


def count_group(src: str, spky: str) -> list[Contender]:
    py = sys.executable
    return [
        Contender(
            "spooky",
            "spooky filter --count -w EXPR",
            spooky_cmd() + ["filter", spky, "-w", EXPR, "--count", "-q"],
        ),
        Contender(
            "orjson",
            "orjson.loads loop, predicate in Python, count",
            [py, "-c", ORJSON_FILTER, src, "-"],
        ),
    ]


def ndjson_group(
    src: str, spky: str, parquet: str, workdir: str, old: str | None
) -> list[Contender]:
    py = sys.executable
    out = os.path.join(workdir, "filter.ndjson")
    peer_out = os.path.join(workdir, "filter-peer.ndjson")
    group = [
        Contender(
            "spooky",
            "spooky filter -w EXPR -o FILE -q",
            spooky_cmd() + ["filter", spky, "-w", EXPR, "-o", out, "-q"],
            cleanup=[out],
        ),
        Contender(
            "orjson",
            "orjson.loads loop, predicate in Python, orjson.dumps matches",
            [py, "-c", ORJSON_FILTER, src, peer_out],
            cleanup=[peer_out],
        ),
    ]
    label = "DuckDB COPY (SELECT * FROM parquet WHERE ...) TO NDJSON"
    if have("duckdb"):
        q = (
            f"COPY (SELECT * FROM {sql_str(parquet)} WHERE {SQL}) "
            f"TO {sql_str(peer_out)} (FORMAT json)"
        )
        group.append(Contender("duckdb", label, [py, "-c", DUCKDB_COPY, q], cleanup=[peer_out]))
    else:
        group.append(Contender("duckdb", label, None, "not installed"))
    group.append(
        Contender(
            "repeated-w",
            "this build, the predicate as three repeated -w",
            spooky_cmd() + ["filter", spky, *REPEATED, "-o", peer_out, "-q"],
            cleanup=[peer_out],
        )
    )
    label = "an older build (--old-spooky), three repeated -w"
    if old:
        argv = [old, "filter", spky, *REPEATED, "-o", peer_out, "-q"]
        group.append(Contender("old-build", label, argv, old, cleanup=[peer_out]))
    else:
        group.append(Contender("old-build", label, None, "not given"))
    return group


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="spooky filter with one expression against orjson and DuckDB.",
        epilog="example: python benchmarks/filter_expr.py --old-spooky /tmp/old-venv/bin/spooky",
    )
    ap.add_argument("--records", type=int, default=1_000_000, help="records (default 1,000,000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per contender (default 3)")
    ap.add_argument("--old-spooky", default=None, metavar="EXE", help="an older build's spooky")
    ap.add_argument("--workdir", default=None, help="where data and outputs go (default: temp)")
    ap.add_argument("--json", default=None, metavar="FILE", help="results as JSON to FILE")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.records < 1 or args.repeats < 1:
        ap.error("--records and --repeats must be >= 1")

    from spooky_cli.bench import data

    own_dir = args.workdir is None
    workdir = tempfile.mkdtemp(prefix="spooky-filter-") if own_dir else args.workdir
    os.makedirs(workdir, exist_ok=True)
    try:
        n = args.records
        src = data.ndjson(workdir, n, args.seed)
        size = os.path.getsize(src)
        spky = os.path.join(workdir, "data.spky")
        parquet = os.path.join(workdir, "data.parquet")
        Contender("convert", "", spooky_cmd() + ["convert", src, "-o", spky, "-q"]).run()
        if have("duckdb"):
            to_parquet(src, parquet)

        counted = count_group(src, spky)
        interleave(counted, args.repeats, "count")
        written = ndjson_group(src, spky, parquet, workdir, args.old_spooky)
        interleave(written, args.repeats, "ndjson")
        rows = rows_of("count", counted, n, size, TARGETS) + rows_of(
            "ndjson", written, n, size, TARGETS
        )
        info = machine()
        print(f"cpu: {info.get('cpu')}, {info.get('cores')} cores; {info.get('python')}")
        print(
            f"{n:,} records, {size / 1e6:,.1f} MB of NDJSON; predicate: {EXPR}; medians of "
            f"{args.repeats} alternating whole-process runs\n"
        )
        print_table(rows, [], sys.stdout)
        rss = (counted[0].peak_rss(), written[0].peak_rss())
        print(f"  ours peak RSS MB: count {rss[0]:.0f}, ndjson {rss[1]:.0f}")
        if args.json:
            result = {"machine": info, "records": n, "bytes": size, "expr": EXPR, "rows": rows}
            with open(args.json, "w", encoding="utf-8") as f:
                f.write(json.dumps(result, indent=2) + "\n")
    finally:
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
