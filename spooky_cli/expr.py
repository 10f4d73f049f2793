"""Filter expressions (`spooky filter -w`, `diff --where`): comparisons of
fields and paths joined by and, or, not and parentheses, parsed into a tree
that spooky_cli.filter compiles once into the C core's program.

    age >= 30 and (city == 'Oslo' or vip)
    events[*].type == "click" and not deleted
    tags[*] startswith "eu-" or user.email endswith ".org"

Grammar (keywords in any case; `not` binds tighter than `and`, `and` than
`or`):

    expr   := or
    or     := and ("or" and)*
    and    := not ("and" not)*
    not    := "not" not | "(" expr ")" | test
    test   := path [op value | ("in" | "not" "in") list | "contains" value
                    | ("startswith" | "endswith") string | "exists" | "missing"
                    | "is" ["not"] "null"]
    op     := "==" | "=" | "!=" | "<" | "<=" | ">" | ">="
    path   := step ("." step | "[" digits "]" | "[*]")*
    step   := a bare name, or a JSON string ("first name")
    value  := a string in double or single quotes, or any other JSON value

A bare path is true when its field is `true`. `[*]` steps into every element
of an array: the test holds when it holds for some element."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn

import orjson

from spooky_cli.errors import PredicateError

ANY = None  # a [*] step

COMPARISONS = ("==", "=", "!=", "<=", ">=", "<", ">")
WORD_OPS = ("in", "contains", "startswith", "endswith", "exists", "missing", "is")
KEYWORDS = {"and", "or", "not", *WORD_OPS, "null"}


@dataclass(frozen=True)
class Comparison:
    """One comparison: a path (its steps: names, array indexes as digits, ANY
    for [*]), an operator and its value as JSON text (b"" when it takes none)."""

    path: tuple[str | None, ...]
    op: str  # == != < <= > >= in "not in" contains startswith endswith exists missing
    # "is null" "is not null" true
    value: bytes
    text: str  # the test as written


@dataclass(frozen=True)
class All:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Some:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Comparison | All | Some | Not


class ExpressionError(PredicateError):
    """An expression that does not parse: the message says what was expected,
    `column` (0-based) where, and str() shows the expression with a caret."""

    def __init__(self, expr: str, column: int, message: str, hint: str = ""):
        self.expr, self.column, self.reason, self.hint = expr, column, message, hint
        caret = " " * column + "^"
        tail = f" ({hint})" if hint else ""
        super().__init__(f"in {expr!r}: {message}{tail}\n  {expr}\n  {caret}")


_SPACE = re.compile(r"\s*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BARE = re.compile(r"[^\s=!<>\"'.\[\]()&|,]+")
_WORD = re.compile(r"[A-Za-z_]+")
_INDEX = re.compile(r"\[([0-9]+)\]")
# typical slips and what was meant
_MISTAKES = (("===", "=="), ("=>", ">="), ("=<", "<="), ("&&", "and"), ("||", "or"), ("<>", "!="))


def parse(expr: str) -> Node:
    """The tree of an expression; ExpressionError says where it goes wrong."""
    p = _Parser(expr)
    node = p.expression()
    p.skip()
    if p.at < len(expr):
        p.fail("and, or or the end expected", p.hint_at())
    return node


class _Parser:
    def __init__(self, text: str):
        self.text, self.at = text, 0

    # -- characters and words ----------------------------------------------------------

    def skip(self) -> None:
        self.at = _SPACE.match(self.text, self.at).end()  # type: ignore[union-attr]

    def fail(self, message: str, hint: str = "", at: int | None = None) -> NoReturn:
        raise ExpressionError(self.text, self.at if at is None else at, message, hint)

    def peek_word(self) -> str:
        self.skip()
        m = _WORD.match(self.text, self.at)
        if not m:
            return ""
        end = m.end()
        if end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "_."):
            return ""  # part of a longer name or a path: not a keyword
        return m.group(0).lower()

    def take_word(self, word: str) -> bool:
        if self.peek_word() == word:
            self.at += len(word)
            return True
        return False

    def hint_at(self) -> str:
        rest = self.text[self.at :]
        pairs = (
            ("===", "=="),
            ("=>", ">="),
            ("=<", "<="),
            ("&&", "and"),
            ("||", "or"),
            ("<>", "!="),
        )
        for wrong, right in pairs:
            if rest.startswith(wrong):
                return f"did you mean {right}?"
        if rest.startswith("=="):
            return "one comparison per test: join tests with and / or"
        return ""

    # -- the grammar ---------------------------------------------------------------------

    def expression(self) -> Node:
        items = [self.conjunction()]
        while self.take_word("or"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Some(tuple(items))

    def conjunction(self) -> Node:
        items = [self.negation()]
        while self.take_word("and"):
            items.append(self.negation())
        return items[0] if len(items) == 1 else All(tuple(items))

    def negation(self) -> Node:
        self.skip()
        start = self.at
        if self.take_word("not"):
            if self.peek_word() == "in":  # "not in" after nothing: a test is missing
                self.fail("a field expected before not in", at=start)
            return Not(self.negation())
        if self.text.startswith("(", self.at):
            self.at += 1
            node = self.expression()
            self.skip()
            if not self.text.startswith(")", self.at):
                self.fail(") expected", self.hint_at())
            self.at += 1
            return node
        return self.test()

    def test(self) -> Node:
        self.skip()
        start = self.at
        if self.at >= len(self.text):
            self.fail("a field expected")
        word = self.peek_word()
        if word in KEYWORDS:
            self.fail(f"a field expected, not {word!r}", f'a field named so is written "{word}"')
        path = self.path()
        self.skip()
        op = self.operator()
        if op is None:
            return Comparison(path, "true", b"", self.text[start : self.at].strip())
        if op in ("exists", "missing", "is null", "is not null"):
            return Comparison(path, op, b"", self.text[start : self.at].strip())
        self.skip()
        value_at = self.at
        if self.at >= len(self.text):
            self.fail("value expected")
        if op in ("in", "not in"):
            value = self.value()
            if not value.startswith(b"["):
                self.fail(f"{op} takes a list: {op} [1, 2]", at=value_at)
        elif op in ("startswith", "endswith"):
            value = self.value()
            if not value.startswith(b'"'):
                self.fail(f"{op} takes a string: {op} 'x'", at=value_at)
        else:
            value = self.value()
        return Comparison(path, op, value, self.text[start : self.at].strip())

    def operator(self) -> str | None:
        self.skip()
        for sym in COMPARISONS:
            if self.text.startswith(sym, self.at):
                self.at += len(sym)
                if self.text.startswith(("=", ">", "<"), self.at) and sym in ("=", "==", "<", ">"):
                    self.at -= len(sym)
                    self.fail("an operator expected", self.hint_at() or "did you mean ==?")
                return "==" if sym == "=" else sym
        hint = self.hint_at()
        if hint:
            self.fail("an operator expected", hint)
        word = self.peek_word()
        if word == "not":
            save = self.at
            self.at += 3
            if self.take_word("in"):
                return "not in"
            self.at = save
            return None
        if word == "is":
            self.at += 2
            negated = self.take_word("not")
            if not self.take_word("null"):
                self.fail("null expected after is" + (" not" if negated else ""))
            return "is not null" if negated else "is null"
        if word in WORD_OPS:
            self.at += len(word)
            return word
        return None

    def path(self) -> tuple[str | None, ...]:
        steps: list[str | None] = [self.step()]
        while self.at < len(self.text):
            if self.text.startswith("[*]", self.at):
                self.at += 3
                steps.append(ANY)
            elif self.text.startswith("[", self.at):
                m = _INDEX.match(self.text, self.at)
                if not m:
                    self.fail("[digits] or [*] expected")
                steps.append(m.group(1))
                self.at = m.end()
            elif self.text.startswith(".", self.at):
                self.at += 1
                steps.append(self.step())
            else:
                break
        return tuple(steps)

    def step(self) -> str:
        if self.text.startswith('"', self.at):
            return self.double_quoted("unterminated field name")
        m = _BARE.match(self.text, self.at)
        if not m:
            self.fail("a field expected", self.hint_at())
        self.at = m.end()
        return m.group(0)

    # -- values ---------------------------------------------------------------------

    def value(self) -> bytes:
        """The JSON text of a value: strings in either quotes, lists of values,
        anything else JSON (numbers, true, false, null, objects)."""
        self.skip()
        c = self.text[self.at : self.at + 1]
        start = self.at
        if c == '"':
            return orjson.dumps(self.double_quoted("unterminated string"))
        if c == "'":
            return orjson.dumps(self.single_quoted())
        if c == "[":
            self.at += 1
            items = []
            self.skip()
            if self.text.startswith("]", self.at):
                self.at += 1
                return b"[]"
            while True:
                items.append(self.value())
                self.skip()
                if self.text.startswith(",", self.at):
                    self.at += 1
                    continue
                if self.text.startswith("]", self.at):
                    self.at += 1
                    return b"[" + b",".join(items) + b"]"
                self.fail(", or ] expected")
        if c == "{":
            return self.json_object()
        m = _NUMBER.match(self.text, self.at)
        if m and not _BARE.match(self.text, m.end()):
            self.at = m.end()
            return m.group(0).encode()
        word = self.peek_word()
        if word in ("true", "false", "null"):
            self.at += len(word)
            return word.encode()
        m = _BARE.match(self.text, self.at)
        if m:
            bare = m.group(0)
            self.fail("value expected", f"quote strings: '{bare}'", at=start)
        self.fail("value expected")

    def double_quoted(self, unterminated: str) -> str:
        start = self.at
        end = start + 1
        while True:
            end = self.text.find('"', end)
            if end < 0:
                self.fail(unterminated, at=start)
            try:
                value = orjson.loads(self.text[start : end + 1])
            except orjson.JSONDecodeError:
                end += 1
                continue
            self.at = end + 1
            return str(value)

    def single_quoted(self) -> str:
        start = self.at
        out, i = [], start + 1
        while i < len(self.text):
            ch = self.text[i]
            if ch == "\\" and i + 1 < len(self.text):
                out.append(self.text[i + 1])
                i += 2
                continue
            if ch == "'":
                self.at = i + 1
                return "".join(out)
            out.append(ch)
            i += 1
        self.fail("unterminated string", at=start)

    def json_object(self) -> bytes:
        start, depth, i, quoted = self.at, 0, self.at, False
        while i < len(self.text):
            ch = self.text[i]
            if quoted:
                if ch == "\\":
                    i += 1
                elif ch == '"':
                    quoted = False
            elif ch == '"':
                quoted = True
            elif ch in "{[":
                depth += 1
            elif ch in "}]":
                depth -= 1
                if depth == 0:
                    try:
                        value = orjson.loads(self.text[start : i + 1])
                    except orjson.JSONDecodeError:
                        self.fail("not a JSON object", at=start)
                    self.at = i + 1
                    return orjson.dumps(value)
            i += 1
        self.fail("unterminated object", at=start)


def fields_of(node: Node) -> list[str]:
    """The top-level fields an expression reads, in order of appearance."""
    out: dict[str, None] = {}

    def walk(n: Node) -> None:
        if isinstance(n, Comparison):
            out.setdefault(str(n.path[0]), None)
        elif isinstance(n, Not):
            walk(n.item)
        else:
            for item in n.items:
                walk(item)

    walk(node)
    return list(out)
