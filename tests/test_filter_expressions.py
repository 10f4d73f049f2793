"""Filter expressions, evaluated by the C core's compiled program, against the
oracle of their meaning (tests/expr_oracle.py): random expression trees
over random records, with missing fields, nulls, numbers across i64, u64
and f64, unicode strings, nested paths and [*]; then whole files, the
command line and `diff --where`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_runner import run_cli
from expr_oracle import evaluate
from hypothesis import given, settings
from hypothesis import strategies as st

from spooky_cli.expr import parse
from spooky_cli.filter import Filter, filter_file
from spooky_cli.reader import RecordFileReader
from spooky_cli.record import SpookyRecord
from spooky_cli.writer import RecordFileWriter

FIELDS = ["a", "b", "n", "s", "é x"]
KEYS = ["p", "q", "0"]

numbers = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(2**63, 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, -1, 0.0, -0.0, 1.0, 2**53, 2**53 + 1, float(2**63)]),
)
scalars = st.one_of(
    numbers,
    st.text(max_size=4),
    st.sampled_from(["", "Zürich", "eu-west", "x|y", "a\nb"]),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(KEYS), kids, max_size=3)
    ),
    max_leaves=6,
)
records = st.dictionaries(st.sampled_from(FIELDS), values, max_size=5)


def step_text(step: str | None, first: bool) -> str:
    if step is None:
        return "[*]"
    bare = step and all(c.isalnum() or c == "_" for c in step) and step.lower() not in KEYWORDS
    text = step if bare else orjson.dumps(step).decode()
    return text if first else "." + text


KEYWORDS = {
    "and",
    "or",
    "not",
    "in",
    "contains",
    "startswith",
    "endswith",
    "exists",
    "missing",
    "is",
    "null",
    "true",
    "false",
}


def path_text(path: tuple[str | None, ...]) -> str:
    return "".join(step_text(s, i == 0) for i, s in enumerate(path))


def literal_text(value: Any, quote: str) -> str:
    if isinstance(value, str) and quote == "'" and "'" not in value and "\\" not in value:
        return "'" + value + "'"
    return orjson.dumps(value).decode()


paths = st.tuples(
    st.sampled_from(FIELDS),
    st.lists(st.sampled_from([*KEYS, "1", None]), max_size=3),
).map(lambda t: (t[0], *t[1]))

comparisons = st.one_of(
    st.tuples(paths, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), scalars),
    st.tuples(paths, st.sampled_from(["in", "not in"]), st.lists(scalars, max_size=3)),
    st.tuples(paths, st.just("contains"), scalars),
    st.tuples(
        paths, st.sampled_from(["startswith", "endswith"]), st.sampled_from(["", "e", "Zü", "x"])
    ),
    st.tuples(
        paths, st.sampled_from(["exists", "missing", "is null", "is not null", "true"]), st.none()
    ),
)


@st.composite
def expressions(draw: Any, depth: int = 3) -> str:
    """Expression text, sometimes in single quotes, keywords in odd cases."""
    kind = draw(st.sampled_from(["test"] * 3 + (["and", "or", "not"] if depth else [])))
    if kind == "test":
        path, op, value = draw(comparisons)
        if op == "true":
            return path_text(path)
        shown = draw(st.sampled_from([op, op.upper()]))
        if value is None and op in ("exists", "missing", "is null", "is not null"):
            return f"{path_text(path)} {shown}"
        quote = draw(st.sampled_from(["'", '"']))
        return f"{path_text(path)} {shown} {literal_text(value, quote)}"
    if kind == "not":
        return f"not ({draw(expressions(depth - 1))})"
    items = draw(st.lists(expressions(depth - 1), min_size=2, max_size=3))
    word = draw(st.sampled_from([kind, kind.upper()]))
    return f" {word} ".join(f"({t})" for t in items)


def record_bytes(rec: dict) -> bytes:
    from spooky_cli.encode import serialize

    return serialize(rec)


@settings(max_examples=400)
@given(rec=records, text=expressions())
def test_expressions_match_the_oracle(rec: dict, text: str) -> None:
    flt = Filter([text])
    got = flt.matches(SpookyRecord(record_bytes(rec)))
    assert got == evaluate(parse(text), rec), (text, rec)


@settings(max_examples=100)
@given(
    rec=records, texts=st.lists(expressions(depth=1), min_size=1, max_size=3), any_=st.booleans()
)
def test_repeated_where_and_any(rec: dict, texts: list[str], any_: bool) -> None:
    want = (any if any_ else all)(evaluate(parse(t), rec) for t in texts)
    assert Filter(texts, any_=any_).matches(SpookyRecord(record_bytes(rec))) == want


@settings(max_examples=30)
@given(recs=st.lists(records, max_size=40), text=expressions())
def test_file_scans_match_the_oracle(tmp_path_factory: Any, recs: list[dict], text: str) -> None:
    tmp = tmp_path_factory.mktemp("x")
    rows = [{**r, "id": i} for i, r in enumerate(recs)]
    with RecordFileWriter(tmp / "in.spky") as w:
        if rows:
            w.write_many(rows)
    want = [r for r in rows if evaluate(parse(text), r)]
    out: list[bytes] = []
    with RecordFileReader(tmp / "in.spky") as r:
        assert filter_file(r, Filter([text]), write=out.append) == len(want)
    assert [orjson.loads(x)["id"] for x in b"".join(out).splitlines()] == [r["id"] for r in want]


@pytest.mark.parametrize(
    "text, ids",
    [
        ("age >= 30 and (city == 'Oslo' or vip)", [1, 4]),
        ("not vip and age < 40", [1, 3]),
        ("events[*].type == 'click'", [1, 2]),
        ("events[*].type != 'click'", [2, 3, 4]),  # some element other, or none (missing)
        ("events[*].type missing", [4]),
        ("tags[*] startswith 'eu'", [1]),
        ("city is null", [3, 4]),
        ("city is not null", [1, 2]),
        ("name endswith 'e'", [4]),
        ("vip", [4]),
        ("NOT vip AND NOT (city == 'Rome')", [1, 3]),
    ],
)
def test_the_command_line(tmp_path: Path, text: str, ids: list[int]) -> None:
    rows = [
        {
            "id": 1,
            "name": "Ann",
            "age": 30,
            "city": "Oslo",
            "vip": False,
            "tags": ["eu-west"],
            "events": [{"type": "click"}],
        },
        {
            "id": 2,
            "name": "Bob",
            "age": 41,
            "city": "Rome",
            "events": [{"type": "view"}, {"type": "click"}],
        },
        {
            "id": 3,
            "name": "Cy",
            "age": 25,
            "city": None,
            "tags": ["us"],
            "events": [{"type": "buy"}],
        },
        {"id": 4, "name": "Dee", "age": 33, "vip": True, "events": []},
    ]
    (tmp_path / "p.ndjson").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    run_cli("convert", str(tmp_path / "p.ndjson"), "-o", str(tmp_path / "p.spky"))
    res = run_cli("filter", str(tmp_path / "p.spky"), "-w", text)
    assert res.code == (0 if ids else 1), res.stderr
    assert [orjson.loads(x)["id"] for x in res.stdout.splitlines()] == ids
    assert [r["id"] for r in rows if evaluate(parse(text), r)] == ids  # the oracle agrees


def test_a_parse_error_shows_a_caret(tmp_path: Path) -> None:
    (tmp_path / "p.ndjson").write_bytes(b'{"id": 1, "age": 3}\n')
    run_cli("convert", str(tmp_path / "p.ndjson"), "-o", str(tmp_path / "p.spky"))
    res = run_cli("filter", str(tmp_path / "p.spky"), "-w", "age >= ")
    assert res.code == 2 and "Traceback" not in res.stderr
    assert res.stderr.splitlines()[-2:] == ["  age >= ", "         ^"]
    assert "value expected" in res.stderr


def test_an_unknown_top_level_field_stays_an_error(tmp_path: Path) -> None:
    (tmp_path / "p.ndjson").write_bytes(b'{"id": 1, "age": 3}\n')
    run_cli("convert", str(tmp_path / "p.ndjson"), "-o", str(tmp_path / "p.spky"))
    res = run_cli("filter", str(tmp_path / "p.spky"), "-w", "age > 1 or agee > 1")
    assert res.code == 2 and "unknown field 'agee'" in res.stderr


def test_the_program_is_checked_by_the_core() -> None:
    from spooky_cli._native import ffi, lib

    flt = Filter(["a == 1 and b == 2"])
    spec, _ = flt.spec()
    rec = SpookyRecord(record_bytes({"a": 1, "b": 2}))
    out = ffi.new("int *")
    assert lib.spooky_filter_match(rec._ptr, rec._len, spec, out) == 0 and out[0] == 1
    bad = ffi.new("spooky_expr_node[]", [(lib.SPOOKY_EXPR_NOT, 0, 0)])  # its own child: a cycle
    spec.nodes, spec.nnodes = bad, 1
    assert lib.spooky_filter_match(rec._ptr, rec._len, spec, out) == lib.SPOOKY_E_ARG
    deep = ffi.new(
        "spooky_expr_node[]", [(lib.SPOOKY_EXPR_NOT, i + 1, 0) for i in range(300)] + [(0, 0, 0)]
    )
    spec.nodes, spec.nnodes = deep, 301
    assert lib.spooky_filter_match(rec._ptr, rec._len, spec, out) == lib.SPOOKY_E_ARG  # too deep
