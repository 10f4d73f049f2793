"""Record files are written with direct I/O (O_DIRECT) where the file system
takes it, else with plain writes: the bytes are the same either way, and the
file still appears whole (an unnamed temp file linked into place)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
from cli_runner import run_cli

from spooky_cli._native import lib
from spooky_cli.reader import RecordFileReader
from spooky_cli.writer import RecordFileWriter


@contextmanager
def plain_writes() -> Iterator[None]:
    lib.spooky_test_set_no_direct_io(1)
    try:
        yield
    finally:
        lib.spooky_test_set_no_direct_io(0)


def ndjson(n: int, pad: int = 40) -> bytes:
    return b"".join(
        orjson.dumps({"id": i, "name": f"n{i}", "pad": "x" * (i % pad), "v": [i, {"k": i / 4}]})
        + b"\n"
        for i in range(n)
    )


def takes_direct_io(folder: Path) -> bool:
    """Whether the file system of folder takes an aligned O_DIRECT write."""
    import mmap

    if not hasattr(os, "O_DIRECT"):
        return False
    try:
        fd = os.open(folder / "probe", os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o600)
    except OSError:
        return False
    try:
        page = mmap.mmap(-1, 4096)  # page-aligned memory
        os.pwrite(fd, page, 0)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        os.unlink(folder / "probe")


# sizes: empty, under a page, a few blocks (not a multiple of a page)
@pytest.mark.parametrize("n", [0, 3, 9000])
def test_direct_and_plain_writes_give_the_same_file(tmp_path: Path, n: int) -> None:
    src = tmp_path / "in.ndjson"
    src.write_bytes(ndjson(n) if n else b"")
    before = lib.spooky_test_direct_bytes()
    direct = run_cli("convert", str(src), "-o", str(tmp_path / "direct.spky"))
    written_direct = lib.spooky_test_direct_bytes() - before
    with plain_writes():
        before = lib.spooky_test_direct_bytes()
        plain = run_cli("convert", str(src), "-o", str(tmp_path / "plain.spky"))
        assert lib.spooky_test_direct_bytes() == before  # none with the hook on
    assert direct.code == 0 and plain.code == 0, (direct.stderr, plain.stderr)
    a = (tmp_path / "direct.spky").read_bytes()
    assert a == (tmp_path / "plain.spky").read_bytes()
    if n == 9000 and takes_direct_io(tmp_path):
        # all whole pages of the blocks went directly; the last partial page,
        # footer and tail plainly
        assert 0 < written_direct <= len(a) and written_direct % 4096 == 0
        assert written_direct >= len(a) - 4096 - (len(a) - _footer_offset(a))
    with RecordFileReader(tmp_path / "direct.spky") as r:
        assert r.record_count == n
        r.verify()


def _footer_offset(data: bytes) -> int:
    return int.from_bytes(data[-32:-24], "little")


def test_direct_writes_with_keep_last_rewrite(tmp_path: Path) -> None:
    # keep_last drops records: the live ones are read back and written to a
    # second file, itself written directly
    lines = ndjson(5000) + ndjson(100)  # keys 0..99 repeat
    src = tmp_path / "in.ndjson"
    src.write_bytes(lines)
    res = run_cli("convert", str(src), "-o", str(tmp_path / "a.spky"), "--on-duplicate", "last")
    with plain_writes():
        res2 = run_cli(
            "convert", str(src), "-o", str(tmp_path / "b.spky"), "--on-duplicate", "last"
        )
    assert res.code == 0 and res2.code == 0, (res.stderr, res2.stderr)
    assert (tmp_path / "a.spky").read_bytes() == (tmp_path / "b.spky").read_bytes()
    with RecordFileReader(tmp_path / "a.spky") as r:
        assert r.record_count == 5000
        r.verify()


def test_a_writer_that_fails_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.spky"
    with pytest.raises(RuntimeError, match="stop"), RecordFileWriter(target) as w:
        w.write_ndjson(ndjson(5000))
        raise RuntimeError("stop")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs /dev/shm (tmpfs)")
def test_tmpfs_output(tmp_path: Path) -> None:
    # tmpfs takes O_DIRECT on newer kernels and refuses it on older ones:
    # the file is right either way
    import tempfile

    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        src = tmp_path / "in.ndjson"
        src.write_bytes(ndjson(3000))
        out = Path(shm) / "out.spky"
        res = run_cli("convert", str(src), "-o", str(out))
        assert res.code == 0, res.stderr
        ref = run_cli("convert", str(src), "-o", str(tmp_path / "ref.spky"))
        assert ref.code == 0
        assert out.read_bytes() == (tmp_path / "ref.spky").read_bytes()


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "plain"])
def test_export_to_a_file_is_what_stdout_gets(tmp_path: Path, direct: bool) -> None:
    src = tmp_path / "in.ndjson"
    src.write_bytes(ndjson(9000))
    assert run_cli("convert", str(src), "-o", str(tmp_path / "x.spky")).code == 0
    out = tmp_path / "out.ndjson"
    out.write_bytes(b"old")
    if direct:
        res = run_cli("export", str(tmp_path / "x.spky"), "-o", str(out))
    else:
        with plain_writes():
            res = run_cli("export", str(tmp_path / "x.spky"), "-o", str(out))
    shown = run_cli("export", str(tmp_path / "x.spky"))
    assert res.code == 0 and shown.code == 0, res.stderr
    text = out.read_bytes()
    assert text == shown.stdout and len(text) > 3 * 4096
    assert [orjson.loads(line)["id"] for line in text.splitlines()] == list(range(9000))
