"""`spooky export`, `spooky info` and `spooky get` on files built by
tests/filebuilder.py: through CliRunner, through app.main (exit codes, one-line
errors) and once through the installed `spooky` entry point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))

import filebuilder as fb  # noqa: E402
from strict import same  # noqa: E402

from spooky_cli.app import app, main  # noqa: E402
from spooky_cli.reader import RecordFileReader  # noqa: E402

OBJECTS = fb.sample_objects(120)


@pytest.fixture(scope="module")
def built() -> fb.Built:
    return fb.build(OBJECTS, block_target=2000)


@pytest.fixture
def spky(tmp_path, built) -> Path:
    p = tmp_path / "data.spky"
    p.write_bytes(built.data)
    return p


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def run_main(*args: str) -> tuple[int, str, str]:
    """app.main as the entry point runs it: (exit code, stdout, stderr)."""
    runner = CliRunner()
    with runner.isolation() as streams:
        out, err = streams[0], streams[1]
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode(), err.getvalue().decode()


# ---- export -------------------------------------------------------------------------


def test_export_to_stdout(spky):
    result = invoke("export", spky, "-q")
    assert result.exit_code == 0, result.output
    lines = result.stdout_bytes.split(b"\n")
    assert lines.pop() == b""
    assert len(lines) == len(OBJECTS)
    for line, obj in zip(lines, OBJECTS):
        assert same(orjson.loads(line), obj)
    assert result.stderr == ""


def test_export_to_file_with_summary(spky, tmp_path):
    out = tmp_path / "out.ndjson"
    result = invoke("export", spky, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"exported {len(OBJECTS)} records" in result.stderr
    assert " ms" in result.stderr and "records/s" not in result.stderr  # tiny: no rate
    lines = out.read_bytes().splitlines()
    assert [orjson.loads(x)["id"] for x in lines] == [o["id"] for o in OBJECTS]
    assert not list(tmp_path.glob(".out.ndjson.*"))  # no temp file left


def test_export_fields(spky):
    result = invoke("export", spky, "--fields", "name,id,big", "-q")
    assert result.exit_code == 0, result.output
    for line, obj in zip(result.stdout_bytes.split(b"\n"), OBJECTS):
        got = orjson.loads(line)
        want = {k: obj[k] for k in ("name", "id", "big") if k in obj}
        assert list(got) == list(want) and same(got, want)


def test_export_unknown_field_one_line_exit_2(spky, tmp_path):
    out = tmp_path / "never.ndjson"
    code, stdout, stderr = run_main("export", spky, "--fields", "id,nope", "-o", out)
    assert code == 2
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "unknown field 'nope' (the file has: big, id, name," in lines[0]
    assert not out.exists()


def test_export_corrupted_file_fails_and_keeps_no_output(spky, built, tmp_path):
    data = bytearray(built.data)
    data[built.block_offsets[2] + 60] ^= 0x40
    spky.write_bytes(bytes(data))
    out = tmp_path / "x.ndjson"
    code, _stdout, stderr = run_main("export", spky, "-o", out)
    assert code == 2
    assert "block 2" in stderr and "checksum" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_export_missing_file(tmp_path):
    code, _stdout, stderr = run_main("export", tmp_path / "nope.spky")
    assert code == 2
    assert "nope.spky" in stderr and len(stderr.strip().splitlines()) == 1


def test_export_truncated_file(tmp_path, built):
    p = tmp_path / "cut.spky"
    p.write_bytes(built.data[:-5])
    code, _stdout, stderr = run_main("export", p)
    assert code == 2
    assert "could not open record file" in stderr and "truncated" in stderr


# ---- info ----------------------------------------------------------------------------


def test_info_text(spky, built):
    result = invoke("info", spky)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{len(OBJECTS)}" in out
    assert "key field" in out and "id" in out
    for name in ("score", "tags", "nested", "big"):
        assert name in out
    assert "u64" in out and "nested" in out
    assert "verified" not in out


def test_info_json(spky, built):
    result = invoke("info", spky, "--json")
    assert result.exit_code == 0, result.output
    facts = orjson.loads(result.stdout)
    assert facts["record_count"] == len(OBJECTS)
    assert facts["block_count"] == len(built.block_offsets)
    assert facts["file_size"] == len(built.data)
    assert facts["records_bytes"] + facts["footer_bytes"] + 64 == len(built.data)
    assert facts["key_field"] == "id"
    assert facts["format_version"] == 1
    assert {f["name"]: f["types"] for f in facts["fields"]} == built.names
    assert "verified" not in facts


def test_info_verify_good(spky, built):
    result = invoke("info", spky, "--verify")
    assert result.exit_code == 0, result.output
    assert f"verified: {len(built.block_offsets)} blocks, {len(OBJECTS)} records" in result.stdout
    facts = orjson.loads(invoke("info", spky, "--verify", "--json").stdout)
    assert facts["verified"] == {"blocks": len(built.block_offsets), "records": len(OBJECTS)}


def test_info_verify_corrupted(spky, built):
    data = bytearray(built.data)
    data[built.block_offsets[-1] + 50] ^= 1
    spky.write_bytes(bytes(data))
    code, stdout, stderr = run_main("info", spky)
    assert code == 0  # the footer is fine: info alone does not read blocks
    code, stdout, stderr = run_main("info", spky, "--verify")
    assert code == 2
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1
    assert f"block {len(built.block_offsets) - 1}" in stderr and "checksum" in stderr


def test_info_empty_file(tmp_path):
    p = tmp_path / "empty.spky"
    p.write_bytes(fb.build([]).data)
    facts = orjson.loads(invoke("info", p, "--json", "--verify").stdout)
    assert facts["record_count"] == 0 and facts["fields"] == []
    assert facts["verified"] == {"blocks": 0, "records": 0}


# ---- get --------------------------------------------------------------------------------


def test_get_int_key(spky):
    obj = OBJECTS[13]  # has nested, -0.0 and a big u64
    result = invoke("get", spky, "--", str(obj["id"]))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("{\n  ")  # pretty
    assert same(orjson.loads(result.stdout), obj)
    assert OBJECTS[2]["id"] < 0  # a negative key needs `--` before it
    compact = invoke("get", spky, "--compact", "--", str(OBJECTS[2]["id"]))
    assert compact.stdout.count("\n") == 1
    assert same(orjson.loads(compact.stdout), OBJECTS[2])


def test_get_prints_what_orjson_printed(spky):
    # get used to print orjson.dumps of the record's fields (record order),
    # indented with OPT_INDENT_2 unless --compact: it renders in C now, the same
    with RecordFileReader(spky) as r:
        for obj in OBJECTS[:40]:
            rec = r.get(obj["id"])
            fields = {r.name_for_hash(h): v for h, _type, v in rec.iter_fields()}
            for compact, option in ((False, orjson.OPT_INDENT_2), (True, 0)):
                args = ["get", spky, *(["--compact"] if compact else []), "--", str(obj["id"])]
                assert invoke(*args).stdout_bytes == orjson.dumps(fields, option=option) + b"\n"


def test_get_a_record_nested_1000_deep(tmp_path):
    deep: object = []
    for level in range(999):  # 1000 arrays and objects, past orjson's 254
        deep = {"k": deep} if level % 2 else [deep]
    names = sorted(["id", "deep"], key=lambda n: fb.xxh64(n.encode()))  # the record's order
    rec = {n: {"id": 1, "deep": deep}[n] for n in names}
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20000)
    try:  # the stdlib's pure-Python encoder as the oracle of the layout
        line = json.dumps(rec, separators=(",", ":"))
        pretty = json.dumps(rec, indent=2, ensure_ascii=False)
    finally:
        sys.setrecursionlimit(limit)
    src = tmp_path / "deep.ndjson"
    src.write_text(line + "\n")
    out = tmp_path / "deep.spky"
    assert invoke("convert", src, "-o", out, "-q").exit_code == 0
    code, stdout, stderr = run_main("get", out, "1")
    assert (code, stderr) == (0, "") and stdout == pretty + "\n"
    code, stdout, stderr = run_main("get", out, "1", "--compact")
    assert (code, stderr) == (0, "") and stdout == line + "\n"


def test_get_str_key_and_digits_fallback(tmp_path):
    objs = [{"id": "007", "v": 1}, {"id": "abc", "v": 2}, {"id": 7, "v": 3}, {"id": "12", "v": 4}]
    p = tmp_path / "s.spky"
    p.write_bytes(fb.build(objs).data)
    assert orjson.loads(invoke("get", p, "abc").stdout)["v"] == 2
    assert orjson.loads(invoke("get", p, "007").stdout)["v"] == 3  # integer first
    assert orjson.loads(invoke("get", p, "12").stdout)["v"] == 4  # then the string


def test_get_missing_exit_1(spky):
    result = invoke("get", spky, "999999")
    assert result.exit_code == 1
    assert "no record with key '999999'" in result.stderr
    assert result.stdout == ""
    code, stdout, stderr = run_main("get", spky, "nope")
    assert code == 1, (stdout, stderr)
    assert len(stderr.strip().splitlines()) == 1


def test_get_on_bad_file_exit_2(tmp_path):
    p = tmp_path / "bad.spky"
    p.write_bytes(b"SPKYFILE" + b"\0" * 100)
    code, _stdout, stderr = run_main("get", p, "1")
    assert code == 2
    assert stderr.startswith("spooky: error: could not open record file")


# ---- the installed entry point -------------------------------------------------------------


def test_entry_point_export(spky):
    exe = shutil.which("spooky")
    if exe is None:
        pytest.skip("the spooky entry point is not installed")
    proc = subprocess.run(
        [exe, "export", str(spky), "--fields", "id"], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [orjson.dumps({"id": o["id"]}) for o in OBJECTS]
    assert b"Traceback" not in proc.stderr


# ---- with the C writer (spooky convert) ------------------------------------------------------


def _ndjson(objs: list[dict]) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


def _convert(src: Path, dst: Path, *extra: str) -> None:
    result = invoke("convert", src, "-o", dst, "-q", *extra)
    assert result.exit_code == 0, (result.output, result.exception)


def test_convert_export_convert_is_byte_identical(tmp_path):
    objs = fb.sample_objects(12000)  # > 1 MiB of payload: several blocks
    src = tmp_path / "in.ndjson"
    src.write_bytes(_ndjson(objs))
    a, b, c = tmp_path / "a.spky", tmp_path / "b.ndjson", tmp_path / "c.spky"
    _convert(src, a)
    result = invoke("export", a, "-o", b, "-q")
    assert result.exit_code == 0, result.output
    _convert(b, c)
    assert a.read_bytes() == c.read_bytes()
    facts = orjson.loads(invoke("info", a, "--verify", "--json").stdout)
    assert facts["record_count"] == len(objs) and facts["block_count"] > 1
    for line, obj in zip(b.read_bytes().split(b"\n"), objs):
        assert same(orjson.loads(line), obj)


def test_c_writer_matches_the_python_builder(tmp_path):
    """Two independent writers of FORMAT.md agree byte for byte (both put the
    footer sections back to back in the order FORMAT.md lists them)."""
    objs = fb.sample_objects(9000)
    src = tmp_path / "in.ndjson"
    src.write_bytes(_ndjson(objs))
    out = tmp_path / "c.spky"
    _convert(src, out)
    assert out.read_bytes() == fb.build(objs, version=2).data


def test_on_duplicate_last_file_reads_back(tmp_path):
    objs = [{"id": i % 5, "v": i} for i in range(20)]
    src = tmp_path / "dup.ndjson"
    src.write_bytes(_ndjson(objs))
    out = tmp_path / "dup.spky"
    _convert(src, out, "--on-duplicate", "last")
    facts = orjson.loads(invoke("info", out, "--verify", "--json").stdout)
    assert facts["record_count"] == 5 and facts["verified"]["records"] == 5
    for k in range(5):
        assert orjson.loads(invoke("get", out, str(k)).stdout) == {"id": k, "v": 15 + k}
    lines = invoke("export", out, "-q").stdout_bytes.split(b"\n")[:-1]
    assert sorted(orjson.loads(x)["v"] for x in lines) == [15, 16, 17, 18, 19]
