"""The record writer's external sort: key-index runs spilled to temporary files
and merged at the end. The core's test hook (spooky_test_set_run_limit) makes
runs tiny, so a few thousand records give hundreds of spills."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
from cli_runner import run_cli

from spooky_cli import inputs
from spooky_cli._native import lib
from spooky_cli.reader import RecordFileReader
from spooky_cli.writer import RecordFileWriter

N = 3000


@contextmanager
def run_limit(nbytes: int) -> Iterator[None]:
    lib.spooky_test_set_run_limit(nbytes)
    try:
        yield
    finally:
        lib.spooky_test_set_run_limit(0)


def ndjson(objs: list[dict]) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


def convert(tmp_path: Path, data: bytes, name: str, *args: str) -> tuple[int, str, bytes | None]:
    src = tmp_path / f"{name}.ndjson"
    src.write_bytes(data)
    out = tmp_path / f"{name}.spky"
    res = run_cli("convert", str(src), "-o", str(out), *args)
    return res.code, res.stderr, out.read_bytes() if out.exists() else None


def records(n: int, order: str, string_keys: bool = False) -> list[dict]:
    keys: list[int | str] = [f"k{i:05}" if string_keys else i * 7 - n for i in range(n)]
    if order == "reverse":
        keys.reverse()
    elif order == "shuffled":
        random.Random(1).shuffle(keys)
    return [{"id": k, "n": i, "pad": "x" * (i % 13)} for i, k in enumerate(keys)]


@pytest.mark.parametrize("string_keys", [False, True], ids=["int", "str"])
@pytest.mark.parametrize("order", ["shuffled", "sorted", "reverse"])
@pytest.mark.parametrize("limit", [1, 1024])  # a spill per record; ~15 records a run
def test_spills_give_the_same_file(tmp_path: Path, order: str, string_keys: bool, limit: int):
    data = ndjson(records(N if limit > 1 else 400, order, string_keys))
    code, err, whole = convert(tmp_path, data, "whole")
    assert code == 0, err
    with run_limit(limit):
        code, err, spilled = convert(tmp_path, data, "spilled")
    assert code == 0, err
    assert spilled == whole
    with RecordFileReader(str(tmp_path / "spilled.spky")) as r:
        keys = list(r.keys())
        assert keys == sorted(keys) and len(keys) == len(set(keys))


def test_duplicate_across_spills_names_both_lines(tmp_path: Path):
    objs = records(N, "shuffled")
    objs.append({"id": objs[10]["id"], "again": True})  # line N + 1 repeats line 11
    data = ndjson(objs)
    code, whole_err, out = convert(tmp_path, data, "whole")
    assert code == 2 and out is None
    with run_limit(1024):
        code, err, out = convert(tmp_path, data, "spilled")
    assert code == 2 and out is None
    assert f"spilled.ndjson:11 and at {tmp_path / 'spilled.ndjson'}:{N + 1} " in err, err
    assert err.replace("spilled", "whole") == whole_err


def test_keep_last_across_spills(tmp_path: Path):
    objs = records(N, "shuffled")
    rng = random.Random(2)
    # every third key comes back later, some several times: the last one wins
    for i in range(0, N, 3):
        for v in range(rng.randint(1, 3)):
            objs.append({"id": objs[i]["id"], "v": v, "i": i})
    rng.shuffle(objs)
    data = ndjson(objs)
    last: dict[object, int] = {}
    for pos, o in enumerate(objs):
        last[o["id"]] = pos
    dedup = [o for pos, o in enumerate(objs) if last[o["id"]] == pos]
    summary = f"{len(dedup):,} records, "
    replaced = f" {len(objs) - len(dedup):,} replaced"
    code, err, whole = convert(tmp_path, data, "whole", "--on-duplicate", "last")
    assert code == 0, err
    assert summary in err and replaced in err, err
    with run_limit(1024):
        code, err, spilled = convert(tmp_path, data, "spilled", "--on-duplicate", "last")
    assert code == 0, err
    assert summary in err and replaced in err, err
    assert spilled == whole
    # and both equal the input with only each key's last record
    code, err, expected = convert(tmp_path, ndjson(dedup), "dedup")
    assert code == 0, err
    assert spilled == expected


# -- temporary files: in TMPDIR, unnamed ----------------------------------------------------


def open_files_under(folder: Path, pid: int | str = "self") -> list[str]:
    """What a process's open descriptors point to inside folder."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(f"{folder}/"):
            found.append(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.parametrize("o_tmpfile", [True, False], ids=["O_TMPFILE", "mkstemp"])
def test_spill_files_are_unnamed_in_temp_dir(tmp_path: Path, o_tmpfile: bool) -> None:
    watched = tmp_path / "tmp"
    watched.mkdir()
    data = ndjson(records(N, "shuffled"))
    lib.spooky_test_set_no_o_tmpfile(0 if o_tmpfile else 1)
    try:
        with run_limit(1024):
            w = RecordFileWriter(tmp_path / "out.spky", temp_dir=watched)
            w.write_ndjson(data)  # spills as it goes
            during = open_files_under(watched)
            listed = os.listdir(watched)
            w.close()
    finally:
        lib.spooky_test_set_no_o_tmpfile(0)
    assert len(during) == 1 and during[0].endswith(" (deleted)"), during  # one file, no name
    assert listed == []
    assert open_files_under(watched) == []  # closed with the file, not when w is freed
    assert os.listdir(watched) == []
    code, err, whole = convert(tmp_path, data, "whole")
    assert (tmp_path / "out.spky").read_bytes() == whole


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_convert_puts_temp_files_in_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    watched = tmp_path / "tmp"
    watched.mkdir()
    monkeypatch.setenv("TMPDIR", str(watched))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    seen: list[str] = []
    add = RecordFileWriter.add

    def spy(self: RecordFileWriter, *args: object, **kwargs: object) -> None:
        add(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.extend(open_files_under(watched))

    monkeypatch.setattr(RecordFileWriter, "add", spy)
    monkeypatch.setattr(inputs, "CHUNK_BYTES", 4096)
    with run_limit(1024):
        code, err, out = convert(tmp_path, ndjson(records(N, "shuffled")), "x")
    assert code == 0, err
    assert seen and all(s.endswith(" (deleted)") for s in seen)
    assert os.listdir(watched) == []


@pytest.mark.parametrize("limit", [0, 1024], ids=["footer", "spills"])
def test_unusable_temp_dir_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    missing = tmp_path / "no-such-dir"
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    (tmp_path / "x.spky").write_bytes(b"precious")
    with run_limit(limit):
        code, err, out = convert(tmp_path, ndjson(records(N, "shuffled")), "x")
    assert code == 2
    assert err == (
        f"spooky: error: {missing}: cannot use a temporary file in this folder (TMPDIR): "
        "No such file or directory\n"
    )
    assert out == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["x.ndjson", "x.spky"]


def test_merge_of_many_runs_is_quick(tmp_path: Path) -> None:
    # a run per record: 40,000 runs, whose merge once compared every run's
    # head for every entry (16 s here); a heap of runs takes a fraction of a second
    keys = list(range(40_000))
    random.Random(3).shuffle(keys)
    data = ndjson([{"id": k} for k in keys])
    times, files = [], []
    for limit in (0, 1):
        path = tmp_path / f"out{limit}.spky"
        with run_limit(limit):
            start = time.perf_counter()
            with RecordFileWriter(path) as w:
                w.write_ndjson(data)
            times.append(time.perf_counter() - start)
        files.append(path.read_bytes())
    assert files[1] == files[0]
    assert times[1] < 5 * times[0] + 3.0, times


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_sigkill_leaves_no_temp_file(tmp_path: Path) -> None:
    watched = tmp_path / "tmp"
    watched.mkdir()
    script = (
        "from spooky_cli._native import lib\n"
        "from spooky_cli.app import main\n"
        "lib.spooky_test_set_run_limit(1024)\n"
        f"main(['convert', '-', '-o', {str(tmp_path / 'out.spky')!r}, '-q'])\n"
    )
    env = {**os.environ, "TMPDIR": str(watched)}
    proc = subprocess.Popen(  # cwd away from the checkout (its spooky_cli/ has no core)
        [sys.executable, "-c", script], stdin=subprocess.PIPE, env=env, cwd=tmp_path
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(ndjson(records(150_000, "shuffled")))  # > one 4 MiB read
        proc.stdin.flush()
        deadline = time.monotonic() + 20
        while not open_files_under(watched, proc.pid):  # a spill file, while stdin stays open
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        assert os.listdir(watched) == []
    finally:
        proc.kill()
        proc.wait()
    assert os.listdir(watched) == []
