"""`spooky filter`: predicates against a pure-Python oracle of their meaning
(exact number comparisons across types, code-point string order, missing
fields), whole-file scans in every output form, the command's exit codes and
errors, damaged files."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import filebuilder as fb
import orjson
import pytest
import xxhash
from cli_runner import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from strict import same

from spooky_cli.encode import serialize
from spooky_cli.errors import RecordFileError, SpookyError
from spooky_cli.expr import Comparison, parse
from spooky_cli.filter import Filter, PredicateError, filter_file
from spooky_cli.reader import RecordFileReader
from spooky_cli.record import SpookyRecord
from spooky_cli.writer import RecordFileWriter

NAMES = ["a", "b", "n", "s", "x y"]
OPS = ["==", "!=", "<", "<=", ">", ">=", "exists", "missing", "in", "not in", "contains"]


# ---- the oracle ---------------------------------------------------------------------------


def kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "null" if v is None else "nested"


MISSING = object()


def lookup(rec: dict, field: str, path: tuple[str, ...] = ()) -> Any:
    """The value a path reaches (keys of objects; decimal digits also index
    arrays), or MISSING."""
    v = rec.get(field, MISSING)
    for step in path:
        if isinstance(v, dict) and step in v:
            v = v[step]
        elif (
            isinstance(v, list)
            and step.isdigit()
            and step.isascii()
            and (step == "0" or not step.startswith("0"))
            and int(step) < len(v)
        ):
            v = v[int(step)]
        else:
            return MISSING
    return v


def holds(rec: dict, field: str, op: str, literal: Any, path: tuple[str, ...] = ()) -> bool:
    """What a predicate means, from docs/CLI.md (Python compares int and float exactly)."""
    v = lookup(rec, field, path)
    if op == "exists":
        return v is not MISSING
    if op == "missing":
        return v is MISSING
    if v is MISSING:
        return op in ("!=", "not in")
    if op in ("in", "not in"):
        found = any(holds({"v": v}, "v", "==", item) for item in literal)
        return found if op == "in" else not found
    if op == "contains":
        if isinstance(v, str) and isinstance(literal, str):
            return literal in v
        return isinstance(v, list) and any(holds({"v": e}, "v", "==", literal) for e in v)
    if kind(v) == kind(literal) and kind(v) in ("number", "string"):
        c = (v > literal) - (v < literal)
        return {"==": c == 0, "!=": c != 0, "<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[op]
    equal = kind(v) == kind(literal) and same(v, literal)
    return {"==": equal, "!=": not equal}.get(op, False)


def matches(rec: dict, preds: list[tuple], any_: bool) -> bool:
    results = [holds(rec, *p) for p in preds]
    return any(results) if any_ else all(results)


def step_text(step: str) -> str:
    bare = step and not any(c.isspace() or c in '=!<>".' for c in step)
    return step if bare else orjson.dumps(step).decode()


def text_of(field: str, op: str, literal: Any, path: tuple[str, ...] = ()) -> str:
    name = ".".join(step_text(s) for s in (field, *path))
    if op in ("exists", "missing"):
        return f"{name} {op}"
    return f"{name} {op} {orjson.dumps(literal).decode()}"


# ---- strategies --------------------------------------------------------------------------

numbers = (
    st.integers(-(2**63), 2**64 - 1)
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.5, -0.0, 2.0**63, 2.0**64, -(2.0**63), 9007199254740993.0, 1e300])
)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=4)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner, max_size=2)
    ),
    max_leaves=4,
)
records = st.dictionaries(st.sampled_from(NAMES), values, max_size=5)
predicates = st.sampled_from(OPS).flatmap(
    lambda op: st.tuples(
        st.sampled_from(NAMES),
        st.just(op),
        st.lists(values, max_size=3) if op in ("in", "not in") else values,
    )
)


@settings(max_examples=300)
@given(rec=records, preds=st.lists(predicates, min_size=1, max_size=3), any_=st.booleans())
def test_matches_the_oracle(rec, preds, any_) -> None:
    flt = Filter([text_of(*p) for p in preds], any_=any_)
    assert flt.matches(SpookyRecord(serialize(rec))) == matches(rec, preds, any_)


@given(a=numbers, b=numbers, op=st.sampled_from(OPS[:6]))
def test_numbers_compare_exactly_across_types(a, b, op) -> None:
    rec = {"n": a}
    assert Filter([text_of("n", op, b)]).matches(SpookyRecord(serialize(rec))) == holds(
        rec, "n", op, b
    )


STEPS = ["k", "m", "0", "1", "x.y", "01"]
nested_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(STEPS), inner, max_size=3)
    ),
    max_leaves=8,
)
nested_records = st.dictionaries(st.sampled_from(["n", "s"]), nested_values, max_size=2)
path_predicates = st.sampled_from(OPS).flatmap(
    lambda op: st.tuples(
        st.sampled_from(["n", "s"]),
        st.just(op),
        st.lists(nested_values, max_size=3) if op in ("in", "not in") else nested_values,
        st.lists(st.sampled_from(STEPS), min_size=1, max_size=3).map(tuple),
    )
)


@settings(max_examples=300)
@given(rec=nested_records, preds=st.lists(path_predicates, min_size=1, max_size=2))
def test_paths_into_nested_values_match_the_oracle(rec, preds) -> None:
    flt = Filter([text_of(*p) for p in preds])
    assert flt.matches(SpookyRecord(serialize(rec))) == matches(rec, preds, False)


@given(data=st.data())
def test_a_path_reaches_what_the_oracle_reaches(data) -> None:
    """A walk down a random nested value: equality with the very value found
    there, whatever its type, and a path one step too far is missing."""
    top = data.draw(nested_values.filter(lambda v: isinstance(v, (dict, list)) and len(v) > 0))
    rec, path, cur = {"n": top}, [], top
    while isinstance(cur, (dict, list)) and cur:
        if isinstance(cur, dict):
            step = data.draw(st.sampled_from(sorted(cur)))
            cur = cur[step]
        else:
            step = str(data.draw(st.integers(0, len(cur) - 1)))
            cur = cur[int(step)]
        path.append(step)
        if not data.draw(st.booleans()):
            break
    record = SpookyRecord(serialize(rec))
    assert Filter([text_of("n", "==", cur, tuple(path))]).matches(record)
    assert Filter([text_of("n", "exists", None, tuple(path))]).matches(record)
    if not isinstance(cur, (dict, list)):
        assert Filter([text_of("n", "missing", None, (*path, "k"))]).matches(record)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("n.1 == 20", True),
        ("n.0 < 11", True),
        ("n.01 exists", False),  # not an index: leading zero
        ("n.3 exists", False),
        ("n.-1 exists", False),
        ("n.18446744073709551617 exists", False),
        ("n.99999999999999999999 exists", False),
        ("n.1.x exists", False),  # below a scalar
        ('m.01 == "a"', True),  # a key of an object, digits or not
        ("m.1 missing", True),
        ('m."x.y".z == null', True),
        ("m.x.y exists", False),
        ('s.k == "v"', False),  # s is a string: nothing below it
        ("s.k != 1", True),
    ],
)
def test_path_edges(text: str, want: bool) -> None:
    rec = {"n": [10, 20, 30], "m": {"01": "a", "x.y": {"z": None}}, "s": "k"}
    assert Filter([text]).matches(SpookyRecord(serialize(rec))) is want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("i in [3.0]", True),  # numbers by value, across types
        ('i in [2.5, "3"]', False),
        ("i not in [3.0]", False),
        ("f in [1, 0.5]", True),
        ("u in [18446744073709551615]", True),
        ("u in [1.8446744073709552e19]", False),  # 2**64 as a float: not 2**64 - 1
        ('s in ["k", 1]', True),
        ("z in [null]", True),
        ("z in [false, 0]", False),
        ("t in [[1, 2], {}]", True),
        ("t in [[2, 1]]", False),
        ("gone in [1, null]", False),
        ("gone not in [1]", True),
        ("i in []", False),
        ("i not in []", True),
    ],
)
def test_in_edges(text: str, want: bool) -> None:
    rec = {"i": 3, "f": 0.5, "u": 2**64 - 1, "s": "k", "z": None, "t": [1, 2]}
    assert Filter([text]).matches(SpookyRecord(serialize(rec))) is want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('t contains "a"', True),
        ("t contains 3.0", True),  # numbers by value
        ('t contains ["x"]', True),  # an element that is itself an array
        ('t contains "x"', False),  # not inside the element
        ('s contains "ell"', True),  # a part of a string
        ('s contains ""', True),
        ('s contains "L"', False),
        ('m contains "k"', False),  # objects contain nothing
        ('gone contains "a"', False),
        ("i contains 3", False),
    ],
)
def test_contains_edges(text: str, want: bool) -> None:
    rec = {"t": ["a", 3, ["x"]], "s": "hello", "m": {"k": 1}, "i": 3}
    assert Filter([text]).matches(SpookyRecord(serialize(rec))) is want


EDGES = [
    3,
    -3,
    0,
    2**53 + 1,
    2**63 - 1,
    -(2**63),
    2**63,
    2**64 - 1,
    3.5,
    -2.5,
    -3.0,
    0.0,
    -0.0,
    2.0**53,
    2.0**63,
    -(2.0**63),
    2.0**64,
    1e300,
    -1e300,
]


@pytest.mark.parametrize("a", EDGES)
def test_number_edges(a) -> None:
    rec = SpookyRecord(serialize({"n": a}))
    for b in EDGES:
        for op in OPS[:6]:
            got = Filter([text_of("n", op, b)]).matches(rec)
            assert got == holds({"n": a}, "n", op, b), (a, op, b)


# ---- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "op", "value"),
    [
        ("age >= 30", ("age",), ">=", 30),
        ("age>=30", ("age",), ">=", 30),
        ("age = 30", ("age",), "==", 30),
        ('city == "Oslo"', ("city",), "==", "Oslo"),
        ('"first name" != "A"', ("first name",), "!=", "A"),
        ('"a\\"b" < 1', ('a"b',), "<", 1),
        ("tags == [1, 2]", ("tags",), "==", [1, 2]),
        ("  email exists ", ("email",), "exists", None),
        ("email missing", ("email",), "missing", None),
        ("é <= -1.5e3", ("é",), "<=", -1500.0),
        ('user.name == "A"', ("user", "name"), "==", "A"),
        ("ev.0.t exists", ("ev", "0", "t"), "exists", None),
        ('"a.b"."c d" > 1', ("a.b", "c d"), ">", 1),
        ('c in ["a", 1]', ("c",), "in", ["a", 1]),
        ("c in[1]", ("c",), "in", [1]),
        ("c not  in [1]", ("c",), "not in", [1]),
        ("u.c not in []", ("u", "c"), "not in", []),
        ('t contains "a"', ("t",), "contains", "a"),
        ('t contains"a"', ("t",), "contains", "a"),
    ],
)
def test_parse(text: str, path: tuple, op: str, value: Any) -> None:
    """Today's predicates read as they did (spooky_cli/expr.py parses them now)."""
    node = parse(text)
    assert isinstance(node, Comparison)
    assert (node.path, node.op) == (path, op)
    assert (orjson.loads(node.value) if node.value else None) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a field expected"),
        ("age ~ 3", "and, or or the end expected"),
        ("age >=", "value expected"),
        ("city == Oslo", "quote strings: 'Oslo'"),
        ("age > 3 4", "and, or or the end expected"),
        ('"open > 3', "unterminated"),
        ("age exist", "and, or or the end expected"),
        ("user. == 1", "a field expected"),
        (".user == 1", "a field expected"),
        ("user.name == Ann", "quote strings: 'Ann'"),
        ('c in "a"', "in takes a list"),
        ("c in a", "quote strings"),
        ("c inside [1]", "and, or or the end expected"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(PredicateError, match=re.escape(message)):
        Filter([text])


def test_a_literal_the_core_refuses() -> None:
    with pytest.raises(PredicateError, match="n > 1e999"):
        Filter(["n > 1e999"])


# ---- whole files ----------------------------------------------------------------------


def write_file(path: Path, recs: list[dict], key: str = "id") -> Path:
    with RecordFileWriter(path, key=key) as w:
        if recs:
            w.write_many(recs)
    return path


def keyed(recs: list[dict]) -> list[dict]:
    return [{**r, "id": i} for i, r in enumerate(recs)]


@settings(max_examples=40)
@given(
    recs=st.lists(records, max_size=60),
    preds=st.lists(predicates, min_size=1, max_size=2),
    any_=st.booleans(),
)
def test_file_scans_match_the_oracle(tmp_path_factory, recs, preds, any_) -> None:
    tmp = tmp_path_factory.mktemp("f")
    recs = keyed(recs)
    src = write_file(tmp / "in.spky", recs)
    want = [r for r in recs if matches(r, preds, any_)]
    flt = Filter([text_of(*p) for p in preds], any_=any_)
    out: list[bytes] = []
    with RecordFileReader(src) as r:
        assert filter_file(r, flt, write=out.append) == len(want)
        got = [orjson.loads(line) for line in b"".join(out).splitlines()]
        assert len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
        assert filter_file(r, flt) == len(want)  # count only
        with RecordFileWriter(tmp / "out.spky", key="id") as w:
            filter_file(r, flt, writer=w)
    # the filtered record file is the one convert makes of the matching records,
    # exported (fields in the order they first appeared in the source)
    assert (tmp / "out.spky").read_bytes() == write_file(tmp / "want.spky", got).read_bytes()


@settings(max_examples=25)
@given(
    recs=st.lists(records, min_size=1, max_size=40),
    keep=st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True),
)
def test_projection(tmp_path_factory, recs, keep) -> None:
    tmp = tmp_path_factory.mktemp("p")
    recs = keyed([{**r, **{n: 0 for n in keep if i == 0}} for i, r in enumerate(recs)])
    src = write_file(tmp / "in.spky", recs)
    flt = Filter(["id >= 0"])
    out: list[bytes] = []
    with RecordFileReader(src) as r:
        filter_file(r, flt, fields=keep, write=out.append)
        with RecordFileWriter(tmp / "out.spky", key="id") as w:
            filter_file(r, flt, fields=keep, writer=w)
    got = [orjson.loads(line) for line in b"".join(out).splitlines()]
    want = [{n: r[n] for n in keep if n in r} for r in recs]
    assert all(list(g) == list(w) and same(g, w) for g, w in zip(got, want))
    with_key = [{n: r[n] for n in [*keep, "id"] if n in r} for r in recs]
    assert (tmp / "out.spky").read_bytes() == write_file(tmp / "want.spky", with_key).read_bytes()


# ---- the command --------------------------------------------------------------------------

PEOPLE = [
    {"id": 1, "name": "Ann", "age": 30, "city": "Oslo"},
    {"id": 2, "name": "Bob", "age": 41.5, "city": "Rome"},
    {"id": 3, "name": "Cy", "age": 25, "email": "cy@x.org"},
    {"id": 4, "name": "Dee", "age": 33, "city": "Oslo"},
]


@pytest.fixture
def people(tmp_path: Path) -> Path:
    return write_file(tmp_path / "people.spky", PEOPLE)


def ids(out: bytes) -> list[int]:
    return [orjson.loads(line)["id"] for line in out.splitlines()]


def test_cli_ndjson_and_exit_codes(people: Path) -> None:
    res = run_cli("filter", str(people), "-w", "age >= 30", "-w", 'city == "Oslo"')
    assert res.code == 0, res.stderr
    assert ids(res.stdout) == [1, 4]
    assert "2 of 4 records matched" in res.stderr
    res = run_cli("filter", str(people), "-w", "age > 100")
    assert res.code == 1 and res.stdout == b""


def test_cli_any_count_fields(people: Path) -> None:
    res = run_cli("filter", str(people), "--any", "-w", "email exists", "-w", "age > 40", "--count")
    assert res.code == 0 and res.stdout == b"2\n"
    res = run_cli("filter", str(people), "-w", "city missing", "--fields", "name,age")
    assert res.stdout == b'{"name":"Cy","age":25}\n'
    res = run_cli("filter", str(people), "-w", 'city != "Oslo"', "-q")
    assert ids(res.stdout) == [2, 3] and res.stderr == ""


def test_cli_record_file_output(people: Path, tmp_path: Path) -> None:
    out = tmp_path / "oslo.spky"
    res = run_cli("filter", str(people), "-w", 'city == "Oslo"', "-o", str(out))
    assert res.code == 0, res.stderr
    with RecordFileReader(out) as r:
        assert r.key_field == "id" and list(r.keys()) == [1, 4]
    res = run_cli("filter", str(people), "-w", 'city == "Oslo"', "--format", "spky", "-o", "-")
    assert res.stdout == out.read_bytes()
    plain = tmp_path / "oslo.txt"
    res = run_cli(
        "filter", str(people), "-w", 'city == "Oslo"', "--format", "spky", "-o", str(plain)
    )
    assert plain.read_bytes() == out.read_bytes()


def test_cli_errors(people: Path, tmp_path: Path) -> None:
    res = run_cli("filter", str(people))
    assert res.code == 2 and "--where" in res.stderr
    res = run_cli("filter", str(people), "-w", "agee > 3")
    assert res.code == 2 and "unknown field 'agee'" in res.stderr and "age" in res.stderr
    res = run_cli("filter", str(people), "-w", "name == Ann")
    assert res.code == 2 and "quote strings: 'Ann'" in res.stderr and res.stderr.endswith("^\n")
    res = run_cli("filter", str(people), "-w", "age > 3", "--fields", "nope")
    assert res.code == 2 and "unknown field 'nope'" in res.stderr
    res = run_cli("filter", str(tmp_path / "none.spky"), "-w", "age > 3")
    assert res.code == 2 and "none.spky" in res.stderr


def test_a_damaged_block_leaves_no_output(people: Path, tmp_path: Path) -> None:
    with RecordFileReader(people) as r:
        block = r.blocks()[0]
    data = bytearray(people.read_bytes())
    data[block.payload_offset + 5] ^= 0xFF
    bad = tmp_path / "bad.spky"
    bad.write_bytes(bytes(data))
    out = tmp_path / "out.spky"
    out.write_bytes(b"keep me")
    res = run_cli("filter", str(bad), "-w", "age > 3", "-o", str(out))
    assert res.code == 2 and "checksum" in res.stderr and "bad.spky" in res.stderr
    assert out.read_bytes() == b"keep me"
    with RecordFileReader(bad) as r, pytest.raises(RecordFileError):
        filter_file(r, Filter(["age > 3"]))


@settings(max_examples=60)
@given(data=st.data())
def test_byte_flips_never_crash(tmp_path_factory, data) -> None:
    tmp = tmp_path_factory.mktemp("f")
    recs = keyed([{"v": i * 0.5, "s": "x" * (i % 4), "n": [i, {"k": i}]} for i in range(40)])
    raw = bytearray(write_file(tmp / "a.spky", recs).read_bytes())
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= data.draw(st.integers(1, 255))
    bad = tmp / "bad.spky"
    bad.write_bytes(bytes(raw))
    try:
        with RecordFileReader(bad) as r:
            flt = Filter(["v >= 3", "n exists", "n.1.k >= 2"], any_=True)
            filter_file(r, flt, fields=["s", "n"], write=lambda _: None)
    except SpookyError:
        pass


def test_a_record_file_on_stdin(people: Path) -> None:
    res = run_cli("filter", "-", "-w", "age >= 30", "--count", input=people.read_bytes())
    assert res.code == 0 and res.stdout == b"3\n"
    res = run_cli("export", "-", input=people.read_bytes())
    assert ids(res.stdout) == [1, 2, 3, 4]


def one_nested_field(name: str, cbor: bytes) -> bytes:
    """A record whose only field holds these bytes as a nested value (no check)."""
    h = xxhash.xxh64_intdigest(name.encode())
    return struct.pack("<I", 1) + bytes(16) + struct.pack("<QIIB3x", h, 40, len(cbor), 5) + cbor


@settings(max_examples=300)
@given(
    data=st.data(),
    path=st.lists(st.sampled_from(STEPS), min_size=1, max_size=3).map(tuple),
    op=st.sampled_from(OPS),
)
def test_paths_through_damaged_cbor_never_crash(data, path, op) -> None:
    """Nested bytes that are not (valid) CBOR: a clean answer or a clean
    error, never a read outside them (the sanitizer run checks)."""
    if data.draw(st.booleans()):
        raw = data.draw(st.binary(max_size=40))
    else:
        raw = bytearray(serialize({"n": data.draw(nested_values)})[40:])
        if raw:
            at = data.draw(st.integers(0, len(raw) - 1))
            raw[at] ^= data.draw(st.integers(1, 255))
        raw = bytes(raw[: data.draw(st.integers(0, len(raw)))])
    rec = SpookyRecord(one_nested_field("n", raw))
    try:
        Filter([text_of("n", op, [1, "k"] if "in" in op else 1, path)]).matches(rec)
    except SpookyError:
        pass


# ---- a record file out: every copied record is checked -------------------------------------

DAMAGED = [{"id": i, "name": f"n{i}", "score": i + 0.5, "tags": [i, "x"]} for i in range(5)]


@pytest.mark.parametrize(
    ("how", "name", "message"),
    [
        ("cbor", "tags", "nested field is not valid CBOR"),
        ("utf8", "name", "string field is not UTF-8"),
        ("nan", "score", "float field is NaN or infinite"),
        ("inf", "score", "float field is NaN or infinite"),
    ],
)
def test_a_bad_value_is_not_copied_into_a_record_file(
    tmp_path: Path, how: str, name: str, message: str
) -> None:
    built = fb.build(DAMAGED, mangle=fb.spoil(2, name, how))
    bad = tmp_path / "bad.spky"
    bad.write_bytes(built.data)
    where = f"bad.spky: {message} (at byte {fb.value_offset(built, 2, name)})"
    assert where in run_cli("info", str(bad), "--verify").stderr  # what verify sees
    out = tmp_path / "out.spky"
    for extra in ([], ["--fields", f"{name},id"]):
        res = run_cli("filter", str(bad), "-w", "id >= 0", "-o", str(out), *extra)
        assert res.code == 2 and where in res.stderr, res.stderr
        assert not out.exists()
        res = run_cli("filter", str(bad), "-w", "id >= 0", *extra)  # NDJSON: the same error
        assert res.code == 2 and where in res.stderr, res.stderr
    # a projection without the bad field copies nothing bad
    res = run_cli("filter", str(bad), "-w", "id >= 0", "-o", str(out), "--fields", "id")
    assert res.code == 0, res.stderr
    assert run_cli("info", str(out), "--verify").code == 0
    # records that do not match are not copied, so not checked
    res = run_cli("filter", str(bad), "-w", "id != 2", "-o", str(out))
    assert res.code == 0 and run_cli("info", str(out), "--verify").code == 0


def test_a_wrong_stored_key_is_not_copied_into_a_record_file(tmp_path: Path) -> None:
    built = fb.build(DAMAGED)
    at = built.record_offsets[2] - 9  # the key of id 2 in its block: made that of id 3
    data = fb.rechecksum_block(fb.patch(built.data, at, fb.sort_form(3)), built.block_offsets[0])
    bad = tmp_path / "bad.spky"
    bad.write_bytes(data)
    where = f"bad.spky: stored key differs from the key field (at byte {at})"
    assert where in run_cli("info", str(bad), "--verify").stderr
    out = tmp_path / "out.spky"
    res = run_cli("filter", str(bad), "-w", "id >= 0", "-o", str(out))
    assert res.code == 2 and where in res.stderr, res.stderr
    assert not out.exists()


def test_a_big_integer_literal_says_to_write_a_float() -> None:
    with pytest.raises(PredicateError, match=r"write it as a float: 1\.2345678901234568e\+29"):
        Filter(["n == 123456789012345678901234567890"])
    with pytest.raises(PredicateError, match="write it as a float"):
        Filter(["n in [1, 123456789012345678901234567890]"])
    assert Filter(["n == 1.2345678901234568e+29"]).comparisons


def test_a_path_no_record_has_warns(tmp_path: Path) -> None:
    rows = [{"id": i, "address": {"city": "Oslo"} if i == 7 else {}} for i in range(9)]
    people = write_file(tmp_path / "p.spky", rows)
    res = run_cli("filter", str(people), "-w", 'address.cty == "x"')
    assert res.code == 1
    assert "warning: no record has address.cty (in --where)" in res.stderr
    res = run_cli("filter", str(people), "-w", 'address.city == "x"')
    assert res.code == 1 and "warning" not in res.stderr  # one record has it, none matched
    res = run_cli("filter", str(people), "-w", "nope.x == 1")
    assert res.code == 2 and "unknown field 'nope'" in res.stderr  # a top-level typo


def test_an_empty_file_matches_nothing(tmp_path: Path) -> None:
    (tmp_path / "e.ndjson").write_bytes(b"")
    assert run_cli("convert", str(tmp_path / "e.ndjson"), "-o", str(tmp_path / "e.spky")).code == 0
    for extra in ([], ["--fields", "a,b"], ["--count"], ["-o", str(tmp_path / "o.spky")]):
        res = run_cli("filter", str(tmp_path / "e.spky"), "-w", "age > 3", *extra)
        assert res.code == 1, (extra, res.stderr)
        assert "error" not in res.stderr
