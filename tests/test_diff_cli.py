"""`spooky diff` on the command line as CI uses it: Markdown against golden
files, --stat-file, inputs in any mix of NDJSON/JSON/.gz/stdin and record
files (identical results), --where against the expression oracle, and bad
input as one line and exit 2."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_runner import run_cli
from conftest import FIXTURES
from expr_oracle import evaluate
from hypothesis import given, settings
from hypothesis import strategies as st
from test_diff import assert_same_diffs, file_pairs, int_keys, parse_ndjson, write_file
from test_diff import oracle as plain_oracle
from test_filter_expressions import FIELDS, expressions, records

from spooky_cli.expr import parse
from spooky_cli.keys import key_to_sort_form

DIFF = FIXTURES / "diff"


def ndjson(records: dict[Any, dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records.values())


# ---- Markdown against golden files ------------------------------------------------------


@pytest.mark.parametrize(
    "args,golden",
    [
        (["--tolerance", "0.001"], "report.md"),
        (["--limit", "2"], "report-limit-2.md"),
    ],
)
def test_markdown_matches_the_golden_file(args: list[str], golden: str) -> None:
    res = run_cli(
        "diff", str(DIFF / "old.ndjson"), str(DIFF / "new.ndjson"), "--format", "markdown", *args
    )
    assert res.code == 1, res.stderr
    assert res.stdout == (DIFF / golden).read_bytes()


def test_markdown_rows_never_break() -> None:
    """Every row of a table has its four (or two) unescaped cell borders."""
    out = (DIFF / "report.md").read_text()
    for line in out.splitlines():
        if line.startswith("|"):
            borders = line.replace("\\|", "").count("|")
            assert borders in (3, 5), line


def test_markdown_when_nothing_differs(tmp_path: Path) -> None:
    a = DIFF / "old.ndjson"
    res = run_cli("diff", str(a), str(a), "--format", "markdown")
    assert res.code == 0
    assert res.stdout.decode().endswith("\nNo differences.\n")


# ---- --format json, --summary, --stat-file ------------------------------------------------


def test_json_document_and_ndjson_lines_on_the_command_line(tmp_path: Path) -> None:
    a, b = str(DIFF / "old.ndjson"), str(DIFF / "new.ndjson")
    doc = orjson.loads(run_cli("diff", a, b, "--format", "json").stdout)
    lines = parse_ndjson(run_cli("diff", a, b, "--format", "ndjson").stdout)
    assert doc["changes"] == lines
    assert doc["summary"] == {"added": 1, "removed": 1, "changed": 4, "unchanged": 1}


def test_stat_file_beside_every_output(tmp_path: Path) -> None:
    a, b = str(DIFF / "old.ndjson"), str(DIFF / "new.ndjson")
    stat = tmp_path / "stat.json"
    for args in (["--format", "markdown"], ["-q"], ["--summary"], ["--format", "json"]):
        stat.unlink(missing_ok=True)
        res = run_cli("diff", a, b, "--stat-file", str(stat), "--rel-tolerance", "0.01", *args)
        assert res.code == 1, res.stderr
        assert orjson.loads(stat.read_bytes()) == {
            "added": 1,
            "removed": 1,
            "changed": 3,
            "unchanged": 2,
            "tolerance": {"abs": 0.0, "rel": 0.01},
        }
    res = run_cli("diff", a, b, "--summary", "--format", "ndjson", "--tolerance", "1")
    assert orjson.loads(res.stdout)["tolerance"] == {"abs": 1.0, "rel": 0.0}
    res = run_cli("diff", a, b, "--tolerance", "1", "--color", "never")
    assert "numbers within abs 1 are equal" in res.stderr


def test_an_output_or_stat_file_that_is_an_input_is_refused(tmp_path: Path) -> None:
    a = tmp_path / "a.ndjson"
    a.write_bytes(b'{"id":1}\n')
    for args in (["--stat-file", str(a)], ["-o", str(a)], ["-q", "--stat-file", str(a)]):
        res = run_cli("diff", str(a), str(a), *args)
        assert res.code == 2 and "same file as the input" in res.stderr
        assert a.read_bytes() == b'{"id":1}\n'
    res = run_cli("diff", str(a), str(a), "-o", str(tmp_path))
    assert res.code == 2 and "is a directory" in res.stderr


# ---- inputs in any mix ------------------------------------------------------------------------


def _side(tmp: Path, name: str, records: dict[Any, dict], form: str) -> tuple[str, bytes | None]:
    """One side of a diff in a form: (the argument, stdin bytes or None)."""
    if form == "spky":
        return str(write_file(tmp / f"{name}.spky", records)), None
    if form == "ndjson":
        path = tmp / f"{name}.ndjson"
        path.write_bytes(ndjson(records))
    elif form == "array":
        path = tmp / f"{name}.json"
        path.write_bytes(orjson.dumps(list(records.values())))
    elif form == "gz":
        path = tmp / f"{name}.ndjson.gz"
        path.write_bytes(gzip.compress(ndjson(records)))
    elif form == "stdin-ndjson":
        return "-", ndjson(records)
    elif form == "stdin-gz":
        return "-", gzip.compress(ndjson(records))
    else:  # stdin-spky
        return "-", write_file(tmp / f"{name}-in.spky", records).read_bytes()
    return str(path), None


FORMS = ["spky", "ndjson", "array", "gz", "stdin-ndjson", "stdin-gz", "stdin-spky"]


@settings(max_examples=25)
@given(
    pair=file_pairs(int_keys),
    forms=st.tuples(st.sampled_from(FORMS), st.sampled_from(FORMS)).filter(
        lambda f: not (f[0].startswith("stdin") and f[1].startswith("stdin"))
    ),
    fmt=st.sampled_from(["ndjson", "json", "text", "markdown"]),
)
def test_mixed_inputs_give_identical_results(tmp_path_factory, pair, forms, fmt) -> None:
    old, new = pair
    tmp = tmp_path_factory.mktemp("mix")
    a, _ = _side(tmp, "ref-old", old, "spky")
    b, _ = _side(tmp, "ref-new", new, "spky")
    want = run_cli("diff", a, b, "--format", fmt, "--color", "never")
    (x, in_x), (y, in_y) = _side(tmp, "old", old, forms[0]), _side(tmp, "new", new, forms[1])
    got = run_cli("diff", x, y, "--format", fmt, "--color", "never", input=in_x or in_y)
    assert (got.code, got.stdout) == (want.code, want.stdout), got.stderr
    if fmt == "ndjson":
        assert_same_diffs(parse_ndjson(got.stdout), plain_oracle(old, new))


def test_ndjson_sides_take_the_key_of_the_record_file_or_key(tmp_path: Path) -> None:
    recs = {("a", 1): {"t": "a", "u": 1, "v": 1}, ("a", 2): {"t": "a", "u": 2, "v": 2}}
    spky = tmp_path / "old.spky"
    spky_path = str(write_file(spky, {k: v for k, v in recs.items()}, key="t,u"))
    text = tmp_path / "new.ndjson"
    text.write_bytes(b'{"t":"a","u":1,"v":1}\n{"t":"a","u":2,"v":3}\n')
    res = run_cli("diff", spky_path, str(text), "--format", "ndjson")
    assert res.code == 1, res.stderr
    assert [d["key"] for d in parse_ndjson(res.stdout)] == [["a", 2]]
    res = run_cli("diff", str(text), str(text), "--key", "t", "--key", "u", "--summary")
    assert res.stdout == b"0 changed, 0 added, 0 removed, 2 unchanged\n"
    res = run_cli("diff", spky_path, str(text), "--key", "u")
    assert res.code == 2 and "keyed by 't,u', not 'u' (--key)" in res.stderr


# ---- bad input: one line, exit 2 ------------------------------------------------------------


@pytest.mark.parametrize(
    "old,new,args,message",
    [
        ('{"id":1}\n{"id":\n', '{"id":1}\n', [], "old.ndjson:2:"),
        ('{"id":1}\n', '{"id":1}\n{"id":1}\n', [], "new.ndjson:1 and at "),
        ('{"id":1}\n', '{"name":"x"}\n', [], 'record has no field "id"'),
        ('{"id":1}\n', '{"id":1}\n', ["--key", "nope"], 'no field "nope"'),
        ('{"id":1}\n', '{"id":1}\n', ["--tolerance", "-1"], "tolerance must be"),
        ('{"id":1}\n', '{"id":1}\n', ["--rel-tolerance", "nan"], "rel_tolerance must be"),
        ('{"id":1}\n', '{"id":1}\n', ["--where", "id >="], "value expected"),
        ('{"id":1}\n', '{"id":1}\n', ["--where", "idd == 1"], "unknown field 'idd' in --where"),
        ('{"id":1}\n', '{"id":1}\n', ["--limit", "3"], "--limit goes with --format markdown"),
        ('{"id":1}\n', '{"id":1}\n', ["--full"], "--full goes with"),
        ('{"id":1}\n', '{"id":1}\n', ["--array-key", "a.b"], "one field name"),
        ('{"id":1}\n', "SPKYFILE", [], "new.ndjson"),
        ("[1, 2]", '{"id":1}\n', [], "old.ndjson"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, old: str, new: str, args: list[str], message: str
) -> None:
    a, b = tmp_path / "old.ndjson", tmp_path / "new.ndjson"
    a.write_text(old)
    b.write_text(new)
    res = run_cli("diff", str(a), str(b), *args)
    assert res.code == 2, (res.code, res.stderr)
    assert message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.startswith("spooky: error: ")


def test_a_missing_input_is_one_line(tmp_path: Path) -> None:
    res = run_cli("diff", str(tmp_path / "nope.ndjson"), str(DIFF / "new.ndjson"))
    assert res.code == 2 and "nope.ndjson" in res.stderr and res.stderr.count("\n") == 1


# ---- --where against the expression oracle -----------------------------------------------


@st.composite
def where_pairs(draw: st.DrawFn) -> tuple[dict, dict]:
    """Records of filter's fields keyed by id; one record holding every
    field is in both (so no field of an expression is unknown), unchanged."""
    keys = draw(st.lists(st.integers(0, 30), unique=True, max_size=14))
    old = {k: {**draw(records), "id": k} for k in keys}
    new: dict[int, dict] = {}
    for k, rec in old.items():
        what = draw(st.sampled_from(["same", "edit", "drop"]))
        if what == "same":
            new[k] = rec
        elif what == "edit":
            new[k] = {**draw(records), "id": k}
    for k in draw(st.lists(st.integers(31, 40), unique=True, max_size=4)):
        new[k] = {**draw(records), "id": k}
    anchor = {f: None for f in FIELDS} | {"id": 100}
    return old | {100: anchor}, new | {100: anchor}


@settings(max_examples=60)
@given(pair=where_pairs(), texts=st.lists(expressions(), min_size=1, max_size=2))
def test_where_against_the_oracle(tmp_path_factory, pair, texts: list[str]) -> None:
    old, new = pair
    trees = [parse(t) for t in texts]

    def matches(rec: dict | None) -> bool:
        return rec is not None and all(evaluate(t, rec) for t in trees)

    keep = {k for k in old.keys() | new.keys() if matches(old.get(k)) or matches(new.get(k))}
    o = {k: v for k, v in old.items() if k in keep}
    n = {k: v for k, v in new.items() if k in keep}
    want = plain_oracle(o, n)
    tmp = tmp_path_factory.mktemp("where")
    a, b = write_file(tmp / "a.spky", old), write_file(tmp / "b.spky", new)
    where = [arg for t in texts for arg in ("--where", t)]
    res = run_cli("diff", str(a), str(b), "--format", "json", *where)
    assert res.code == (1 if want else 0), res.stderr
    doc = orjson.loads(res.stdout)
    assert_same_diffs(doc["changes"], want)
    changed = sum(d["op"] == "changed" for d in want)
    assert doc["summary"] == {
        "added": sum(d["op"] == "added" for d in want),
        "removed": sum(d["op"] == "removed" for d in want),
        "changed": changed,
        "unchanged": len(o.keys() & n.keys()) - changed,
    }
    assert sorted(keep, key=key_to_sort_form) == sorted(keep)  # int keys: plain order


def test_where_on_either_side(tmp_path: Path) -> None:
    """A record that stops matching is compared (a change), not removed; keys
    matching on neither side count nowhere."""
    old = {1: {"id": 1, "s": "open"}, 2: {"id": 2, "s": "done"}, 3: {"id": 3, "s": "done"}}
    new = {1: {"id": 1, "s": "done"}, 2: {"id": 2, "s": "open"}, 3: {"id": 3, "s": "done"}}
    a, b = write_file(tmp_path / "a.spky", old), write_file(tmp_path / "b.spky", new)
    res = run_cli("diff", str(a), str(b), "-w", "s == 'open'", "--format", "json")
    doc = orjson.loads(res.stdout)
    assert [(d["op"], d["key"]) for d in doc["changes"]] == [("changed", 1), ("changed", 2)]
    assert doc["summary"] == {"added": 0, "removed": 0, "changed": 2, "unchanged": 0}
    res = run_cli("diff", str(a), str(b), "-w", "s == 'done'", "-w", "id == 3", "--summary")
    assert res.code == 0 and res.stdout == b"0 changed, 0 added, 0 removed, 1 unchanged\n"


def test_ndjson_sides_in_random_key_order(tmp_path: Path) -> None:
    """Scattered changed records of a converted side are read with pread (the
    temporary file's descriptor), as a record file's are."""
    import random

    rng = random.Random(5)
    ids = list(range(3000))
    rng.shuffle(ids)
    pad = "x" * 3000  # records far apart: every changed one a run of its own
    old = {i: {"id": i, "v": i, "pad": pad} for i in ids}
    new = {i: ({"id": i, "v": -i, "pad": pad} if i % 7 == 0 else old[i]) for i in ids if i % 11}
    a, b = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    a.write_bytes(ndjson(old))
    b.write_bytes(ndjson(new))
    res = run_cli("diff", str(a), str(b), "--format", "ndjson")
    assert res.code == 1, res.stderr
    assert_same_diffs(parse_ndjson(res.stdout), plain_oracle(old, new))


def test_summary_in_each_format() -> None:
    a, b = str(DIFF / "old.ndjson"), str(DIFF / "new.ndjson")
    counts = {"added": 1, "removed": 1, "changed": 4, "unchanged": 1}
    for fmt in ("json", "ndjson"):
        res = run_cli("diff", a, b, "--summary", "--format", fmt)
        assert res.code == 1 and orjson.loads(res.stdout) == counts
    res = run_cli("diff", a, b, "--summary", "--format", "markdown")
    assert res.stdout == (DIFF / "report-limit-2.md").read_bytes().split(b"\n\n")[0] + b"\n"
    res = run_cli("diff", a, b, "--summary")
    assert res.stdout == b"4 changed, 1 added, 1 removed, 1 unchanged\n"
