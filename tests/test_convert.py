"""`spooky convert` and RecordFileWriter: input forms, errors, keys, determinism."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import orjson
import pytest
from cli_runner import run_cli

import spooky_cli
from spooky_cli import inputs
from spooky_cli.reader import RecordFileReader
from spooky_cli.writer import RecordFileWriter

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "people.ndjson"


def records_of(path: Path) -> list[tuple[object, bytes]]:
    with RecordFileReader(str(path)) as r:
        return [(k, rec.to_bytes()) for k, rec in r]


def convert(tmp_path: Path, text: bytes, *args: str, name: str = "in.ndjson"):
    src = tmp_path / name
    src.write_bytes(text)
    out = tmp_path / "out.spky"
    return run_cli("convert", str(src), "-o", str(out), *args), out


def lines(*objs: dict) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


def test_fixture_records_match_the_transcoder(tmp_path: Path) -> None:
    out = tmp_path / "people.spky"
    res = run_cli("convert", str(FIXTURE), "-o", str(out))
    assert res.code == 0, res.stderr
    got = records_of(out)
    src = [line for line in FIXTURE.read_bytes().splitlines() if line.strip()]
    assert [k for k, _ in got] == [orjson.loads(line)["id"] for line in src]
    assert [b for _, b in got] == [spooky_cli.record_from_json(line) for line in src]
    assert "60 records" in res.stderr


def test_forms_give_the_same_file(tmp_path: Path) -> None:
    objs = [{"id": i, "v": [i, {"x": "é"}], "s": "a\nb"} for i in range(50)]
    ndjson = lines(*objs)
    expected = None
    variants = {
        "plain.ndjson": ndjson,
        "crlf.jsonl": ndjson.replace(b"\n", b"\r\n"),
        "blank.ndjson": b"\n   \n" + ndjson.replace(b"\n", b"\n\n") + b"  \n",
        "noeol.ndjson": ndjson.rstrip(b"\n"),
        "array.json": b"[\n"
        + b",\n".join(orjson.dumps(o, option=orjson.OPT_INDENT_2) for o in objs)
        + b"\n]\n",
        "gz.ndjson.gz": gzip.compress(ndjson),
    }
    for name, data in variants.items():
        res, out = convert(tmp_path, data, name=name)
        assert res.code == 0, (name, res.stderr)
        if expected is None:
            expected = out.read_bytes()
        assert out.read_bytes() == expected, name


def test_stdin_and_stdout(tmp_path: Path) -> None:
    data = lines({"id": 1}, {"id": 2, "a": True})
    res = run_cli("convert", "-", "-o", str(tmp_path / "a.spky"), input=data)
    assert res.code == 0, res.stderr
    res2 = run_cli("convert", "-", "-o", "-", input=data)
    assert res2.code == 0, res2.stderr
    assert res2.stdout == (tmp_path / "a.spky").read_bytes()


def test_several_inputs_into_one_file(tmp_path: Path) -> None:
    (tmp_path / "a.ndjson").write_bytes(lines({"id": 1}, {"id": 2}))
    (tmp_path / "b.ndjson").write_bytes(lines({"id": 3}))
    out = tmp_path / "o.spky"
    res = run_cli("convert", str(tmp_path / "a.ndjson"), str(tmp_path / "b.ndjson"), "-o", str(out))
    assert res.code == 0, res.stderr
    assert [k for k, _ in records_of(out)] == [1, 2, 3]


def test_chunking_does_not_change_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    objs = [{"id": f"k{i}", "n": i, "pad": "x" * (i % 50)} for i in range(400)]
    res, out = convert(tmp_path, lines(*objs))
    assert res.code == 0
    big = out.read_bytes()
    monkeypatch.setattr(inputs, "CHUNK_BYTES", 64)
    res, out = convert(tmp_path, lines(*objs))
    assert res.code == 0, res.stderr
    assert out.read_bytes() == big


def test_deterministic(tmp_path: Path) -> None:
    data = FIXTURE.read_bytes()
    a = convert(tmp_path, data, name="x.ndjson")[1].read_bytes()
    b = convert(tmp_path, data, name="y.ndjson")[1].read_bytes()
    assert a == b


def test_empty_input_is_an_empty_file(tmp_path: Path) -> None:
    res, out = convert(tmp_path, b"\n \n")
    assert res.code == 0, res.stderr
    with RecordFileReader(str(out)) as r:
        assert r.record_count == 0
        assert list(r) == []


def test_error_mid_file_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.spky"
    out.write_bytes(b"precious")
    good = lines(*[{"id": i} for i in range(100)])
    res, _ = convert(tmp_path, good + b'{"id": 100, "x": [1,,2]}\n' + good)
    assert res.code == 2
    assert "in.ndjson:101:" in res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert out.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["in.ndjson", "out.spky"]


def test_error_position_in_later_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "CHUNK_BYTES", 100)
    good = lines(*[{"id": i} for i in range(50)])
    res, _ = convert(tmp_path, good + b'{"id": 50,  "x": tru}\n')
    assert res.code == 2
    assert "in.ndjson:51:18:" in res.stderr, res.stderr


def test_on_error_skip_lists_bad_lines(tmp_path: Path) -> None:
    data = lines({"id": 1}) + b"{oops\n" + lines({"id": 2}) + b'{"id": 3, "n": 1e999}\n'
    res, out = convert(tmp_path, data, "--on-error", "skip")
    assert res.code == 0, res.stderr
    assert "in.ndjson:2:2:" in res.stderr and "in.ndjson:4:" in res.stderr
    assert "2 bad lines skipped" in res.stderr
    assert [k for k, _ in records_of(out)] == [1, 2]


def test_nothing_converted_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "out.spky"
    out.write_bytes(b"precious")
    res, _ = convert(tmp_path, b'\n{"x": 1}\n  \n{oops\n[1]\n', "--on-error", "skip")
    assert res.code == 2
    assert res.stderr.count("(skipped)") == 3
    assert res.stderr.endswith(
        "spooky: error: no record converted: 3 bad lines, no good one (listed above)\n"
    )
    assert out.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["in.ndjson", "out.spky"]
    res = run_cli("convert", "-", "-o", "-", "--on-error", "skip", input=b"{oops}\n")
    assert res.code == 2 and res.stdout == b""
    # no line with JSON at all: an empty record file, as without --on-error skip
    res, out = convert(tmp_path, b"\n  \n", "--on-error", "skip", name="blank.ndjson")
    assert res.code == 0, res.stderr
    with RecordFileReader(str(out)) as r:
        assert r.record_count == 0


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    res, out = convert(tmp_path, lines({"id": 7}, {"id": 8}, {"id": 7}))
    assert res.code == 2
    assert "key 7" in res.stderr and "in.ndjson:1" in res.stderr and "in.ndjson:3" in res.stderr
    assert not out.exists()


def test_duplicate_key_lines_in_a_json_array(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # lines of the input, not element numbers
    elements = [b'{"id": %d,\n   "v": 0}' % i for i in range(30)] + [b'{"id": 7}']
    text = b"[\n  " + b",\n  ".join(elements) + b"\n]\n"
    for chunk in (None, 50):
        if chunk:
            monkeypatch.setattr(inputs, "CHUNK_BYTES", chunk)
        res, _ = convert(tmp_path, text, name="a.json")
        assert res.code == 2
        assert "a.json:16 and at " in res.stderr and "a.json:62 (use" in res.stderr, res.stderr


def test_duplicate_key_last_wins(tmp_path: Path) -> None:
    res, out = convert(
        tmp_path, lines({"id": 7, "v": 1}, {"id": 8}, {"id": 7, "v": 2}), "--on-duplicate", "last"
    )
    assert res.code == 0, res.stderr
    assert "2 records" in res.stderr and "1 replaced" in res.stderr
    got = records_of(out)
    assert [k for k, _ in got] == [8, 7]  # file order, superseded record gone
    assert spooky_cli.SpookyRecord(got[1][1]).get("v") == 2
    # same file as converting the deduplicated input
    res2, out2 = convert(tmp_path, lines({"id": 8}, {"id": 7, "v": 2}), name="dedup.ndjson")
    assert out2.read_bytes() == out.read_bytes()
    res3, _ = convert(tmp_path, lines({"id": 8}), "--on-duplicate", "last", name="one.ndjson")
    assert "0 replaced" in res3.stderr
    assert "replaced" not in res2.stderr  # only with --on-duplicate last


def test_writer_counts_replaced_records(tmp_path: Path) -> None:
    with RecordFileWriter(tmp_path / "w.spky", keep_last=True) as w:
        w.write_ndjson(lines({"id": 1}, {"id": 2}, {"id": 1}, {"id": 1}, {"id": 3}))
    assert (w.records, w.replaced) == (3, 2)
    with RecordFileWriter(tmp_path / "v.spky", keep_last=True) as v:
        v.write_ndjson(lines({"id": 1}, {"id": 2}))
    assert (v.records, v.replaced) == (2, 0)


@pytest.mark.parametrize(
    "line,needle",
    [
        (b'{"name": "x"}', 'record has no field "id" (choose the key with --key)'),
        (b'{"id": 1.5}', 'key field "id" is not a string or an integer'),
        (b'{"id": null}', "not a string or an integer"),
        (b"[1, 2]", "JSON object"),
    ],
)
def test_key_problems(tmp_path: Path, line: bytes, needle: str) -> None:
    res, out = convert(tmp_path, lines({"id": 0}) + line + b"\n")
    assert res.code == 2
    assert needle in res.stderr and "in.ndjson:2:" in res.stderr
    assert not out.exists()


def test_keys_sort_by_value(tmp_path: Path) -> None:
    ids = [5, -3, 2**64 - 1, 0, -(2**63), 2**63]
    res, out = convert(tmp_path, lines(*[{"id": i} for i in ids]))
    assert res.code == 0, res.stderr
    with RecordFileReader(str(out)) as r:
        assert list(r.keys()) == sorted(ids)
        assert r.get(2**64 - 1) is not None and r.get(4) is None


def test_string_keys_and_key_option(tmp_path: Path) -> None:
    res, out = convert(
        tmp_path, lines({"sku": "b", "id": 1}, {"sku": "a", "id": 1}), "--key", "sku"
    )
    assert res.code == 0, res.stderr
    with RecordFileReader(str(out)) as r:
        assert list(r.keys()) == ["a", "b"]
        assert r.key_field == "sku"


def test_array_input_errors(tmp_path: Path) -> None:
    res, _ = convert(tmp_path, b'[{"id": 1}] {"id": 2}', name="a.json")
    assert res.code == 2 and "a.json:1:13" in res.stderr, res.stderr
    res, _ = convert(tmp_path, b'[{"id": 1},\n{"id": 2}', name="b.json")
    assert res.code == 2 and "unterminated" in res.stderr
    res, _ = convert(tmp_path, b'[{"id": 1},\n {"id": 2, "x": [1,]}]', name="c.json")
    assert res.code == 2 and "c.json:2:" in res.stderr, res.stderr


def test_array_trailing_text_position_in_a_later_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inputs, "CHUNK_BYTES", 16)
    text = b"[\n" + b",\n".join(b'{"id": %d}' % i for i in range(50)) + b"\n]  x\n"
    res, _ = convert(tmp_path, text, name="a.json")
    assert res.code == 2 and "a.json:52:4: expected a JSON array" in res.stderr, res.stderr
    text = b"[" + b", ".join(b'{"id": %d}' % i for i in range(50)) + b"] x"
    res, _ = convert(tmp_path, text, name="b.json")
    assert res.code == 2 and f"b.json:1:{len(text)}: expected" in res.stderr, res.stderr


def test_bad_inputs(tmp_path: Path) -> None:
    res = run_cli("convert", str(tmp_path / "missing.ndjson"), "-o", str(tmp_path / "o.spky"))
    assert res.code == 2 and "missing.ndjson" in res.stderr
    res, out = convert(tmp_path, gzip.compress(b'{"id": 1}\n')[:-6], name="t.ndjson.gz")
    assert res.code == 2 and not out.exists()
    res, out = convert(tmp_path, b'{"id": 1, "s": "\xff"}\n')
    assert res.code == 2 and "UTF-8" in res.stderr


def test_writer_api(tmp_path: Path) -> None:
    path = tmp_path / "w.spky"
    with RecordFileWriter(path, key="id") as w:
        w.write({"id": 2, "x": [1.5, None]})
        w.write_ndjson(b'{"id": 1}\n{"id": 3, "y": -0.0}\n')
    with RecordFileReader(str(path)) as r:
        assert r.record_count == 3
        assert r.get(3).get("y") == 0.0 and str(r.get(3).get("y")) == "-0.0"
        assert r.get(2).get("x") == [1.5, None]


def test_writer_failure_leaves_target(tmp_path: Path) -> None:
    path = tmp_path / "w.spky"
    path.write_bytes(b"old")
    with pytest.raises(spooky_cli.JsonError), RecordFileWriter(path) as w:
        w.write_ndjson(b'{"id": 1}\n{"id": \n')
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["w.spky"]


def test_progress_only_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spooky_cli import render

    monkeypatch.setattr(render, "PROGRESS_DELAY", 0.0)  # a bar at once, not after a second
    src = tmp_path / "in.ndjson"
    src.write_bytes(lines(*[{"id": i} for i in range(10)]))
    try:
        res = run_cli("--color", "always", "convert", str(src), "-o", str(tmp_path / "a.spky"))
        assert res.code == 0 and "converting" in res.stderr  # forced terminal: a bar
        res = run_cli("--color", "never", "convert", str(src), "-o", str(tmp_path / "b.spky"))
        assert res.code == 0 and "converting" not in res.stderr and "\x1b[" not in res.stderr
        assert "10 records" in res.stderr
        res = run_cli("convert", str(src), "-o", str(tmp_path / "c.spky"), "--quiet")
        assert res.code == 0 and res.stderr == ""
    finally:
        render.set_color("auto")


def test_binary_never_to_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    src = tmp_path / "in.ndjson"
    src.write_bytes(lines({"id": 1}))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    from spooky_cli.commands import convert as cmd

    with pytest.raises(spooky_cli.SpookyError, match="terminal"):
        cmd.run([str(src)], "-", key="id", keep_last=False, skip_errors=False, quiet=True)


def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    plain = lines({"id": 1}, {"id": 2})
    res_a, out = convert(tmp_path, plain, name="plain.ndjson")
    a = out.read_bytes()
    res_b, out = convert(tmp_path, b"\xef\xbb\xbf" + plain, name="bom.ndjson")
    assert res_b.code == 0, res_b.stderr
    assert out.read_bytes() == a


def test_missing_output_directory_names_it(tmp_path: Path) -> None:
    src = tmp_path / "in.ndjson"
    src.write_bytes(lines({"id": 1}))
    res = run_cli("convert", str(src), "-o", str(tmp_path / "nope" / "o.spky"))
    assert res.code == 2
    assert f"{tmp_path / 'nope'}: no such directory" in res.stderr and ".tmp" not in res.stderr


BIG = b"123456789012345678901234567890"


def test_big_int_is_an_error_by_default(tmp_path: Path) -> None:
    bad = b'{"id": 2, "n": [1, {"k": -' + BIG + b"}]}"
    res, out = convert(tmp_path, lines({"id": 1}) + bad + b"\n")
    assert res.code == 2 and not out.exists()
    column = bad.index(b"-1") + 1
    assert (
        f"in.ndjson:2:{column}: integer -{BIG.decode()} does not fit i64 or u64 "
        "(--big-int float stores it as the nearest float)"
    ) in res.stderr, res.stderr
    # a skipped line, like any bad line
    res, out = convert(tmp_path, lines({"id": 1}) + bad + b"\n", "--on-error", "skip")
    assert res.code == 0 and "1 bad line skipped" in res.stderr
    assert [k for k, _ in records_of(out)] == [1]


def test_big_int_float_stores_the_nearest_float(tmp_path: Path) -> None:
    src = [
        b'{"id": 1, "n": ' + BIG + b"}",
        b'{"id": 2, "v": [1, -' + BIG + b', {"k": 18446744073709551616}]}',
        b'{"id": 3, "u": 18446744073709551615, "i": -9223372036854775808}',
    ]
    res, out = convert(tmp_path, b"\n".join(src), "--big-int", "float")
    assert res.code == 0, res.stderr
    assert "3 records" in res.stderr and "3 big integers stored as floats" in res.stderr
    assert [b for _, b in records_of(out)] == [
        spooky_cli.record_from_json(line, big_int="float") for line in src
    ]
    with RecordFileReader(str(out)) as r:
        assert r.get(1).get("n") == float(int(BIG))
        assert r.get(2).get("v") == [1, -float(int(BIG)), {"k": float(2**64)}]
        assert r.get(3).get("u") == 2**64 - 1  # u64 and i64 stay integers
    exported = run_cli("export", str(out)).stdout.splitlines()
    assert b'"n":1.2345678901234568e+29' in exported[0]
    res, _ = convert(tmp_path, src[0], "--big-int", "float", name="one.ndjson")
    assert "1 big integer stored as a float" in res.stderr
    res, _ = convert(tmp_path, src[2], name="none.ndjson")
    assert res.code == 0 and "big integer" not in res.stderr


def test_big_int_in_the_python_api(tmp_path: Path) -> None:
    text = b'{"id": 1,\n "n": ' + BIG + b"}"
    with pytest.raises(spooky_cli.BigIntError, match="big_int='float'") as exc:
        spooky_cli.record_from_json(text)
    assert (exc.value.line, exc.value.column) == (2, 7)
    assert spooky_cli.SpookyRecord(spooky_cli.record_from_json(text, big_int="float")).get(
        "n"
    ) == float(int(BIG))
    with pytest.raises(spooky_cli.BigIntError):
        spooky_cli.encode_value(BIG)
    assert spooky_cli.encode_value(BIG, big_int="float")[0] == spooky_cli.FieldType.F64

    path = tmp_path / "w.spky"
    line = text.replace(b"\n", b"")
    with (
        pytest.raises(spooky_cli.BigIntError, match=r"<data>:1:16: integer"),
        RecordFileWriter(path) as w,
    ):
        w.write_ndjson(line)
    with (
        pytest.raises(spooky_cli.TypeMismatch, match="big_int='float'"),
        RecordFileWriter(path) as w,
    ):
        w.write({"id": 1, "n": int(BIG)})
    with RecordFileWriter(path, big_int="float") as w:
        w.write_ndjson(line)
        w.write({"id": 2, "n": [int(BIG), -int(BIG)]})
    assert w.big_ints == 3
    with RecordFileReader(str(path)) as r:
        assert r.get(2).get("n") == [float(int(BIG)), -float(int(BIG))]
    with pytest.raises(ValueError, match="big_int must be 'error' or 'float'"):
        RecordFileWriter(tmp_path / "x.spky", big_int="round")
    assert sorted(os.listdir(tmp_path)) == ["w.spky"]


def test_array_error_positions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elements = [b'{"x": 1}', b'{"id": 2}', b'{"id": "\xc3\xa9", "y": tru}', b'{"id": [3]}']
    texts = {
        "lines.json": b"[\n  " + b",\n  ".join(elements) + b"\n]\n",
        "one.json": b"[" + b", ".join(elements) + b"]",
    }
    expected = {
        "lines.json": [
            '2:3: record has no field "id"',
            "4:20: invalid value",
            '5:4: key field "id" is not',
        ],
        "one.json": [
            '1:2: record has no field "id"',
            "1:40: invalid value",
            '1:47: key field "id" is not',
        ],
    }
    for chunk in (None, 8):  # one piece; a piece every few elements
        if chunk:
            monkeypatch.setattr(inputs, "CHUNK_BYTES", chunk)
        for name, text in texts.items():
            res, _ = convert(tmp_path, text, "--on-error", "skip", name=name)
            assert res.code == 0, res.stderr
            got = [line.split(f"{name}:")[1] for line in res.stderr.splitlines()[:-1]]
            assert len(got) == 3
            for where, want in zip(got, expected[name]):
                assert where.startswith(want), (chunk, name, where)


def test_many_bad_array_elements_are_quick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # each error's line and column were found from the start of its piece:
    # 20,000 key-less elements took 20 s as an array, 0.3 s as NDJSON
    from spooky_cli import render

    warned: list[str] = []
    monkeypatch.setattr(render, "warning", warned.append)  # rich's rendering is not the point
    objs = [{"x": i, "pad": "p" * 200} for i in range(20_000)] + [{"id": 1}]
    forms = {
        "bad.ndjson": lines(*objs),
        "lines.json": b"[\n" + b",\n".join(orjson.dumps(o) for o in objs) + b"\n]\n",
        "one.json": b"[" + b",".join(orjson.dumps(o) for o in objs) + b"]",
    }
    seconds = {}
    for name, text in forms.items():
        warned.clear()
        start = time.perf_counter()
        res, _ = convert(tmp_path, text, "--on-error", "skip", name=name)
        seconds[name] = time.perf_counter() - start
        assert res.code == 0 and "20,000 bad lines skipped" in res.stderr
        assert len(warned) == 20_000
    column = forms["one.json"].rindex(b'{"x":19999') + 1
    assert warned[-1].startswith(f'{tmp_path / "one.json"}:1:{column}: record has no field "id"')
    for name in ("lines.json", "one.json"):
        assert seconds[name] < 3 * seconds["bad.ndjson"] + 2, seconds


@pytest.mark.parametrize("form", ["ndjson", "array"])
def test_a_long_line_is_read_in_linear_time(tmp_path: Path, form: str) -> None:
    # A line of many reads used to be copied whole at every read (carried +
    # new bytes): quadratic. What is allocated between two reads, beyond what
    # is held, must stay near the read size, plus one copy of the line.
    import tracemalloc

    chunk, reads = 4096, 600
    long = orjson.dumps({"id": 1, "s": "é" * (chunk * reads // 2)})
    rest = [{"id": i, "pad": "x" * 100} for i in range(2, 200)]  # a few more reads
    text = long + b"\n" + lines(*rest)
    if form == "array":
        text = b"[" + long + b",\n" + b",\n".join(orjson.dumps(o) for o in rest) + b"]\n"
    path = tmp_path / "in.txt"
    path.write_bytes(text)
    transient = 0
    held = 0

    def advance(n: int) -> None:  # called after every read
        nonlocal transient, held
        current, peak = tracemalloc.get_traced_memory()
        transient += max(0, peak - held)
        tracemalloc.reset_peak()
        held = current

    tracemalloc.start()
    try:
        held = tracemalloc.get_traced_memory()[0]
        pieces = list(inputs.read_pieces(str(path), advance, chunk_bytes=chunk))
    finally:
        tracemalloc.stop()
    assert transient < 6 * len(long), (transient, len(long))
    assert b"".join(bytes(p.original or p.data) for p in pieces) == text
    assert len(pieces) >= 2 and pieces[0].line == 0 and pieces[1].line >= 1


def test_a_writer_after_abort_frees_its_core_and_refuses_more(tmp_path: Path) -> None:
    w = RecordFileWriter(tmp_path / "x.spky")
    w.write({"id": 1})
    w.abort()
    assert w._w is None  # the C writer and its spill file are freed at once
    with pytest.raises(spooky_cli.SpookyError, match="closed"):
        w.write({"id": 2})
    assert not (tmp_path / "x.spky").exists()


@pytest.mark.parametrize("name", ["cut.ndjson.gz", "cut.json.gz"])
def test_a_cut_gzip_says_where_it_stopped(tmp_path: Path, name: str) -> None:
    import zlib

    objs = [{"id": i, "pad": "x" * (i % 50)} for i in range(100_000)]
    if name.endswith(".json.gz"):
        text = b"[\n" + b",\n".join(orjson.dumps(o) for o in objs) + b"\n]\n"
    else:
        text = b"".join(orjson.dumps(o) + b"\n" for o in objs)
    packed = gzip.compress(text)
    cut = packed[: len(packed) // 2]
    got = zlib.decompressobj(31).decompress(cut)  # what a reader can get back
    line, column = got.count(b"\n") + 1, len(got) - (got.rfind(b"\n") + 1) + 1
    res, out = convert(tmp_path, cut, name=name)
    assert res.code == 2 and not out.exists()
    assert f"{name}:{line}:{column}: compressed input is cut short" in res.stderr, res.stderr


def test_a_folder_reads_its_json_files_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "b.jsonl").write_bytes(lines({"id": 2}))
    (folder / "a.ndjson").write_bytes(lines({"id": 1}))
    (folder / "c.json.gz").write_bytes(gzip.compress(b'[{"id": 3}]'))
    (folder / "d.ndjson.gz").write_bytes(gzip.compress(lines({"id": 4})))
    (folder / "notes.txt").write_bytes(b"not json")
    (folder / "sub.ndjson").mkdir()  # a folder is not a file to read
    out = tmp_path / "o.spky"
    res = run_cli("convert", str(folder), "-o", str(out))
    assert res.code == 0, res.stderr
    assert [k for k, _ in records_of(out)] == [1, 2, 3, 4]
    with RecordFileReader(out) as r:
        assert [k for k, _ in r] == [1, 2, 3, 4]  # file order: the files' name order
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli("convert", str(empty), "-o", str(tmp_path / "e.spky"))
    assert res.code == 2 and "a folder with no .ndjson" in res.stderr


def test_the_api_names_the_missing_key_field(tmp_path: Path) -> None:
    with (
        pytest.raises(
            spooky_cli.errors.RecordKeyError, match='no field "ts" \\(choose the key with key='
        ),
        RecordFileWriter(tmp_path / "k.spky", key="ts") as w,
    ):
        w.write({"id": 1})
