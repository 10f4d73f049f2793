"""--fields takes paths (export and filter): the kept part of a nested value is
nested as in the input, as jq would: objects keep the asked keys, arrays the
asked elements in index order; a value with nothing kept is left out. A
filter's record-file output is a convert of the same projection's export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_runner import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from spooky_cli.paths import parse_path, projection_trees

ROWS = [
    {"id": 1, "user": {"plan": "pro", "name": "A", "x": {"y": 1, "z": 2}}, "tags": ["a", "b", "c"]},
    {"id": 2, "user": {"name": "B"}, "tags": []},
    {"id": 3, "user": "not an object"},
    {"id": 4},
]


def spky_of(tmp: Path, rows: list[dict], name: str = "in") -> Path:
    (tmp / f"{name}.ndjson").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    assert (
        run_cli("convert", str(tmp / f"{name}.ndjson"), "-o", str(tmp / f"{name}.spky")).code == 0
    )
    return tmp / f"{name}.spky"


def lines(out: bytes) -> list[dict]:
    return [orjson.loads(x) for x in out.splitlines()]


def oracle(row: dict, fields: list[str]) -> dict:
    """The projection by its documented meaning, in plain Python."""
    tops, _ = projection_trees(fields)
    wanted = [parse_path(f) if "." in f else [f] for f in fields]

    def keep(value: Any, paths: list[list[str]]) -> tuple[bool, Any]:
        if any(not p for p in paths):
            return True, value  # kept whole
        if isinstance(value, dict):
            out = {}
            for step in dict.fromkeys(p[0] for p in paths):
                if step in value:
                    ok, v = keep(value[step], [p[1:] for p in paths if p[0] == step])
                    if ok:
                        out[step] = v
            return bool(out), out
        if isinstance(value, list):
            picked = sorted({int(p[0]) for p in paths if p[0].isdigit() and int(p[0]) < len(value)})
            out_list = []
            for i in picked:
                ok, v = keep(value[i], [p[1:] for p in paths if p[0].isdigit() and int(p[0]) == i])
                if ok:
                    out_list.append(v)
            return bool(out_list), out_list
        return False, None

    out = {}
    for top in tops:
        if top in row:
            ok, v = keep(row[top], [w[1:] for w in wanted if w[0] == top])
            if ok:
                out[top] = v
    return out


CASES = [
    ["id", "user.plan"],
    ["id", "user.x.z", "user.plan", "tags.2", "tags.0"],
    ["user.x", "user", "id"],  # the whole field wins
    ["tags.1", "user.name"],
]


@pytest.mark.parametrize("fields", CASES)
def test_export_and_filter_nest_the_kept_parts(tmp_path: Path, fields: list[str]) -> None:
    src = spky_of(tmp_path, ROWS)
    want = [oracle(r, fields) for r in ROWS]
    got = lines(run_cli("export", str(src), "--fields", ",".join(fields)).stdout)
    assert got == want
    assert [list(g) for g in got] == [list(w) for w in want]  # fields in the asked order
    res = run_cli("filter", str(src), "-w", "id >= 1", "--fields", ",".join(fields))
    assert lines(res.stdout) == want


@pytest.mark.parametrize("fields", CASES)
def test_a_filtered_record_file_is_a_convert_of_its_export(
    tmp_path: Path, fields: list[str]
) -> None:
    src = spky_of(tmp_path, ROWS)
    out = tmp_path / "out.spky"
    assert (
        run_cli(
            "filter", str(src), "-w", "id >= 1", "--fields", ",".join(fields), "-o", str(out)
        ).code
        == 0
    )
    assert run_cli("info", str(out), "--verify").code == 0
    shown = run_cli(
        "filter", str(src), "-w", "id >= 1", "--fields", ",".join([*fields, "id"])
    ).stdout
    again = spky_of(tmp_path, lines(shown), "again")
    assert out.read_bytes() == again.read_bytes()


@settings(max_examples=40)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "a": st.recursive(
                    st.integers(-5, 5) | st.text(max_size=3),
                    lambda kids: (
                        st.lists(kids, max_size=3)
                        | st.dictionaries(st.sampled_from("pqr"), kids, max_size=3)
                    ),
                    max_leaves=8,
                ),
                "b": st.integers(-(2**63), 2**63 - 1),
            },
        ),
        max_size=8,
    ),
    fields=st.lists(
        st.lists(st.sampled_from(["p", "q", "r", "0", "1", "2"]), max_size=3).map(
            lambda steps: ".".join(["a", *steps])
        )
        | st.just("b"),
        min_size=1,
        max_size=4,
    ),
)
def test_projections_match_the_oracle(tmp_path_factory, rows, fields) -> None:
    tmp = tmp_path_factory.mktemp("p")
    rows = [{"id": -1, "a": [], "b": 0}] + [{"id": i, **r} for i, r in enumerate(rows)]
    src = spky_of(tmp, rows)
    got = lines(run_cli("export", str(src), "--fields", ",".join(fields)).stdout)
    assert got == [oracle(r, fields) for r in rows]


def test_unknown_top_level_field_in_a_path(tmp_path: Path) -> None:
    src = spky_of(tmp_path, ROWS)
    res = run_cli("export", str(src), "--fields", "nope.x")
    assert res.code == 2 and "unknown field 'nope'" in res.stderr
