"""What a filter expression means (docs/CLI.md, "Expressions"), in plain
Python over records as dicts: the oracle the C evaluator is tested against.

- Numbers compare by value across integers and floats (Python compares int
  and float exactly); strings by code point; null, booleans, arrays and
  objects only with == and != (same type, same value, numbers in them by
  type too: [1] is not [1.0]).
- A path leads into objects by key and arrays by index; where it leads
  nowhere, the field is missing. A missing field matches only !=, not in,
  missing and is null.
- `x is null`: missing or null; `x is not null`: there and not null.
- `startswith` / `endswith`: strings only. `contains`: an element of an array,
  or a part of a string. A bare path: the value true.
- `[*]` steps into every element of an array: the comparison holds when it
  holds for some value the path reaches; when it reaches none, as for a
  missing field."""

from __future__ import annotations

from typing import Any

import orjson

from spooky_cli.expr import ANY, All, Comparison, Node, Not, Some

MISSING = object()


def kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "list" if isinstance(v, list) else "object"


def same(a: Any, b: Any) -> bool:
    """Equal as canonical values: numbers in arrays and objects by type too."""
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        b, option=orjson.OPT_SORT_KEYS
    )


def reach(value: Any, steps: tuple[str | None, ...]) -> list[Any]:
    """The values a path's steps reach from value (none: missing)."""
    if not steps:
        return [value]
    step, rest = steps[0], steps[1:]
    if step is ANY:
        return [v for e in value for v in reach(e, rest)] if isinstance(value, list) else []
    if isinstance(value, dict):
        return reach(value[step], rest) if step in value else []
    if isinstance(value, list) and step.isdigit() and int(step) < len(value):
        return reach(value[int(step)], rest)
    return []


def compare(v: Any, op: str, literal: Any) -> bool:
    """One present value against a literal."""
    if op == "true":
        return v is True
    if op in ("exists", "is not null"):
        return op == "exists" or v is not None
    if op == "missing":
        return False
    if op == "is null":
        return v is None
    if op in ("in", "not in"):
        found = any(compare(v, "==", item) for item in literal)
        return found if op == "in" else not found
    if op == "contains":
        if isinstance(v, str) and isinstance(literal, str):
            return literal in v
        return isinstance(v, list) and any(compare(e, "==", literal) for e in v)
    if op in ("startswith", "endswith"):
        return isinstance(v, str) and (
            v.startswith(literal) if op == "startswith" else v.endswith(literal)
        )
    if kind(v) == kind(literal) and kind(v) in ("number", "string"):
        c = (v > literal) - (v < literal)
        return {"==": c == 0, "!=": c != 0, "<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[op]
    equal = kind(v) == kind(literal) and same(v, literal)
    return {"==": equal, "!=": not equal}.get(op, False)


def holds(rec: dict, test: Comparison) -> bool:
    top, steps = test.path[0], test.path[1:]
    values = reach(rec[top], steps) if top in rec else []
    literal = orjson.loads(test.value) if test.value else None
    if not values:  # missing
        return test.op in ("!=", "not in", "missing", "is null")
    return any(compare(v, test.op, literal) for v in values)


def evaluate(node: Node, rec: dict) -> bool:
    if isinstance(node, Comparison):
        return holds(rec, node)
    if isinstance(node, Not):
        return not evaluate(node.item, rec)
    if isinstance(node, All):
        return all(evaluate(n, rec) for n in node.items)
    assert isinstance(node, Some)
    return any(evaluate(n, rec) for n in node.items)
