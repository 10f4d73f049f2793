"""Records come back with their fields in the order the names first appeared
in the input (record files of format 2 keep that order in their footer), in
export, get, filter and diff; the order is worked out once per schema."""

from __future__ import annotations

import struct
from pathlib import Path

import filebuilder as fb
import orjson
import pytest
from cli_runner import run_cli

from spooky_cli.reader import RecordFileReader

ROWS = [
    {"id": 1, "zeta": "z", "alpha": 1, "mid": [1, {"b": 1, "a": 2}]},
    {"id": 2, "zeta": "y", "alpha": 2, "mid": None, "late": True},
    {"late": False, "id": 3, "alpha": 3},  # known names keep their first places
]


def ndjson(rows: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


@pytest.fixture
def spky(tmp_path: Path) -> Path:
    (tmp_path / "in.ndjson").write_bytes(ndjson(ROWS))
    assert run_cli("convert", str(tmp_path / "in.ndjson"), "-o", str(tmp_path / "a.spky")).code == 0
    return tmp_path / "a.spky"


def keys_of(line: bytes) -> list[str]:
    return list(orjson.loads(line))


def test_export_writes_fields_in_input_order(spky: Path) -> None:
    lines = run_cli("export", str(spky)).stdout.splitlines()
    assert [keys_of(x) for x in lines] == [
        ["id", "zeta", "alpha", "mid"],
        ["id", "zeta", "alpha", "mid", "late"],
        ["id", "alpha", "late"],
    ]


def test_convert_of_an_export_is_byte_identical(spky: Path, tmp_path: Path) -> None:
    (tmp_path / "e.ndjson").write_bytes(run_cli("export", str(spky)).stdout)
    assert run_cli("convert", str(tmp_path / "e.ndjson"), "-o", str(tmp_path / "b.spky")).code == 0
    assert (tmp_path / "b.spky").read_bytes() == spky.read_bytes()


def test_get_filter_and_diff_use_the_order(spky: Path, tmp_path: Path) -> None:
    assert keys_of(run_cli("get", str(spky), "2", "--compact").stdout) == [
        "id",
        "zeta",
        "alpha",
        "mid",
        "late",
    ]
    out = run_cli("filter", str(spky), "-w", "alpha >= 2").stdout.splitlines()
    assert [keys_of(x) for x in out] == [
        ["id", "zeta", "alpha", "mid", "late"],
        ["id", "alpha", "late"],
    ]
    (tmp_path / "none.ndjson").write_bytes(b"")
    run_cli("convert", str(tmp_path / "none.ndjson"), "-o", str(tmp_path / "none.spky"))
    res = run_cli("diff", str(tmp_path / "none.spky"), str(spky), "--format", "ndjson")
    assert [keys_of(orjson.dumps(orjson.loads(x)["record"])) for x in res.stdout.splitlines()][
        0
    ] == [
        "id",
        "zeta",
        "alpha",
        "mid",
    ]


def test_filter_to_a_record_file_is_a_convert_of_its_export(spky: Path, tmp_path: Path) -> None:
    for extra in ([], ["--fields", "alpha,zeta"]):
        out = tmp_path / "f.spky"
        assert run_cli("filter", str(spky), "-w", "alpha >= 2", "-o", str(out), *extra).code == 0
        exported = run_cli("filter", str(spky), "-w", "alpha >= 2", *extra).stdout
        if extra:  # the record file keeps the key too, after the projection
            exported = ndjson(
                [{**orjson.loads(x), "id": i} for x, i in zip(exported.splitlines(), (2, 3))]
            )
        (tmp_path / "x.ndjson").write_bytes(exported)
        run_cli("convert", str(tmp_path / "x.ndjson"), "-o", str(tmp_path / "x.spky"))
        assert out.read_bytes() == (tmp_path / "x.spky").read_bytes(), extra


def test_many_schemas_each_in_order(tmp_path: Path) -> None:
    """More schemas than the cache holds, interleaved: every record right."""
    names = [f"f{i}" for i in range(30)]
    rows = [{"id": i, **{names[(i * 7 + k) % 30]: k for k in range(1 + i % 5)}} for i in range(200)]
    (tmp_path / "in.ndjson").write_bytes(ndjson(rows))
    run_cli("convert", str(tmp_path / "in.ndjson"), "-o", str(tmp_path / "m.spky"))
    first: dict[str, int] = {}
    for r in rows:
        for n in r:
            first.setdefault(n, len(first))
    got = [orjson.loads(x) for x in run_cli("export", str(tmp_path / "m.spky")).stdout.splitlines()]
    assert got == rows
    assert all(list(g) == sorted(r, key=first.__getitem__) for g, r in zip(got, rows))


def test_on_duplicate_last_keeps_the_names_of_live_records(tmp_path: Path) -> None:
    rows = [{"id": 1, "gone": 1}, {"id": 2, "b": 1, "a": 2}, {"id": 1, "a": 3}]
    (tmp_path / "in.ndjson").write_bytes(ndjson(rows))
    out = tmp_path / "d.spky"
    assert (
        run_cli(
            "convert", str(tmp_path / "in.ndjson"), "-o", str(out), "--on-duplicate", "last"
        ).code
        == 0
    )
    with RecordFileReader(out) as r:
        assert sorted(n.name for n in r.names) == ["a", "b", "id"]  # no "gone"
    lines = run_cli("export", str(out)).stdout.splitlines()
    assert [keys_of(x) for x in lines] == [["id", "b", "a"], ["id", "a"]]


def test_format_1_files_read_in_hash_order(tmp_path: Path) -> None:
    built = fb.build(ROWS, version=1)
    (tmp_path / "v1.spky").write_bytes(built.data)
    assert run_cli("info", str(tmp_path / "v1.spky"), "--verify").code == 0
    lines = run_cli("export", str(tmp_path / "v1.spky")).stdout.splitlines()
    assert [orjson.loads(x) for x in lines] == ROWS  # same values, fields in hash order


def test_a_name_order_that_is_not_an_order_is_refused(tmp_path: Path) -> None:
    built = fb.build(ROWS, version=2)
    at = built.footer_payload_offset + built.sections["order"]
    bad = fb.patch(built.data, at, struct.pack("<I", 0) * 2)  # a position twice
    (tmp_path / "bad.spky").write_bytes(
        fb.with_footer(built, bad[built.footer_payload_offset : -32])
    )
    res = run_cli("info", str(tmp_path / "bad.spky"))
    assert res.code == 2 and "name order is not an order of the names" in res.stderr
