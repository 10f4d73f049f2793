"""Macro benchmarks: the commands on generated data, beside their peers.

Rows have the shape of micro.py's rows, with throughput units::

    {"group": "convert", "name": "orjson", "unit": "records/s",
     "ours": 181234.5, "baseline_name": "orjson.loads loop (parse only)",
     "baseline": 120345.6, "speedup": 1.51,
     "ours_mb_s": 76.7, "baseline_mb_s": 50.9, "note": None}

``speedup = ours / baseline`` (records/s: higher is better). A group has one row
per peer; ``ours`` is the same in every row of a group (one measurement,
interleaved with all the peers). A peer that is not installed still gets its
row, with null numbers and a note. A row's note joins ours' note (e.g. the
data it ran on) and the peer's.

The groups, and what a record (records/s) and a byte (MB/s) are in each:

- convert: NDJSON -> record file. Records and bytes of the NDJSON input.
- export: record file -> NDJSON. Records and bytes of the NDJSON it matches.
- diff: the first DIFF_FILTER_MAX_RECORDS generated records ("old") against
  their new version (data.changed_ndjson: ~10% changed, ~1% removed, ~1%
  added), each side writing every difference to a file. Records and bytes of
  the old NDJSON file (ours reads both record files, the peers both NDJSON
  files). pyarrow cannot join or compare nested columns: its row compares only
  version and content_hash (the generator changes both) and writes nothing.
- filter: the same first records, three predicates (FILTER_WHERE, ~16% match),
  the matches to a file (pyarrow only filters a table: it cannot write NDJSON).
  Records and bytes of the NDJSON input.

jq is slow: it runs on a prefix (JQ_MAX_RECORDS; in the diff group the first
JQ_DIFF_MAX_RECORDS lines of each file) and its rate counts that prefix.

Our commands run in-process, through the same function the command line calls
(``commands.convert.run`` / ``export.run`` / ``filter.run`` with quiet=True,
``diff.run`` with its stderr sent to /dev/null, since its quiet=True writes no
differences; all to a file in the work directory): the Python peers run
in-process too, and a subprocess would add the interpreter's start-up (~0.3 s
here) to ours only, which at 20k records is as long as the work. jq is
necessarily a subprocess. ``benchmarks/convert_export.py`` measures convert
and export end to end as subprocesses instead. Setup is untimed: generating
and converting the data, and the checks that ours and the orjson loop find
the same differences and select the same number of records.

Every run of every contender is timed on its own; the runs are interleaved
(ours, peer 1, peer 2, ..., ours, peer 1, ...) and each side's median is
reported, so a burst of noise from a neighbour hits every side about equally.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import typer

from spooky_cli.bench import data, peers
from spooky_cli.bench.peers import FILTER_WHERE

Row = dict[str, Any]
Progress = Callable[[str], None] | None

UNIT = "records/s"
SEED = 1
# jq does ~20k records/s here: it runs on a prefix of the file, once, and its
# numbers serve the convert and the export group.
JQ_MAX_RECORDS = 20_000
JQ_MAX_RECORDS_QUICK = 5_000
# jq's diff reads two files and builds an object of each: ~11k records/s here
JQ_DIFF_MAX_RECORDS = 5_000
JQ_DIFF_MAX_RECORDS_QUICK = 1_250
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
    # called after the runs; raises if the output disagrees with ours
    check: Callable[[], None] | None = None

    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _if_installed(
    module: str, peer: Contender, make: Callable[[], Callable[[], float]]
) -> Contender:
    """peer with its run made by make() when module imports, else marked not installed."""
    if available(module):
        peer.run = make()
    else:
        peer.note = PEERS_HINT
    return peer


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _fresh_output(out: str, work: Callable[[], Any]) -> Callable[[], float]:
    """A run of work timed, with out removed before and after."""

    def run() -> float:
        _remove(out)
        try:
            return _timed(work)
        finally:
            _remove(out)

    return run


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
    note = "; ".join(x for x in (ours.note, peer.note) if x) or None
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
    for c in sides:
        if c.check is not None:
            c.check()


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
    peers.append(
        _if_installed(
            "pyarrow.json",
            Contender("pyarrow", "pyarrow.json.read_json (to a table in memory)", None, n, size),
            lambda: _pyarrow_read(src),
        )
    )
    parquet = os.path.join(workdir, PARQUET)
    peers.append(
        _if_installed(
            "duckdb",
            Contender(
                "duckdb",
                "DuckDB read_json -> Parquet",
                None,
                n,
                size,
                "schema inferred: content_hash (u64) is a DOUBLE in the Parquet file",
            ),
            lambda: _duckdb_copy(_parquet_query(src, parquet), parquet, keep=True),
        )
    )
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
    parquet = os.path.join(workdir, PARQUET)

    def duckdb_export() -> Callable[[], float]:
        if not os.path.exists(parquet):  # made by the convert group's DuckDB runs
            _duckdb_copy(_parquet_query(src, parquet), parquet)()
        out = os.path.join(workdir, "export-peer-duckdb.ndjson")
        q = f"COPY (SELECT * FROM '{_sql_path(parquet)}') TO '{_sql_path(out)}' (FORMAT json)"
        return _duckdb_copy(q, out)

    peer = Contender(
        "duckdb", "DuckDB Parquet -> NDJSON", None, n, size, "content_hash written as a DOUBLE"
    )
    peers.append(_if_installed("duckdb", peer, duckdb_export))
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


# ---- diff ---------------------------------------------------------------------------

# The diff and filter groups run on the first this many records: their peers
# parse all the NDJSON on every run (diff: two files), and `spooky bench` must
# stay within a minute.
DIFF_FILTER_MAX_RECORDS = 100_000


def _ours_diff(old: str, new: str, out: str) -> Callable[[], float]:
    """`spooky diff OLD NEW -o OUT --format ndjson 2>/dev/null`: not quiet=True,
    with which the command writes no differences at all (only its exit code);
    its summary line goes to /dev/null (and no progress bar is drawn there)."""
    from spooky_cli.commands import diff

    def work() -> None:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
            try:
                diff.run(old, new, out, fmt="ndjson", quiet=False)
            except typer.Exit as exc:
                if exc.exit_code != 1:  # 1: the files differ (0: they do not)
                    raise

    def run() -> float:
        _remove(out)
        return _timed(work)  # the output stays: diff_contenders checks the first

    return run


def _diff_ops(path: str) -> dict[str, int]:
    """{"changed", "removed", "added"}: the lines of a diff output by op."""
    with open(path, "rb") as f:
        blob = f.read()
    return {op: blob.count(b'"op":"%s"' % op.encode()) for op in ("changed", "removed", "added")}


def _orjson_diff(old: str, new: str, out: str, counted: dict[str, int]) -> Callable[[], float]:
    """peers.orjson_diff, timed; counted gets the last run's counts."""
    return _fresh_output(out, lambda: counted.update(peers.orjson_diff(old, new, out)))


def _pyarrow_diff(old: str, new: str) -> Callable[[], float]:
    """Change detection in pyarrow: both files read (every column parsed), then
    id, version and content_hash joined and compared (its joins refuse the
    nested columns, so a whole-record comparison is not available)."""
    import pyarrow.compute as pc
    import pyarrow.json as pj

    cols = ["id", "version", "content_hash"]

    def work() -> None:
        a = pj.read_json(old).select(cols)
        b = pj.read_json(new).select(cols)
        j = a.join(b, "id", join_type="full outer", left_suffix="_old", right_suffix="_new")
        differ = pc.or_kleene(
            pc.not_equal(j["version_old"], j["version_new"]),
            pc.not_equal(j["content_hash_old"], j["content_hash_new"]),
        )
        gone = pc.or_(pc.is_null(j["version_old"]), pc.is_null(j["version_new"]))
        pc.sum(pc.or_(pc.fill_null(differ, False), gone)).as_py()

    return lambda: _timed(work)


def _duckdb_diff_query(old: str, new: str, out: str) -> str:
    return (
        "COPY (SELECT coalesce(o.id, n.id) AS key, "
        "CASE WHEN n.id IS NULL THEN 'removed' WHEN o.id IS NULL THEN 'added' "
        "ELSE 'changed' END AS op, o AS old, n AS new "
        f"FROM read_json('{_sql_path(old)}') o "
        f"FULL OUTER JOIN read_json('{_sql_path(new)}') n ON o.id = n.id "
        "WHERE o.id IS NULL OR n.id IS NULL OR o IS DISTINCT FROM n) "
        f"TO '{_sql_path(out)}' (FORMAT json)"
    )


# Both files as objects by id, then removed/changed, then added; a change lists
# the fields that differ, as ours does.
JQ_DIFF = """
(reduce $old[] as $r ({}; .[$r.id | tostring] = $r)) as $a
| (reduce $new[] as $r ({}; .[$r.id | tostring] = $r)) as $b
| ($a | to_entries[] | .value as $o | $b[.key] as $n
   | if $n == null then {op: "removed", key: $o.id, record: $o}
     elif $n != $o then {op: "changed", key: $o.id, fields: ([($o + $n) | keys[]
       | select($o[.] != $n[.]) | {key: ., value: {old: $o[.], new: $n[.]}}] | from_entries)}
     else empty end),
  ($b | to_entries[] | select($a[.key] == null) | {op: "added", key: .value.id, record: .value})
"""


def _jq_to_file(args: list[str], out: str) -> Callable[[], float]:
    jq = shutil.which("jq") or "jq"

    def work() -> None:
        with open(out, "wb") as f:
            subprocess.run([jq, *args], stdout=f, stderr=subprocess.DEVNULL, check=True)

    def run() -> float:
        try:
            return _timed(work)
        finally:
            _remove(out)

    return run


def diff_contenders(
    old: str,
    spky: str,
    n: int,
    workdir: str,
    quick: bool = False,
    seed: int = SEED,
    note: str | None = None,
) -> tuple[Contender, list[Contender]]:
    """The diff group: old (n generated records; spky, its record file) against
    its new version (data.changed_ndjson), converted to a record file for ours
    (untimed). Checks that ours finds the changes the generator made before
    anything is timed, and afterwards that the orjson loop found the same."""
    from spooky_cli.commands import convert

    new, made = data.changed_ndjson(old, n, seed)
    size = os.path.getsize(old)
    new_spky = os.path.join(workdir, "diff-new.spky")
    _remove(new_spky)
    convert.run([new], new_spky, key="id", keep_last=False, skip_errors=False, quiet=True)
    out = os.path.join(workdir, "diff.ndjson")
    ours_run = _ours_diff(spky, new_spky, out)
    ours_run()  # untimed: ours must find what the generator changed
    found = _diff_ops(out)
    _remove(out)
    if found != made:
        raise RuntimeError(f"spooky diff found {found}, the generator made {made}")
    made_text = ", ".join(f"{v:,} {k}" for k, v in made.items())
    ours_note = "; ".join(x for x in (note, f"{made_text} in the new version") if x)
    ours = Contender("spooky", "spooky diff --format ndjson", ours_run, n, size, ours_note)

    counted: dict[str, int] = {}
    peers = [
        Contender(
            "orjson",
            "orjson.loads both NDJSON files into dicts by id (GC paused), compare, "
            "orjson.dumps the differences",
            _orjson_diff(old, new, os.path.join(workdir, "diff-peer.ndjson"), counted),
            n,
            size,
            check=lambda: _check_counts("diff", "orjson", counted, made),
        )
    ]
    peer_out = os.path.join(workdir, "diff-peer-duckdb.ndjson")
    peer = Contender(
        "duckdb",
        "DuckDB read_json both, full outer join on id, differing rows to NDJSON",
        None,
        n,
        size,
        "a change is written as both whole rows, not the fields that differ",
    )
    peers.append(
        _if_installed(
            "duckdb",
            peer,
            lambda: _duckdb_copy(_duckdb_diff_query(old, new, peer_out), peer_out),
        )
    )
    peers.append(
        _if_installed(
            "pyarrow.json",
            Contender(
                "pyarrow",
                "pyarrow.json.read_json both, full outer join on id of version and "
                "content_hash, differing rows counted",
                None,
                n,
                size,
                "less work than ours: pyarrow joins refuse nested columns, so it compares "
                "only the change-detection columns and writes nothing",
            ),
            lambda: _pyarrow_diff(old, new),
        )
    )
    label = "jq -n --slurpfile both, objects by id, compare, differences to a file"
    if shutil.which("jq") is None:
        peers.append(Contender("jq", label, None, n, size, "jq not installed"))
    else:
        j = min(n, JQ_DIFF_MAX_RECORDS_QUICK if quick else JQ_DIFF_MAX_RECORDS)
        jq_old, jq_new = old, new
        jq_note = "subprocess; jq up to 1.6 reads content_hash as a double"
        if j < n:
            jq_old, jq_new = data.head(old, j, workdir), data.head(new, j, workdir)
            jq_note += f"; on the first {j:,} lines of both files (jq is slow)"
        args = ["-n", "-c", "--slurpfile", "old", jq_old, "--slurpfile", "new", jq_new, JQ_DIFF]
        jq_out = os.path.join(workdir, "diff-peer-jq.ndjson")
        peers.append(
            Contender("jq", label, _jq_to_file(args, jq_out), j, os.path.getsize(jq_old), jq_note)
        )
    return ours, peers


def _check_counts(group: str, peer: str, got: dict[str, int], want: dict[str, int]) -> None:
    if got and got != want:
        raise RuntimeError(f"{group}: the {peer} peer found {got}, ours {want}")


# ---- filter -------------------------------------------------------------------------

# FILTER_WHERE (peers.py) in the other peers' terms.
FILTER_SQL = "version <= 400 AND created_at >= '2022-01-01T00:00:00Z' AND active = true"
FILTER_JQ = 'select(.version <= 400 and .created_at >= "2022-01-01T00:00:00Z" and .active == true)'


def _ours_filter(spky: str, out: str) -> Callable[[], float]:
    from spooky_cli.commands import filter as filter_cmd

    def work() -> None:
        try:
            filter_cmd.run(spky, FILTER_WHERE, out, fmt="json", quiet=True)
        except typer.Exit as exc:
            if exc.exit_code != 1:  # 1: nothing matched (only in a few records)
                raise

    return _fresh_output(out, work)


def _orjson_filter(src: str, out: str) -> Callable[[], float]:
    return _fresh_output(out, lambda: peers.orjson_filter(src, out))


def _orjson_count(src: str) -> int:
    import orjson

    loads = orjson.loads
    with open(src, "rb") as f:
        return sum(1 for line in f if peers.matches(loads(line)))


def _ours_count(spky: str) -> int:
    from spooky_cli.filter import Filter, filter_file
    from spooky_cli.reader import RecordFileReader

    with RecordFileReader(spky) as reader:
        return filter_file(reader, Filter(FILTER_WHERE))


def _pyarrow_filter(src: str) -> Callable[[], float]:
    import datetime

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    def work() -> None:
        table = pj.read_json(src)
        kind = table.schema.field("created_at").type
        since: Any = "2022-01-01T00:00:00Z"
        if pa.types.is_timestamp(kind):  # inferred from the strings
            utc = datetime.timezone.utc if kind.tz else None
            since = pa.scalar(datetime.datetime(2022, 1, 1, tzinfo=utc), type=kind)
        cond = (pc.field("version") <= 400) & (pc.field("created_at") >= since)
        matched = table.filter(cond & pc.field("active"))
        del table, matched

    return lambda: _timed(work)


def filter_contenders(
    src: str, spky: str, n: int, workdir: str, quick: bool = False, note: str | None = None
) -> tuple[Contender, list[Contender]]:
    """The filter group: src holds n generated records, spky is its record
    file (ours reads it). Checks, before anything is timed, that ours and the
    orjson loop select the same number of records."""
    ours_n, peer_n = _ours_count(spky), _orjson_count(src)
    if ours_n != peer_n:
        raise RuntimeError(
            f"filter: spooky selects {ours_n:,} records and the orjson loop {peer_n:,}"
        )
    size = os.path.getsize(src)
    ours = Contender(
        "spooky",
        "spooky filter --format json",
        _ours_filter(spky, os.path.join(workdir, "filter.ndjson")),
        n,
        size,
        f"{note}; {ours_n:,} of them match" if note else f"{ours_n:,} of {n:,} records match",
    )
    peers = [
        Contender(
            "orjson",
            "orjson.loads loop, predicate in Python, orjson.dumps matches to a file",
            _orjson_filter(src, os.path.join(workdir, "filter-peer.ndjson")),
            n,
            size,
        )
    ]
    label = "pyarrow.json.read_json + compute filter (table in memory; no NDJSON writer)"
    peers.append(
        _if_installed(
            "pyarrow.json",
            Contender("pyarrow", label, None, n, size),
            lambda: _pyarrow_filter(src),
        )
    )
    out = os.path.join(workdir, "filter-peer-duckdb.ndjson")
    q = (
        f"COPY (SELECT * FROM read_json('{_sql_path(src)}') WHERE {FILTER_SQL}) "
        f"TO '{_sql_path(out)}' (FORMAT json)"
    )
    peer = Contender(
        "duckdb",
        "DuckDB COPY (SELECT ... read_json WHERE ...) TO NDJSON",
        None,
        n,
        size,
        "created_at becomes a timestamp, written as '2023-10-06 07:54:30+00'",
    )
    peers.append(_if_installed("duckdb", peer, lambda: _duckdb_copy(q, out)))
    label = "jq -c 'select(...)' to a file"
    if shutil.which("jq") is None:
        peers.append(Contender("jq", label, None, n, size, "jq not installed"))
    else:
        m = min(n, JQ_MAX_RECORDS_QUICK if quick else JQ_MAX_RECORDS)
        jq_src = src if m == n else data.head(src, m, workdir)
        jq_note = "subprocess" + (f"; on the first {m:,} records (jq is slow)" if m < n else "")
        out = os.path.join(workdir, "filter-peer-jq.ndjson")
        peers.append(
            Contender(
                "jq",
                label,
                _jq_to_file(["-c", FILTER_JQ, jq_src], out),
                m,
                os.path.getsize(jq_src),
                jq_note,
            )
        )
    return ours, peers


# ---- all ----------------------------------------------------------------------------


def repeats_for(quick: bool) -> int:
    return 3


def run_macro(
    n: int,
    workdir: str,
    quick: bool = False,
    progress: Progress = None,
    repeats: int | None = None,
    seed: int = SEED,
) -> list[Row]:
    """Generates n records in workdir, then runs the convert, export, diff and
    filter groups, one row per peer."""
    from spooky_cli.commands import convert

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

    # diff and filter: on a prefix (DIFF_FILTER_MAX_RECORDS), converted untimed
    if progress is not None:
        progress("diff: making the new version")
    m = min(n, DIFF_FILTER_MAX_RECORDS)
    part, part_spky, note = src, spky, None
    if m < n:
        part = data.head(src, m, workdir)
        part_spky = os.path.join(workdir, f"first-{m}.spky")
        _remove(part_spky)
        convert.run([part], part_spky, key="id", keep_last=False, skip_errors=False, quiet=True)
        note = f"on the first {m:,} records"
    ours, peers = diff_contenders(part, part_spky, m, workdir, quick, seed, note)
    _interleave(ours, peers, reps, progress, "diff")
    rows += [_row("diff", ours, p) for p in peers]

    if progress is not None:
        progress("filter: checking the predicate")
    ours, peers = filter_contenders(part, part_spky, m, workdir, quick, note)
    _interleave(ours, peers, reps, progress, "filter")
    rows += [_row("filter", ours, p) for p in peers]
    return rows
