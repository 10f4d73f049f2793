"""spooky apply: round trips through diff and merge's change streams, and
every misfit."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_runner import run_cli
from hypothesis import given
from hypothesis import strategies as st

Record = dict[str, Any]


def ndjson(records: list[Record]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def convert(folder: Path, name: str, records: list[Record], key: str = "id") -> Path:
    (folder / f"{name}.ndjson").write_bytes(ndjson(records))
    out = folder / f"{name}.spky"
    res = run_cli("convert", str(folder / f"{name}.ndjson"), "-o", str(out), "--key", key)
    assert res.code == 0, res.stderr
    return out


def export(path: Path) -> list[Record]:
    res = run_cli("export", str(path))
    assert res.code == 0, res.stderr
    return [orjson.loads(x) for x in res.stdout.splitlines()]


values = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.text("ab", max_size=2),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.lists(st.integers(0, 2), max_size=2),
)


@st.composite
def record(draw: Any, id_: int) -> Record:
    """Fields in one order, c only sometimes: every file's field order is then
    the one apply writes."""
    r = {"id": id_, "a": draw(values), "b": draw(values)}
    if draw(st.booleans()):
        r["c"] = draw(values)
    return r


@st.composite
def old_and_new(draw: Any) -> tuple[list[Record], list[Record]]:
    ids = draw(st.lists(st.integers(0, 20), unique=True, max_size=10))
    old = [draw(record(i)) for i in ids]
    new = []
    for r in old:
        fate = draw(st.sampled_from(["keep", "change", "remove"]))
        if fate == "keep":
            new.append(r)
        elif fate == "change":
            new.append(draw(record(r["id"])))
    added = draw(st.lists(st.integers(21, 40), unique=True, max_size=5))
    new += [draw(record(i)) for i in sorted(added)]  # diff lists them in key order
    return old, new


@given(old_and_new())
def test_apply_of_a_diff_gives_new(case: Any) -> None:
    old, new = case
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        a, b = convert(d, "old", old), convert(d, "new", new)
        diff = run_cli("diff", str(a), str(b), "--format", "ndjson", "-o", str(d / "d.ndjson"))
        assert diff.code in (0, 1), diff.stderr
        res = run_cli("apply", str(a), str(d / "d.ndjson"), "-o", str(d / "out.spky"))
        assert res.code == 0, res.stderr
        assert (d / "out.spky").read_bytes() == b.read_bytes()


@pytest.mark.parametrize("form", ["debezium", "dbsp"])
@given(old_and_new(), st.booleans())
def test_apply_of_merge_changes_gives_its_output(form: str, case: Any, versions: bool) -> None:
    store, batch = case
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        s = convert(d, "store", store)
        (d / "batch.ndjson").write_bytes(ndjson(batch))
        extra = ["--version-field", "a"] if versions else ["--delete-missing"]
        res = run_cli(
            "merge", str(s), str(d / "batch.ndjson"), "-o", str(d / "merged.spky"),
            "--changes", str(d / "c.ndjson"), "--changes-format", form, *extra,
        )  # fmt: skip
        assert res.code == 0, res.stderr
        res = run_cli("apply", str(s), str(d / "c.ndjson"), "-o", str(d / "out.spky"))
        assert res.code == 0, res.stderr
        assert (d / "out.spky").read_bytes() == (d / "merged.spky").read_bytes()


# -- misfits ----------------------------------------------------------------------------------

OLD = [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}]


@pytest.fixture
def old(tmp_path: Path) -> Path:
    return convert(tmp_path, "old", OLD)


MISFITS = {
    "update of absent": ({"op": "update", "key": 9, "after": {"id": 9, "n": "z"}}, "absent"),
    "delete of absent": ({"op": "delete", "key": 9}, "absent"),
    "dbsp delete of absent": ({"delete": {"id": 9, "n": "z"}}, "absent"),
    "insert of present": ({"op": "insert", "key": 1, "after": {"id": 1, "n": "x"}}, "already"),
    "dbsp insert of present": ({"insert": {"id": 1, "n": "x"}}, "already"),
    "diff added present": ({"op": "added", "key": 2, "record": {"id": 2, "n": "x"}}, "already"),
    "before differs": (
        {"op": "update", "key": 1, "before": {"id": 1, "n": "X"}, "after": {"id": 1, "n": "y"}},
        "before",
    ),
    "dbsp delete differs": ({"delete": {"id": 1, "n": "X"}}, "before"),
    "diff removed differs": ({"op": "removed", "key": 1, "record": {"id": 1}}, "before"),
    "diff changed old differs": (
        {"op": "changed", "key": 1, "fields": {"n": {"old": "X", "new": "y"}}},
        "old value",
    ),
    "diff changed of absent": (
        {"op": "changed", "key": 9, "fields": {"n": {"old": "X", "new": "y"}}},
        "absent",
    ),
}


@pytest.mark.parametrize("name", MISFITS)
def test_a_misfit_is_an_error_naming_its_line(old: Path, name: str) -> None:
    change, said = MISFITS[name]
    fine = {"op": "update", "key": 2, "after": {"id": 2, "n": "B"}}
    stream = old.parent / "c.ndjson"
    stream.write_bytes(ndjson([fine, change]))
    out = old.parent / "out.spky"
    res = run_cli("apply", str(old), str(stream), "-o", str(out))
    assert res.code == 2
    assert "c.ndjson:2:" in res.stderr and said in res.stderr, res.stderr
    assert not out.exists()
    forced = run_cli("apply", str(old), str(stream), "-o", str(out), "--force")
    assert forced.code == 0, forced.stderr
    assert "1 misfit forced" in forced.stderr


def test_force_plays_misfits_as_far_as_they_go(old: Path) -> None:
    stream = old.parent / "c.ndjson"
    stream.write_bytes(
        ndjson(
            [
                {"op": "insert", "key": 1, "after": {"id": 1, "n": "replaced"}},
                {"op": "update", "key": 7, "after": {"id": 7, "n": "inserted"}},
                {"op": "delete", "key": 8},
            ]
        )
    )
    res = run_cli("apply", str(old), str(stream), "-o", str(old.parent / "o.spky"), "--force")
    assert res.code == 0, res.stderr
    assert export(old.parent / "o.spky") == [
        {"id": 1, "n": "replaced"},
        {"id": 2, "n": "b"},
        {"id": 7, "n": "inserted"},
    ]


def test_not_a_change_is_an_error(old: Path) -> None:
    stream = old.parent / "c.ndjson"
    stream.write_bytes(b'{"op":"update","key":1,"after":{"id":1}}\n{"what":1}\n')
    res = run_cli("apply", str(old), str(stream), "-o", str(old.parent / "o.spky"))
    assert res.code == 2
    assert "c.ndjson:2: not a change" in res.stderr


@pytest.mark.parametrize(
    "line",
    [
        b'{"op":"update","key":1,"after":{"id":2,"n":"x"}}',
        b'{"op":"added","key":5,"record":{"id":6}}',
        b'{"op":"insert","key":[1,2],"after":{"id":1}}',
        b'{"insert":{"n":"no key"}}',
    ],
)
def test_a_change_whose_key_does_not_fit_is_an_error(old: Path, line: bytes) -> None:
    (old.parent / "c.ndjson").write_bytes(line + b"\n")
    res = run_cli("apply", str(old), str(old.parent / "c.ndjson"), "-o", str(old.parent / "o.spky"))
    assert res.code == 2
    assert "c.ndjson:1: not a change" in res.stderr, res.stderr


def test_several_changes_of_one_key_play_in_order(old: Path) -> None:
    stream = old.parent / "c.ndjson"
    stream.write_bytes(
        ndjson(
            [
                {"delete": {"id": 1, "n": "a"}},
                {"insert": {"id": 1, "n": "a2"}},
                {"op": "insert", "key": 5, "after": {"id": 5, "n": "new"}},
                {"op": "update", "key": 5, "after": {"id": 5, "n": "newer"}},
                {"op": "insert", "key": 6, "after": {"id": 6}},
                {"op": "delete", "key": 6},
            ]
        )
    )
    res = run_cli("apply", str(old), str(stream), "-o", str(old.parent / "o.spky"))
    assert res.code == 0, res.stderr
    assert export(old.parent / "o.spky") == [
        {"id": 1, "n": "a2"},
        {"id": 2, "n": "b"},
        {"id": 5, "n": "newer"},
    ]


def test_a_composite_key_round_trip(tmp_path: Path) -> None:
    old = [{"t": "a", "u": {"id": 1}, "n": 1}, {"t": "b", "u": {"id": 1}, "n": 2}]
    new = [{"t": "b", "u": {"id": 1}, "n": 3}, {"t": "c", "u": {"id": 2}, "n": 4}]
    a = convert(tmp_path, "old", old, "t,u.id")
    b = convert(tmp_path, "new", new, "t,u.id")
    for form in ("debezium", "dbsp"):
        (tmp_path / "batch.ndjson").write_bytes(ndjson(new))
        res = run_cli(
            "merge", str(a), str(tmp_path / "batch.ndjson"), "-o", str(tmp_path / "m.spky"),
            "--delete-missing", "--changes", str(tmp_path / "c.ndjson"), "--changes-format", form,
        )  # fmt: skip
        assert res.code == 0, res.stderr
        assert (tmp_path / "m.spky").read_bytes() == b.read_bytes()
        res = run_cli("apply", str(a), str(tmp_path / "c.ndjson"), "-o", str(tmp_path / "o.spky"))
        assert res.code == 0, res.stderr
        assert (tmp_path / "o.spky").read_bytes() == b.read_bytes()


def test_an_output_that_is_an_input_is_refused(old: Path) -> None:
    stream = old.parent / "c.ndjson"
    stream.write_bytes(ndjson([{"op": "delete", "key": 1}]))
    before = old.read_bytes()
    for out in (old, stream):
        res = run_cli("apply", str(old), str(stream), "-o", str(out))
        assert res.code == 2
        assert "same file" in res.stderr, res.stderr
    assert old.read_bytes() == before
