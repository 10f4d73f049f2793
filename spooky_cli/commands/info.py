"""spooky info: counts, sizes, fields and their types of a record file."""

from __future__ import annotations

import sys
from typing import Any

import orjson

from spooky_cli import render
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
    """
    with RecordFileReader(file) as reader:
        verified = None
        if verify:
            with render.progress("verifying", reader.records_bytes) as bar:
                verified = reader.verify(progress=bar.advance)
        facts = describe(reader)
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
