"""Large passes keep memory flat: `info --verify` and `diff` give back the
pages of the file map they have read, whatever the order of the records in
the file. What is checked is the resident size of each file's map (from
/proc/self/smaps) sampled while the pass runs, on files of a few MB (the
peak RSS of whole processes on large files is benchmarks/memory.py's)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from spooky_cli._native import ffi
from spooky_cli.diff import diff_files
from spooky_cli.reader import RecordFileReader
from spooky_cli.writer import RecordFileWriter

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/self/smaps"
)

RECORDS = 20_000  # ~12 MB of records


def mapped_kb(reader: RecordFileReader) -> int:
    """Resident kB of the reader's file map."""
    start = int(ffi.cast("uintptr_t", reader._ptr))
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(" ", 1)[0]
            if "-" in head and ":" not in head:
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= start < hi
            elif inside and line.startswith("Rss:"):
                return int(line.split()[1])
    raise AssertionError("the file map is not in /proc/self/smaps")


def write(path: Path, records: list[dict]) -> Path:
    with RecordFileWriter(path, key="id") as w:
        w.write_many(records)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """(old, new) in key order and in random key order."""
    tmp = tmp_path_factory.mktemp("flat")
    old = [{"id": i, "pad": f"{i:08d}" * 70, "v": i} for i in range(RECORDS)]
    new = [dict(r, v=-r["v"]) if r["id"] % 10 == 0 else r for r in old if r["id"] % 50]
    rng = random.Random(5)
    out = {"key": (write(tmp / "old-key.spky", old), write(tmp / "new-key.spky", new))}
    shuffled = [rng.sample(old, len(old)), rng.sample(new, len(new))]
    out["random"] = (write(tmp / "old.spky", shuffled[0]), write(tmp / "new.spky", shuffled[1]))
    return out


@pytest.mark.parametrize("order", ["key", "random"])
def test_diff_keeps_the_maps_small(files, order: str) -> None:
    old, new = files[order]
    size_kb = old.stat().st_size // 1024
    peak = [0, 0]
    with RecordFileReader(old) as a, RecordFileReader(new) as b:

        def sample(_: int) -> None:
            for i, r in enumerate((a, b)):
                peak[i] = max(peak[i], mapped_kb(r))

        counts = diff_files(a, b, fmt="count", range_size=2000, batch=500, progress=sample)
        sample(0)
    assert counts.changed == RECORDS // 10 - RECORDS // 50 and counts.removed == RECORDS // 50
    # a batch of records read in place, the pages of a range of index entries
    # and keys, and what large folios map beyond them: far below the file
    assert max(peak) < size_kb // 8, (peak, size_kb)
