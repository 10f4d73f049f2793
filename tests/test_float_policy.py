"""A record file holds no NaN or infinite float (docs/FORMAT.md, "Floats"):
JSON cannot hold them. Files made by tests/filebuilder.py with such a float
(at the top level or inside a nested value) fail every command that checks or
writes that value, with one line naming the file and the byte; counting
commands count without checking. The Python API can still hold NaN in memory."""

from __future__ import annotations

import math
from pathlib import Path

import filebuilder as fb
import orjson
import pytest
from cli_runner import run_cli

from spooky_cli.errors import NotJsonValue
from spooky_cli.reader import RecordFileReader
from spooky_cli.record import SpookyRecordMut

OBJECTS = [{"id": i, "name": f"n{i}", "score": i + 0.5, "nested": [i, 1.5]} for i in range(5)]
CASES = [
    ("score", "nan", "float field is NaN or infinite"),
    ("score", "inf", "float field is NaN or infinite"),
    ("score", "-inf", "float field is NaN or infinite"),
    (
        "nested",
        "nan",
        "nested field holds a value JSON cannot hold (NaN, infinity, bytes or a tag)",
    ),
]
IDS = [f"{name}-{how}" for name, how, _ in CASES]


@pytest.fixture(params=CASES, ids=IDS)
def bad(request, tmp_path: Path) -> tuple[Path, str]:
    """A file whose record 2 holds the float in field `name`, and the message
    every command gives: `bad.spky: <reason> (at byte N)`."""
    name, how, reason = request.param
    built = fb.build(OBJECTS, mangle=fb.spoil(2, name, how))
    p = tmp_path / "bad.spky"
    p.write_bytes(built.data)
    at = fb.value_offset(built, 2, name)  # a nested value: where it starts
    return p, f"bad.spky: {reason} (at byte {at})"


def fails(res, where: str = "") -> None:
    """Exit 2 with one line (holding `where`), no traceback."""
    assert res.code == 2, (res.code, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spooky: error: "), res.stderr
    assert where in lines[0] and "(at byte " in lines[0], res.stderr


def test_info_verify(bad) -> None:
    path, where = bad
    fails(run_cli("info", str(path), "--verify"), where)
    assert run_cli("info", str(path)).code == 0  # without --verify no record is read


def test_export(bad, tmp_path: Path) -> None:
    path, where = bad
    fails(run_cli("export", str(path)), where)
    out = tmp_path / "out.ndjson"
    fails(run_cli("export", str(path), "-o", str(out)), where)
    assert not out.exists()
    # only the fields written count
    res = run_cli("export", str(path), "--fields", "id,name", "-q")
    assert res.code == 0 and len(res.stdout.splitlines()) == len(OBJECTS)


def test_get(bad) -> None:
    path, where = bad
    fails(run_cli("get", str(path), "2"), where)
    fails(run_cli("get", str(path), "2", "--compact"), where)
    res = run_cli("get", str(path), "1")  # other records are fine
    assert res.code == 0 and orjson.loads(res.stdout) == OBJECTS[1]
    with RecordFileReader(path) as r, pytest.raises(NotJsonValue) as info:
        r.get_json(2)
    assert where in str(info.value)


def test_filter(bad, tmp_path: Path) -> None:
    path, where = bad
    fails(run_cli("filter", str(path), "-w", "id >= 0"), where)
    out = tmp_path / "out.spky"
    fails(run_cli("filter", str(path), "-w", "id >= 0", "-o", str(out)), where)
    assert not out.exists()
    # records that do not match, and fields not written, are not checked
    assert run_cli("filter", str(path), "-w", "id != 2", "-q").code == 0
    assert run_cli("filter", str(path), "-w", "id >= 0", "--fields", "name", "-q").code == 0
    # --count writes no record: it counts without checking values
    res = run_cli("filter", str(path), "-w", "id >= 0", "--count", "-q")
    assert res.code == 0 and res.stdout == b"5\n"


def diff_args(bad: Path, tmp_path: Path, case: str) -> list[str]:
    """OLD NEW for diff: bad changed (as the new or the old file), or added."""
    other = tmp_path / "other.spky"
    other.write_bytes(fb.build(OBJECTS[:2] if case == "added" else OBJECTS).data)
    return [str(bad), str(other)] if case == "changed-old" else [str(other), str(bad)]


DIFF_CASES = [
    (fmt, case) for fmt in ("text", "json") for case in ("changed-new", "changed-old", "added")
]


@pytest.mark.parametrize(("fmt", "case"), DIFF_CASES)
def test_diff_rendering_errors_cleanly(bad, tmp_path: Path, fmt: str, case: str) -> None:
    path, _where = bad
    fails(run_cli("diff", *diff_args(path, tmp_path, case), "--format", fmt))


@pytest.mark.parametrize(("fmt", "case"), DIFF_CASES)
def test_diff_names_the_file_and_byte(bad, tmp_path: Path, fmt: str, case: str) -> None:
    path, where = bad
    fails(run_cli("diff", *diff_args(path, tmp_path, case), "--format", fmt), where)


def test_the_python_api_holds_nan_in_memory() -> None:
    rec = SpookyRecordMut(fb.record_from_json(orjson.dumps(OBJECTS[0])))
    rec.set_f64("score", math.nan)  # a raw write
    assert math.isnan(rec.get_f64("score"))
