"""spooky info: counts, sizes, fields and their types of a record file."""

from __future__ import annotations

import sys
from typing import Any

import orjson

from spooky_cli import render
from spooky_cli.dataset import check_one_key, field_types, input_parts, is_dataset
from spooky_cli.reader import TYPE_NAMES, RecordFileReader, field_label


def describe(reader: RecordFileReader) -> dict[str, Any]:
    """The facts `info` shows, as a JSON-able dict."""
    return {
        "file": reader.path,
        "format_version": reader.version,
        "file_size": reader.file_size,
        "record_count": reader.record_count,
        "block_count": reader.block_count,
        "records_bytes": reader.records_bytes,
        "footer_bytes": reader.footer_bytes,
        "key_field": reader.key_field,
        "key_fields": reader.key_fields,
        "fields": [
            {"name": f.name, "hash": f.hash, "types": f.type_counts}
            for f in sorted(reader.names, key=lambda f: f.name)
        ],
    }


def describe_dataset(folder: str, readers: list[RecordFileReader]) -> dict[str, Any]:
    """The facts of a dataset (a folder of parts): describe's keys, summed
    over the parts (format_version: the highest), and parts: each part's path."""
    check_one_key(readers)
    first = readers[0]
    return {
        "file": folder,
        "format_version": max(r.version for r in readers),
        "file_size": sum(r.file_size for r in readers),
        "record_count": sum(r.record_count for r in readers),
        "block_count": sum(r.block_count for r in readers),
        "records_bytes": sum(r.records_bytes for r in readers),
        "footer_bytes": sum(r.footer_bytes for r in readers),
        "key_field": first.key_field,
        "key_fields": first.key_fields,
        "fields": [
            {"name": name, "hash": first.hash_for_name(name) or _hash_of(readers, name), "types": t}
            for name, t in sorted(field_types(readers).items())
        ],
        "parts": [r.path for r in readers],
    }


def _hash_of(readers: list[RecordFileReader], name: str) -> int:
    return next(h for r in readers if (h := r.hash_for_name(name)) is not None)


def run(file: str, verify: bool = False, as_json: bool = False) -> None:
    """Describes FILE; with verify, first checks every block (checksums,
    framing, records, keys, key index) and fails on the first problem.

    --json prints one object to stdout with the keys:
      file (str), format_version (int), file_size, record_count, block_count,
      records_bytes (record blocks, headers included), footer_bytes (footer
      block, header included) (ints), key_field (str: the key's paths joined
      by commas), key_fields (list of str: the path of each part of the key),
      fields: list of {name (str), hash (int, xxh64), types: {type name: count}}
      sorted by name, type names null/bool/i64/f64/str/nested/u64, only the
      types that occur; and with --verify also verified: {blocks, records}.
    A folder is a dataset: the same facts summed over its parts, and parts
    (list of str: each part's path, in name order).
    """
    readers = [RecordFileReader(path) for path in input_parts(file)]
    try:
        verified = None
        if verify:
            total = sum(r.records_bytes for r in readers)
            done = [0, 0]  # blocks, records
            with render.progress("verifying", total) as bar:
                for r in readers:
                    b, n = r.verify(progress=bar.advance)
                    done = [done[0] + b, done[1] + n]
            verified = (done[0], done[1])
        facts = describe_dataset(file, readers) if is_dataset(file) else describe(readers[0])
    finally:
        for r in readers:
            r.close()
    if verified is not None:
        facts["verified"] = {"blocks": verified[0], "records": verified[1]}
    if as_json:
        sys.stdout.flush()
        sys.stdout.buffer.write(orjson.dumps(facts) + b"\n")
        sys.stdout.buffer.flush()
        return
    render.key_values(
        [
            ("file", facts["file"]),
            ("format version", facts["format_version"]),
            ("records", f"{facts['record_count']:,}"),
            ("blocks", f"{facts['block_count']:,}"),
            ("file size", _size(facts["file_size"])),
            ("records bytes", _size(facts["records_bytes"])),
            ("footer bytes", _size(facts["footer_bytes"])),
            ("key field", facts["key_field"]),
            *([("parts", len(facts["parts"]))] if "parts" in facts else []),
            ("fields", len(facts["fields"])),
        ]
    )
    if facts["fields"]:
        rows = []
        for f in facts["fields"]:
            types = ", ".join(f"{t} {f['types'][t]:,}" for t in TYPE_NAMES if t in f["types"])
            rows.append([field_label(f["name"]), types, f"{sum(f['types'].values()):,}"])
        render.table(None, ["name", "types", "records"], rows)  # under "fields N"
    if verified is not None:
        blocks, records = render.count(verified[0], "block"), render.count(verified[1], "record")
        render.stdout().print(f"verified: {blocks}, {records}", markup=False)


def _size(n: int) -> str:
    return f"{n:,} bytes ({render.mb(n)})" if n >= 1_000_000 else f"{n:,} bytes"
