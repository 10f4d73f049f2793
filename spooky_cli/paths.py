"""Paths into records: a top-level field, then keys of nested objects (or
decimal indexes of arrays), as filter predicates, diff --deep and --fields
read and write them: user.name, events.0.type, "first name", "a.b".c. A step
with dots, spaces, quotes or operator characters is a JSON string."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable

import orjson

from spooky_cli.errors import PredicateError

_BARE_FIELD = re.compile(r"[^\s=!<>\".]+")


def parse_path(text: str) -> list[str]:
    """The steps of a whole path: 'user."x y".0' -> ['user', 'x y', '0']."""
    steps, rest = _parse_path(text.strip(), text)
    if rest.strip():
        raise PredicateError(f"path {text!r}: unexpected {rest.strip()!r} after the path")
    return steps


def path_text(steps: Iterable[str]) -> str:
    """A path as filter reads it and diff --deep writes it: steps joined by
    dots, each bare when it can be, else a JSON string."""
    return ".".join(
        step
        if step and all(c > " " and c != "\x7f" and c not in '=!<>".' for c in step)
        else orjson.dumps(step).decode()
        for step in steps
    )


def _parse_path(s: str, text: str) -> tuple[list[str], str]:
    """The steps of FIELD(.STEP)* at the start of s, and what follows."""
    steps = []
    while True:
        step, s = _parse_step(s, text)
        steps.append(step)
        if not s.startswith("."):
            return steps, s
        s = s[1:]


def _parse_step(s: str, text: str) -> tuple[str, str]:
    if s.startswith('"'):
        # the shortest prefix that is a JSON string
        end = 1
        while True:
            end = s.find('"', end)
            if end < 0:
                raise PredicateError(f"predicate {text!r}: unterminated field name")
            try:
                return orjson.loads(s[: end + 1]), s[end + 1 :]
            except orjson.JSONDecodeError:
                end += 1
    m = _BARE_FIELD.match(s)
    if not m:
        raise PredicateError(f"predicate {text!r}: expected a field name")
    return m.group(0), s[m.end() :]


def projection_trees(fields: list[str]) -> tuple[list[str], bytes | None]:
    """A projection (--fields) of fields and paths into them, for the core:
    the top-level fields in the order first named, and below each the keys
    to keep of its nested value as a tree (None when every field is kept
    whole). A field named whole keeps it whole, whatever paths into it say.
    Each tree: a u32 count of children (0: the value whole), then per child
    its step (u32 length, UTF-8) and its own tree."""
    tops: dict[str, dict | None] = {}
    for text in fields:
        steps = parse_path(text) if "." in text or text.startswith('"') else [text]
        node: dict | None = tops.setdefault(steps[0], {} if steps[1:] else None)
        if not steps[1:]:
            tops[steps[0]] = None
            continue
        for i, step in enumerate(steps[1:], start=1):
            if node is None:  # kept whole above
                break
            if i == len(steps) - 1:
                node[step] = None
            else:
                node = node.setdefault(step, {})
    if all(tree is None for tree in tops.values()):
        return list(tops), None
    return list(tops), b"".join(_tree_bytes(tree) for tree in tops.values())


def _tree_bytes(tree: dict | None) -> bytes:
    if tree is None:
        return struct.pack("<I", 0)
    out = [struct.pack("<I", len(tree))]
    for step, below in tree.items():
        raw = step.encode("utf-8")
        out += [struct.pack("<I", len(raw)), raw, _tree_bytes(below)]
    return b"".join(out)
