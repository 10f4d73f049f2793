"""`spooky diff`: the C merge of two key indexes against a pure-Python oracle
(every output form, all / only / ignored fields, ranges cut anywhere), exit
codes, and bad input (other key fields, corrupt records, truncated files)."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_runner import run_cli
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strict import same

from spooky_cli.diff import DiffCounts, diff_files
from spooky_cli.errors import ChecksumMismatch, SpookyError
from spooky_cli.keys import key_to_sort_form
from spooky_cli.paths import parse_path, path_text
from spooky_cli.reader import RecordFileReader
from spooky_cli.writer import RecordFileWriter

ABSENT = object()
NAMES = ["a", "b", "name", "tags", "x y", "é", 'q"uote']


# ---- the oracle ---------------------------------------------------------------------


def oracle(
    old: dict[Any, dict],
    new: dict[Any, dict],
    fields: list[str] | None = None,
    ignore: list[str] | None = None,
) -> list[dict]:
    """The differences in key order, as `--format json` writes them."""
    out: list[dict] = []
    for k in sorted(old.keys() | new.keys(), key=key_to_sort_form):
        if k not in new:
            out.append({"op": "removed", "key": k, "record": old[k]})
        elif k not in old:
            out.append({"op": "added", "key": k, "record": new[k]})
        else:
            a, b = old[k], new[k]
            names = fields if fields is not None else [n for n in a.keys() | b.keys()]
            changes = {}
            for n in names:
                if ignore is not None and n in ignore:
                    continue
                va, vb = a.get(n, ABSENT), b.get(n, ABSENT)
                if va is ABSENT and vb is ABSENT:
                    continue
                if va is not ABSENT and vb is not ABSENT and same(va, vb):
                    continue
                change = {}
                if va is not ABSENT:
                    change["old"] = va
                if vb is not ABSENT:
                    change["new"] = vb
                changes[n] = change
            if changes:
                out.append({"op": "changed", "key": k, "fields": changes})
    return out


def counts_of(diffs: list[dict], old: dict, new: dict) -> DiffCounts:
    ops = [d["op"] for d in diffs]
    both = len(old.keys() & new.keys())
    return DiffCounts(
        ops.count("added"), ops.count("removed"), ops.count("changed"), both - ops.count("changed")
    )


# ---- files -----------------------------------------------------------------------------


def write_file(path: Path, records: dict[Any, dict], key: str = "id") -> Path:
    with RecordFileWriter(path, key=key) as w:
        if records:
            w.write_many(records.values())
    return path


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)


def record(key: Any) -> st.SearchStrategy[dict]:
    return st.dictionaries(st.sampled_from(NAMES), values, max_size=5).map(
        lambda d: {**d, "id": key}
    )


@st.composite
def edited(draw: st.DrawFn, rec: dict) -> dict:
    out = dict(rec)
    what = draw(st.sampled_from(["set", "add", "drop", "retype"]))
    name = draw(st.sampled_from(NAMES))
    if what in ("set", "add"):
        out[name] = draw(values)
    elif what == "drop":
        out.pop(name, None)
    elif name in out and isinstance(out[name], int) and not isinstance(out[name], bool):
        out[name] = float(out[name]) if abs(out[name]) < 2**53 else str(out[name])
    return out


@st.composite
def file_pairs(draw: st.DrawFn, keys: st.SearchStrategy[Any]) -> tuple[dict, dict]:
    old_keys = draw(st.lists(keys, unique=True, max_size=25))
    old = {k: draw(record(k)) for k in old_keys}
    new: dict[Any, dict] = {}
    for k, rec in old.items():
        action = draw(st.sampled_from(["same", "same", "edit", "drop"]))
        if action == "same":
            new[k] = rec
        elif action == "edit":
            new[k] = draw(edited(rec))
    for k in draw(st.lists(keys, unique=True, max_size=8)):
        if k not in new and k not in old:
            new[k] = draw(record(k))
    return old, new


def run_diff(tmp: Path, old: dict, new: dict, **kw: Any) -> tuple[bytes, DiffCounts]:
    a = write_file(tmp / "old.spky", old)
    b = write_file(tmp / "new.spky", new)
    chunks: list[bytes] = []
    with RecordFileReader(a) as ra, RecordFileReader(b) as rb:
        counts = diff_files(ra, rb, chunks.append, **kw)
    return b"".join(chunks), counts


def parse_ndjson(out: bytes) -> list[dict]:
    return [orjson.loads(line) for line in out.splitlines()]


def assert_same_diffs(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        assert same(g, w), (g, w)


# ---- against the oracle ---------------------------------------------------------------

int_keys = st.integers(-50, 50) | st.sampled_from([-(2**63), 2**63 - 1, 2**63, 2**64 - 1])
str_keys = st.text(max_size=4)


@settings(max_examples=60)
@given(pair=file_pairs(int_keys), range_size=st.sampled_from([1, 2, 3, 7, 16384]))
def test_ndjson_matches_the_oracle(tmp_path_factory, pair, range_size) -> None:
    old, new = pair
    tmp = tmp_path_factory.mktemp("d")
    out, counts = run_diff(tmp, old, new, fmt="ndjson", range_size=range_size)
    want = oracle(old, new)
    assert_same_diffs(parse_ndjson(out), want)
    assert counts == counts_of(want, old, new)


@given(pair=file_pairs(str_keys), range_size=st.sampled_from([1, 4, 16384]))
def test_string_keys(tmp_path_factory, pair, range_size) -> None:
    old, new = pair
    out, counts = run_diff(tmp_path_factory.mktemp("d"), old, new, range_size=range_size)
    want = oracle(old, new)
    assert_same_diffs(parse_ndjson(out), want)
    assert counts == counts_of(want, old, new)


@given(
    pair=file_pairs(st.integers(0, 40)),
    chosen=st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True),
    only=st.booleans(),
)
def test_only_and_ignored_fields(tmp_path_factory, pair, chosen, only) -> None:
    old, new = pair
    assume(old or new)  # a name no file knows is an error (tested below)
    first = next(iter((old or new).values()))  # every chosen name known to a file
    for name in chosen:
        first.setdefault(name, 1)
    kw = {"fields": chosen} if only else {"ignore": chosen}
    out, counts = run_diff(tmp_path_factory.mktemp("d"), old, new, **kw)
    want = oracle(old, new, **kw)
    assert_same_diffs(parse_ndjson(out), want)
    assert counts == counts_of(want, old, new)


@given(pair=file_pairs(st.integers(0, 40)))
def test_count_format_counts_the_same(tmp_path_factory, pair) -> None:
    old, new = pair
    out, counts = run_diff(tmp_path_factory.mktemp("d"), old, new, fmt="count")
    assert out == b""
    assert counts == counts_of(oracle(old, new), old, new)


def parse_text(out: bytes) -> list[dict]:
    """The text format read back into the JSON format's structure."""
    dec = json.JSONDecoder()
    diffs: list[dict] = []
    for line in out.decode().split("\n")[:-1]:
        if line[:2] in ("+ ", "- "):
            key, end = dec.raw_decode(line, 2)
            assert line[end] == " "
            rec = json.loads(line[end + 1 :])
            diffs.append(
                {"op": "added" if line[0] == "+" else "removed", "key": key, "record": rec}
            )
        elif line.startswith("~ "):
            key, end = dec.raw_decode(line, 2)
            assert end == len(line)
            diffs.append({"op": "changed", "key": key, "fields": {}})
        else:
            m = re.match(r"    (.*?): ", line)
            assert m, line
            name = json.loads(f'"{m.group(1)}"')
            change, at = {}, m.end()
            for side in ("old", "new"):
                if line.startswith("(absent)", at):
                    at += len("(absent)")
                else:
                    change[side], at = dec.raw_decode(line, at)
                if side == "old":
                    assert line[at : at + 4] == " -> "
                    at += 4
            assert at == len(line)
            diffs[-1]["fields"][name] = change
    return diffs


@given(pair=file_pairs(st.integers(0, 40)))
def test_text_says_what_json_says(tmp_path_factory, pair) -> None:
    old, new = pair
    tmp = tmp_path_factory.mktemp("d")
    text, _ = run_diff(tmp, old, new, fmt="text")
    assert b"\x1b[" not in text
    assert_same_diffs(parse_text(text), oracle(old, new))


def test_colour_only_when_asked(tmp_path: Path) -> None:
    old = {1: {"id": 1, "a": 1}, 2: {"id": 2}}
    new = {1: {"id": 1, "a": 2}, 3: {"id": 3}}
    out, _ = run_diff(tmp_path, old, new, fmt="text", color=True)
    assert out == (
        b"\x1b[33m~ 1\x1b[0m\n    a: \x1b[31m1\x1b[0m -> \x1b[32m2\x1b[0m\n"
        b'\x1b[31m- 2 {"id":2}\x1b[0m\n\x1b[32m+ 3 {"id":3}\x1b[0m\n'
    )


# ---- the command -------------------------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    old = {i: {"id": i, "name": f"n{i}", "age": 20 + i} for i in range(1, 6)}
    new = {k: dict(v) for k, v in old.items() if k != 5}
    new[2]["age"] = 99
    new[3]["email"] = "c@x.org"
    new[7] = {"id": 7, "name": "n7", "age": 27}
    return write_file(tmp_path / "old.spky", old), write_file(tmp_path / "new.spky", new)


def test_cli_text_exit_one_and_summary(pair) -> None:
    res = run_cli("diff", str(pair[0]), str(pair[1]))
    assert res.code == 1, res.stderr
    assert res.stdout == (
        b'~ 2\n    age: 22 -> 99\n~ 3\n    email: (absent) -> "c@x.org"\n'
        b'- 5 {"id":5,"name":"n5","age":25}\n+ 7 {"id":7,"name":"n7","age":27}\n'
    )
    assert "2 changed, 1 added, 1 removed, 2 unchanged" in res.stderr


def test_cli_identical_files_exit_zero(pair) -> None:
    res = run_cli("diff", str(pair[0]), str(pair[0]))
    assert res.code == 0 and res.stdout == b""
    assert "0 changed, 0 added, 0 removed, 5 unchanged" in res.stderr


def test_cli_json_summary_and_quiet(pair) -> None:
    res = run_cli("diff", str(pair[0]), str(pair[1]), "--summary", "--format", "json")
    assert res.code == 1
    assert orjson.loads(res.stdout) == {"added": 1, "removed": 1, "changed": 2, "unchanged": 2}
    res = run_cli("diff", str(pair[0]), str(pair[1]), "--summary")
    assert res.stdout == b"2 changed, 1 added, 1 removed, 2 unchanged\n"
    res = run_cli("diff", str(pair[0]), str(pair[1]), "-q")
    assert res.code == 1 and res.stdout == b"" and res.stderr == ""
    res = run_cli("diff", str(pair[0]), str(pair[0]), "-q")
    assert res.code == 0


def test_cli_fields_and_ignore(pair) -> None:
    res = run_cli("diff", str(pair[0]), str(pair[1]), "--fields", "email", "--format", "ndjson")
    assert [d["key"] for d in parse_ndjson(res.stdout)] == [3, 5, 7]
    res = run_cli("diff", str(pair[0]), str(pair[1]), "--ignore", "age,email", "--summary")
    assert res.stdout == b"0 changed, 1 added, 1 removed, 4 unchanged\n"
    res = run_cli("diff", str(pair[0]), str(pair[1]), "--fields", "age", "--ignore", "name")
    assert res.code == 2 and "not both" in res.stderr
    res = run_cli("diff", str(pair[0]), str(pair[1]), "--fields", "agee")
    assert res.code == 2 and "unknown field 'agee'" in res.stderr and "age" in res.stderr
    res = run_cli("diff", str(pair[0]), str(pair[1]), "--fields", ",")
    assert res.code == 2 and "names no field" in res.stderr


def test_cli_output_file(pair, tmp_path: Path) -> None:
    out = tmp_path / "changes.ndjson"
    res = run_cli("diff", str(pair[0]), str(pair[1]), "--format", "ndjson", "-o", str(out))
    assert res.code == 1 and res.stdout == b""
    assert [d["op"] for d in parse_ndjson(out.read_bytes())] == [
        "changed",
        "changed",
        "removed",
        "added",
    ]


def test_cli_quiet_leaves_an_output_file_alone(pair, tmp_path: Path) -> None:
    out = tmp_path / "keep.txt"
    out.write_bytes(b"keep")
    res = run_cli("diff", str(pair[0]), str(pair[1]), "-q", "-o", str(out))
    assert res.code == 1 and out.read_bytes() == b"keep"


def test_cli_colour_always(pair) -> None:
    res = run_cli("--color", "always", "diff", str(pair[0]), str(pair[1]))
    assert b"\x1b[31m- 5 " in res.stdout
    res = run_cli("--color", "never", "diff", str(pair[0]), str(pair[1]))
    assert b"\x1b[" not in res.stdout


def test_other_key_fields_are_refused(tmp_path: Path) -> None:
    a = write_file(tmp_path / "a.spky", {1: {"id": 1, "uid": 1}})
    b = write_file(tmp_path / "b.spky", {1: {"id": 1, "uid": 1}}, key="uid")
    res = run_cli("diff", str(a), str(b))
    assert res.code == 2
    assert "keyed by 'id'" in res.stderr and "'uid'" in res.stderr


def test_empty_files(tmp_path: Path) -> None:
    empty = write_file(tmp_path / "e.spky", {})
    full = write_file(tmp_path / "f.spky", {1: {"id": 1}, 2: {"id": 2}})
    assert run_cli("diff", str(empty), str(empty)).code == 0
    res = run_cli("diff", str(empty), str(full), "--summary")
    assert res.code == 1 and res.stdout == b"0 changed, 2 added, 0 removed, 0 unchanged\n"


def test_missing_file(tmp_path: Path, pair) -> None:
    res = run_cli("diff", str(pair[0]), str(tmp_path / "nope.spky"))
    assert res.code == 2 and "nope.spky" in res.stderr


# ---- damaged files ------------------------------------------------------------------------


def struct_f64(x: float) -> bytes:
    return struct.pack("<d", x)


def _record_offsets(path: Path) -> list[tuple[int, int]]:
    with RecordFileReader(path) as r:
        return [(e.offset, e.length) for e in r.index_entries()]


def test_a_changed_record_byte_is_a_checksum_error(pair, tmp_path: Path) -> None:
    old, new = pair
    off, n = _record_offsets(new)[1]
    data = bytearray(new.read_bytes())
    data[off + n - 1] ^= 0x01  # inside the record: its digest no longer holds
    bad = tmp_path / "bad.spky"
    bad.write_bytes(bytes(data))
    with RecordFileReader(old) as a, RecordFileReader(bad) as b, pytest.raises(ChecksumMismatch):
        diff_files(a, b, lambda _: None)
    res = run_cli("diff", str(old), str(bad), "-o", str(tmp_path / "out.txt"))
    assert res.code == 2
    assert "bad.spky" in res.stderr and "digest" in res.stderr
    assert not (tmp_path / "out.txt").exists()  # no half-written output


@settings(max_examples=60)
@given(data=st.data())
def test_byte_flips_never_crash(tmp_path_factory, data) -> None:
    """Any single corrupt byte: a clean SpookyError or a diff, never a crash
    (the sanitizer run of this suite checks the memory accesses)."""
    tmp = tmp_path_factory.mktemp("f")
    old = {i: {"id": i, "v": i * 1.5, "s": "x" * (i % 5), "n": [i, {"k": i}]} for i in range(30)}
    new = {i: dict(v, v=v["v"] + (i % 3)) for i, v in old.items() if i % 7}
    a, b = write_file(tmp / "a.spky", old), write_file(tmp / "b.spky", new)
    raw = bytearray(b.read_bytes())
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= data.draw(st.integers(1, 255))
    bad = tmp / "bad.spky"
    bad.write_bytes(bytes(raw))
    fmt = data.draw(st.sampled_from(["text", "ndjson", "count"]))
    try:
        with RecordFileReader(a) as ra, RecordFileReader(bad) as rb:
            diff_files(ra, rb, lambda _: None, fmt=fmt, range_size=4)
    except SpookyError:
        pass


@pytest.mark.parametrize("cut", [0, 8, 40, 100, -33, -1])
def test_truncated_file(pair, tmp_path: Path, cut: int) -> None:
    data = pair[1].read_bytes()
    bad = tmp_path / "cut.spky"
    bad.write_bytes(data[:cut])
    res = run_cli("diff", str(pair[0]), str(bad))
    assert res.code == 2 and "cut.spky" in res.stderr


def test_both_fields_and_ignore_refused_in_the_api(pair) -> None:
    with RecordFileReader(pair[0]) as a, RecordFileReader(pair[1]) as b:
        with pytest.raises(SpookyError, match="not both"):
            diff_files(a, b, fields=["age"], ignore=["name"])
        with pytest.raises(SpookyError, match="unknown diff format"):
            diff_files(a, b, fmt="xml")


def test_large_files_read_forward_give_pages_back_and_still_agree(tmp_path: Path) -> None:
    """Over 4 MB of records in key order, plus keys appended out of file
    order: the ranges give pages back while they read (docs/FORMAT.md files
    are mmapped); the result must not change."""
    old = {i: {"id": i, "pad": "x" * 400, "v": i} for i in range(12_000)}
    new = {i: dict(r) for i, r in old.items() if i % 97}
    for i in range(0, 12_000, 13):
        if i in new:
            new[i]["v"] = -i
    for j in range(300):
        new[100_000 + j] = {"id": 100_000 + j, "pad": "y" * 400}
    # appended keys spread through the file: write them interleaved
    a = write_file(tmp_path / "old.spky", old)
    order = list(new.values())
    extra = [r for r in order if r["id"] >= 100_000]
    base = [r for r in order if r["id"] < 100_000]
    mixed = []
    for k, r in enumerate(base):
        mixed.append(r)
        if k % 40 == 0 and extra:
            mixed.append(extra.pop())
    mixed += extra
    b = tmp_path / "new.spky"
    with RecordFileWriter(b, key="id") as w:
        w.write_many(mixed)
    chunks: list[bytes] = []
    with RecordFileReader(a) as ra, RecordFileReader(b) as rb:
        counts = diff_files(ra, rb, chunks.append, range_size=5000)
    want = oracle(old, new)
    assert_same_diffs(parse_ndjson(b"".join(chunks)), want)
    assert counts == counts_of(want, old, new)


def test_a_record_file_on_stdin(pair) -> None:
    res = run_cli("diff", "-", str(pair[1]), "--summary", input=pair[0].read_bytes())
    assert res.code == 1 and res.stdout == b"2 changed, 1 added, 1 removed, 2 unchanged\n"
    res = run_cli("diff", "-", "-", input=pair[0].read_bytes())
    assert res.code == 2 and "only once" in res.stderr
    res = run_cli("diff", "-", str(pair[1]), input=b"SPKYF")  # a cut record file
    assert res.code == 2 and "<stdin>" in res.stderr
    res = run_cli("diff", "-", str(pair[1]), "--summary", input=b"")  # NDJSON, no record
    assert res.code == 1 and res.stdout == b"0 changed, 5 added, 0 removed, 0 unchanged\n"


# ---- --deep: changes inside nested values by path -------------------------------------


def step_text(step: str) -> str:
    """A path step as diff --deep (and filter) write it: bare or a JSON string."""
    bare = step != "" and all(c > " " and c != "\x7f" and c not in '=!<>".' for c in step)
    return step if bare else orjson.dumps(step).decode()


def deep_changes(a: Any, b: Any, path: list[str], out: dict[str, dict]) -> None:
    if same(a, b):
        return
    label = ".".join(step_text(s) for s in path)
    if isinstance(a, dict) and isinstance(b, dict):
        steps = [(k, a.get(k, ABSENT), b.get(k, ABSENT)) for k in a.keys() | b.keys()]
    elif isinstance(a, list) and isinstance(b, list):
        n = max(len(a), len(b))
        steps = [
            (str(i), a[i] if i < len(a) else ABSENT, b[i] if i < len(b) else ABSENT)
            for i in range(n)
        ]
    else:
        out[label] = {"old": a, "new": b}
        return
    for step, x, y in steps:
        if x is not ABSENT and y is not ABSENT:
            deep_changes(x, y, [*path, step], out)
        else:
            sub = ".".join(step_text(s) for s in [*path, step])
            out[sub] = {"old": x} if y is ABSENT else {"new": y}


def deep_oracle(old: dict, new: dict, ignore: list[str] | None = None) -> list[dict]:
    """oracle() with every change inside two nested values of a field split
    into the changes of its leaves, keyed by path."""
    out = []
    for d in oracle(old, new, ignore=ignore):
        if d["op"] != "changed":
            out.append(d)
            continue
        fields: dict[str, dict] = {}
        for name, change in d["fields"].items():
            a, b = change.get("old", ABSENT), change.get("new", ABSENT)
            nested = (list, dict)
            if isinstance(a, nested) and isinstance(b, nested):
                deep_changes(a, b, [name], fields)
            else:
                fields[step_text(name)] = change
        out.append({**d, "fields": fields})
    return out


deep_keys = st.sampled_from(["k", "m", "x y", "a.b", 'q"', "é", "0"])
deep_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(deep_keys, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def deep_pairs(draw: st.DrawFn) -> tuple[dict, dict]:
    keys = draw(st.lists(st.integers(0, 30), unique=True, min_size=1, max_size=12))
    old, new = {}, {}
    for k in keys:
        rec = {"id": k, **draw(st.dictionaries(st.sampled_from(NAMES), deep_values, max_size=3))}
        if k == keys[0]:
            rec.setdefault("a", 0)  # a name --ignore may give
        old[k] = rec
        if draw(st.booleans()):
            new[k] = rec
        else:  # a mutated copy: one nested value edited somewhere
            name = draw(st.sampled_from(NAMES))
            new[k] = {**rec, name: draw(deep_values)}
    return old, new


@settings(max_examples=80)
@given(
    pair=deep_pairs(),
    ignore=st.sampled_from([None, ["a"]]),
    fmt=st.sampled_from(["ndjson", "text"]),
)
def test_deep_matches_the_oracle(tmp_path_factory, pair, ignore, fmt) -> None:
    old, new = pair
    tmp = tmp_path_factory.mktemp("deep")
    out, counts = run_diff(tmp, old, new, fmt=fmt, ignore=ignore, deep=True, range_size=5)
    want = deep_oracle(old, new, ignore=ignore)
    got = parse_ndjson(out) if fmt == "ndjson" else parse_deep_text(out)
    assert_same_diffs(got, want)
    assert counts == counts_of(want, old, new)


def parse_deep_text(out: bytes) -> list[dict]:
    """Text output read back; the path is what precedes the first ': ' that
    is followed by a JSON value or (absent)."""
    dec = json.JSONDecoder()
    diffs: list[dict] = []
    for line in out.decode().split("\n")[:-1]:
        if line[:2] in ("+ ", "- "):
            key, end = dec.raw_decode(line, 2)
            op = "added" if line[0] == "+" else "removed"
            diffs.append({"op": op, "key": key, "record": json.loads(line[end + 1 :])})
        elif line.startswith("~ "):
            diffs.append({"op": "changed", "key": dec.raw_decode(line, 2)[0], "fields": {}})
        else:
            body = line[4:]
            for m in re.finditer(": ", body):
                label, rest = body[: m.start()], body[m.end() :]
                change, at, ok = {}, 0, True
                for side in ("old", "new"):
                    if rest.startswith("(absent)", at):
                        at += len("(absent)")
                    else:
                        try:
                            change[side], at = dec.raw_decode(rest, at)
                        except json.JSONDecodeError:
                            ok = False
                            break
                    if side == "old":
                        ok = ok and rest[at : at + 4] == " -> "
                        at += 4
                    if not ok:
                        break
                if ok and at == len(rest):
                    diffs[-1]["fields"][label] = change
                    break
            else:
                raise AssertionError(line)
    return diffs


def test_deep_cli(tmp_path: Path) -> None:
    old = {1: {"id": 1, "user": {"addr": {"city": "Oslo", "zip": 1}, "tags": ["a"]}}}
    new = {1: {"id": 1, "user": {"addr": {"city": "Rome"}, "tags": ["a", "b"]}}}
    a, b = write_file(tmp_path / "a.spky", old), write_file(tmp_path / "b.spky", new)
    res = run_cli("diff", str(a), str(b), "--deep")
    assert res.code == 1
    assert res.stdout == (
        b'~ 1\n    user.addr.city: "Oslo" -> "Rome"\n    user.addr.zip: 1 -> (absent)\n'
        b'    user.tags.1: (absent) -> "b"\n'
    )


@settings(max_examples=100)
@given(data=st.data())
def test_deep_walks_over_damaged_nested_bytes_cleanly(tmp_path_factory, data) -> None:
    """Nested bytes that are not valid CBOR but whose digests hold (a file
    written that way): --deep must answer or fail cleanly, never read outside
    a record (the sanitizer run checks)."""
    import filebuilder as fb

    tmp = tmp_path_factory.mktemp("dd")
    objs = [{"id": i, "n": data.draw(deep_values)} for i in range(6)]
    flips = data.draw(st.lists(st.tuples(st.integers(60, 400), st.integers(1, 255)), max_size=3))

    def mangle(rec: bytes) -> bytes:
        out = bytearray(rec)
        for at, x in flips:
            if at < len(out):
                out[at] ^= x
        return bytes(out)

    good = tmp / "good.spky"
    good.write_bytes(fb.build(objs).data)
    bad = tmp / "bad.spky"
    bad.write_bytes(fb.build([{**o, "n": [o["n"]]} for o in objs], mangle=mangle).data)
    fmt = data.draw(st.sampled_from(["text", "ndjson"]))
    try:
        with RecordFileReader(good) as a, RecordFileReader(bad) as b:
            diff_files(a, b, lambda _: None, fmt=fmt, deep=True)
    except SpookyError:
        pass


@pytest.mark.parametrize("deep", [False, True])
def test_bad_nested_bytes_name_the_file(tmp_path: Path, deep: bool) -> None:
    import filebuilder as fb

    def mangle(rec: bytes) -> bytes:
        i = rec.index(b"\x83\x01\x02\x04")  # [1, 2, 4]: its last item becomes a reserved head
        return rec[: i + 3] + b"\x1c" + rec[i + 4 :]

    a, b = tmp_path / "a.spky", tmp_path / "b.spky"
    a.write_bytes(fb.build([{"id": 1, "n": {"a": [1, 2, 3]}}]).data)
    b.write_bytes(fb.build([{"id": 1, "n": {"a": [1, 2, 4]}}], mangle=mangle).data)
    bad = r"b\.spky: nested field is not valid CBOR"
    with (
        RecordFileReader(a) as ra,
        RecordFileReader(b) as rb,
        pytest.raises(SpookyError, match=bad),
    ):
        diff_files(ra, rb, lambda _: None, deep=deep)


def without_paths(diffs: list[dict], ignored: list[str]) -> list[dict]:
    """deep_oracle's changes less those at or below an ignored path; a record
    left with no change is unchanged."""
    out = []
    for d in diffs:
        if d["op"] != "changed":
            out.append(d)
            continue
        fields = {
            p: c
            for p, c in d["fields"].items()
            if not any(p == i or p.startswith(i + ".") for i in ignored)
        }
        if fields:
            out.append({**d, "fields": fields})
    return out


nested_maps = st.dictionaries(deep_keys, deep_values, min_size=1, max_size=3)


@st.composite
def nested_edits(draw: st.DrawFn) -> tuple[dict, dict]:
    """Records whose field n is an object, edited below its top level."""
    old, new = {}, {}
    for k in range(draw(st.integers(1, 6))):
        base = draw(nested_maps)
        edited = {**base}
        for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=2)):
            edited[key] = draw(deep_values)
        if draw(st.booleans()):
            edited[draw(deep_keys)] = draw(nested_maps)
        old[k], new[k] = {"id": k, "n": base}, {"id": k, "n": edited}
    return old, new


@settings(max_examples=60)
@given(pair=nested_edits(), data=st.data(), fmt=st.sampled_from(["ndjson", "count"]))
def test_deep_ignores_paths(tmp_path_factory, pair, data, fmt) -> None:
    old, new = pair
    full = deep_oracle(old, new)
    labels = {p for d in full if d["op"] == "changed" for p in d["fields"]}
    paths = sorted(p for p in labels if len(parse_path(p)) > 1)
    prefixes = sorted({path_text(parse_path(p)[:-1]) for p in paths if len(parse_path(p)) > 2})
    assume(paths)
    ignored = data.draw(st.lists(st.sampled_from(paths + prefixes), min_size=1, max_size=3))
    tmp = tmp_path_factory.mktemp("ign")
    out, counts = run_diff(tmp, old, new, fmt=fmt, ignore=ignored, deep=True, range_size=4)
    want = without_paths(full, ignored)
    if fmt == "ndjson":
        assert_same_diffs(parse_ndjson(out), want)
    assert counts == counts_of(want, old, new)


def test_ignoring_a_path_turns_deep_on_and_needs_a_known_field(tmp_path: Path, pair) -> None:
    plain = run_cli("diff", str(pair[0]), str(pair[1]), "--ignore", "name.x")
    deep = run_cli("diff", str(pair[0]), str(pair[1]), "--deep", "--ignore", "name.x")
    assert plain.code == deep.code == 1 and plain.stdout == deep.stdout
    res = run_cli("diff", str(pair[0]), str(pair[1]), "--deep", "--ignore", "nope.x")
    assert res.code == 2 and "unknown field 'nope'" in res.stderr
    res = run_cli("diff", str(pair[0]), str(pair[1]), "--deep", "--ignore", 'name."x')
    assert res.code == 2 and "unterminated" in res.stderr


# ---- corruption is not change: records that differ are checked first ------------------


def _corrupt_pair(
    tmp_path: Path,
    old_objs: list[dict],
    new_objs: list[dict],
    bad: bytes,
    worse: bytes,
    both: bool = False,
) -> tuple[Path, Path]:
    """Record files of these objects whose record bytes have `bad` replaced by
    `worse` (in the new file, or both), digests and checksums made to hold."""
    import filebuilder as fb

    def mangle(rec: bytes) -> bytes:
        return rec.replace(bad, worse)

    a, b = tmp_path / "a.spky", tmp_path / "b.spky"
    a.write_bytes(fb.build(old_objs, mangle=mangle if both else None).data)
    b.write_bytes(fb.build(new_objs, mangle=mangle).data)
    return a, b


@pytest.mark.parametrize("args", [["-q"], ["--summary"], ["--summary", "--format", "json"]])
@pytest.mark.parametrize(
    "value,bad,worse,what",
    [
        ("abc", b"abc", b"ab\xff", "not UTF-8"),
        (1.5, struct_f64(1.5), struct_f64(float("nan")), "NaN"),
        ([1, 2], b"\x82\x01\x02", b"\x82\x01\x1c", "CBOR"),
    ],
    ids=["utf8", "nan", "cbor"],
)
def test_counting_tells_corruption_from_change(tmp_path: Path, args, value, bad, worse, what):
    """-q and --summary only count, yet a changed record that is not valid is
    an error (exit 2, naming the file and the byte), not a change (exit 1)."""
    old = [{"id": 1, "v": 1}, {"id": 2, "x": value}]
    new = [{"id": 1, "v": 1}, {"id": 2, "x": value, "w": 0}]
    a, b = _corrupt_pair(tmp_path, old, new, bad, worse)
    res = run_cli("diff", str(a), str(b), *args)
    assert res.code == 2, (res.code, res.stdout, res.stderr)
    assert "b.spky" in res.stderr and what in res.stderr and "at byte" in res.stderr
    assert res.stderr.count("\n") == 1


def test_added_records_are_checked_when_counting(tmp_path: Path) -> None:
    old = [{"id": 1, "v": 1}]
    new = [{"id": 1, "v": 1}, {"id": 2, "s": "abc"}]
    a, b = _corrupt_pair(tmp_path, old, new, b"abc", b"ab\xff")
    res = run_cli("diff", str(a), str(b), "-q")
    assert res.code == 2 and "b.spky" in res.stderr and "not UTF-8" in res.stderr


@pytest.mark.parametrize("fmt", ["text", "json", "ndjson", "markdown"])
def test_a_bad_value_in_a_field_that_did_not_change(tmp_path: Path, fmt: str) -> None:
    """The bad string is the same on both sides; another field changed: the
    output would show only that field, but the record is checked whole."""
    old = [{"id": 1, "s": "abc", "v": 1}]
    new = [{"id": 1, "s": "abc", "v": 2}]
    a, b = _corrupt_pair(tmp_path, old, new, b"abc", b"ab\xff", both=True)
    res = run_cli("diff", str(a), str(b), "--format", fmt)
    assert res.code == 2 and "a.spky" in res.stderr and "not UTF-8" in res.stderr
    assert res.stdout == b""


# ---- records read in batches, in file order (pread), whatever the files' order ---------


@settings(max_examples=40)
@given(
    pair=file_pairs(int_keys),
    batch=st.sampled_from([1, 2, 3, 5]),
    range_size=st.sampled_from([1, 4, 16384]),
    fmt=st.sampled_from(["ndjson", "count"]),
    seed=st.integers(0, 2**16),
)
def test_small_batches_in_any_record_order(tmp_path_factory, pair, batch, range_size, fmt, seed):
    """Records written in a random key order, read a few at a time (sorted by
    offset, pread): the same differences as the oracle's."""
    import random

    old, new = pair
    rng = random.Random(seed)
    shuffled = [dict(sorted(d.items(), key=lambda _: rng.random())) for d in (old, new)]
    tmp = tmp_path_factory.mktemp("b")
    out, counts = run_diff(tmp, *shuffled, fmt=fmt, batch=batch, range_size=range_size)
    want = oracle(old, new)
    if fmt == "ndjson":
        assert_same_diffs(parse_ndjson(out), want)
    assert counts == counts_of(want, old, new)


@pytest.mark.parametrize("order", ["key", "random"])
@pytest.mark.parametrize("batch", [1, 7, 4096])
def test_long_and_short_runs(tmp_path: Path, order: str, batch: int) -> None:
    """Records of 5 kB: in key order a batch is one long run read in place
    (its pages given back at the next batch), in random order every record is
    a run of its own, read with pread."""
    import random

    old = {i: {"id": i, "pad": "x" * 5000, "v": i} for i in range(400)}
    new = {i: dict(r, v=-i) if i % 10 == 0 else r for i, r in old.items() if i % 37}
    new.update({1000 + i: {"id": 1000 + i, "pad": "y" * 5000} for i in range(20)})
    if order == "random":
        rng = random.Random(batch)
        old, new = ({k: d[k] for k in rng.sample(sorted(d), len(d))} for d in (old, new))
    out, counts = run_diff(tmp_path, old, new, batch=batch, range_size=150)
    want = oracle(old, new)
    assert_same_diffs(parse_ndjson(out), want)
    assert counts == counts_of(want, old, new)


@pytest.mark.parametrize("batch", [1, 3, 4096])
def test_a_bad_record_read_in_a_batch_names_file_and_byte(pair, tmp_path: Path, batch) -> None:
    old, new = pair
    off, n = _record_offsets(new)[2]  # key 3: changed, so diff reads it
    data = bytearray(new.read_bytes())
    data[off + n - 1] ^= 0x01
    bad = tmp_path / "bad.spky"
    bad.write_bytes(bytes(data))
    with (
        RecordFileReader(old) as a,
        RecordFileReader(bad) as b,
        pytest.raises(ChecksumMismatch, match=rf"bad\.spky: .*digest.* \(at byte {off}\)"),
    ):
        diff_files(a, b, lambda _: None, batch=batch)


def test_batch_must_be_positive(pair) -> None:
    with (
        RecordFileReader(pair[0]) as a,
        RecordFileReader(pair[1]) as b,
        pytest.raises(SpookyError, match="batch must be 1 to"),
    ):
        diff_files(a, b, batch=0)


# ---- what diff trusts, and --verify ------------------------------------------------------


def _damaged_pair(tmp_path: Path, where: str) -> tuple[Path, Path, int]:
    """Two files with the same records; the new one has a byte of one block
    changed outside the records (its checksum not fixed). Returns the paths
    and the block's number."""
    import filebuilder as fb

    objs = [{"id": i, "v": i, "s": "x" * i} for i in range(20)]
    built = fb.build(objs, block_target=200)
    rec = built.record_offsets[5]
    block = max(i for i, off in enumerate(built.block_offsets) if off < rec)
    head = built.block_offsets[1]
    at = {
        "record byte": rec + 1,
        "stored key": rec - 2,
        "key_len": rec - 9 - 8,
        "record_len": rec - 9 - 4,
        "block checksum": head + 32,
        "block record count": head + 20,
        "block sync": head + 3,
        "block kind": head + 16,
    }[where]
    if where.startswith("block"):
        block = 1
    data = bytearray(built.data)
    data[at] ^= 0x01
    a, b = tmp_path / "a.spky", tmp_path / "b.spky"
    a.write_bytes(built.data)
    b.write_bytes(bytes(data))
    return a, b, block


DAMAGE = [
    "record byte",
    "stored key",
    "key_len",
    "record_len",
    "block checksum",
    "block record count",
    "block sync",
    "block kind",
]


@pytest.mark.parametrize("where", DAMAGE)
def test_diff_reads_records_not_blocks_verify_reads_both(tmp_path: Path, where: str) -> None:
    """diff trusts the key index: a record whose digest and length equal the
    other side's is unchanged without being read, and no block header,
    checksum or framing is read (docs/CLI.md). Damage there goes unnoticed;
    --verify finds it, naming the file and block."""
    a, b, block = _damaged_pair(tmp_path, where)
    assert run_cli("diff", str(a), str(b), "-q").code == 0
    for args in (["-q"], ["--summary"], ["--format", "json"]):
        res = run_cli("diff", str(a), str(b), "--verify", *args)
        assert res.code == 2, (where, res.stderr)
        assert f"block {block} of {b}:" in res.stderr and "at byte" in res.stderr
        assert res.stderr.count("\n") == 1 and res.stdout == b""
    res = run_cli("diff", str(b), str(a), "--verify", "-q")  # the old file damaged
    assert res.code == 2 and f"block {block} of {b}:" in res.stderr


def test_verify_changes_nothing_on_good_files(pair) -> None:
    plain = run_cli("diff", str(pair[0]), str(pair[1]))
    checked = run_cli("diff", str(pair[0]), str(pair[1]), "--verify")
    assert checked.code == plain.code == 1
    assert checked.stdout == plain.stdout
    assert run_cli("diff", str(pair[0]), str(pair[0]), "--verify", "-q").code == 0


def test_verify_reports_the_old_files_error_first(tmp_path: Path) -> None:
    a, b, block = _damaged_pair(tmp_path, "block kind")
    both = tmp_path / "c.spky"
    both.write_bytes(b.read_bytes())
    res = run_cli("diff", str(b), str(both), "--verify", "-q")
    assert res.code == 2 and f"block {block} of {b}:" in res.stderr


def test_a_name_the_new_file_does_not_know_in_an_unchanged_field(tmp_path: Path) -> None:
    """The new record's field z has the old one's bytes (its value was
    checked there), but the new file's name table lacks z."""
    import filebuilder as fb

    a, b = tmp_path / "a.spky", tmp_path / "b.spky"
    a.write_bytes(fb.build([{"id": 1, "v": 1, "z": [1, "x"]}]).data)
    built = fb.build([{"id": 1, "v": 2, "z": [1, "x"]}])
    # the footer again, without z's name table entry
    p = built.footer_payload
    count, blocks, names, names_off, blocks_off, index_off, heap_off = struct.unpack_from(
        "<7Q", p, 0
    )
    at, entries = names_off, []
    for _ in range(names):
        n = struct.unpack_from("<I", p, at + 64)[0]
        entries.append(p[at : at + 68 + n])
        at += 68 + n
    kept = b"".join(e for e in entries if not e.endswith(b"z"))
    cut = len(p[names_off:blocks_off]) - len(kept)
    fixed = struct.pack(
        "<7Q",
        count,
        blocks,
        names - 1,
        names_off,
        *(x - cut for x in (blocks_off, index_off, heap_off)),
    )
    payload = fixed + p[56:names_off] + kept + p[blocks_off:]
    b.write_bytes(fb.with_footer(built, payload))
    for args in (["-q"], ["--format", "json"]):
        res = run_cli("diff", str(a), str(b), *args)
        assert res.code == 2, res.stderr
        assert "b.spky" in res.stderr and "missing from the name table" in res.stderr


def test_diff_positions_diffs_the_keys_given_in_their_order(tmp_path) -> None:
    """spooky_diff_positions: the keys at given index positions of a file
    pair, what each was and where its text ends, as diff_range writes it."""
    from spooky_cli._native import ffi, lib
    from spooky_cli.diff import DiffOptions
    from spooky_cli.reader import open_records
    from spooky_cli.writer import RecordFileWriter

    with RecordFileWriter(tmp_path / "a.spky", key="id") as w:
        w.write_many([{"id": 1, "v": 1}, {"id": 2, "v": 2}, {"id": 3, "v": 3}])
    with RecordFileWriter(tmp_path / "b.spky", key="id") as w:
        w.write_many([{"id": 2, "v": 2, "w": 0}, {"id": 3, "v": 9}, {"id": 4, "v": 4}])
    absent = lib.SPOOKY_DIFF_ABSENT
    with open_records(tmp_path / "a.spky") as a, open_records(tmp_path / "b.spky") as b:
        spec = DiffOptions({"id", "v", "w"}, fields=["v"]).spec(a, b)
        old_pos = ffi.new("uint64_t[]", [2, 0, absent, 1])  # ids 3, 1, -, 2
        new_pos = ffi.new("uint64_t[]", [1, absent, 2, 0])  # ids 3, -, 4, 2
        what, ends = ffi.new("int8_t[]", 4), ffi.new("uint64_t[]", 4)
        buf = ffi.gc(ffi.new("spooky_buf *"), lib.spooky_buf_free)
        counts, err, side = (
            ffi.new("spooky_diff_counts *"),
            ffi.new("spooky_error *"),
            ffi.new("int *"),
        )
        rc = lib.spooky_diff_positions(
            spec.c, old_pos, new_pos, 4, buf, what, ends, counts, err, side
        )
        assert rc == 0
        text = ffi.buffer(buf.data, buf.len)[:]
        assert list(what) == [0, -1, 1, 2]  # changed, removed, added, unchanged in v
        lines = [text[s:e] for s, e in zip([0, *list(ends)[:-1]], list(ends))]
        assert [orjson.loads(x)["key"] if x else None for x in lines] == [3, 1, 4, None]
        assert (counts.changed, counts.removed, counts.added, counts.unchanged) == (1, 1, 1, 1)
        bad = ffi.new("uint64_t[]", [3])
        rc = lib.spooky_diff_positions(spec.c, bad, bad, 1, buf, what, ends, counts, err, side)
        assert rc == lib.SPOOKY_E_ARG
