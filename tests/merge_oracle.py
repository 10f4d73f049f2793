"""A plain-Python merge: what `spooky merge` must produce, worked out on
dicts (records as lists of their JSON objects, in input order).

It gives NEW's records in order, each as the JSON line `spooky export` would
write it from its own file (fields in the order their names first appeared in
that file's input), and the change stream; converting the lines must give
NEW byte for byte."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from reference_encoder import encode_record

Record = dict[str, Any]


@dataclass
class Merged:
    lines: list[bytes] = field(default_factory=list)  # NEW, as export lines
    changes: list[bytes] = field(default_factory=list)  # debezium form
    dbsp: list[bytes] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("inserted", "updated", "deleted", "unchanged", "stale"), 0
        )
    )


def name_order(records: list[Record]) -> dict[str, int]:
    """Each name's first appearance over the records, in order."""
    order: dict[str, int] = {}
    for r in records:
        for name in r:
            order.setdefault(name, len(order))
    return order


def live_name_order(records: list[Record], live: list[Record]) -> dict[str, int]:
    """The name order of a file of the live records (one per key) of
    records, as convert keeps it: record by record, each one's new names in
    their order of first appearance over all the records."""
    whole = name_order(records)
    order: dict[str, int] = {}
    for r in live:
        for name in sorted(r, key=whole.__getitem__):
            order.setdefault(name, len(order))
    return order


def as_exported(r: Record, order: dict[str, int]) -> Record:
    return {k: r[k] for k in sorted(r, key=order.__getitem__)}


def version_cmp(a: Any, b: Any) -> int | None:
    """a against b: numbers by value, strings by their UTF-8; None: no order."""

    def number(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    if number(a) and number(b):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        x, y = a.encode(), b.encode()
        return (x > y) - (x < y)
    return None


_ABSENT = object()


def merge(
    store: list[Record],
    batch: list[Record],
    key: list[str],
    *,
    version: str | None = None,
    hash_: str | None = None,
    delete_field: str | None = None,
    delete_missing: bool = False,
) -> Merged:
    def key_of(r: Record) -> Any:
        return r[key[0]] if len(key) == 1 else [r[k] for k in key]

    def k(r: Record) -> bytes:
        return orjson.dumps(key_of(r))

    store_order = name_order(store)
    chosen: dict[bytes, tuple[int, Record]] = {}
    for pos, r in enumerate(batch):
        prev = chosen.get(k(r))
        if prev is not None and version is not None:
            c = version_cmp(prev[1].get(version, _ABSENT), r.get(version, _ABSENT))
            if c == 1:
                continue  # the earlier one has the higher version
        chosen[k(r)] = (pos, r)

    batch_order = live_name_order(batch, [r for _, r in sorted(chosen.values())])

    def deletes(b: Record) -> bool:
        return delete_field is not None and b.get(delete_field) is True

    out = Merged()
    n = out.counts

    def line(r: Record, order: dict[str, int]) -> bytes:
        return orjson.dumps(as_exported(r, order))

    def change(op: str, kk: Any, before: Record | None, after: Record | None) -> None:
        d: dict[str, Any] = {"op": op, "key": kk}
        if before is not None:
            d["before"] = as_exported(before, store_order)
            out.dbsp.append(orjson.dumps({"delete": d["before"]}))
        if after is not None:
            d["after"] = as_exported(after, batch_order)
            out.dbsp.append(orjson.dumps({"insert": d["after"]}))
        out.changes.append(orjson.dumps(d))

    for s in store:
        hit = chosen.get(k(s))
        if hit is None:
            if delete_missing:
                n["deleted"] += 1
                change("delete", key_of(s), s, None)
            else:
                out.lines.append(line(s, store_order))
            continue
        b = hit[1]
        what = _decide(s, b, deletes(b), version, hash_)
        if what == "update":
            n["updated"] += 1
            change("update", key_of(s), s, b)
            out.lines.append(line(b, batch_order))
        elif what == "delete":
            n["deleted"] += 1
            change("delete", key_of(s), s, None)
        else:
            n[what] += 1
            out.lines.append(line(s, store_order))
    in_store = {k(s) for s in store}
    for _, b in sorted(v for kk, v in chosen.items() if kk not in in_store):
        if deletes(b):
            continue
        n["inserted"] += 1
        change("insert", key_of(b), None, b)
        out.lines.append(line(b, batch_order))
    return out


def _decide(s: Record, b: Record, delete: bool, version: str | None, hash_: str | None) -> str:
    if not delete and encode_record(s) == encode_record(b):
        return "unchanged"
    if version is not None:
        c = version_cmp(b.get(version, _ABSENT), s.get(version, _ABSENT))
        if c is not None:
            return "stale" if c <= 0 else "delete" if delete else "update"
    if delete:
        return "delete"
    if hash_ is not None and hash_ in s and hash_ in b:
        same = encode_record({hash_: s[hash_]}) == encode_record({hash_: b[hash_]})
        return "unchanged" if same else "update"
    return "update"
