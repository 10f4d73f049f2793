"""Paths into nested values, as text: the one syntax of filter predicates,
diff --deep and --ignore, and --key.

A path is a top-level field and then steps into its nested value, joined by
dots: user.name, events.0.type (decimal digits index an array; on an object
they are a key). A step with dots, spaces, quotes or operator characters is a
JSON string: "first name", "a.b".c. A list of paths (--key tenant,user_id) is
separated by commas; a step with a comma in it is then a JSON string too."""

from __future__ import annotations

import re
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


__all__ = ["parse_path", "parse_paths", "path_text", "read_path"]
