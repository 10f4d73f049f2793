"""`spooky apply`: change streams onto a record file.

The changes are read line by line (per change, never per stored record) and
played in order onto the state of their keys, each checked against what it
finds (a misfit is an error naming its line, unless --force). The final
record of every changed key goes into a scratch record file, in the order of
the change that made it; then the merge core copies OLD's blocks with those
records in place (and deleted keys left out) and appends the new keys."""

from __future__ import annotations

import gzip
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from spooky_cli import render
from spooky_cli._native import lib
from spooky_cli.commands.merge import MergeCounts, write_merged
from spooky_cli.encode import serialize
from spooky_cli.errors import ChangeMisfit as Misfit
from spooky_cli.errors import SpookyError
from spooky_cli.inputs import display_name
from spooky_cli.keys import Key, KeySpec, key_from_sort_form, key_to_sort_form
from spooky_cli.output import Output
from spooky_cli.reader import RecordFileReader
from spooky_cli.writer import RecordFileWriter

# the field that marks a deleted key's record in the scratch file (no JSON
# record of a user can reach it: the scratch file is never an output)
DELETE_MARK = "\x00spooky apply: deleted"
SCRATCH_NAME = "<changes>"
LINES_PER_WRITE = 8192


@dataclass
class Change:
    op: str  # insert, update, delete, patch (diff's "changed")
    key: Key
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    fields: dict[str, Any] | None = None  # patch: name -> {"old": V, "new": V}


@dataclass
class KeyState:
    in_old: bool
    present: bool
    raw: bytes | None  # OLD's record bytes while the key holds it
    record: dict[str, Any] | None = None  # the record now, once a change wrote or read it
    pos: int = -1  # the change that last wrote it: its place among the inserts


RELEASE_EVERY = 1024  # changes played between giving back the store's mapped pages


def run(
    old: str, changes: list[str], output: str, *, force: bool = False, quiet: bool = False
) -> MergeCounts:
    if not changes:
        raise SpookyError("give at least one change stream")
    if (old == "-") + changes.count("-") > 1:
        raise SpookyError("stdin (-) can be read only once")
    for path in [old, *changes]:
        if path != "-" and not os.path.exists(path):
            raise FileNotFoundError(2, "no such file", path)
    Output(output, [old, *changes], binary=True)  # refused now, not after the changes are read
    started = time.perf_counter()
    forced = 0
    with RecordFileReader(old) as f:
        states: dict[bytes, KeyState] = {}
        pos = 0
        for path in changes:
            for where, change in read_changes(path, f.key_spec):
                try:
                    play(f, states, change, pos)
                except Misfit as exc:
                    if not force:
                        raise Misfit(f"{where}: {exc} (--force applies it anyway)") from None
                    forced += 1
                    play(f, states, change, pos, force=True)
                pos += 1
                if pos % RELEASE_EVERY == 0:  # lookups map pages all over the store
                    lib.spooky_file_release(f.handle)
        lib.spooky_file_release(f.handle)
        writer = RecordFileWriter(SCRATCH_NAME, key=f.key_spec, scratch=True)
        with writer:
            _write_final(states, f.key_spec, writer)
        scratch = writer.take_file()
        try:
            with RecordFileReader(SCRATCH_NAME, fd=scratch.fd) as bt:
                counts = write_merged(
                    f, bt, output, [old, *changes], delete_field=DELETE_MARK, upsert=True,
                    quiet=quiet,
                )  # fmt: skip
        finally:
            scratch.discard()
    seconds = time.perf_counter() - started
    parts = [
        f"{counts.inserted:,} inserted, {counts.updated:,} updated, {counts.deleted:,} deleted"
    ]
    if force:
        parts.append(f"{render.count(forced, 'misfit')} forced")
    render.summary([*parts, *render.timing(seconds)], quiet=quiet)
    return counts


# -- reading change streams -------------------------------------------------------------


def _open(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    if path.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def read_changes(path: str, key: KeySpec) -> Iterator[tuple[str, Change]]:
    """(where, change) for each change of a stream, in order: merge's
    --changes in either form or diff's JSON lines; where is FILE:LINE."""
    name = display_name(path)
    stream = _open(path)
    try:
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            where = f"{name}:{n}"
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise SpookyError(f"{where}: not JSON: {exc}") from None
            try:
                yield where, parse_change(obj, key)
            except (KeyError, TypeError, ValueError) as exc:
                raise SpookyError(f"{where}: not a change: {exc}") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def parse_change(obj: Any, key: KeySpec) -> Change:
    if not isinstance(obj, dict):
        raise TypeError("a change is a JSON object")
    op = obj.get("op")
    if op is None and len(obj) == 1 and ("insert" in obj or "delete" in obj):  # DBSP
        op, record = next(iter(obj.items()))
        record = _object(record, op)
        if op == "insert":
            return Change(op, record_key(record, key), after=record)
        return Change(op, record_key(record, key), before=record)
    if op in ("insert", "update", "delete"):  # merge --changes (Debezium-like)
        before = _object(obj["before"], "before") if "before" in obj else None
        after = _object(obj["after"], "after") if "after" in obj else None
        if op != "delete" and after is None:
            raise ValueError(f'an {op} needs "after"')
        k = _key(obj["key"], key) if "key" in obj else record_key(before or after or {}, key)
        _check_key(k, after, key)
        return Change(op, k, before, after)
    if op in ("added", "removed"):  # spooky diff --format ndjson
        record = _object(obj["record"], "record")
        k = _key(obj["key"], key)
        _check_key(k, record, key)
        return Change("insert", k, after=record) if op == "added" else Change("delete", k, record)
    if op == "changed":
        fields = obj["fields"]
        if not isinstance(fields, dict):
            raise TypeError('"fields" is an object')
        return Change("patch", _key(obj["key"], key), fields=fields)
    raise ValueError(f"unknown op {op!r}")


def _check_key(k: Key, record: dict[str, Any] | None, key: KeySpec) -> None:
    """A record that goes in must carry the change's key."""
    if record is not None and record_key(record, key) != k:
        raise ValueError(f"the record's key is not {orjson.dumps(_json_key(k)).decode()}")


def _json_key(k: Key) -> Any:
    return list(k) if isinstance(k, tuple) else k


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f'"{what}" is a JSON object')
    return value


def _key(value: Any, key: KeySpec) -> Key:
    parts = tuple(value) if isinstance(value, list) else (value,)
    if len(parts) != key.parts or not all(_key_part(p) for p in parts):
        raise ValueError(f"key {orjson.dumps(value).decode()} is no key of {key.text}")
    return parts if len(parts) > 1 else parts[0]


def _key_part(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def record_key(record: dict[str, Any], key: KeySpec) -> Key:
    """The key a record's values make (key paths as filter reads them)."""
    parts = []
    for path in key.paths:
        value: Any = record
        for step in path:
            if isinstance(value, dict) and step in value:
                value = value[step]
            elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
                value = value[int(step)]
            else:
                raise ValueError(f"the record has no key {key.text}")
        parts.append(value)
    return _key(parts if len(parts) > 1 else parts[0], key)


def key_record(value: Key, key: KeySpec) -> dict[str, Any]:
    """The smallest record with this key (a deleted key's mark)."""
    record: dict[str, Any] = {}
    for path, part in zip(key.paths, value if isinstance(value, tuple) else (value,)):
        node = record
        for step in path[:-1]:
            node = node.setdefault(step, {})
        node[path[-1]] = part
    return record


# -- playing changes ------------------------------------------------------------------------


def play(
    f: RecordFileReader, states: dict[bytes, KeyState], c: Change, pos: int, force: bool = False
) -> None:
    """Plays c onto its key's state; a misfit raises Misfit (force: plays it
    as far as it can: an insert replaces, an update of an absent key inserts,
    a delete of one does nothing, a before that differs is ignored)."""
    sk = key_to_sort_form(c.key)
    s = states.get(sk)
    if s is None:
        rec = f.get_sort_form(sk)
        s = KeyState(rec is not None, rec is not None, rec.to_bytes() if rec is not None else None)
        states[sk] = s
    if c.op == "patch" and s.present and s.record is None:  # its fields are needed
        s.record = orjson.loads(f.get_json_sort_form(sk) or b"{}")
    shown = orjson.dumps(_json_key(c.key)).decode()
    present = s.present
    if not force:
        if c.op == "insert" and present:
            raise Misfit(f"insert of key {shown}, which is there already")
        if c.op in ("update", "delete", "patch") and not present:
            raise Misfit(f"{c.op if c.op != 'patch' else 'change'} of key {shown}, which is absent")
        if c.before is not None and present and not _same(s, c.before):
            raise Misfit(f"the before of key {shown} is not its record")
        if c.op == "patch":
            _check_patch(s, c, shown)
    if c.op == "delete":
        s.present, s.record, s.raw = False, None, None
    elif c.op == "patch":
        if present:
            s.record = _patched(s.record or {}, c.fields or {})
            s.raw, s.pos = None, pos
    else:
        s.present, s.record, s.raw, s.pos = True, c.after, None, pos


def _same(s: KeyState, before: dict[str, Any]) -> bool:
    mine = s.raw if s.raw is not None else serialize(s.record or {})
    return serialize(before) == mine


def _check_patch(s: KeyState, c: Change, shown: str) -> None:
    record = s.record or {}
    for name, spec in (c.fields or {}).items():
        if not isinstance(spec, dict):
            raise Misfit(f"field {name!r} of key {shown}: not {{'old', 'new'}}")
        if "old" in spec:
            ok = name in record and serialize({name: record[name]}) == serialize(
                {name: spec["old"]}
            )
        else:
            ok = name not in record
        if not ok:
            raise Misfit(f"field {name!r} of key {shown} is not the change's old value")


def _patched(record: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for name, spec in fields.items():
        if isinstance(spec, dict) and "new" in spec:
            out[name] = spec["new"]
        else:
            out.pop(name, None)
    return out


def _write_final(states: dict[bytes, KeyState], key: KeySpec, writer: RecordFileWriter) -> None:
    """The final record of every changed key, in the order of the changes
    that wrote them; a deleted key of OLD as its key and the delete mark."""
    lines: list[tuple[int, bytes]] = []
    for sk, s in states.items():
        if s.present and s.pos >= 0:
            lines.append((s.pos, orjson.dumps(s.record)))
        elif not s.present and s.in_old:
            mark = key_record(key_from_sort_form(sk, key.parts), key)
            mark[DELETE_MARK] = True
            lines.append((-1, orjson.dumps(mark)))
    lines.sort(key=lambda x: x[0])
    for i in range(0, len(lines), LINES_PER_WRITE):
        writer.write_ndjson(b"\n".join(text for _, text in lines[i : i + LINES_PER_WRITE]))


__all__ = ["Change", "parse_change", "read_changes", "run"]
