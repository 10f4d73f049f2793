"""The one place that talks to people: errors, warnings, progress and summaries
on stderr (Rich), honouring --color, NO_COLOR, TERM=dumb and --quiet. Data go to
stdout elsewhere, never through here."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

_color = "auto"


def set_color(mode: str) -> None:
    global _color, _stderr, _stdout
    _color = mode
    _stderr = _console(sys.stderr)
    _stdout = _console(sys.stdout)


def _console(stream: Any) -> Console:
    no_color = _color == "never" or (_color == "auto" and (
        "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb"))
    force = True if _color == "always" else None
    return Console(file=stream, no_color=no_color, force_terminal=force,
                   color_system=None if no_color else "auto", highlight=False,
                   soft_wrap=True)


_stderr = _console(sys.stderr)
_stdout = _console(sys.stdout)


def stderr() -> Console:
    return _stderr


def stdout() -> Console:
    return _stdout


def error(message: str) -> None:
    """One line, `spooky: error: ...`, never markup-interpreted."""
    _stderr.print(f"[bold red]spooky: error:[/] {_escape(message)}")


def warning(message: str) -> None:
    _stderr.print(f"[yellow]spooky: warning:[/] {_escape(message)}")


def note(message: str) -> None:
    _stderr.print(_escape(message))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


class _NoProgress:
    def advance(self, n: int) -> None:
        pass

    def set_total(self, total: int | None) -> None:
        pass


class _Bar:
    def __init__(self, progress: Progress, task: Any):
        self._progress, self._task = progress, task

    def advance(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def set_total(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)


@contextmanager
def progress(description: str, total_bytes: int | None, quiet: bool = False) -> Iterator[Any]:
    """A byte-progress bar on stderr, only when stderr is a terminal."""
    if quiet or not _stderr.is_terminal:
        yield _NoProgress()
        return
    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=_stderr, transient=True) as bar:
        yield _Bar(bar, bar.add_task(description, total=total_bytes))


def mb(n: int) -> str:
    """A byte count for people: 512 B, 3.4 kB, 40.6 MB, 1.2 GB."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def summary(parts: list[str], quiet: bool = False) -> None:
    """The one-line summary at the end of a command."""
    if not quiet:
        _stderr.print(_escape(", ".join(parts)))


def table(title: str, columns: list[str], rows: list[list[Any]], out: Console | None = None) -> None:
    t = Table(title=title, title_justify="left", show_edge=False)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[_escape(str(v)) for v in r])
    (out or _stdout).print(t)


def key_values(pairs: list[tuple[str, Any]], out: Console | None = None) -> None:
    width = max((len(k) for k, _ in pairs), default=0)
    for k, v in pairs:
        (out or _stdout).print(f"[bold]{_escape(k.ljust(width))}[/]  {_escape(str(v))}")
