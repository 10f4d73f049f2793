"""spooky merge against the plain-Python oracle (merge_oracle.py), and its
edges: record-file batches, options, errors, outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_runner import run_cli
from hypothesis import given
from hypothesis import strategies as st
from merge_oracle import merge
from reseal import reseal

Record = dict[str, Any]


def ndjson(records: list[Record]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def convert(folder: Path, name: str, lines: bytes, key: list[str]) -> Path:
    (folder / f"{name}.ndjson").write_bytes(lines)
    out = folder / f"{name}.spky"
    res = run_cli("convert", str(folder / f"{name}.ndjson"), "-o", str(out), "--key", ",".join(key))
    assert res.code == 0, res.stderr
    return out


def ordered(lines: bytes | list[bytes]) -> list[Any]:
    """JSON lines as values with objects as lists of pairs: field order counts,
    a float's text does not (export writes 1e-07 where orjson writes 1e-7)."""
    if isinstance(lines, bytes):
        lines = lines.splitlines()
    return [json.loads(x, object_pairs_hook=list) for x in lines]


# -- random stores and batches ------------------------------------------------------------

versions = st.one_of(
    st.integers(0, 3), st.sampled_from([1.5, 2.0, "a", "b", None, True]), st.just(2**63 + 1)
)


@st.composite
def record(draw: Any, key: list[str], with_delete: bool) -> Record:
    r: Record = {"id": draw(st.integers(0, 6))}
    if "t" in key:
        r["t"] = draw(st.sampled_from(["a", "b", "a\x00"]))
    extra = {
        "v": versions,
        "h": st.integers(0, 2),
        "x": st.one_of(st.integers(-2, 2), st.text("xyé", max_size=3), st.just([1, {"a": 2}])),
        "y": st.floats(allow_nan=False, allow_infinity=False, width=32),
    }
    if with_delete:
        extra["del"] = st.sampled_from([True, False, 1])
    for name, values in extra.items():
        if draw(st.booleans()):
            r[name] = draw(values)
    order = draw(st.permutations(list(r)))
    return {k: r[k] for k in order}


@st.composite
def cases(draw: Any) -> tuple[list[str], list[Record], list[Record], dict[str, Any]]:
    key = draw(st.sampled_from([["id"], ["t", "id"]]))
    store_all = draw(st.lists(record(key, False), max_size=12))
    seen, store = set(), []
    for r in store_all:  # a store has one record per key
        k = orjson.dumps([r.get(p) for p in key])
        if k not in seen:
            seen.add(k)
            store.append(r)
    opts = {
        "version": draw(st.sampled_from([None, "v"])),
        "hash_": draw(st.sampled_from([None, "h"])),
        "delete_field": draw(st.sampled_from([None, "del"])),
        "delete_missing": draw(st.booleans()),
    }
    batch = draw(st.lists(record(key, opts["delete_field"] is not None), max_size=12))
    # records of the store again, some as they are: unchanged ones
    batch += draw(st.lists(st.sampled_from(store), max_size=4)) if store else []
    batch = draw(st.permutations(batch))
    return key, store, batch, opts


def merge_args(opts: dict[str, Any]) -> list[str]:
    args = []
    if opts["version"]:
        args += ["--version-field", opts["version"]]
    if opts["hash_"]:
        args += ["--hash-field", opts["hash_"]]
    if opts["delete_field"]:
        args += ["--delete-field", opts["delete_field"]]
    if opts["delete_missing"]:
        args.append("--delete-missing")
    return args


@given(cases())
def test_merge_matches_the_oracle(case: Any) -> None:
    key, store, batch, opts = case
    want = merge(store, batch, key, **opts)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        store_file = convert(d, "store", ndjson(store), key)
        (d / "batch.ndjson").write_bytes(ndjson(batch))
        res = run_cli(
            "merge", str(store_file), str(d / "batch.ndjson"), "-o", str(d / "new.spky"),
            "--changes", str(d / "changes.ndjson"), *merge_args(opts),
        )  # fmt: skip
        assert res.code == 0, res.stderr
        expected = convert(d, "expected", b"".join(x + b"\n" for x in want.lines), key)
        assert (d / "new.spky").read_bytes() == expected.read_bytes()
        assert ordered((d / "changes.ndjson").read_bytes()) == ordered(want.changes)
        c = want.counts
        assert (
            f"{c['inserted']:,} inserted, {c['updated']:,} updated, {c['deleted']:,} deleted, "
            f"{c['unchanged']:,} unchanged, {c['stale']:,} stale"
        ) in res.stderr
        dbsp = run_cli(
            "merge", str(store_file), str(d / "batch.ndjson"), "-o", str(d / "new2.spky"),
            "--changes", "-", "--changes-format", "dbsp", "-q", *merge_args(opts),
        )  # fmt: skip
        assert dbsp.code == 0, dbsp.stderr
        assert ordered(dbsp.stdout) == ordered(want.dbsp)
        assert (d / "new2.spky").read_bytes() == expected.read_bytes()


# -- fixed cases ---------------------------------------------------------------------------

STORE = [
    {"id": 1, "v": 1, "name": "a"},
    {"id": 2, "v": 1, "name": "b"},
    {"id": 3, "v": 1, "name": "c"},
    {"id": 4, "v": 5, "name": "d"},
]
BATCH = [
    {"id": 2, "v": 2, "name": "B"},
    {"id": 3, "v": 1, "name": "c"},
    {"id": 4, "v": 3, "name": "D"},
    {"id": 9, "v": 1, "name": "new"},
    {"id": 1, "v": 2, "deleted": True},
    {"id": 7, "v": 1, "name": "n7"},
    {"id": 7, "v": 0, "name": "n7 older"},
]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    convert(tmp_path, "store", ndjson(STORE), ["id"])
    (tmp_path / "batch.ndjson").write_bytes(ndjson(BATCH))
    return tmp_path


def export(path: Path) -> list[Record]:
    res = run_cli("export", str(path))
    assert res.code == 0, res.stderr
    return [orjson.loads(x) for x in res.stdout.splitlines()]


def test_versions_deletes_and_the_summary(files: Path) -> None:
    res = run_cli(
        "merge", str(files / "store.spky"), str(files / "batch.ndjson"), "-o",
        str(files / "new.spky"), "--version-field", "v", "--delete-field", "deleted",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    assert "2 inserted, 1 updated, 1 deleted, 1 unchanged, 1 stale" in res.stderr
    assert export(files / "new.spky") == [
        {"id": 2, "v": 2, "name": "B"},
        {"id": 3, "v": 1, "name": "c"},
        {"id": 4, "v": 5, "name": "d"},
        {"id": 9, "v": 1, "name": "new"},
        {"id": 7, "v": 1, "name": "n7"},
    ]


def test_a_record_file_batch_is_the_same_as_its_json(files: Path) -> None:
    batch = convert(files, "batchfile", ndjson(BATCH[:4]), ["id"])
    for name, src in (("a", batch), ("b", files / "batchfile.ndjson")):
        res = run_cli(
            "merge", str(files / "store.spky"), str(src), "-o", str(files / f"{name}.spky")
        )
        assert res.code == 0, res.stderr
    assert (files / "a.spky").read_bytes() == (files / "b.spky").read_bytes()


def test_several_batches_and_stdin(files: Path) -> None:
    (files / "more.ndjson").write_bytes(ndjson([{"id": 2, "v": 9, "name": "later"}]))
    res = run_cli(
        "merge", str(files / "store.spky"), "-", str(files / "more.ndjson"),
        "-o", str(files / "new.spky"), input=ndjson(BATCH[:1]),
    )  # fmt: skip
    assert res.code == 0, res.stderr
    assert export(files / "new.spky")[1] == {"id": 2, "v": 9, "name": "later"}


def test_a_batch_keyed_otherwise_is_refused(files: Path) -> None:
    other = convert(files, "other", ndjson([{"id": 1, "k": "x"}]), ["k"])
    res = run_cli("merge", str(files / "store.spky"), str(other), "-o", str(files / "new.spky"))
    assert res.code == 2
    assert "keyed as the store" in res.stderr
    assert not (files / "new.spky").exists()


def test_a_bad_batch_line_is_named(files: Path) -> None:
    (files / "bad.ndjson").write_bytes(b'{"id": 1}\n{"id": 2,}\n')
    res = run_cli("merge", str(files / "store.spky"), str(files / "bad.ndjson"), "-o", "new.spky")
    assert res.code == 2
    assert "bad.ndjson:2:" in res.stderr


@pytest.mark.parametrize("which", ["output", "changes"])
def test_an_output_that_is_an_input_is_refused(files: Path, which: str) -> None:
    store = str(files / "store.spky")
    before = (files / "store.spky").read_bytes()
    out = store if which == "output" else str(files / "new.spky")
    extra = ["--changes", store] if which == "changes" else []
    res = run_cli("merge", store, str(files / "batch.ndjson"), "-o", out, *extra)
    assert res.code == 2
    assert (files / "store.spky").read_bytes() == before


def test_changes_and_output_must_differ(files: Path) -> None:
    new = str(files / "new.spky")
    res = run_cli("merge", str(files / "store.spky"), str(files / "batch.ndjson"), "-o", new,
                  "--changes", new)  # fmt: skip
    assert res.code == 2
    assert "one file" in res.stderr


def test_a_composite_key_in_the_change_stream(tmp_path: Path) -> None:
    store = convert(tmp_path, "s", ndjson([{"t": "acme", "id": 42, "n": 1}]), ["t", "id"])
    (tmp_path / "b.ndjson").write_bytes(ndjson([{"t": "acme", "id": 42, "n": 2}]))
    res = run_cli("merge", str(store), str(tmp_path / "b.ndjson"), "-o", str(tmp_path / "n.spky"),
                  "--changes", "-")  # fmt: skip
    assert res.code == 0, res.stderr
    assert orjson.loads(res.stdout)["key"] == ["acme", 42]


# -- atomicity -------------------------------------------------------------------------------


def test_sigkill_mid_merge_leaves_nothing_and_the_old_output(tmp_path: Path) -> None:
    """A merge whose change stream goes to a pipe nobody reads blocks while it
    writes NEW; killed there, it leaves no file (TMPDIR is the folder too,
    for the scratch batch) and an existing NEW untouched."""
    records = [{"id": i, "v": 1, "text": "x" * 100} for i in range(60_000)]
    convert(tmp_path, "store", ndjson(records), ["id"])
    for r in records:
        r["v"] = 2
    (tmp_path / "batch.ndjson").write_bytes(ndjson(records))
    (tmp_path / "new.spky").write_bytes(b"precious")
    before = sorted(os.listdir(tmp_path))
    code = "from spooky_cli.app import main; main()"
    args = ["merge", "store.spky", "batch.ndjson", "-o", "new.spky", "--changes", "-"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    _wait_for_unnamed_output(proc.pid, tmp_path)
    proc.kill()
    proc.communicate(timeout=20)
    assert proc.returncode == -signal.SIGKILL
    assert sorted(os.listdir(tmp_path)) == before
    assert (tmp_path / "new.spky").read_bytes() == b"precious"


def _wait_for_unnamed_output(pid: int, folder: Path) -> None:
    """Until the process holds an unnamed file in folder with bytes in it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                where = os.readlink(f"/proc/{pid}/fd/{fd}")
                size = os.stat(f"/proc/{pid}/fd/{fd}").st_size
            except OSError:
                continue
            if where.startswith(f"{folder}/") and where.endswith("(deleted)") and size > 4096:
                time.sleep(0.2)  # the batch is read: NEW is being written
                return
        time.sleep(0.02)
    raise AssertionError("the merge never wrote")


def test_many_blocks_and_inserts_against_the_oracle(tmp_path: Path) -> None:
    """Several store blocks and more inserts than one part holds: the parts
    are made on a thread while the last one is written."""
    store = [{"id": i, "v": 1, "pad": "x" * 90} for i in range(30_000)]
    batch = [{"id": i, "v": 2, "pad": "y"} for i in range(0, 30_000, 7)]
    batch += [{"id": i, "v": 1, "pad": "new"} for i in range(60_000, 39_999, -1)]
    want = merge(store, batch, ["id"], version="v")
    s = convert(tmp_path, "store", ndjson(store), ["id"])
    (tmp_path / "batch.ndjson").write_bytes(ndjson(batch))
    res = run_cli(
        "merge", str(s), str(tmp_path / "batch.ndjson"), "-o", str(tmp_path / "new.spky"),
        "--version-field", "v", "--changes", str(tmp_path / "c.ndjson"),
    )  # fmt: skip
    assert res.code == 0, res.stderr
    expected = convert(tmp_path, "expected", b"".join(x + b"\n" for x in want.lines), ["id"])
    assert (tmp_path / "new.spky").read_bytes() == expected.read_bytes()
    assert ordered((tmp_path / "c.ndjson").read_bytes()) == ordered(want.changes)


@pytest.mark.parametrize("digests", [True, False], ids=["resealed", "digest-stale"])
def test_a_damaged_store_record_is_an_error_naming_the_store(files: Path, digests: bool) -> None:
    """A stored string made invalid UTF-8: copied, it fails the check of every
    copy; read for a version decision with a stale digest, the digest check."""
    data = (files / "store.spky").read_bytes()
    at = data.index(b"d", data.index(b"\x04\x00\x00\x00\x00\x00\x00\x00"))  # id 4's name
    damaged = data[:at] + b"\xff" + data[at + 1 :]
    (files / "store.spky").write_bytes(reseal(damaged, digests=digests))
    res = run_cli(
        "merge", str(files / "store.spky"), str(files / "batch.ndjson"), "-o",
        str(files / "new.spky"), "--version-field", "v",
    )  # fmt: skip
    assert res.code == 2
    assert "store.spky" in res.stderr, res.stderr
    assert not (files / "new.spky").exists()


def test_a_field_no_record_has_is_warned_about(files: Path) -> None:
    res = run_cli(
        "merge", str(files / "store.spky"), str(files / "batch.ndjson"), "-o",
        str(files / "new.spky"), "--version-field", "verison",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    assert "no record has --version-field 'verison'" in res.stderr


def test_the_highest_version_wins_across_spilled_runs(tmp_path: Path) -> None:
    """Repeated keys whose records land in different sorted runs of the batch's
    key index (spilled, then merged): the highest version still wins."""
    from spooky_cli._native import lib

    store = [{"id": i, "v": 0} for i in range(0, 3000, 3)]
    batch = [{"id": i % 1500, "v": (i * 7919) % 13} for i in range(6000)]
    want = merge(store, batch, ["id"], version="v")
    s = convert(tmp_path, "store", ndjson(store), ["id"])
    (tmp_path / "batch.ndjson").write_bytes(ndjson(batch))
    lib.spooky_test_set_run_limit(4096)
    try:
        res = run_cli(
            "merge", str(s), str(tmp_path / "batch.ndjson"), "-o", str(tmp_path / "new.spky"),
            "--version-field", "v",
        )  # fmt: skip
    finally:
        lib.spooky_test_set_run_limit(0)
    assert res.code == 0, res.stderr
    expected = convert(tmp_path, "expected", b"".join(x + b"\n" for x in want.lines), ["id"])
    assert (tmp_path / "new.spky").read_bytes() == expected.read_bytes()
