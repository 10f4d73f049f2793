"""Record files on Dask (`pip install 'spooky-cli[dask]'`): datasets larger
than one machine, read, written, converted and diffed on a cluster.

    import spooky_cli.dask as sd
    df = sd.read_spky("events/", columns=["id", "user.plan"], where="ts > 0")
    sd.to_spky(df, "copy/", key="id")              # part-00000.spky, ...
    sd.convert_many(["a.ndjson", "b.ndjson"], "events/", key="id")
    changes = sd.diff_datasets("old/", "new/")     # a dask DataFrame of changes

A dataset is a folder of `.spky` parts (spooky_cli.dataset); every worker
reads the parts by path, so they live on storage every worker sees.

- Reading splits each part at block boundaries, a partition per range of
  blocks (as Avro's reader does); the C core projects columns and evaluates
  `where` per block, and only the records that go out become pandas objects.
- Diffing reads the key indexes only (key, digest, record length), moves them
  with Dask's shuffle into ranges of the key space, so every key meets its
  pair in one task, and reads records only for keys whose digests differ.

Work runs on the current Dask scheduler (a distributed Client if one is
active)."""

from __future__ import annotations

import glob
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import dask
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from spooky_cli._native import ffi, lib
from spooky_cli.dataset import check_fields, dataset_parts, field_types, part_fields, part_name
from spooky_cli.diff import DiffCounts, DiffOptions
from spooky_cli.errors import DuplicateKey, SpookyError
from spooky_cli.filter import Filter, filter_file
from spooky_cli.inputs import expand_inputs
from spooky_cli.keys import KeySpec, key_from_sort_form
from spooky_cli.output import open_output
from spooky_cli.paths import parse_path
from spooky_cli.reader import RecordFileReader
from spooky_cli.writer import RecordFileWriter

BLOCKS_PER_PARTITION = 32  # ~32 MiB of records per partition (blocks are ~1 MiB)
KEYS_PER_TASK = 1 << 20  # key index entries read by one task of a diff
KEYS_PER_RANGE = 2 << 20  # keys (both sides) per range of a diff: ~100 MB in a task
SAMPLES_PER_PART = 256  # keys of each part's index that choose the ranges' bounds

# an entry of a part's key index (docs/FORMAT.md, footer: index)
_INDEX_ENTRY = np.dtype(
    [
        ("digest", "<u8"),
        ("offset", "<u8"),
        ("length", "<u4"),
        ("key_len", "<u4"),
        ("key_off", "<u8"),
    ]
)

Paths = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


@contextmanager
def cluster(address: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A distributed Client for the block: on the cluster whose scheduler is
    at address, or on a local cluster of `workers` processes (default: one
    per core) of one thread each, closed at the end."""
    from distributed import Client, LocalCluster

    if address:
        try:
            client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise SpookyError(f"could not reach the Dask scheduler at {address}: {exc}") from None
        with client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as local,
        Client(local) as client,
    ):
        yield client


# ---- parts opened once per worker process -----------------------------------------------

_OPEN_MAX = 16
_open: OrderedDict[tuple[str, int, int, int], RecordFileReader] = OrderedDict()
_open_lock = threading.Lock()


def _reader(path: str) -> RecordFileReader:
    """The part at path, opened once per process while it is unchanged (an
    open checks the whole footer); beyond 16, the least recently used is
    dropped (and closes once no task holds it)."""
    st = os.stat(path)
    sig = (os.path.abspath(path), st.st_ino, st.st_size, st.st_mtime_ns)
    with _open_lock:
        r = _open.get(sig)
        if r is not None:
            _open.move_to_end(sig)
            return r
    r = RecordFileReader(path)
    with _open_lock:
        _open[sig] = r
        while len(_open) > _OPEN_MAX:
            _open.popitem(last=False)
    return r


def _crash_once() -> None:
    """Test hook: when SPOOKY_DASK_CRASH_ONCE names a file, the first task to
    remove it ends its worker process, as a machine lost mid-task would."""
    marker = os.environ.get("SPOOKY_DASK_CRASH_ONCE")
    if marker:
        try:
            os.remove(marker)
        except FileNotFoundError:
            return
        os._exit(1)


# ---- describing parts ----------------------------------------------------------------------


class PartInfo(NamedTuple):
    path: str
    records: int
    blocks: list[tuple[int, int]]  # (number, record_count) of each block
    key_section: bytes
    key_parts: int
    fields: dict[str, dict[str, int]]  # name -> type counts, in the input's order
    samples: list[bytes]  # keys (sort form) at even steps of the key index


def _describe(path: str, samples: int) -> PartInfo:
    r = _reader(path)
    index, heap = r.index_section()
    picked = []
    if samples and r.record_count:
        step = max(1, r.record_count // samples)
        e = np.frombuffer(index, dtype=_INDEX_ENTRY)[step // 2 :: step]
        picked = [
            bytes(heap[o : o + n]) for o, n in zip(e["key_off"].tolist(), e["key_len"].tolist())
        ]
    return PartInfo(
        r.path,
        r.record_count,
        [(b.number, b.record_count) for b in r.blocks()],
        r.key_spec.section,
        r.key_spec.parts,
        field_types([r]),
        picked,
    )


def describe_parts(paths: Paths, samples: int = 0) -> list[PartInfo]:
    """Each part's record count, blocks, key and fields (and `samples` keys of
    its index), read on the cluster: opening a part checks its whole footer."""
    parts = dataset_parts(paths)
    infos = list(dask.compute(*[dask.delayed(_describe)(p, samples) for p in parts]))
    first = infos[0]
    for info in infos[1:]:
        if (info.key_section, info.key_parts) != (first.key_section, first.key_parts):
            raise SpookyError(
                f"{info.path} is keyed by {_key_text(info)!r} and {first.path} by "
                f"{_key_text(first)!r}: a dataset has one key"
            )
    return infos


def _key_text(info: PartInfo) -> str:
    return KeySpec.from_section(info.key_section, info.key_parts).text


def _fields(infos: Sequence[PartInfo]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for info in infos:
        for name, counts in info.fields.items():
            total = out.setdefault(name, {})
            for t, n in counts.items():
                total[t] = total.get(t, 0) + n
    return out


# ---- reading --------------------------------------------------------------------------------


class BlockRange(NamedTuple):
    """Blocks [first, end) of a part: one partition."""

    path: str
    first: int
    end: int


def _ranges(infos: Sequence[PartInfo], blocks_per_partition: int) -> list[BlockRange]:
    out = []
    for info in infos:
        n = len(info.blocks)
        for first in range(0, n, blocks_per_partition):
            out.append(BlockRange(info.path, first, min(n, first + blocks_per_partition)))
    return out


def _dtype(types: dict[str, int], records: int) -> Any:
    """A column's dtype from its type counts: a numpy dtype when every record
    holds one scalar type, a nullable one when some lack it or hold null,
    object for anything else (nested values, mixed types)."""
    present = sum(types.values())
    kinds = set(types) - {"null"}
    nullable = present < records or "null" in types
    if len(kinds) != 1:
        return "object"
    kind = kinds.pop()
    plain = {"i64": "int64", "u64": "uint64", "f64": "float64", "bool": "bool"}
    boxed = {"i64": "Int64", "u64": "UInt64", "f64": "Float64", "bool": "boolean"}
    if kind == "str":
        return pd.StringDtype()
    if kind in plain:
        return boxed[kind] if nullable else plain[kind]
    return "object"


def _text_rows(text: bytes) -> list[dict[str, Any]]:
    """NDJSON text as dicts, parsed in one call (lines of JSON objects have no
    newline inside them: joined by commas they are one JSON array)."""
    if not text:
        return []
    return orjson.loads(b"[" + text.rstrip(b"\n").replace(b"\n", b",") + b"]")  # type: ignore[no-any-return]


def _frame(rows: list[dict[str, Any]], dtypes: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=list(dtypes)) if rows else None
    cols = {}
    for name, dtype in dtypes.items():
        if df is None:
            cols[name] = pd.Series([], dtype=dtype)
        elif dtype == "object":
            s = df[name].astype(object)
            cols[name] = s.where(s.notna(), None)
        else:
            cols[name] = df[name].astype(dtype)
    return pd.DataFrame(cols)


def _range_text(part: BlockRange, columns: list[str] | None, where: list[str], any_: bool) -> bytes:
    """NDJSON of a block range's records (projected and filtered in C)."""
    _crash_once()
    r = _reader(part.path)
    chunks: list[bytes] = []
    fields = part_fields(r, columns)
    blocks = range(part.first, part.end)
    if where:
        filter_file(r, Filter(where, any_=any_), fields=fields, write=chunks.append, blocks=blocks)
    else:
        r.export_ndjson(chunks.append, fields, blocks=blocks)
    return b"".join(chunks)


def _read_frame(
    part: BlockRange,
    fields: list[str] | None,
    where: list[str],
    any_: bool,
    dtypes: dict[str, Any],
) -> pd.DataFrame:
    return _frame(_text_rows(_range_text(part, fields, where, any_)), dtypes)


def _read_dicts(
    parts: Iterable[BlockRange], columns: list[str] | None, where: list[str], any_: bool
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        out += _text_rows(_range_text(part, columns, where, any_))
    return out


class _ReadPlan(NamedTuple):
    ranges: list[BlockRange]
    columns: list[str] | None
    where: list[str]
    dtypes: dict[str, Any]


def _plan_read(
    paths: Paths,
    columns: Sequence[str] | None,
    where: str | Sequence[str] | None,
    any_: bool,
    blocks_per_partition: int,
) -> _ReadPlan:
    if blocks_per_partition < 1:
        raise SpookyError(f"blocks_per_partition must be 1 or more, not {blocks_per_partition}")
    infos = describe_parts(paths)
    fields = _fields(infos)
    records = sum(i.records for i in infos)
    wheres = [where] if isinstance(where, str) else list(where or [])
    if wheres:
        for name in Filter(wheres, any_=any_).fields:  # syntax errors fail here, once
            if name not in fields and records:
                known = ", ".join(sorted(fields)) or "no fields"
                raise SpookyError(f"unknown field {name!r} in where (the dataset has: {known})")
    cols = list(columns) if columns is not None else None
    if cols is not None and records:
        check_fields(cols, fields)
    names = list(fields) if cols is None else list(dict.fromkeys(parse_path(c)[0] for c in cols))
    dtypes = {
        n: _dtype(fields.get(n, {}), records)
        if cols is None or [n] in [parse_path(c) for c in cols]
        # a path into a field keeps part of its nested value: an object
        else "object"
        for n in names
    }
    ranges = _ranges(infos, blocks_per_partition) or [BlockRange(infos[0].path, 0, 0)]
    return _ReadPlan(ranges, cols, wheres, dtypes)


def read_spky(
    paths: Paths,
    columns: Sequence[str] | None = None,
    where: str | Sequence[str] | None = None,
    *,
    any_: bool = False,
    blocks_per_partition: int = BLOCKS_PER_PARTITION,
) -> dd.DataFrame:
    """A dataset (a file, a folder of parts, a glob or a list of them) as a
    dask DataFrame, a partition per `blocks_per_partition` blocks of a part.

    columns: fields to keep, in that order (paths too, as export --fields:
    `user.plan` keeps that much of `user`, a column of nested values). where:
    a filter expression (a list: all must hold; any_=True: any one), run in C
    on each block. A column is int64, uint64, float64, bool or string when
    every record holds that type (Int64, UInt64, Float64, boolean when some
    lack it or hold null: <NA>), else object (nested values as dicts and
    lists, None where a record lacks the field)."""
    plan = _plan_read(paths, columns, where, any_, blocks_per_partition)
    meta = _frame([], plan.dtypes)
    with dask.config.set({"dataframe.convert-string": False}):  # keep object columns
        return dd.from_map(
            _read_frame,
            plan.ranges,
            fields=plan.columns,  # from_map takes columns= for itself
            where=plan.where,
            any_=any_,
            dtypes=plan.dtypes,
            meta=meta,
            enforce_metadata=False,
            label="read-spky",
        )


def read_spky_bag(
    paths: Paths,
    columns: Sequence[str] | None = None,
    where: str | Sequence[str] | None = None,
    *,
    any_: bool = False,
    blocks_per_partition: int = BLOCKS_PER_PARTITION,
) -> db.Bag:
    """A dataset as a dask bag of dicts (records as export writes them: a
    record keeps null fields and lacks absent ones), partitioned as read_spky."""
    plan = _plan_read(paths, columns, where, any_, blocks_per_partition)
    return db.from_sequence(plan.ranges, npartitions=len(plan.ranges)).map_partitions(
        _read_dicts, plan.columns, plan.where, any_
    )


# ---- writing ---------------------------------------------------------------------------------


def _frame_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A partition's rows as dicts; a missing value (None, NaN, <NA>) is a
    field the record lacks (a record file holds no NaN)."""
    rows = df.to_dict(orient="records")
    na = df.isna()
    if bool(na.to_numpy().any()):
        names = list(df.columns)
        for row, missing in zip(rows, na.to_numpy()):
            for i in np.flatnonzero(missing):
                del row[names[i]]
    return rows


def _write_part(data: Any, path: str, key: str, keep_last: bool, big_int: str) -> int:
    _crash_once()
    rows = _frame_records(data) if isinstance(data, pd.DataFrame) else list(data)
    with RecordFileWriter(path, key=key, keep_last=keep_last, big_int=big_int) as w:
        if rows:
            w.write_many(rows)
    return w.records


def _prepare_folder(folder: str, overwrite: bool) -> None:
    os.makedirs(folder, exist_ok=True)
    held = [n for n in os.listdir(folder) if n.endswith(".spky")]
    if held and not overwrite:
        raise SpookyError(
            f"{folder}: holds record files already ({held[0]}, ...); "
            "overwrite=True replaces the dataset"
        )


def _drop_stale(folder: str, keep: Iterable[str], suffix: str) -> None:
    """Parts of an earlier dataset in folder that the new one did not write."""
    kept = {os.path.basename(p) for p in keep}
    for name in os.listdir(folder):
        if name.startswith("part-") and name.endswith(suffix) and name not in kept:
            os.remove(os.path.join(folder, name))


def to_spky(
    data: dd.DataFrame | db.Bag,
    folder: str | os.PathLike[str],
    key: str | Sequence[str] = "id",
    *,
    keep_last: bool = False,
    big_int: str = "error",
    overwrite: bool = False,
) -> list[str]:
    """Writes a dask DataFrame or bag of dicts as a dataset: one record file
    per partition (folder/part-00000.spky, ...), written in parallel, each
    whole or not at all. A DataFrame's missing values (None, NaN, <NA>) are
    fields the record lacks; its index is not written (reset_index keeps
    it). A folder that holds record files already is an error unless
    overwrite (then parts the new dataset lacks are removed). Returns the
    parts' paths."""
    folder = os.fspath(folder)
    KeySpec.parse(key)  # a bad key fails before any task runs
    _prepare_folder(folder, overwrite)
    parts = data.to_delayed()
    paths = [os.path.join(folder, part_name(i)) for i in range(len(parts))]
    write = dask.delayed(_write_part, pure=False)
    dask.compute(*[write(p, path, key, keep_last, big_int) for p, path in zip(parts, paths)])
    _drop_stale(folder, paths, ".spky")
    return paths


def _convert_one(source: str, path: str, key: str, keep_last: bool, big_int: str) -> str:
    from spooky_cli.commands import convert

    _crash_once()
    convert.run(
        [source], path, key=key, keep_last=keep_last, skip_errors=False, quiet=True, big_int=big_int
    )
    return path


def convert_many(
    inputs: str | Sequence[str],
    folder: str | os.PathLike[str],
    key: str | Sequence[str] = "id",
    *,
    keep_last: bool = False,
    big_int: str = "error",
    overwrite: bool = False,
) -> list[str]:
    """Converts NDJSON/JSON inputs (a folder: its .ndjson, .jsonl and .json
    files, .gz too; a glob: the files it matches, in name order) in parallel
    on the cluster, one record file each, as `spooky convert` does:
    folder/part-00000.spky for the first input, and so on. Returns the
    parts' paths."""
    folder = os.fspath(folder)
    keys = KeySpec.parse(key)
    given: list[str] = []
    for item in [inputs] if isinstance(inputs, str) else inputs:
        if glob.has_magic(item) and not os.path.exists(item):
            found = sorted(glob.glob(item))
            if not found:
                raise SpookyError(f"{item}: no file matches")
            given += found
        else:
            given.append(item)
    sources = expand_inputs(given)
    if "-" in sources:
        raise SpookyError("convert_many reads files, not stdin (-)")
    for s in sources:
        if not os.path.exists(s):
            raise FileNotFoundError(2, "no such file", s)
    _prepare_folder(folder, overwrite)
    paths = [os.path.join(folder, part_name(i)) for i in range(len(sources))]
    one = dask.delayed(_convert_one, pure=False)
    dask.compute(*[one(s, p, keys.text, keep_last, big_int) for s, p in zip(sources, paths)])
    _drop_stale(folder, paths, ".spky")
    return paths


# ---- diffing ---------------------------------------------------------------------------------

_KEY_META = pd.DataFrame(
    {
        "key": pd.Series(pd.array([], dtype=pd.ArrowDtype(pa.binary()))),
        "digest": pd.Series([], dtype="uint64"),
        "length": pd.Series([], dtype="uint32"),
        "side": pd.Series([], dtype="int8"),
        "part": pd.Series([], dtype="int32"),
        "pos": pd.Series([], dtype="int64"),
        "range": pd.Series([], dtype="int64"),
    }
)
_CHANGES_META = pd.DataFrame(
    {
        "key": pd.Series(pd.array([], dtype=pd.ArrowDtype(pa.binary()))),
        "op": pd.Series([], dtype=pd.StringDtype()),
        "text": pd.Series([], dtype=pd.StringDtype()),
    }
)


class _KeySlice(NamedTuple):
    path: str
    side: int  # 0 old, 1 new
    part: int
    begin: int
    end: int
    bounds: tuple[bytes, ...]  # the ranges' lower bounds (sort form), but the first's


def _key_frame(s: _KeySlice) -> pd.DataFrame:
    """Index entries [begin, end) of a part: key, digest, record length, where
    they are and the key range each belongs to. No record is read."""
    _crash_once()
    r = _reader(s.path)
    index, heap = r.index_section()
    e = np.frombuffer(index, dtype=_INDEX_ENTRY, count=s.end - s.begin, offset=32 * s.begin)
    n = len(e)
    lens = e["key_len"].astype(np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    heap_np = np.frombuffer(heap, dtype=np.uint8)
    if n and bool(np.all(e["key_off"][1:] == e["key_off"][:-1] + e["key_len"][:-1])):
        start = int(e["key_off"][0])
        data = heap_np[start : start + int(offsets[-1])].copy()  # keys laid out in index order
    else:
        data = heap_np[
            np.repeat(e["key_off"].astype(np.int64) - offsets[:-1], lens) + np.arange(offsets[-1])
        ]
    keys = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    ).cast(pa.binary())
    bounds = np.array(
        [lib.spooky_file_lower_bound(r.handle, b, len(b)) for b in s.bounds], dtype=np.int64
    )
    pos = np.arange(s.begin, s.end, dtype=np.int64)
    return pd.DataFrame(
        {
            "key": pd.Series(pd.arrays.ArrowExtensionArray(keys)),
            "digest": e["digest"].copy(),
            "length": e["length"].copy(),
            "side": np.full(n, s.side, dtype=np.int8),
            "part": np.full(n, s.part, dtype=np.int32),
            "pos": pos,
            "range": np.searchsorted(bounds, pos, side="right").astype(np.int64),
        }
    )


def _diff_range(
    df: pd.DataFrame, parts: tuple[list[str], list[str]], options: DiffOptions, key_parts: int
) -> pd.DataFrame:
    """The differences of one key range: the old and new index entries of its
    keys, paired by key; a pair with the same digest and length is unchanged
    (not read); the rest go through the core's diff, one call per pair of
    parts that hold them, and come out in key order."""
    _crash_once()
    df = df.reset_index(drop=True).sort_values(["key", "side"], kind="stable")
    n = len(df)
    if not n:
        return _CHANGES_META.copy()
    keys = pa.array(df["key"].array)  # the Arrow array under the column
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    side = df["side"].to_numpy()
    same_next = np.zeros(n, dtype=bool)
    if n > 1:
        same_next[:-1] = pc.equal(keys[:-1], keys[1:]).to_numpy(zero_copy_only=False)
    twice = same_next & (side == np.roll(side, -1))
    if twice.any():
        i = int(np.flatnonzero(twice)[0])
        a, b = df.iloc[i], df.iloc[i + 1]
        paths = parts[int(a["side"])]
        key = key_from_sort_form(keys[i].as_py(), key_parts)
        raise DuplicateKey(
            f"key {orjson.dumps(key).decode()} is in two parts of the "
            f"{'old' if a['side'] == 0 else 'new'} dataset: "
            f"{paths[int(a['part'])]} and {paths[int(b['part'])]}"
        )
    paired_prev = np.zeros(n, dtype=bool)
    paired_prev[1:] = same_next[:-1]
    digest, length = df["digest"].to_numpy(), df["length"].to_numpy()
    nxt = np.minimum(np.arange(n) + 1, n - 1)
    unchanged = same_next & (digest == digest[nxt]) & (length == length[nxt])
    # a row per key that may differ: a pair (at its old row), or one side alone
    at = np.flatnonzero(~paired_prev & ~unchanged)
    part, pos = df["part"].to_numpy(), df["pos"].to_numpy().astype(np.uint64)
    pair = same_next[at]
    has_old, has_new = pair | (side[at] == 0), pair | (side[at] == 1)
    old_part = np.where(has_old, part[at], -1)
    new_part = np.where(pair, part[np.minimum(at + 1, n - 1)], np.where(has_new, part[at], -1))
    old_pos = np.where(has_old, pos[at], np.uint64(lib.SPOOKY_DIFF_ABSENT))
    new_pos = np.where(
        pair,
        pos[np.minimum(at + 1, n - 1)],
        np.where(has_new, pos[at], np.uint64(lib.SPOOKY_DIFF_ABSENT)),
    )
    texts, whats, rows = [], [], []
    groups = pd.DataFrame({"o": old_part, "n": new_part}).groupby(["o", "n"], sort=False).indices
    for (o, nw), idx in groups.items():
        old_r = _reader(parts[0][o]) if o >= 0 else None
        new_r = _reader(parts[1][nw]) if nw >= 0 else None
        a_r, b_r = old_r or new_r, new_r or old_r
        assert a_r is not None and b_r is not None
        text, what = _diff_positions(options.spec(a_r, b_r), old_pos[idx], new_pos[idx], a_r, b_r)
        texts.append(text)
        whats.append(what)
        rows.append(at[idx])
    if not rows:
        return _CHANGES_META.copy()
    text = pa.concat_arrays(texts)
    what, row = np.concatenate(whats), np.concatenate(rows)
    order = np.argsort(row, kind="stable")
    order = order[what[order] != 2]  # digests differ, but not in the fields that count
    ops = np.array(["removed", "changed", "added"], dtype=object)[what[order] + 1]
    return pd.DataFrame(
        {
            "key": pd.Series(pd.arrays.ArrowExtensionArray(keys.take(pa.array(row[order])))),
            "op": pd.Series(ops, dtype=pd.StringDtype()),
            "text": pd.Series(text.take(pa.array(order)).to_pylist(), dtype=pd.StringDtype()),
        }
    )


def _diff_positions(
    spec: Any,
    old_pos: np.ndarray,
    new_pos: np.ndarray,
    old: RecordFileReader,
    new: RecordFileReader,
) -> tuple[pa.Array, np.ndarray]:
    """The core's diff of keys at these positions of one pair of files: each
    key's text (an Arrow string array) and what it was (-1 removed, 0
    changed, 1 added, 2 unchanged)."""
    n = len(old_pos)
    old_pos = np.ascontiguousarray(old_pos, dtype=np.uint64)
    new_pos = np.ascontiguousarray(new_pos, dtype=np.uint64)
    what = np.zeros(n, dtype=np.int8)
    ends = np.zeros(n + 1, dtype=np.uint64)
    buf = ffi.gc(ffi.new("spooky_buf *"), lib.spooky_buf_free)
    err, err_side = ffi.new("spooky_error *"), ffi.new("int *")
    counts = ffi.new("spooky_diff_counts *")
    rc = lib.spooky_diff_positions(
        spec.c,
        ffi.from_buffer("uint64_t[]", old_pos),
        ffi.from_buffer("uint64_t[]", new_pos),
        n,
        buf,
        ffi.from_buffer("int8_t[]", what),
        ffi.from_buffer("uint64_t[]", ends[1:]),
        counts,
        err,
        err_side,
    )
    if rc:
        raise (old if err_side[0] == 0 else new).core_error(rc, err, "could not diff")
    data = pa.py_buffer(ffi.buffer(buf.data, buf.len)[:])
    offsets = pa.py_buffer(ends.astype(np.int64))
    return pa.LargeStringArray.from_buffers(n, offsets, data), what


class DatasetDiff(NamedTuple):
    """A diff of two datasets, not yet run: changes is a dask DataFrame of the
    differences (key: sort form, op: added/removed/changed, text: what
    `spooky diff` writes for it), its partitions in key order, each sorted
    by key."""

    changes: dd.DataFrame
    old_records: int
    new_records: int

    def counts(self, changes: dd.DataFrame | pd.DataFrame | None = None) -> DiffCounts:
        """The counts: tallied on the cluster from changes (default: this
        diff's, run now; or a persisted copy), or from a computed frame."""
        frame = self.changes if changes is None else changes
        tally = frame["op"].value_counts()
        return self.counts_of(tally.compute() if isinstance(frame, dd.DataFrame) else tally)

    def counts_of(self, tally: pd.Series) -> DiffCounts:
        """The counts from the number of changes of each op."""
        added, removed, changed = (int(tally.get(op, 0)) for op in ("added", "removed", "changed"))
        return DiffCounts(added, removed, changed, self.old_records - removed - changed)


def plan_diff(
    old: Paths,
    new: Paths,
    *,
    fmt: str = "ndjson",
    fields: list[str] | None = None,
    ignore: list[str] | None = None,
    deep: bool = False,
    color: bool = False,
    ranges: int | None = None,
) -> DatasetDiff:
    """The diff of two datasets as a DatasetDiff (see diff_datasets; fmt
    "count": the changes' text is left empty; "json": each change's text is
    an element of the JSON document, spooky_cli.diff.JsonDocument frames
    them). The
    parts are described on the cluster (a sample of each key index chooses
    the bounds of `ranges` key ranges: default one per ~2M keys)."""
    if fmt not in ("ndjson", "json", "text", "count"):
        raise SpookyError(f"unknown diff format {fmt!r} (one of: ndjson, json, text, count)")
    sides = [describe_parts(old, SAMPLES_PER_PART), describe_parts(new, SAMPLES_PER_PART)]
    if (sides[0][0].key_section, sides[0][0].key_parts) != (
        sides[1][0].key_section,
        sides[1][0].key_parts,
    ):
        raise SpookyError(
            f"{sides[0][0].path} is keyed by {_key_text(sides[0][0])!r} and "
            f"{sides[1][0].path} by {_key_text(sides[1][0])!r}: a diff needs one key"
        )
    known = set(_fields(sides[0])) | set(_fields(sides[1]))
    options = DiffOptions(known, fmt=fmt, fields=fields, ignore=ignore, deep=deep, color=color)
    records = [sum(i.records for i in infos) for infos in sides]
    if ranges is None:
        ranges = max(1, math.ceil(sum(records) / KEYS_PER_RANGE))
    if ranges < 1:
        raise SpookyError(f"ranges must be 1 or more, not {ranges}")
    samples = sorted(set(k for infos in sides for i in infos for k in i.samples))
    bounds = tuple(
        dict.fromkeys(samples[len(samples) * j // ranges] for j in range(1, ranges))
        if samples
        else ()
    )
    ranges = len(bounds) + 1
    slices = [
        _KeySlice(info.path, s, p, b, min(info.records, b + KEYS_PER_TASK), bounds)
        for s, infos in enumerate(sides)
        for p, info in enumerate(infos)
        for b in range(0, info.records, KEYS_PER_TASK)
    ] or [_KeySlice(sides[0][0].path, 0, 0, 0, 0, bounds)]
    keys = dd.from_map(_key_frame, slices, meta=_KEY_META, enforce_metadata=False, label="keys")
    # Dask's shuffle: every key's entries, old and new, into the task of its range
    by_range = keys.set_index("range", divisions=list(range(ranges + 1)))
    paths = ([i.path for i in sides[0]], [i.path for i in sides[1]])
    changes = by_range.map_partitions(
        _diff_range,
        paths,
        options,
        sides[0][0].key_parts,
        meta=_CHANGES_META,
        clear_divisions=True,
        enforce_metadata=False,
    )
    return DatasetDiff(changes, records[0], records[1])


def _verify(path: str) -> tuple[int, int]:
    return _reader(path).verify()


def verify_parts(paths: Paths) -> tuple[int, int]:
    """Checks every block and record of every part, as `spooky info --verify`
    does, a task per part; returns (blocks, records) or raises naming the
    part and block."""
    done = dask.compute(*[dask.delayed(_verify)(p) for p in dataset_parts(paths)])
    return sum(b for b, _ in done), sum(n for _, n in done)


def _write_changes(df: pd.DataFrame, path: str) -> pd.Series:
    with open_output(path) as out:
        out.write("".join(df["text"]).encode("utf-8"))
    return df["op"].value_counts()


def diff_datasets(
    old: Paths,
    new: Paths,
    *,
    output: str | os.PathLike[str] | None = None,
    fmt: str = "ndjson",
    fields: list[str] | None = None,
    ignore: list[str] | None = None,
    deep: bool = False,
    ranges: int | None = None,
    overwrite: bool = False,
) -> dd.DataFrame | DiffCounts:
    """Diffs two datasets (each a file, a folder of parts, a glob or a list)
    keyed by the same key, without gathering them: tasks read the key
    indexes of the parts (key, digest), Dask's shuffle brings each key's
    entries from both sides into one task per key range, and only keys
    whose digests differ have their records read, in the parts that hold
    them. Counts and changes are those of `spooky diff` of the same records
    gathered into one file per side (fields, ignore and deep as there). A
    key in two parts of one side is an error (DuplicateKey).

    output None: a dask DataFrame of the changes (key in sort form, op, text:
    the line `spooky diff --format json` writes, or with fmt="text" its
    lines for people), partitions in key order. output a folder: the text
    of the changes written there as NDJSON parts (part-00000.ndjson, ...,
    in key order), and the DiffCounts returned."""
    d = plan_diff(old, new, fmt=fmt, fields=fields, ignore=ignore, deep=deep, ranges=ranges)
    if output is None:
        return d.changes
    folder = os.fspath(output)
    os.makedirs(folder, exist_ok=True)
    suffix = ".ndjson" if fmt == "ndjson" else ".txt"
    held = [n for n in os.listdir(folder) if n.startswith("part-") and n.endswith(suffix)]
    if held and not overwrite:
        raise SpookyError(
            f"{folder}: holds parts already ({held[0]}, ...); overwrite=True replaces them"
        )
    parts = d.changes.to_delayed()
    paths = [os.path.join(folder, part_name(i, suffix)) for i in range(len(parts))]
    write = dask.delayed(_write_changes, pure=False)
    tallies = dask.compute(*[write(p, path) for p, path in zip(parts, paths)])
    _drop_stale(folder, paths, suffix)
    tally = pd.concat(tallies).groupby(level=0).sum() if tallies else pd.Series([], dtype="int64")
    return d.counts_of(tally)


__all__ = [
    "BlockRange",
    "DatasetDiff",
    "PartInfo",
    "convert_many",
    "describe_parts",
    "diff_datasets",
    "plan_diff",
    "read_spky",
    "read_spky_bag",
    "to_spky",
    "verify_parts",
]
