"""The filter expression language's parser (spooky_cli/expr.py): precedence,
paths, values, and every parse error with the column of its caret."""

from __future__ import annotations

import pytest

from spooky_cli.expr import ANY, All, Comparison, ExpressionError, Not, fields_of, parse


def t(path: tuple, op: str, value: bytes = b"") -> tuple:
    return (path, op, value)


def shape(node) -> object:
    """A tree without the tests' texts, for comparison."""
    if isinstance(node, Comparison):
        return t(node.path, node.op, node.value)
    if isinstance(node, Not):
        return ("not", shape(node.item))
    return ("and" if isinstance(node, All) else "or", tuple(shape(i) for i in node.items))


@pytest.mark.parametrize(
    "text, want",
    [
        ("age >= 30", t(("age",), ">=", b"30")),
        ("city = 'Zürich'", t(("city",), "==", '"Zürich"'.encode())),
        ('a != "x\\"y"', t(("a",), "!=", b'"x\\"y"')),
        ("a in [1, 'b', \"c\", [2]]", t(("a",), "in", b'[1,"b","c",[2]]')),
        ("a NOT IN []", t(("a",), "not in", b"[]")),
        ("tags contains 'vip'", t(("tags",), "contains", b'"vip"')),
        ("name StartsWith 'A'", t(("name",), "startswith", b'"A"')),
        ("name endswith 'z'", t(("name",), "endswith", b'"z"')),
        ("x exists", t(("x",), "exists")),
        ("x missing", t(("x",), "missing")),
        ("x is null", t(("x",), "is null")),
        ("x IS NOT NULL", t(("x",), "is not null")),
        ("active", t(("active",), "true")),
        ("events[*].type == 'click'", t(("events", ANY, "type"), "==", b'"click"')),
        ("tags[*] startswith 'eu'", t(("tags", ANY), "startswith", b'"eu"')),
        ('u."x y"[0].z <= -1.5e3', t(("u", "x y", "0", "z"), "<=", b"-1.5e3")),
        ('m == {"a": [1, 2]}', t(("m",), "==", b'{"a":[1,2]}')),
        ("n == 123456789012345678901234567890", t(("n",), "==", b"123456789012345678901234567890")),
        ("x == NULL", t(("x",), "==", b"null")),
        ("x == True", t(("x",), "==", b"true")),
    ],
)
def test_tests(text: str, want: tuple) -> None:
    assert shape(parse(text)) == want


def test_precedence_not_and_or() -> None:
    a, b, c = (t((n,), "true") for n in "abc")
    assert shape(parse("a or b and c")) == ("or", (a, ("and", (b, c))))
    assert shape(parse("not a and b")) == ("and", (("not", a), b))
    assert shape(parse("not (a or b)")) == ("not", ("or", (a, b)))
    assert shape(parse("(a or b) and c")) == ("and", (("or", (a, b)), c))
    assert shape(parse("a AND b Or NOT c")) == ("or", (("and", (a, b)), ("not", c)))
    assert shape(parse("not not a")) == ("not", ("not", a))


def test_fields_of() -> None:
    assert fields_of(parse("b.x > 1 and (a or not b) or c[*] == 1")) == ["b", "a", "c"]


@pytest.mark.parametrize(
    "text, column, message",
    [
        ("age >= ", 7, "value expected"),
        ("age => 30", 4, "did you mean >="),
        ("age =< 30", 4, "did you mean <="),
        ("a <> 1", 2, "did you mean !="),
        ("a === 1", 2, "did you mean =="),
        ("city == Oslo", 8, "quote strings: 'Oslo'"),
        ("a && b", 2, "did you mean and"),
        ("a || b", 2, "did you mean or"),
        ("(a or b", 7, ") expected"),
        ("a or", 4, "a field expected"),
        ("and a", 0, "a field expected, not 'and'"),
        ("a == 1 == 2", 7, "one comparison per test"),
        ("a in 3", 5, "in takes a list"),
        ("a startswith 3", 13, "startswith takes a string"),
        ("x is nul", 5, "null expected after is"),
        ("a == 'oops", 5, "unterminated string"),
        ('"a == 1', 0, "unterminated field name"),
        ("a[x] == 1", 1, "[digits] or [*] expected"),
        ("a in [1, 2", 10, ", or ] expected"),
        ("a == {1}", 5, "not a JSON object"),
        ("", 0, "a field expected"),
        ("a b", 2, "and, or or the end expected"),
    ],
)
def test_errors_point_at_the_place(text: str, column: int, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    err = info.value
    assert err.column == column, str(err)
    assert message in str(err)
    lines = str(err).splitlines()
    assert lines[1] == "  " + text and lines[2] == "  " + " " * column + "^"
