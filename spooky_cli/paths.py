"""Paths into nested values, as text: the one syntax of filter predicates,
diff --deep and --ignore, and --key.

A path is a top-level field and then steps into its nested value, joined by
dots: user.name, events.0.type (decimal digits index an array; on an object
they are a key). A step with dots, spaces, quotes or operator characters is a
JSON string: "first name", "a.b".c. A list of paths (--key tenant,user_id) is
separated by commas; a step with a comma in it is then a JSON string too."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable

import orjson

from spooky_cli.errors import PredicateError

_BARE_STEP = re.compile(r"[^\s=!<>\".]+")
_BARE_LISTED_STEP = re.compile(r"[^\s=!<>\".,]+")  # in a list of paths


def read_path(s: str, text: str, what: str = "path", listed: bool = False) -> tuple[list[str], str]:
    """The steps of FIELD(.STEP)* at the start of s, and what follows. text
    and what name it in errors ("predicate 'a..b': expected a field name");
    listed: a comma ends a bare step."""
    steps = []
    while True:
        step, s = _read_step(s, text, what, _BARE_LISTED_STEP if listed else _BARE_STEP)
        steps.append(step)
        if not s.startswith("."):
            return steps, s
        s = s[1:]


def _read_step(s: str, text: str, what: str, bare: re.Pattern[str]) -> tuple[str, str]:
    if s.startswith('"'):
        # the shortest prefix that is a JSON string
        end = 1
        while True:
            end = s.find('"', end)
            if end < 0:
                raise PredicateError(f"{what} {text!r}: unterminated field name")
            try:
                return orjson.loads(s[: end + 1]), s[end + 1 :]
            except orjson.JSONDecodeError:
                end += 1
    m = bare.match(s)
    if not m:
        raise PredicateError(f"{what} {text!r}: expected a field name")
    return m.group(0), s[m.end() :]


def parse_path(text: str, what: str = "path") -> list[str]:
    """The steps of a whole path: 'user."x y".0' -> ['user', 'x y', '0']."""
    steps, rest = read_path(text.strip(), text, what)
    if rest.strip():
        raise PredicateError(f"{what} {text!r}: unexpected {rest.strip()!r} after the path")
    return steps


def parse_paths(text: str, what: str = "path") -> list[list[str]]:
    """The paths of a comma-separated list: 'tenant, user.id' ->
    [['tenant'], ['user', 'id']]."""
    paths = []
    s = text.strip()
    while True:
        steps, s = read_path(s, text, what, listed=True)
        paths.append(steps)
        s = s.lstrip()
        if not s:
            return paths
        if not s.startswith(","):
            raise PredicateError(f"{what} {text!r}: unexpected {s!r} after a path")
        s = s[1:].lstrip()


def path_text(steps: Iterable[str], listed: bool = False) -> str:
    """A path as parse_path reads it and diff --deep writes it: steps joined
    by dots, each bare when it can be, else a JSON string. listed: for a list
    of paths (parse_paths), where a step with a comma is a JSON string too."""
    special = '=!<>".,' if listed else '=!<>".'
    return ".".join(
        step
        if step and all(c > " " and c != "\x7f" and c not in special for c in step)
        else orjson.dumps(step).decode()
        for step in steps
    )


def projection_trees(fields: list[str]) -> tuple[list[str], bytes | None]:
    """A projection (--fields) of fields and paths into them, for the core:
    the top-level fields in the order first named, and below each the keys
    to keep of its nested value as a tree (None when every field is kept
    whole). A field named whole keeps it whole, whatever paths into it say.
    Each tree: a u32 count of children (0: the value whole), then per child
    its step (u32 length, UTF-8) and its own tree."""
    tops: dict[str, dict | None] = {}
    for text in fields:
        steps = parse_path(text, "--fields") if "." in text or text.startswith('"') else [text]
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


__all__ = ["parse_path", "parse_paths", "path_text", "projection_trees", "read_path"]
