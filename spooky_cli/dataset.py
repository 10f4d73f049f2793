"""Datasets: record files in parts, one dataset = a folder of `.spky` parts
(`part-00000.spky`, ...), as spooky_cli.dask.to_spky writes them.

    parts = dataset_parts("events/")          # the folder's .spky files, by name
    parts = dataset_parts(["a.spky", "b/*.spky"])

The parts of a dataset share one key; a key is in one part only (diff
checks). Reading a dataset needs no cluster: export, info and filter walk its
parts in name order; spooky_cli.dask spreads the work over one."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

from spooky_cli.errors import SpookyError
from spooky_cli.paths import parse_path
from spooky_cli.reader import TYPE_NAMES, RecordFileReader, field_label

PART_SUFFIX = ".spky"


def is_dataset(path: str) -> bool:
    """Whether a command's input is a dataset (a folder) rather than one file."""
    return path != "-" and os.path.isdir(path)


def holds_parts(path: str) -> bool:
    """A dataset with record files in it, not a folder of NDJSON files."""
    if not is_dataset(path):
        return False
    with os.scandir(path) as entries:
        return any(e.name.endswith(PART_SUFFIX) for e in entries)


def part_name(i: int, suffix: str = PART_SUFFIX) -> str:
    return f"part-{i:05d}{suffix}"


def dataset_parts(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    """The record files of a dataset: a file; a folder (its *.spky files in
    name order); a glob; or a list of those, in the order given. A folder or
    a glob with no record file is an error."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for item in paths:
        path = os.fspath(item)
        if os.path.isdir(path):
            names = sorted(
                n
                for n in os.listdir(path)
                if n.endswith(PART_SUFFIX) and os.path.isfile(os.path.join(path, n))
            )
            if not names:
                raise SpookyError(f"{path}: a folder with no {PART_SUFFIX} files (no dataset)")
            out += [os.path.join(path, n) for n in names]
        elif glob.has_magic(path) and not os.path.exists(path):
            found = sorted(glob.glob(path))
            if not found:
                raise SpookyError(f"{path}: no file matches")
            out += found
        else:
            if not os.path.exists(path):
                raise FileNotFoundError(2, "no such file", path)
            out.append(path)
    if not out:
        raise SpookyError("no record file given")
    return out


def input_parts(path: str) -> list[str]:
    """A command's input: a folder's parts, or the one file (or -) as given."""
    return dataset_parts(path) if is_dataset(path) else [path]


def part_fields(reader: RecordFileReader, fields: list[str] | None) -> list[str] | None:
    """The fields (paths) of a projection whose top-level field this part
    knows: the others are absent from every record of it anyway."""
    if fields is None:
        return None
    return [f for f in fields if reader.hash_for_name(parse_path(f)[0]) is not None]


def check_fields(fields: list[str], known: Iterable[str], what: str = "") -> None:
    """Each field's top-level name known to some part, else SpookyError
    listing the names the parts have."""
    names = set(known)
    for f in fields:
        name = parse_path(f)[0]
        if name not in names:
            listed = ", ".join(field_label(n) for n in sorted(names)) or "no fields"
            raise SpookyError(f"unknown field {name!r}{what} (the dataset has: {listed})")


def check_one_key(readers: list[RecordFileReader]) -> None:
    """Every part keyed as the first one, else SpookyError naming both."""
    first = readers[0]
    for r in readers[1:]:
        if r.key_spec != first.key_spec:
            raise SpookyError(
                f"{r.path} is keyed by {r.key_field!r} and {first.path} by "
                f"{first.key_field!r}: a dataset has one key"
            )


def field_types(readers: Iterable[RecordFileReader]) -> dict[str, dict[str, int]]:
    """Every field of the parts, in the order their names first appeared
    (first part first), with its type counts summed over the parts."""
    out: dict[str, dict[str, int]] = {}
    for r in readers:
        counts = {fi.name: fi.type_counts for fi in r.names}
        for name in r.field_order:
            total = out.setdefault(name, {})
            for t in TYPE_NAMES:
                if t in counts[name]:
                    total[t] = total.get(t, 0) + counts[name][t]
    return out
