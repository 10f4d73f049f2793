"""Macro benchmarks: the commands on generated data, beside their peers.

Rows have the shape of micro.py's rows, with throughput units::

    {"group": "convert", "name": "orjson", "unit": "records/s",
     "ours": 181234.5, "baseline_name": "orjson.loads loop (parse only)",
     "baseline": 120345.6, "speedup": 1.51,
     "ours_mb_s": 76.7, "baseline_mb_s": 50.9, "note": None}

``speedup = ours / baseline`` (records/s: higher is better). A group has one row
per peer; ``ours`` is the same in every row of a group (one measurement,
interleaved with all the peers). A peer that is not installed, or a command
that does not exist yet, still gets its row, with null numbers and a note.

Our commands run in-process, through the same function the command line calls
(``commands.convert.run`` / ``commands.export.run`` with quiet=True, to a file
in the work directory): the Python peers run in-process too, and a subprocess
would add the interpreter's start-up (~0.3 s here) to ours only, which at 20k
records is as long as the work. jq is necessarily a subprocess.
``benchmarks/convert_export.py`` measures the commands end to end as
subprocesses instead.

Every run of every contender is timed on its own; the runs are interleaved
(ours, peer 1, peer 2, ..., ours, peer 1, ...) and each side's median is
reported, so a burst of noise from a neighbour hits every side about equally.
"""

from __future__ import annotations

import importlib
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spooky_cli.bench import data

Row = dict[str, Any]
Progress = Callable[[str], None] | None

UNIT = "records/s"
SEED = 1
# jq does ~20k records/s here: it runs on a prefix of the file, once, and its
# numbers serve the convert and the export group.
JQ_MAX_RECORDS = 20_000
JQ_MAX_RECORDS_QUICK = 5_000
NOT_IMPLEMENTED = "command not implemented yet"
PEERS_HINT = "not installed (pip install 'spooky-cli[peers]')"


@dataclass
class Contender:
    """One side of a group: run() does the work once and returns the seconds
    that count (setup it does, such as parsing for the dumps loop, is untimed)."""

    name: str
    label: str
    run: Callable[[], float] | None
    records: int
    json_bytes: int
    note: str | None = None
    seconds: list[float] = field(default_factory=list)

    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _rate(count: int, seconds: float | None) -> float | None:
    if seconds is None or seconds <= 0:
        return None
    return count / seconds


def _row(group: str, ours: Contender, peer: Contender) -> Row:
    o_s, p_s = ours.median(), peer.median()
    o, p = _rate(ours.records, o_s), _rate(peer.records, p_s)
    o_mb = _rate(ours.json_bytes, o_s)
    p_mb = _rate(peer.json_bytes, p_s)
    note = peer.note if peer.note else ours.note
    return {
        "group": group,
        "name": peer.name,
        "unit": UNIT,
        "ours": None if o is None else round(o, 1),
        "baseline_name": peer.label,
        "baseline": None if p is None else round(p, 1),
        "speedup": None if o is None or p is None else round(o / p, 2),
        "ours_mb_s": None if o_mb is None else round(o_mb / 1e6, 1),
        "baseline_mb_s": None if p_mb is None else round(p_mb / 1e6, 1),
        "note": note,
    }


def _interleave(
    ours: Contender, peers: list[Contender], repeats: int, progress: Progress, group: str
) -> None:
    sides = [c for c in [ours, *peers] if c.run is not None]
    for r in range(repeats):
        for c in sides:
            if progress is not None:
                progress(f"{group}: {c.name or 'spooky'} ({r + 1}/{repeats})")
            c.seconds.append(c.run())  # type: ignore[misc]


# ---- convert ------------------------------------------------------------------------


def _ours_convert(src: str, out: str) -> Callable[[], float]:
    from spooky_cli.commands import convert

    def run() -> float:
        _remove(out)
        return _timed(
            lambda: convert.run(
                [src], out, key="id", keep_last=False, skip_errors=False, quiet=True
            )
        )

    return run


def _orjson_loads(src: str) -> Callable[[], float]:
    import orjson

    def work() -> None:
        loads = orjson.loads
        with open(src, "rb") as f:
            for line in f:
                loads(line)

    return lambda: _timed(work)


def _pyarrow_read(src: str) -> Callable[[], float]:
    import pyarrow.json as pj

    def work() -> None:
        table = pj.read_json(src)
        del table

    return lambda: _timed(work)


def _duckdb_copy(query: str, out: str, keep: bool = False) -> Callable[[], float]:
    import duckdb

    def run() -> float:
        _remove(out)
        con = duckdb.connect()
        try:
            return _timed(lambda: con.execute(query))
        finally:
            con.close()
            if not keep:
                _remove(out)

    return run


PARQUET = "convert-peer.parquet"  # DuckDB's convert output, the export group's input


def _parquet_query(src: str, parquet: str) -> str:
    return (
        f"COPY (SELECT * FROM read_json('{_sql_path(src)}')) "
        f"TO '{_sql_path(parquet)}' (FORMAT parquet)"
    )


def _jq(src: str) -> Callable[[], float]:
    jq = shutil.which("jq") or "jq"

    def work() -> None:
        subprocess.run(
            [jq, "-c", ".", src], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
        )

    return lambda: _timed(work)


def _sql_path(path: str) -> str:
    return path.replace("'", "''")


def _jq_contender(
    src: str, workdir: str, n: int, label: str, note: str, quick: bool = False
) -> Contender:
    if shutil.which("jq") is None:
        return Contender("jq", label, None, n, 0, "jq not installed")
    m = min(n, JQ_MAX_RECORDS_QUICK if quick else JQ_MAX_RECORDS)
    if m < n:
        src = data.head(src, m, workdir)
        note = f"{note}; on the first {m:,} records (jq is slow)"
    return Contender("jq", label, _jq(src), m, os.path.getsize(src), note)


def convert_contenders(
    src: str, n: int, workdir: str, quick: bool = False
) -> tuple[Contender, list[Contender]]:
    size = os.path.getsize(src)
    out = os.path.join(workdir, "convert.spky")
    ours = Contender("spooky", "spooky convert", _ours_convert(src, out), n, size, None)
    peers = [
        Contender("orjson", "orjson.loads loop (parse only, 1 thread)", _orjson_loads(src), n, size)
    ]
    if available("pyarrow.json"):
        peers.append(
            Contender(
                "pyarrow",
                "pyarrow.json.read_json (to a table in memory)",
                _pyarrow_read(src),
                n,
                size,
            )
        )
    else:
        peers.append(Contender("pyarrow", "pyarrow.json.read_json", None, n, size, PEERS_HINT))
    parquet = os.path.join(workdir, PARQUET)
    label = "DuckDB read_json -> Parquet"
    if available("duckdb"):
        peers.append(
            Contender(
                "duckdb",
                label,
                _duckdb_copy(_parquet_query(src, parquet), parquet, keep=True),
                n,
                size,
                "schema inferred: content_hash (u64) becomes DOUBLE",
            )
        )
    else:
        peers.append(Contender("duckdb", label, None, n, size, PEERS_HINT))
    peers.append(
        _jq_contender(src, workdir, n, "jq -c . (parse + print, to /dev/null)", "subprocess", quick)
    )
    return ours, peers


# ---- export -------------------------------------------------------------------------


def _ours_export(spky: str, out: str) -> Callable[[], float]:
    from spooky_cli.commands import export

    def run() -> float:
        _remove(out)
        try:
            return _timed(lambda: export.run(spky, out, quiet=True))
        finally:
            _remove(out)

    return run


KEEP_PARSED_MAX = 300_000  # more records than this are parsed again for every run


def _orjson_dumps(src: str, out: str, n: int, batch: int = 50_000) -> Callable[[], float]:
    """Times orjson.dumps + write of already-parsed dicts. Parsing is untimed:
    done once and kept for up to KEEP_PARSED_MAX records (about 2 kB of
    memory per dict), else `batch` lines at a time before each timed batch."""
    import orjson

    kept: list[list[Any]] = []

    def batches() -> Any:
        if kept:
            yield from kept
            return
        loads = orjson.loads
        with open(src, "rb") as f:
            while True:
                docs = [loads(line) for _, line in zip(range(batch), f)]
                if not docs:
                    return
                if n <= KEEP_PARSED_MAX:
                    kept.append(docs)
                yield docs

    def run() -> float:
        dumps, nl = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        spent = 0.0
        _remove(out)
        try:
            with open(out, "wb") as w:
                for docs in batches():
                    t0 = time.perf_counter()
                    w.writelines(dumps(d, option=nl) for d in docs)
                    spent += time.perf_counter() - t0
                t0 = time.perf_counter()
                w.flush()
                spent += time.perf_counter() - t0
        finally:
            _remove(out)
        return spent

    return run


def export_contenders(
    src: str, spky: str, n: int, workdir: str, jq: Contender | None = None
) -> tuple[Contender, list[Contender]]:
    """The export group; jq, if given, is the convert group's jq contender
    (already measured: its runs are shown again, not repeated)."""
    size = os.path.getsize(src)
    ours = Contender(
        "spooky",
        "spooky export",
        _ours_export(spky, os.path.join(workdir, "export.ndjson")),
        n,
        size,
        None,
    )
    peers = [
        Contender(
            "orjson",
            "orjson.dumps loop over parsed dicts, to a file",
            _orjson_dumps(src, os.path.join(workdir, "export-peer.ndjson"), n),
            n,
            size,
        )
    ]
    label = "DuckDB Parquet -> NDJSON"
    parquet = os.path.join(workdir, PARQUET)
    if available("duckdb"):
        if not os.path.exists(parquet):  # made by the convert group's DuckDB runs
            _duckdb_copy(_parquet_query(src, parquet), parquet)()
        out = os.path.join(workdir, "export-peer-duckdb.ndjson")
        q = f"COPY (SELECT * FROM '{_sql_path(parquet)}') TO '{_sql_path(out)}' (FORMAT json)"
        peers.append(
            Contender(
                "duckdb", label, _duckdb_copy(q, out), n, size, "content_hash written as a DOUBLE"
            )
        )
    else:
        peers.append(Contender("duckdb", label, None, n, size, PEERS_HINT))
    if jq is not None:
        note = (
            jq.note
            if jq.run is None
            else ("the convert group's jq runs" + (f"; {jq.note}" if jq.note else ""))
        )
        peers.append(
            Contender("jq", jq.label, None, jq.records, jq.json_bytes, note, list(jq.seconds))
        )
    return ours, peers


# ---- all ----------------------------------------------------------------------------


def repeats_for(quick: bool) -> int:
    return 3


def placeholder_rows(group: str, peers: list[tuple[str, str]], note: str) -> list[Row]:
    return [
        {
            "group": group,
            "name": name,
            "unit": UNIT,
            "ours": None,
            "baseline_name": label,
            "baseline": None,
            "speedup": None,
            "ours_mb_s": None,
            "baseline_mb_s": None,
            "note": note,
        }
        for name, label in peers
    ]


def run_macro(
    n: int,
    workdir: str,
    quick: bool = False,
    progress: Progress = None,
    repeats: int | None = None,
    seed: int = SEED,
) -> list[Row]:
    """Generates n records in workdir, then runs the convert and export groups;
    diff and filter get placeholder rows."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    reps = repeats if repeats is not None else repeats_for(quick)
    if progress is not None:
        progress(f"generating {n:,} records")
    src = data.ndjson(workdir, n, seed)
    rows: list[Row] = []

    ours, peers = convert_contenders(src, n, workdir, quick)
    _interleave(ours, peers, reps, progress, "convert")
    rows += [_row("convert", ours, p) for p in peers]
    jq = next(p for p in peers if p.name == "jq")

    spky = os.path.join(workdir, "convert.spky")
    if not os.path.exists(spky):  # made by ours in the convert group
        ours.run()  # type: ignore[misc]
    ours, peers = export_contenders(src, spky, n, workdir, jq)
    _interleave(ours, peers, reps, progress, "export")
    rows += [_row("export", ours, p) for p in peers]

    rows += placeholder_rows(
        "diff", [("orjson", "orjson.loads of both files + dict compare")], NOT_IMPLEMENTED
    )
    rows += placeholder_rows(
        "filter",
        [("orjson", "orjson.loads loop + predicate"), ("jq", "jq -c 'select(...)'")],
        NOT_IMPLEMENTED,
    )
    return rows
