"""`spooky diff` as a CI gate and a pull request report, through
diff_files: the JSON document against the NDJSON lines, tolerances and array
keys against oracles, whole records (--full). The command line (Markdown
golden files, --stat-file, mixed inputs, --where) is test_diff_cli.py's."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strict import same
from test_diff import (
    ABSENT,
    NAMES,
    assert_same_diffs,
    counts_of,
    file_pairs,
    int_keys,
    parse_ndjson,
    run_diff,
    scalars,
    step_text,
)

from spooky_cli.diff import DiffCounts, Tolerance, diff_summary
from spooky_cli.errors import SpookyError
from spooky_cli.keys import key_to_sort_form

# ---- an oracle with a choice of equality, deep paths and array keys ------------------


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def close(a: int | float, b: int | float, tol: Tolerance) -> bool:
    """|a-b| <= abs or |a-b| <= rel * max(|a|,|b|): exact between integers
    (Fractions), an integral float counting as an integer when the other is
    one; in double arithmetic between a fraction and a float; equal by value
    is always close."""
    if a == b:  # Python compares int and float by value, exactly
        return True
    if isinstance(a, float) and a.is_integer() and -(2**63) <= a < 2**64:
        a = int(a)  # an integer and an integral float: two integers
    if isinstance(b, float) and b.is_integer() and -(2**63) <= b < 2**64:
        b = int(b)
    if isinstance(a, int) and isinstance(b, int):
        d = abs(a - b)
        return d <= tol.abs or d <= Fraction(tol.rel) * max(abs(a), abs(b))
    x, y = float(a), float(b)
    d = abs(x - y)
    return d <= tol.abs or d <= tol.rel * max(abs(x), abs(y))


def tol_same(tol: Tolerance | None) -> Callable[[Any, Any], bool]:
    """Equality as diff sees it: byte for byte (strict types) without a
    tolerance; with one, numbers by value within it, nested ones too."""
    if tol is None:
        return same

    def eq(a: Any, b: Any) -> bool:
        if is_number(a) and is_number(b):
            return close(a, b, tol)
        if type(a) is not type(b):
            return False
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(eq(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b))
        return same(a, b)

    return eq


def key_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def keyed(arr: list, key: str) -> bool:
    """Every element an object with the key field, its values unique."""
    if not all(isinstance(e, dict) and key in e for e in arr):
        return False
    return len({key_text(e[key]) for e in arr}) == len(arr)


def deep_changes(
    a: Any, b: Any, label: str, out: dict, eq: Callable, array_key: str | None
) -> None:
    """The changes below two values at label: objects key by key, arrays by
    position or, both keyed, by the array key's value."""
    if eq(a, b):
        return

    def step(sub: str, x: Any, y: Any) -> None:
        if x is not ABSENT and y is not ABSENT:
            deep_changes(x, y, sub, out, eq, array_key)
        else:
            out[sub] = {"old": x} if y is ABSENT else {"new": y}

    if isinstance(a, dict) and isinstance(b, dict):
        for k in a.keys() | b.keys():
            step(f"{label}.{step_text(k)}", a.get(k, ABSENT), b.get(k, ABSENT))
    elif isinstance(a, list) and isinstance(b, list):
        if array_key is not None and keyed(a, array_key) and keyed(b, array_key):
            by_key = {key_text(e[array_key]): e for e in b}
            seen = set()
            for e in a:
                k = key_text(e[array_key])
                seen.add(k)
                sub = f"{label}[{step_text(array_key)}={orjson.dumps(e[array_key]).decode()}]"
                step(sub, e, by_key.get(k, ABSENT))
            for e in b:
                if key_text(e[array_key]) not in seen:
                    sub = f"{label}[{step_text(array_key)}={orjson.dumps(e[array_key]).decode()}]"
                    step(sub, ABSENT, e)
        else:
            for i in range(max(len(a), len(b))):
                x = a[i] if i < len(a) else ABSENT
                y = b[i] if i < len(b) else ABSENT
                step(f"{label}.{i}", x, y)
    else:
        out[label] = {"old": a, "new": b}


def oracle(
    old: dict,
    new: dict,
    tol: Tolerance | None = None,
    deep: bool = False,
    array_key: str | None = None,
    full: bool = False,
) -> list[dict]:
    """The differences in key order, as the ndjson format writes them."""
    eq = tol_same(tol)
    deep = deep or array_key is not None
    out: list[dict] = []
    for k in sorted(old.keys() | new.keys(), key=key_to_sort_form):
        if k not in new:
            out.append({"op": "removed", "key": k, "record": old[k]})
            continue
        if k not in old:
            out.append({"op": "added", "key": k, "record": new[k]})
            continue
        a, b = old[k], new[k]
        fields: dict[str, dict] = {}
        for name in a.keys() | b.keys():
            va, vb = a.get(name, ABSENT), b.get(name, ABSENT)
            label = step_text(name) if deep else name
            if va is ABSENT or vb is ABSENT:
                fields[label] = {"old": va} if vb is ABSENT else {"new": vb}
            elif eq(va, vb):
                continue
            elif deep and isinstance(va, (list, dict)) and isinstance(vb, (list, dict)):
                deep_changes(va, vb, label, fields, eq, array_key)
            else:
                fields[label] = {"old": va, "new": vb}
        if fields:
            d = {"op": "changed", "key": k, "fields": fields}
            if full:
                d.update(old=a, new=b)
            out.append(d)
    return out


# ---- the JSON document: the same changes as the NDJSON lines ----------------------------


def parse_document(out: bytes) -> tuple[list[dict], dict]:
    doc = orjson.loads(out)
    assert list(doc) == ["changes", "summary"]
    return doc["changes"], doc["summary"]


@settings(max_examples=40)
@given(pair=file_pairs(int_keys), range_size=st.sampled_from([1, 2, 5, 16384]))
def test_json_document_holds_the_ndjson_lines(tmp_path_factory, pair, range_size) -> None:
    old, new = pair
    tmp = tmp_path_factory.mktemp("doc")
    lines, counts = run_diff(tmp, old, new, fmt="ndjson", range_size=range_size)
    doc, doc_counts = run_diff(tmp, old, new, fmt="json", range_size=range_size)
    changes, summary = parse_document(doc)
    assert_same_diffs(changes, parse_ndjson(lines))
    assert doc_counts == counts and summary == counts.as_dict()
    assert_same_diffs(changes, oracle(old, new))
    # the document's layout: one difference a line between its head and its summary
    assert doc.startswith(b'{"changes":[') and doc.endswith(b"}\n")
    assert doc.count(b"\n") == (len(changes) + 2 if changes else 1)


def test_json_document_when_nothing_differs(tmp_path: Path) -> None:
    recs = {1: {"id": 1}}
    out, counts = run_diff(tmp_path, recs, recs, fmt="json")
    assert out == b'{"changes":[],"summary":{"added":0,"removed":0,"changed":0,"unchanged":1}}\n'
    assert counts == DiffCounts(0, 0, 0, 1)


# ---- tolerances ----------------------------------------------------------------------------

numbers = (
    st.integers(-(2**63), 2**64 - 1)
    | st.integers(-1000, 1000)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
    | st.floats(-1000, 1000)
)
near = st.sampled_from([0, 1, 2, 3, 2**53, 2**63 - 1, 2**63, 2**64 - 1, 0.5, 1e-9, 1e18])


@st.composite
def number_pairs(draw: st.DrawFn) -> tuple[Any, Any]:
    """Two numbers, often near each other: the tolerance's edges."""
    a = draw(numbers)
    how = draw(st.sampled_from(["any", "plus", "times", "float"]))
    if how == "any":
        return a, draw(numbers)
    if how == "float":
        return a, float(a)
    if how == "plus":
        b = a + draw(st.sampled_from([-3, -2, -1, 1, 2, 3, 0.25, 1e-6]))
    else:
        b = a * draw(st.sampled_from([1 + 1e-9, 1 - 1e-6, 1.001, 0.999, 2]))
    if isinstance(b, int) and not -(2**63) <= b < 2**64:
        b = a
    return a, b


tolerances = st.builds(
    Tolerance,
    st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 1e-6, 1e-3, 2.0**60]),
    st.sampled_from([0.0, 1e-9, 1e-6, 1e-3, 0.5, 2.0**-60]),
)


@settings(max_examples=200)
@given(ab=number_pairs(), tol=tolerances)
def test_numbers_close_against_the_oracle(tmp_path_factory, ab, tol) -> None:
    a, b = ab
    old = {1: {"id": 1, "x": a, "n": {"v": [a]}}}
    new = {1: {"id": 1, "x": b, "n": {"v": [b]}}}
    tmp = tmp_path_factory.mktemp("tol")
    want = oracle(old, new, tol)
    for deep in (False, True):
        out, counts = run_diff(tmp, old, new, fmt="ndjson", tolerance=tol, deep=deep)
        assert counts == counts_of(want, old, new), (a, b, tol, deep)
    assert_same_diffs(parse_ndjson(out), oracle(old, new, tol, deep=True))


def test_tolerance_is_exact_between_integers_beyond_2_53(tmp_path: Path) -> None:
    big = 2**63 + 1  # a u64; the nearest doubles of big and big + 2 are one
    cases = [
        (big, big + 2, Tolerance(1.0, 0.0), 1),
        (big, big + 2, Tolerance(2.0, 0.0), 0),
        (2**63 - 1, 2**63, Tolerance(1.0, 0.0), 0),  # i64 against u64
        (-(2**63), 2**64 - 1, Tolerance(2.0**64, 0.0), 1),  # |a-b| = 2^65 - 1
        (10**18, 10**18 + 1000, Tolerance(0.0, 1e-15), 0),  # 1000 <= 1e-15 * (10^18 + 1000)
        (10**18, 10**18 + 1001, Tolerance(0.0, 1e-15), 1),
        (2**53 + 1, float(2**53), Tolerance(0.0, 0.0), 1),  # an integral float: exact
        (2**53 + 1, float(2**53), Tolerance(0.5, 0.0), 1),
        (2**53 + 1, float(2**53), Tolerance(1.0, 0.0), 0),
        (2**64 - 1, 2.0**64, Tolerance(0.0, 0.0), 0),  # 2^64 is beyond u64: in doubles, 0
        (3, 3.0, Tolerance(0.0, 0.0), 0),  # by value
        (-0.0, 0.0, Tolerance(0.0, 0.0), 0),
    ]
    for a, b, tol, changed in cases:
        old, new = {1: {"id": 1, "x": a}}, {1: {"id": 1, "x": b}}
        _, counts = run_diff(tmp_path, old, new, fmt="count", tolerance=tol)
        assert counts.changed == changed, (a, b, tol)
        assert counts_of(oracle(old, new, tol), old, new).changed == changed, (a, b, tol)


tol_values = st.recursive(
    scalars | st.integers(-(2**63), 2**64 - 1) | st.floats(-10, 10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("kmz"), inner),
    max_leaves=6,
)


@st.composite
def nudged(draw: st.DrawFn, v: Any) -> Any:
    """v with some numbers moved a little (or retyped), here and there."""
    if is_number(v) and draw(st.booleans()):
        if isinstance(v, float) or draw(st.booleans()):
            return float(v) + draw(st.sampled_from([0.0, 1e-7, -1e-4, 0.01, 1.0]))
        return v + draw(st.sampled_from([0, 1, -1])) if -(2**63) < v < 2**64 - 1 else v
    if isinstance(v, list):
        return [draw(nudged(x)) for x in v]
    if isinstance(v, dict):
        return {k: draw(nudged(x)) for k, x in v.items()}
    return v


@st.composite
def tolerance_pairs(draw: st.DrawFn) -> tuple[dict, dict]:
    keys = draw(st.lists(st.integers(0, 30), unique=True, max_size=10))
    old, new = {}, {}
    for k in keys:
        rec = {"id": k, **draw(st.dictionaries(st.sampled_from(NAMES), tol_values, max_size=3))}
        old[k] = rec
        action = draw(st.sampled_from(["same", "nudge", "nudge", "other", "drop"]))
        if action == "same":
            new[k] = rec
        elif action == "nudge":
            new[k] = {n: v if n == "id" else draw(nudged(v)) for n, v in rec.items()}
        elif action == "other":
            new[k] = {**rec, draw(st.sampled_from(NAMES)): draw(tol_values)}
    return old, new


@settings(max_examples=60)
@given(
    pair=tolerance_pairs(),
    tol=tolerances,
    deep=st.booleans(),
    fmt=st.sampled_from(["ndjson", "json", "count"]),
)
def test_tolerance_records_against_the_oracle(tmp_path_factory, pair, tol, deep, fmt) -> None:
    old, new = pair
    tmp = tmp_path_factory.mktemp("tolr")
    out, counts = run_diff(tmp, old, new, fmt=fmt, tolerance=tol, deep=deep, range_size=3)
    want = oracle(old, new, tol, deep=deep)
    assert counts == counts_of(want, old, new)
    if fmt == "ndjson":
        assert_same_diffs(parse_ndjson(out), want)
    elif fmt == "json":
        changes, summary = parse_document(out)
        assert_same_diffs(changes, want)
        assert summary == {**counts.as_dict(), "tolerance": {"abs": tol.abs, "rel": tol.rel}}


def test_a_tolerance_must_be_finite_and_not_negative() -> None:
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(SpookyError, match="finite number >= 0"):
            Tolerance.of(bad, None)
        with pytest.raises(SpookyError, match="rel_tolerance"):
            Tolerance.of(None, bad)
    assert Tolerance.of(None, None) is None
    assert Tolerance.of(None, 1e-6) == Tolerance(0.0, 1e-6)
    summary = diff_summary(DiffCounts(1, 2, 3, 4), Tolerance(0.5, 0.0))
    assert summary == {
        "added": 1,
        "removed": 2,
        "changed": 3,
        "unchanged": 4,
        "tolerance": {"abs": 0.5, "rel": 0.0},
    }


# ---- array keys: elements matched by a field ----------------------------------------------

element_keys = st.integers(0, 6) | st.sampled_from(["a", "b", 'q"'])
elements = st.fixed_dictionaries(
    {"id": element_keys}, optional={"v": scalars, "w": st.lists(st.integers(0, 3), max_size=2)}
)
arrays = st.lists(elements, max_size=5) | st.lists(scalars | elements, max_size=3)


@st.composite
def shuffled_edit(draw: st.DrawFn, arr: list) -> list:
    """arr with elements moved, inserted, dropped or edited."""
    out = list(arr)
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(["move", "insert", "drop", "edit"]))
        if what == "insert":
            out.insert(draw(st.integers(0, len(out))), draw(elements))
        elif out and what == "move":
            out.insert(
                draw(st.integers(0, len(out) - 1)), out.pop(draw(st.integers(0, len(out) - 1)))
            )
        elif out and what == "drop":
            out.pop(draw(st.integers(0, len(out) - 1)))
        elif out and isinstance(out[-1], dict):
            out[-1] = {**out[-1], "v": draw(scalars)}
    return out


@st.composite
def array_pairs(draw: st.DrawFn) -> tuple[dict, dict]:
    old, new = {}, {}
    for k in draw(st.lists(st.integers(0, 20), unique=True, min_size=1, max_size=8)):
        items = draw(arrays)
        nested = {"items": items} if draw(st.booleans()) else {}
        old[k] = {"id": k, "items": items, "n": nested}
        new_items = draw(shuffled_edit(items))
        new[k] = {"id": k, "items": new_items, "n": {"items": new_items} if nested else {}}
    return old, new


@settings(max_examples=80)
@given(pair=array_pairs(), fmt=st.sampled_from(["ndjson", "count"]), key=st.sampled_from(["id"]))
def test_array_keys_against_matching_by_key(tmp_path_factory, pair, fmt, key) -> None:
    old, new = pair
    tmp = tmp_path_factory.mktemp("ak")
    out, counts = run_diff(tmp, old, new, fmt=fmt, array_key=key, range_size=3)
    want = oracle(old, new, array_key=key)
    assert counts == counts_of(want, old, new)
    if fmt == "ndjson":
        assert_same_diffs(parse_ndjson(out), want)


def test_an_insertion_at_the_front_is_one_change(tmp_path: Path) -> None:
    items = [{"id": i, "qty": i} for i in range(1, 6)]
    old = {1: {"id": 1, "items": items}}
    new = {1: {"id": 1, "items": [{"id": 0, "qty": 0}, *items]}}
    out, _ = run_diff(tmp_path, old, new, fmt="ndjson", deep=True)
    assert len(parse_ndjson(out)[0]["fields"]) == 11  # by position: every element changed
    out, _ = run_diff(tmp_path, old, new, fmt="ndjson", array_key="id")
    assert parse_ndjson(out)[0]["fields"] == {"items[id=0]": {"new": {"id": 0, "qty": 0}}}
    new = {1: {"id": 1, "items": [{"id": 0, "qty": 0}, *items[:2], {"id": 3, "qty": 30}]}}
    out, _ = run_diff(tmp_path, old, new, fmt="ndjson", array_key="id")
    assert parse_ndjson(out)[0]["fields"] == {
        "items[id=3].qty": {"old": 3, "new": 30},
        "items[id=4]": {"old": {"id": 4, "qty": 4}},
        "items[id=5]": {"old": {"id": 5, "qty": 5}},
        "items[id=0]": {"new": {"id": 0, "qty": 0}},
    }
    moved = {1: {"id": 1, "items": items[::-1]}}
    _, counts = run_diff(tmp_path, old, moved, fmt="count", array_key="id")
    assert counts == DiffCounts(0, 0, 0, 1)  # the order of keyed elements does not count
    _, counts = run_diff(tmp_path, old, moved, fmt="count")
    assert counts == DiffCounts(0, 0, 1, 0)


def test_array_key_names_one_field(tmp_path: Path) -> None:
    old = {1: {"id": 1, "xs": [{"a.b": 1, "v": 1}]}}
    new = {1: {"id": 1, "xs": [{"a.b": 1, "v": 2}]}}
    out, _ = run_diff(tmp_path, old, new, fmt="ndjson", array_key='"a.b"')
    assert parse_ndjson(out)[0]["fields"] == {'xs["a.b"=1].v': {"old": 1, "new": 2}}
    for bad in ("a.b", "", "  "):
        with pytest.raises(SpookyError, match="one field name"):
            run_diff(tmp_path, old, new, array_key=bad)


# ---- whole records ----------------------------------------------------------------------


@settings(max_examples=30)
@given(pair=file_pairs(int_keys), fmt=st.sampled_from(["ndjson", "json"]))
def test_full_puts_both_records_beside_the_fields(tmp_path_factory, pair, fmt) -> None:
    old, new = pair
    out, _ = run_diff(tmp_path_factory.mktemp("full"), old, new, fmt=fmt, full=True, range_size=4)
    got = parse_ndjson(out) if fmt == "ndjson" else parse_document(out)[0]
    assert_same_diffs(got, oracle(old, new, full=True))


def test_full_only_with_json_formats(tmp_path: Path) -> None:
    with pytest.raises(SpookyError, match="json and ndjson"):
        run_diff(tmp_path, {}, {}, fmt="text", full=True)
