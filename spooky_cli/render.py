"""The one place that talks to people: errors, warnings, progress and summaries
on stderr (Rich), honouring --color, NO_COLOR, TERM=dumb and --quiet. Data go to
stdout elsewhere, never through here.

Rich is imported when something is first shown, not before: a quiet command
that writes no message (`spooky convert ... -q`) starts without it."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

_color = "auto"
_quiet = False  # the global --quiet: no progress and no summary, in any command
_consoles: dict[bool, Console] = {}  # by stderr?, made on first use


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def set_color(mode: str) -> None:
    global _color
    _color = mode
    _consoles.clear()


def _console(stderr: bool) -> Console:
    """A console on sys.stderr/sys.stdout as they are at each write (so test
    runners that swap them capture it)."""
    from rich.console import Console

    no_color = _color == "never" or (
        _color == "auto" and ("NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb")
    )
    force = True if _color == "always" else None
    return Console(
        stderr=stderr,
        no_color=no_color,
        force_terminal=force,
        color_system=None if no_color else "auto",
        highlight=False,
        soft_wrap=True,
    )


def stderr() -> Console:
    console = _consoles.get(True)
    if console is None:
        console = _consoles[True] = _console(stderr=True)
    return console


def stdout() -> Console:
    console = _consoles.get(False)
    if console is None:
        console = _consoles[False] = _console(stderr=False)
    return console


def stdout_color() -> bool:
    """Whether data written to stdout may carry ANSI colours (a terminal, colour on)."""
    return stdout().is_terminal and not stdout().no_color


def _plain_stderr() -> bool:
    """Whether stderr takes plain text: not a terminal (so no colour and no
    live bar to print above) and colour not forced. Plain lines cost ~1 us,
    Rich's ~100 us: 10,000 skipped lines, 10,000 warnings."""
    if _color == "always" or "FORCE_COLOR" in os.environ:
        return False
    try:
        return not sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced by an object without it
        return False


def _plain(line: str) -> None:
    sys.stderr.write(line)
    sys.stderr.flush()  # stderr is line-buffered anyway; a test runner's is not


def error(message: str) -> None:
    """One line, `spooky: error: ...`, never markup-interpreted."""
    if _plain_stderr():
        _plain(f"spooky: error: {message}\n")
    else:
        stderr().print(f"[bold red]spooky: error:[/] {_escape(message)}")


def warning(message: str) -> None:
    if _plain_stderr():
        _plain(f"spooky: warning: {message}\n")
    else:
        stderr().print(f"[yellow]spooky: warning:[/] {_escape(message)}")


def note(message: str) -> None:
    if _plain_stderr():
        _plain(f"{message}\n")
    else:
        stderr().print(_escape(message))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


class _NoProgress:
    def advance(self, n: int) -> None:
        pass

    def add_records(self, n: int) -> None:
        pass

    def set_total(self, total: int | None) -> None:
        pass


class _Bar:
    """A progress bar that shows itself only once the work has taken `delay`
    seconds (short commands draw nothing), and is gone from the screen when
    the block ends, before any summary is printed."""

    def __init__(self, columns: list[Any], description: str, total: int | None, delay: float):
        self._columns, self._description, self._total = columns, description, total
        self._shown_at = time.monotonic() + delay
        self._done = self._records = 0
        self._progress: Progress | None = None
        self._task: Any = None

    def _show(self) -> bool:
        if self._progress is None and time.monotonic() >= self._shown_at:
            from rich.progress import Progress

            self._progress = Progress(*self._columns, console=stderr(), transient=True)
            self._task = self._progress.add_task(
                self._description, total=self._total, completed=self._done, records=None
            )
            if self._records:
                self._progress.update(self._task, records=self._records)
            self._progress.start()
        return self._progress is not None

    def advance(self, n: int) -> None:
        self._done += n
        if self._show():
            assert self._progress is not None
            self._progress.update(self._task, completed=self._done)

    def add_records(self, n: int) -> None:
        self._records += n
        if self._show():
            assert self._progress is not None
            self._progress.update(self._task, records=self._records)

    def set_total(self, total: int | None) -> None:
        self._total = total
        if self._progress is not None:
            self._progress.update(self._task, total=total)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()  # transient: the bar leaves no line behind
            self._progress = None


def _columns(unit: str) -> list[Any]:
    """A bar's columns: bytes read and speed (records/s once counted), or
    records done of a total."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.text import Text

    class RecordsColumn(ProgressColumn):
        """Records done and records per second, for tasks that count them."""

        def render(self, task: Any) -> Text:
            records = task.fields.get("records")
            if records is None:
                return Text("")
            rate = records / task.elapsed if task.elapsed else 0
            return Text(f"{records:,} records, {rate:,.0f}/s")

    class CountColumn(ProgressColumn):
        """done/total with thousands separators: 1,234,567/2,000,000."""

        def render(self, task: Any) -> Text:
            total = f"{int(task.total):,}" if task.total is not None else "?"
            return Text(f"{int(task.completed):,}/{total}")

    if unit == "records":
        return [
            TextColumn("{task.description}"),
            BarColumn(),
            CountColumn(),
            TextColumn("records"),
            TimeRemainingColumn(),
        ]
    return [
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        RecordsColumn(),
        TimeRemainingColumn(),
    ]


def _shares_terminal_with_stdout() -> bool:
    """Whether stdout is the terminal stderr is: data written there would
    land in the middle of a bar."""
    try:
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
        return os.isatty(sys.stdout.fileno()) and out.st_rdev == err.st_rdev
    except (AttributeError, ValueError, OSError):
        return False


PROGRESS_DELAY = 1.0  # seconds of work before a bar appears


@contextmanager
def progress(
    description: str,
    total: int | None,
    quiet: bool = False,
    unit: str = "bytes",
    data_to_stdout: bool = False,
) -> Iterator[Any]:
    """A progress bar on stderr: bytes read and speed (records/s once
    counted), or with unit="records" records done. Drawn only when stderr is
    a terminal, only after PROGRESS_DELAY seconds of work, and never while
    the command's data go to stdout on that same terminal; removed from the
    screen when the block ends."""
    if (
        quiet
        or _quiet
        or not stderr().is_terminal
        or (data_to_stdout and _shares_terminal_with_stdout())
    ):
        yield _NoProgress()
        return
    bar = _Bar(_columns(unit), description, total, PROGRESS_DELAY)
    try:
        yield bar
    finally:
        bar.stop()


def mb(n: int) -> str:
    """A byte count for people: 512 B, 3.4 kB, 40.6 MB, 1.2 GB."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def timing(seconds: float, records: int | None = None) -> list[str]:
    """A summary's time, and its rate when the work took long enough for one
    to mean something: ['12 ms'], ['2.41 s', '415,000 records/s']."""
    if seconds < 1:
        parts = [f"{seconds * 1000:.0f} ms"]
    else:
        parts = [f"{seconds:.2f} s"]
    if records is not None and seconds >= 0.1:
        parts.append(f"{records / seconds:,.0f} records/s")
    return parts


def count(n: int, noun: str) -> str:
    """'1 record', '2,000 records'."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def summary(parts: list[str], quiet: bool = False) -> None:
    """The one-line summary at the end of a command."""
    if not quiet and not _quiet:
        stderr().print(_escape(", ".join(parts)))


def table(
    title: str | None, columns: list[str], rows: list[list[Any]], out: Console | None = None
) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_edge=False)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[_escape(str(v)) for v in r])
    (out or stdout()).print(t)


def key_values(pairs: list[tuple[str, Any]], out: Console | None = None) -> None:
    width = max((len(k) for k, _ in pairs), default=0)
    for k, v in pairs:
        (out or stdout()).print(f"[bold]{_escape(k.ljust(width))}[/]  {_escape(str(v))}")
