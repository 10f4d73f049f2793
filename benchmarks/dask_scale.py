#!/usr/bin/env python3
"""spooky_cli.dask at 1M to 10M records: the numbers of docs/SCALE.md (a
report, not a test; needs `pip install -e '.[dask]'`).

    python benchmarks/dask_scale.py --records 20000           # a check, ~30 s
    python benchmarks/dask_scale.py --records 1000000 10000000 --parts 16
    python benchmarks/dask_scale.py --scheduler tcp://HOST:8786 --workdir /shared/x

Data: the generated records (spooky_cli/bench/data.py) and their "new"
version (~10% changed, 1% removed, 1% added), written as NDJSON inputs of
--parts parts each (old: consecutive runs of lines; new: by id modulo
--parts, so that a key's two records are in parts of other numbers), and the
same records as one NDJSON file per side. Generating them is not timed.

Timed, once per size (wall seconds; the machine is shared: rerun to see the
spread):
- convert: `spooky convert` of the one file per side (subprocess) against
  convert_many of the parts on the cluster (one record file per part);
- read: read_spky(...).count and a filter (`where`, a few columns) on the
  cluster, against `spooky filter --count` of the one file;
- diff: `spooky diff --format ndjson -o FILE` of the two files (subprocess)
  against diff_datasets(output=FOLDER) on the cluster; both outputs are
  compared, byte for byte, before a number is reported.

Also per size: bytes of the key indexes (what the diff's shuffle moves:
key, digest, length and where, ~33 bytes + the key per record), and the peak
RSS of each worker process (ru_maxrss, so the largest task of the whole run).
Results go to --json (default dask_scale.json) and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack

import orjson

from spooky_cli.bench import data
from spooky_cli.reader import open_records


def _split(chunks, folder: str, parts: int, total: int, by_key: bool, whole: str) -> None:
    """The lines into `parts` NDJSON files (runs of lines, or by id modulo
    parts) and into one file `whole`."""
    os.makedirs(folder, exist_ok=True)
    n = 0
    with ExitStack() as files:
        outs = [
            files.enter_context(open(os.path.join(folder, f"in-{i:05d}.ndjson"), "wb"))
            for i in range(parts)
        ]
        one = files.enter_context(open(whole, "wb"))
        for chunk in chunks:
            one.write(chunk)
            for line in chunk.splitlines():
                at = orjson.loads(line)["id"] % parts if by_key else n * parts // total
                outs[at].write(line + b"\n")
                n += 1


def _timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _spooky(*args: str) -> float:
    t = time.perf_counter()
    subprocess.run(["spooky", "--quiet", *args], check=False)
    return time.perf_counter() - t


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_size(n: int, parts: int, workdir: str, client) -> dict:
    import spooky_cli.dask as sd

    d = os.path.join(workdir, f"n{n}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    old_nd, new_nd = os.path.join(d, "old.ndjson"), os.path.join(d, "new.ndjson")
    _split(data.lines(n), os.path.join(d, "old-in"), parts, n, False, old_nd)
    _split(data.changed_lines(n), os.path.join(d, "new-in"), parts, n, True, new_nd)
    old1, new1 = os.path.join(d, "old.spky"), os.path.join(d, "new.spky")
    row: dict = {"records": n, "parts": parts, "input_bytes": os.path.getsize(old_nd)}

    row["convert_one_file_s"] = _spooky("convert", old_nd, "-o", old1)
    _spooky("convert", new_nd, "-o", new1)
    row["convert_many_s"], _ = _timed(
        lambda: sd.convert_many([os.path.join(d, "old-in")], os.path.join(d, "old"))
    )
    sd.convert_many([os.path.join(d, "new-in")], os.path.join(d, "new"))

    row["read_count_s"], count = _timed(lambda: len(sd.read_spky(os.path.join(d, "old"), ["id"])))
    assert count == n, (count, n)
    where = "price > 50 and user.verified"
    row["read_where_s"], _ = _timed(
        lambda: len(sd.read_spky(os.path.join(d, "old"), ["id", "price", "user"], where))
    )
    row["filter_one_file_s"] = _spooky("filter", old1, "-w", where, "--count")

    out1 = os.path.join(d, "diff.ndjson")
    row["diff_one_file_s"] = _spooky("diff", old1, new1, "--format", "ndjson", "-o", out1)
    folder = os.path.join(d, "diff")
    row["diff_datasets_s"], counts = _timed(
        lambda: sd.diff_datasets(os.path.join(d, "old"), os.path.join(d, "new"), output=folder)
    )
    got = b""
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            got += f.read()
    with open(out1, "rb") as f:
        assert got == f.read(), "diff_datasets differs from spooky diff"
    row["changes"] = counts._asdict()  # type: ignore[attr-defined]

    with open_records(old1) as r, open_records(new1) as r2:
        index, heap = r.index_section()
        index2, heap2 = r2.index_section()
        row["key_index_bytes"] = len(index) + len(heap) + len(index2) + len(heap2)
    rss = client.run(_peak_rss_mb)
    row["worker_peak_rss_mb"] = sorted(round(v) for v in rss.values())
    shutil.rmtree(d, ignore_errors=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--parts", type=int, default=8, help="parts per dataset")
    ap.add_argument("--workers", type=int, default=2, help="local workers (no --scheduler)")
    ap.add_argument("--scheduler", help="a running cluster's scheduler (workdir must be shared)")
    ap.add_argument("--workdir", help="where the data go (default: a temp folder)")
    ap.add_argument("--json", default="dask_scale.json")
    args = ap.parse_args()

    from distributed import Client, LocalCluster

    workdir = args.workdir or tempfile.mkdtemp(prefix="spooky-dask-scale-")
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
        client = Client(cluster)
    rows = []
    try:
        for n in args.records:
            rows.append(one_size(n, args.parts, workdir, client))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        client.close()
        if not args.scheduler:
            cluster.close()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    with open(args.json, "w") as f:
        json.dump({"workers": args.workers, "scheduler": args.scheduler, "rows": rows}, f, indent=2)
    keys = [
        "records",
        "convert_one_file_s",
        "convert_many_s",
        "read_count_s",
        "read_where_s",
        "filter_one_file_s",
        "diff_one_file_s",
        "diff_datasets_s",
        "key_index_bytes",
        "worker_peak_rss_mb",
    ]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        cells = [f"{r[k]:.2f}" if isinstance(r[k], float) else str(r[k]) for k in keys]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
