#!/usr/bin/env python3
"""`spooky convert` and `spooky export` end to end, beside their peers: the
table of the targets, in one command (a report, not a test).

    python benchmarks/convert_export.py                        # 1,000,000 records
    python benchmarks/convert_export.py --records 10000000     # the RSS check at 10M
    python benchmarks/convert_export.py --json                 # JSON on stdout, table on stderr
    python benchmarks/convert_export.py --rss-records 10000000 # + ours alone at 10M, same run

Every contender runs as a subprocess (wall time of the whole process, start-up
included, and its peak RSS from wait4), --repeats times (default 3),
alternating (ours, peer, peer, ..., ours, ...); the median counts, and the
spread of the runs is shown. The file is generated once
(spooky_cli/bench/data.py: ~420-byte nested records) in --workdir.

Targets (speedup = peer's median time / ours):
- convert (`spooky convert data.ndjson -o out.spky -q`, fsynced) >= 2.5x the
  loop `for line in f: orjson.loads(line)` (parsing only, one thread) and
  >= 2x DuckDB `COPY (SELECT * FROM read_json(...)) TO 'x.parquet'` (its
  default threads).
- export (`spooky export out.spky -o out.ndjson -q`, fsynced) >= 4x DuckDB
  Parquet -> NDJSON and >= 2x orjson.dumps + write over already-parsed dicts
  (the child parses 100k lines untimed, then times dumping and writing them,
  and so on; it reports only the timed part: no start-up, no parsing).
- peak RSS of our convert and export under 200 MB (at --records, and at
  --rss-records when given).

--extra adds pyarrow.json.read_json (a table in memory) as a convert row
without a target. Needs the package installed (`pip install -e .`); DuckDB
and pyarrow come with `pip install -e '.[peers]'` (rows say "not installed"
otherwise).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

# (group, peer) -> the speedup ours must reach
TARGETS = {
    ("convert", "orjson"): 2.5,
    ("convert", "duckdb"): 2.0,
    ("export", "duckdb"): 4.0,
    ("export", "orjson"): 2.0,
}
RSS_MAX_MB = 200.0

ORJSON_LOADS = """\
import sys, orjson
loads = orjson.loads
with open(sys.argv[1], "rb") as f:
    for line in f:
        loads(line)
"""

ORJSON_DUMPS = """\
import sys, time, orjson
loads, dumps, nl = orjson.loads, orjson.dumps, orjson.OPT_APPEND_NEWLINE
spent = 0.0
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "wb") as out:
    while True:
        docs = [loads(line) for _, line in zip(range(100_000), f)]  # untimed
        if not docs:
            break
        t0 = time.perf_counter()
        for d in docs:
            out.write(dumps(d, option=nl))
        spent += time.perf_counter() - t0
    t0 = time.perf_counter()
    out.flush()
    spent += time.perf_counter() - t0
print(spent)
"""

PYARROW_READ = """\
import sys, pyarrow.json as pj
table = pj.read_json(sys.argv[1])
"""

DUCKDB_COPY = """\
import sys, duckdb
duckdb.connect().execute(sys.argv[1])
"""


def sql_str(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def parquet_query(src: str, dst: str) -> str:
    """DuckDB's NDJSON -> Parquet copy: a peer's stored form of the data."""
    return f"COPY (SELECT * FROM read_json({sql_str(src)})) TO {sql_str(dst)} (FORMAT parquet)"


def to_parquet(src: str, dst: str) -> None:
    """src as Parquet at dst, untimed (DuckDB must be installed)."""
    Contender("parquet", "", [sys.executable, "-c", DUCKDB_COPY, parquet_query(src, dst)]).run()


def spooky_cmd() -> list[str]:
    """The `spooky` console script of this interpreter (as the peers run on
    sys.executable), not the first on PATH: that may be a wrapper such as a
    pyenv shim, which costs ~70 ms a run here."""
    beside = os.path.join(os.path.dirname(sys.executable), "spooky")
    if os.access(beside, os.X_OK):
        return [beside]
    exe = shutil.which("spooky")
    if exe:
        return [exe]
    return [sys.executable, "-c", "from spooky_cli.app import main; main()"]


# A small wrapper process starts the contender and reports its wall time and
# peak RSS. Why not Popen + wait4 from here: a child's ru_maxrss includes the
# RSS of the process it was forked from (up to its exec), so every child of this
# (large) process would show at least this process's size.
WRAPPER = """\
import os, sys, time
result, argv = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(result, "w") as f:
    f.write(f"{wall} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_child(
    argv: list[str], reported: bool = False, ok_codes: tuple[int, ...] = ()
) -> dict[str, float]:
    """Runs argv; returns wall seconds (or, if reported, the seconds the child
    prints as its last line) and its peak RSS in MB (the wrapper's RSS, ~10 MB,
    is a floor). Exit codes other than 0 and ok_codes are failures."""
    with tempfile.TemporaryFile() as errf, tempfile.NamedTemporaryFile("r", suffix=".wrap") as res:
        p = subprocess.run(
            [sys.executable, "-c", WRAPPER, res.name, *argv],
            stdout=subprocess.PIPE if reported else subprocess.DEVNULL,
            stderr=errf,
            check=False,
        )
        errf.seek(0)
        err = errf.read()
        fields = res.read().split()
    ok = {"0", *(str(c) for c in ok_codes)}
    if p.returncode != 0 or len(fields) != 3 or fields[2] not in ok:
        raise RuntimeError(f"{' '.join(argv[:3])}... failed: {err.decode(errors='replace')[-500:]}")
    wall, maxrss_kb = float(fields[0]), int(fields[1])
    seconds = float(p.stdout.decode().strip().splitlines()[-1]) if reported else wall
    return {"seconds": seconds, "rss_mb": maxrss_kb / 1024.0}


class Contender:
    def __init__(
        self,
        name: str,
        label: str,
        argv: list[str] | None,
        note: str = "",
        reported: bool = False,
        cleanup: list[str] | None = None,
        ok_codes: tuple[int, ...] = (),
    ):
        self.name, self.label, self.argv, self.note = name, label, argv, note
        self.reported = reported
        self.ok_codes = ok_codes
        self.cleanup = cleanup or []
        self.runs: list[dict[str, float]] = []

    def run(self) -> None:
        for path in self.cleanup:
            if os.path.exists(path):
                os.unlink(path)
        assert self.argv is not None
        self.runs.append(run_child(self.argv, self.reported, self.ok_codes))

    def median(self) -> float | None:
        return statistics.median(r["seconds"] for r in self.runs) if self.runs else None

    def peak_rss(self) -> float | None:
        return max(r["rss_mb"] for r in self.runs) if self.runs else None


def interleave(contenders: list[Contender], repeats: int, group: str) -> None:
    live = [c for c in contenders if c.argv is not None]
    for r in range(repeats):
        for c in live:
            print(f"  {group} {r + 1}/{repeats}: {c.name} ...", end="", file=sys.stderr, flush=True)
            c.run()
            print(
                f" {c.runs[-1]['seconds']:.2f} s, {c.runs[-1]['rss_mb']:.0f} MB",
                file=sys.stderr,
                flush=True,
            )


def have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def convert_group(src: str, workdir: str, extra: bool) -> list[Contender]:
    spky = os.path.join(workdir, "out.spky")
    parquet = os.path.join(workdir, "peer.parquet")
    py = sys.executable
    group = [
        Contender(
            "spooky",
            "spooky convert -q (subprocess, wall)",
            spooky_cmd() + ["convert", src, "-o", spky, "-q"],
            cleanup=[spky],
        ),
        Contender(
            "orjson",
            "for line in f: orjson.loads(line)  (parse only, 1 thread)",
            [py, "-c", ORJSON_LOADS, src],
        ),
    ]
    q = parquet_query(src, parquet)
    if have("duckdb"):
        group.append(
            Contender(
                "duckdb",
                "DuckDB read_json -> Parquet",
                [py, "-c", DUCKDB_COPY, q],
                "schema inferred: content_hash becomes DOUBLE",
                cleanup=[parquet],
            )
        )
    else:
        group.append(Contender("duckdb", "DuckDB read_json -> Parquet", None, "not installed"))
    if extra and have("pyarrow"):
        group.append(
            Contender(
                "pyarrow", "pyarrow.json.read_json (table in memory)", [py, "-c", PYARROW_READ, src]
            )
        )
    elif extra:
        group.append(Contender("pyarrow", "pyarrow.json.read_json", None, "not installed"))
    return group


def export_group(src: str, workdir: str) -> list[Contender]:
    spky = os.path.join(workdir, "out.spky")
    parquet = os.path.join(workdir, "peer.parquet")
    out = os.path.join(workdir, "export.ndjson")
    peer_out = os.path.join(workdir, "peer-export.ndjson")
    py = sys.executable
    group = [
        Contender(
            "spooky",
            "spooky export -o FILE -q (subprocess, wall)",
            spooky_cmd() + ["export", spky, "-o", out, "-q"],
            cleanup=[out],
        ),
        Contender(
            "orjson",
            "orjson.dumps + write over parsed dicts (timed part only)",
            [py, "-c", ORJSON_DUMPS, src, peer_out],
            "parsing untimed, interpreter start-up excluded",
            reported=True,
            cleanup=[peer_out],
        ),
    ]
    if have("duckdb") and os.path.exists(parquet):
        q = f"COPY (SELECT * FROM {sql_str(parquet)}) TO {sql_str(peer_out)} (FORMAT json)"
        group.append(
            Contender(
                "duckdb",
                "DuckDB Parquet -> NDJSON",
                [py, "-c", DUCKDB_COPY, q],
                "content_hash as DOUBLE",
                cleanup=[peer_out],
            )
        )
    else:
        group.append(Contender("duckdb", "DuckDB Parquet -> NDJSON", None, "not installed"))
    return group


def spread(runs: list[float]) -> float | None:
    """(max - min) / median of the runs: how much they moved."""
    if len(runs) < 2:
        return None
    return (max(runs) - min(runs)) / statistics.median(runs)


def rows_of(
    group_name: str,
    contenders: list[Contender],
    n: int,
    size: int,
    targets: dict[tuple[str, str], float] | None = None,
) -> list[dict]:
    targets = TARGETS if targets is None else targets
    ours = contenders[0]
    o = ours.median()
    rows = []
    for c in contenders[1:]:
        p = c.median()
        target = targets.get((group_name, c.name))
        speedup = (p / o) if o and p else None
        rows.append(
            {
                "group": group_name,
                "name": c.name,
                "baseline_name": c.label,
                "ours_seconds": o,
                "baseline_seconds": p,
                "ours_records_s": n / o if o else None,
                "baseline_records_s": n / p if p else None,
                "ours_mb_s": size / o / 1e6 if o else None,
                "baseline_mb_s": size / p / 1e6 if p else None,
                "speedup": speedup,
                "target": target,
                "ok": None if target is None or speedup is None else speedup >= target,
                "ours_runs": [r["seconds"] for r in ours.runs],
                "baseline_runs": [r["seconds"] for r in c.runs],
                "ours_spread": spread([r["seconds"] for r in ours.runs]),
                "baseline_spread": spread([r["seconds"] for r in c.runs]),
                "ours_peak_rss_mb": ours.peak_rss(),
                "baseline_peak_rss_mb": c.peak_rss(),
                "note": c.note,
            }
        )
    return rows


def fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def mark(ok: bool | None) -> str:
    return "-" if ok is None else ("ok" if ok else "MISSED")


def table(head: tuple[str, ...], body: list[tuple[str, ...]], left: set[int]) -> list[str]:
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]

    def line(cells: Any) -> str:
        return "  ".join(
            c.ljust(widths[i]) if i in left else c.rjust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    return [line(head), "  ".join("-" * w for w in widths), *(line(b) for b in body)]


def print_table(rows: list[dict], rss: list[dict], out: Any) -> None:
    head = (
        "group",
        "peer",
        "ours s",
        "peer s",
        "spread ours/peer",
        "ours MB/s",
        "peer MB/s",
        "speedup",
        "target",
        "",
        "peer RSS MB",
    )
    body = []
    for r in rows:
        body.append(
            (
                r["group"],
                r["name"],
                fmt(r["ours_seconds"], ".2f"),
                fmt(r["baseline_seconds"], ".2f"),
                f"{fmt(r['ours_spread'] and 100 * r['ours_spread'], '.0f')}%/"
                f"{fmt(r['baseline_spread'] and 100 * r['baseline_spread'], '.0f')}%",
                fmt(r["ours_mb_s"], ".0f"),
                fmt(r["baseline_mb_s"], ".0f"),
                fmt(r["speedup"], ".2f") + ("x" if r["speedup"] is not None else ""),
                "-" if r["target"] is None else f">= {r['target']:g}x",
                mark(r["ok"]),
                fmt(r["baseline_peak_rss_mb"], ".0f"),
            )
        )
    for line in table(head, body, {0, 1, 9}):
        print(line, file=out)
    print(file=out)
    if rss:
        rss_head = ("command", "records", "ours peak RSS MB", "target", "")
        rss_body = [
            (
                c["command"],
                f"{c['records']:,}",
                fmt(c["rss_mb"], ".0f"),
                f"< {RSS_MAX_MB:.0f} MB",
                mark(c["ok"]),
            )
            for c in rss
        ]
        for line in table(rss_head, rss_body, {0, 4}):
            print(line, file=out)
        print(file=out)
    for r in rows:
        print(
            f"  {r['group']} {r['name']}: {r['baseline_name']}"
            + (f"; {r['note']}" if r["note"] else ""),
            file=out,
        )
    print(
        "  spread: (slowest - fastest) / median of each side's runs; speedup = peer / ours "
        "(medians)",
        file=out,
    )


def rss_row(command: str, records: int, mb: float | None) -> dict:
    return {
        "command": command,
        "records": records,
        "rss_mb": mb,
        "target_mb": RSS_MAX_MB,
        "ok": None if mb is None else mb < RSS_MAX_MB,
    }


def machine() -> dict[str, Any]:
    try:
        from spooky_cli.bench.report import machine_info

        return machine_info()
    except Exception as exc:  # noqa: BLE001
        return {"error": str(exc)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="spooky convert/export end to end against an orjson loop and DuckDB: "
        "the table of the targets, with peak RSS.",
        epilog="example: python benchmarks/convert_export.py --records 10000000 --json out.json",
    )
    ap.add_argument(
        "--records",
        type=int,
        default=1_000_000,
        help="records in the generated file (default 1,000,000; 10,000,000 for the RSS check)",
    )
    ap.add_argument(
        "--rss-records",
        type=int,
        default=None,
        metavar="M",
        help="also run ours once on M records (e.g. 10000000): peak RSS only",
    )
    ap.add_argument("--repeats", type=int, default=3, help="runs per contender (default 3)")
    ap.add_argument("--extra", action="store_true", help="add pyarrow as a convert row")
    ap.add_argument(
        "--workdir",
        default=None,
        help="where the data and outputs go (default: a temp dir, removed); "
        "a given dir is kept, and its generated data reused",
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

    try:
        from spooky_cli.bench import data
    except ImportError as exc:
        print(
            f"convert_export.py: cannot import spooky_cli ({exc}); run `pip install -e .`",
            file=sys.stderr,
        )
        return 2

    table_out = sys.stderr if args.json == "-" else sys.stdout
    own_dir = args.workdir is None
    workdir = tempfile.mkdtemp(prefix="spooky-convert-export-") if own_dir else args.workdir
    os.makedirs(workdir, exist_ok=True)
    try:
        t0 = time.perf_counter()
        src = data.ndjson(workdir, args.records, args.seed)
        size = os.path.getsize(src)
        print(
            f"data: {args.records:,} records, {size / 1e6:,.1f} MB "
            f"({size / args.records:.0f} bytes/record), {src} "
            f"[{time.perf_counter() - t0:.1f} s]",
            file=sys.stderr,
        )

        conv = convert_group(src, workdir, args.extra)
        interleave(conv, args.repeats, "convert")
        exp = export_group(src, workdir)
        interleave(exp, args.repeats, "export")
        rows = rows_of("convert", conv, args.records, size) + rows_of(
            "export", exp, args.records, size
        )
        rss = [
            rss_row("convert", args.records, conv[0].peak_rss()),
            rss_row("export", args.records, exp[0].peak_rss()),
        ]
        big_seconds = None
        if args.rss_records:
            m = args.rss_records
            t0 = time.perf_counter()
            big = data.ndjson(workdir, m, args.seed)
            print(
                f"data: {m:,} records, {os.path.getsize(big) / 1e6:,.1f} MB "
                f"[{time.perf_counter() - t0:.1f} s]",
                file=sys.stderr,
            )
            big_spky = os.path.join(workdir, "big.spky")
            big_out = os.path.join(workdir, "big-export.ndjson")
            c = Contender(
                "spooky",
                "convert",
                spooky_cmd() + ["convert", big, "-o", big_spky, "-q"],
                cleanup=[big_spky],
            )
            e = Contender(
                "spooky",
                "export",
                spooky_cmd() + ["export", big_spky, "-o", big_out, "-q"],
                cleanup=[big_out],
            )
            interleave([c], 1, f"convert {m:,}")
            interleave([e], 1, f"export {m:,}")
            for path in (big_out, big_spky):
                if os.path.exists(path):
                    os.unlink(path)
            rss += [rss_row("convert", m, c.peak_rss()), rss_row("export", m, e.peak_rss())]
            big_seconds = {"convert": c.median(), "export": e.median()}

        info = machine()
        print(
            f"cpu: {info.get('cpu')}, {info.get('cores')} cores; {info.get('python')}; "
            f"core: {info.get('core_opt')}",
            file=table_out,
        )
        print(
            f"{args.records:,} records, {size / 1e6:,.1f} MB of NDJSON; medians of "
            f"{args.repeats} alternating subprocess runs (whole processes)\n",
            file=table_out,
        )
        print_table(rows, rss, table_out)

        result = {
            "machine": info,
            "records": args.records,
            "bytes": size,
            "repeats": args.repeats,
            "rows": rows,
            "rss": rss,
            "big_seconds": big_seconds,
            "all_ok": all(r["ok"] is not False for r in rows) and all(c["ok"] for c in rss),
        }
        if args.json is not None:
            text = json.dumps(result, indent=2) + "\n"
            if args.json == "-":
                sys.stdout.write(text)
            else:
                with open(args.json, "w", encoding="utf-8") as f:
                    f.write(text)
                print(f"\nresults: {args.json}", file=sys.stderr)
    finally:
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
