#!/usr/bin/env python3
"""Peak RSS and wall time of `spooky info --verify` and `spooky diff` on large
files, in key order and in random key order (a report, run on demand; never
part of the test suite).

    python benchmarks/memory.py                          # 10,000,000 records (~4.2 GB NDJSON)
    python benchmarks/memory.py --records 1000000
    python benchmarks/memory.py --baseline /venvs/old/bin/spooky   # old vs new, alternating
    python benchmarks/memory.py --clean                  # delete the data afterwards

Data (spooky_cli/bench/data.py: ~420-byte nested records, and the generator's
"new" version: ~10% changed, 1% removed, 1% added) go to --workdir
(benchmarks/data/, git-ignored) and are reused by later runs of the same size:
the NDJSON, a copy of each with its lines shuffled (a file written in random
key order), and the four record files, converted once by the spooky under
test.

Every command runs as a whole process (wall time, start-up included, and peak
RSS from wait4, through convert_export.py's wrapper); with --baseline each
repetition runs ours then the baseline, so both see the same machine state.
Timings on a shared machine are noisy: compare the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from convert_export import run_child, spooky_cmd  # noqa: E402

from spooky_cli.bench import data  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BUCKET_BYTES = 64 << 20  # shuffle: lines are dealt into buckets of about this size


def shuffled(src: str, seed: int) -> str:
    """A copy of src with its lines in random order (made once): lines are dealt
    into random buckets on disk, then each bucket is shuffled in memory, so the
    memory used stays about BUCKET_BYTES."""
    path = f"{os.path.splitext(src)[0]}-shuffled.ndjson"
    if os.path.exists(path):
        return path
    rng = random.Random(seed)
    k = max(1, os.path.getsize(src) // BUCKET_BYTES)
    parts = [f"{path}.part{i}" for i in range(k)]
    outs = [open(p, "wb") for p in parts]  # noqa: SIM115 (closed below)
    try:
        with open(src, "rb") as f:
            for line in f:
                outs[int(rng.random() * k)].write(line if line.endswith(b"\n") else line + b"\n")
    finally:
        for o in outs:
            o.close()
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as out:
        for p in parts:
            with open(p, "rb") as f:
                lines = f.readlines()
            rng.shuffle(lines)
            out.writelines(lines)
            os.unlink(p)
    os.replace(tmp, path)
    return path


def prepare(workdir: str, n: int, seed: int, spooky: list[str]) -> dict[str, tuple[str, str]]:
    """{order: (old.spky, new.spky)} for "key" and "random" order."""
    os.makedirs(workdir, exist_ok=True)
    print(f"data: {n:,} records in {workdir}", file=sys.stderr)
    old = data.ndjson(workdir, n, seed)
    new = f"{os.path.splitext(old)[0]}-new.ndjson"
    if not os.path.exists(new):
        new, made = data.changed_ndjson(old, n, seed)
        print(f"  new version: {made}", file=sys.stderr)
    sources = {"key": (old, new), "random": (shuffled(old, seed), shuffled(new, seed + 1))}
    files = {}
    for order, pair in sources.items():
        out = []
        for side, src in zip(("old", "new"), pair):
            dst = os.path.join(workdir, f"{side}-{n}-{order}.spky")
            if not os.path.exists(dst):
                print(f"  converting {os.path.basename(src)}", file=sys.stderr)
                tmp = dst + ".tmp.spky"
                run_child([*spooky, "convert", src, "-o", tmp, "-q"])
                os.replace(tmp, dst)
            out.append(dst)
        files[order] = (out[0], out[1])
    return files


def commands(files: dict[str, tuple[str, str]], workdir: str, which: list[str]) -> list[dict]:
    """The measured commands (arguments after the spooky executable)."""
    out_file = os.path.join(workdir, "diff-out.ndjson")
    cmds = []
    for order, (old, new) in files.items():
        each = {
            "info": ("info --verify", ["info", old, "--verify", "--json"], ()),
            "diff": (
                "diff --format json -o FILE",
                ["diff", old, new, "--format", "ndjson", "-o", out_file],
                (1,),
            ),
            "diff-q": ("diff -q", ["diff", old, new, "-q"], (1,)),
            "diff-verify": ("diff --verify -q", ["diff", old, new, "--verify", "-q"], (1,)),
        }
        for name in which:
            label, args, ok = each[name]
            new_only = name == "diff-verify"  # the baseline may have no diff --verify
            cmds.append(
                {
                    "order": order,
                    "command": label,
                    "args": args,
                    "ok": ok,
                    "files": (old, new),
                    "new_only": new_only,
                }
            )
    return cmds


def warm(paths: tuple[str, ...]) -> None:
    """Reads the files once, so that every run finds them in the page cache."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(16 << 20):
                pass


def measure(cmds: list[dict], ours: list[str], baseline: list[str] | None, repeats: int) -> None:
    warmed: tuple[str, ...] = ()
    for c in cmds:
        if c["files"] != warmed:
            warm(c["files"])
            warmed = c["files"]
        c["runs"] = {"new": [], "old": []}
        for r in range(repeats):
            for label, exe in (("new", ours), ("old", baseline)):
                if exe is None or (label == "old" and c["new_only"]):
                    continue
                got = run_child([*exe, *c["args"]], ok_codes=c["ok"])
                c["runs"][label].append(got)
                print(
                    f"  {c['order']:6} {c['command']:27} {label} {r + 1}/{repeats}: "
                    f"{got['seconds']:7.2f} s {got['rss_mb']:8.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )


def summary(cmds: list[dict], n: int) -> list[dict]:
    rows = []
    for c in cmds:
        row: dict = {"records": n, "order": c["order"], "command": c["command"]}
        for label in ("new", "old"):
            runs = c["runs"][label]
            if runs:
                row[f"{label}_seconds"] = statistics.median(r["seconds"] for r in runs)
                row[f"{label}_rss_mb"] = max(r["rss_mb"] for r in runs)
                row[f"{label}_runs"] = runs
        if c["runs"]["old"]:
            row["time_ratio"] = row["new_seconds"] / row["old_seconds"]
        rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    def cell(row: dict, key: str, spec: str, unit: str = "") -> str:
        return format(row[key], spec) + unit if key in row else "-"

    print(
        f"{'records':>11}  {'order':6}  {'command':27}  {'RSS old':>9}  {'RSS new':>9}  "
        f"{'s old':>7}  {'s new':>7}  {'new/old':>7}"
    )
    for r in rows:
        print(
            f"{r['records']:>11,}  {r['order']:6}  {r['command']:27}  "
            f"{cell(r, 'old_rss_mb', '.0f', ' MB'):>9}  {cell(r, 'new_rss_mb', '.0f', ' MB'):>9}  "
            f"{cell(r, 'old_seconds', '.2f'):>7}  {cell(r, 'new_seconds', '.2f'):>7}  "
            f"{cell(r, 'time_ratio', '.2f'):>7}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Peak RSS and time of spooky info --verify and spooky diff on large files.",
        epilog="example: python benchmarks/memory.py --records 1000000 --baseline old/bin/spooky",
    )
    ap.add_argument("--records", type=int, default=10_000_000, help="records (default 10,000,000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per command (default 3)")
    ap.add_argument("--workdir", default=os.path.join(HERE, "data"), help="data folder")
    ap.add_argument(
        "--baseline",
        default=None,
        metavar="SPOOKY",
        help="another spooky to compare with, e.g. an older version's venv/bin/spooky",
    )
    ap.add_argument(
        "--commands",
        default="info,diff,diff-q",
        help="any of info, diff, diff-q, diff-verify (default info,diff,diff-q)",
    )
    ap.add_argument("--json", default=None, metavar="FILE", help="results as JSON")
    ap.add_argument("--clean", action="store_true", help="delete this size's data at the end")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    ours = spooky_cmd()
    baseline = args.baseline.split() if args.baseline else None
    files = prepare(args.workdir, args.records, args.seed, ours)
    try:
        cmds = commands(files, args.workdir, args.commands.split(","))
        measure(cmds, ours, baseline, args.repeats)
        rows = summary(cmds, args.records)
        print(
            f"\n{args.records:,} records; wall time medians of {args.repeats} alternating runs, "
            "peak RSS the largest of them; a shared machine: compare ratios\n"
        )
        print_table(rows)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=2)
    finally:
        out = os.path.join(args.workdir, "diff-out.ndjson")
        if os.path.exists(out):
            os.unlink(out)
        if args.clean:
            for name in os.listdir(args.workdir):
                if f"-{args.records}-" in name:
                    os.unlink(os.path.join(args.workdir, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
