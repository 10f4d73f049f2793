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

sys.path.insert(0, str(Path(__file__).resolve().parent))

import filebuilder as fb  # noqa: E402

from spooky_cli._native import ffi  # noqa: E402
from spooky_cli.diff import diff_files  # noqa: E402
from spooky_cli.errors import ChecksumMismatch, RecordFileError, SpookyError  # noqa: E402
from spooky_cli.reader import RecordFileReader  # noqa: E402
from spooky_cli.writer import RecordFileWriter  # noqa: E402

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


@pytest.mark.parametrize("order", ["key", "random"])
def test_verify_keeps_the_map_small(files, order: str) -> None:
    path = files[order][0]
    size_kb = path.stat().st_size // 1024
    peak = 0
    with RecordFileReader(path) as r:

        def sample(_: int) -> None:
            nonlocal peak
            peak = max(peak, mapped_kb(r))

        assert r.verify(progress=sample) == (r.block_count, RECORDS)
        sample(0)
    # a block and what large folios map around it, never the key index
    assert peak < size_kb // 4, (peak, size_kb)


# ---- verify's lookups: samples of the key index, slices read with pread ----------------

STEPS = [1, 2, 3, 7, 64, 0]


def built(n: int = 40, order: str = "random", key_kind: str = "int") -> fb.Built:
    objs = [{"id": i * 10 if key_kind == "int" else f"k{i * 10:05d}", "v": i} for i in range(n)]
    if order == "random":
        random.Random(n).shuffle(objs)
    return fb.build(objs, block_target=300)


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("order", ["key", "random"])
@pytest.mark.parametrize("key_kind", ["int", "str"])
def test_verify_finds_every_record_with_any_step(tmp_path, step, order, key_kind) -> None:
    b = built(order=order, key_kind=key_kind)
    p = tmp_path / "f.spky"
    p.write_bytes(b.data)
    with RecordFileReader(p) as r:
        assert r.block_count > 3
        assert r.verify(index_step=step) == (r.block_count, 40)


def _entry(b: fb.Built, pos: int) -> int:
    """Footer payload offset of index entry pos."""
    return b.sections["index"] + 32 * pos


def _key_at(b: fb.Built, pos: int) -> int:
    """Footer payload offset of index entry pos's key."""
    koff = int.from_bytes(b.footer_payload[_entry(b, pos) + 24 : _entry(b, pos) + 32], "little")
    return b.sections["heap"] + koff


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("pos", [0, 1, 5, 38, 39])
def test_verify_index_damage_with_any_step(tmp_path, step, pos) -> None:
    b = built()
    p = tmp_path / "f.spky"
    cases = [
        # another digest
        (_entry(b, pos), b"\x11" * 8, ChecksumMismatch, "digest differs"),
        # another record length
        (_entry(b, pos) + 16, (7).to_bytes(4, "little"), RecordFileError, "points elsewhere"),
        # the key of entry pos (10 * pos) becomes 10 * pos + 5: the index stays
        # sorted, and the record keyed 10 * pos is in no entry
        (
            _key_at(b, pos),
            fb.sort_form(10 * pos + 5),
            RecordFileError,
            "missing from the key index",
        ),
    ]
    for at, new, exc, message in cases:
        p.write_bytes(fb.patch_footer(b, at, new))
        with RecordFileReader(p) as r, pytest.raises(exc, match=message):
            r.verify(index_step=step)


@pytest.mark.parametrize("step", STEPS)
def test_verify_two_entries_swapped(tmp_path, step) -> None:
    b = built(order="key")
    e0, e1 = _entry(b, 3) + 8, _entry(b, 4) + 8
    fp = b.footer_payload
    swapped = fb.patch(fb.patch(fp, e0, fp[e1 : e1 + 8]), e1, fp[e0 : e0 + 8])
    p = tmp_path / "f.spky"
    p.write_bytes(fb.with_footer(b, swapped))
    with RecordFileReader(p) as r, pytest.raises(RecordFileError, match="points elsewhere"):
        r.verify(index_step=step)


def test_verify_step_range(tmp_path) -> None:
    p = tmp_path / "f.spky"
    p.write_bytes(built().data)
    with RecordFileReader(p) as r, pytest.raises(SpookyError, match="index_step must be"):
        r.verify(index_step=-1)


@pytest.mark.parametrize("order", ["key", "random"])
def test_merge_keeps_the_store_map_small(files, order: str, tmp_path) -> None:
    """merge reads the store's key index once and copies its blocks in file
    order, giving back the pages behind: the store's map stays small."""
    from spooky_cli.commands.merge import write_merged

    store, batch = files[order]
    size_kb = store.stat().st_size // 1024
    peak = 0
    with RecordFileReader(store) as st, RecordFileReader(batch) as bt:

        def sample(_: int) -> None:
            nonlocal peak
            peak = max(peak, mapped_kb(st))

        counts = write_merged(
            st, bt, str(tmp_path / "out.spky"), [], delete_missing=True, quiet=True,
            progress=sample,
        )  # fmt: skip
        sample(0)
    assert counts.deleted == RECORDS // 50 and counts.updated == RECORDS // 10 - RECORDS // 50
    assert peak < size_kb // 8, (peak, size_kb)


def test_apply_gives_back_the_store_pages_its_lookups_map(files, tmp_path, monkeypatch) -> None:
    """apply looks up each changed key in the store (pages all over it); it
    gives them back every RELEASE_EVERY changes, so the map stays small."""
    import orjson

    from spooky_cli.commands import apply

    store, _ = files["random"]
    size_kb = store.stat().st_size // 1024
    keys = list(range(0, RECORDS, 2))
    random.Random(7).shuffle(keys)
    changes = tmp_path / "changes.ndjson"
    changes.write_bytes(b"".join(orjson.dumps({"op": "delete", "key": k}) + b"\n" for k in keys))
    peak = 0
    play = apply.play

    def sampled(f, *args, **kwargs):
        nonlocal peak
        peak = max(peak, mapped_kb(f))
        return play(f, *args, **kwargs)

    monkeypatch.setattr(apply, "play", sampled)
    monkeypatch.setattr(apply, "RELEASE_EVERY", 16)
    counts = apply.run(str(store), [str(changes)], str(tmp_path / "out.spky"), quiet=True)
    assert counts.deleted == len(keys)
    assert peak < size_kb // 4, (peak, size_kb)
