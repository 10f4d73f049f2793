"""spooky_cli.output: outputs appear whole or not at all, and big ones start
going to disk while they are written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spooky_cli import output


def test_a_big_output_is_written_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output._Writeback, "STEP", 1000)  # writeback every 1000 bytes
    target = tmp_path / "out.ndjson"
    pieces = [bytes([65 + i % 26]) * (300 + i) for i in range(200)]
    with output.open_output(str(target)) as f:
        for p in pieces:
            assert f.write(p) == len(p)
        assert f._written == sum(map(len, pieces))
        assert f._started > 0  # writeback was started along the way
    assert target.read_bytes() == b"".join(pieces)
    assert os.listdir(tmp_path) == ["out.ndjson"]


def test_an_error_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.ndjson"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), output.open_output(str(target)) as f:
        f.write(b"x" * 100_000)
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.ndjson"]
