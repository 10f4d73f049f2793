"""The one place that talks to people: errors, warnings, progress and summaries
on stderr (Rich), honouring --color, NO_COLOR, TERM=dumb and --quiet. Data go to
stdout elsewhere, never through here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

_color = "auto"


def set_color(mode: str) -> None:
    global _color, _stderr, _stdout
    _color = mode
    _stderr = _console(stderr=True)
    _stdout = _console(stderr=False)


def _console(stderr: bool) -> Console:
    """A console on sys.stderr/sys.stdout as they are at each write (so test
    runners that swap them capture it)."""
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


_stderr = _console(stderr=True)
_stdout = _console(stderr=False)


def stderr() -> Console:
    return _stderr


def stdout() -> Console:
    return _stdout


def stdout_color() -> bool:
    """Whether data written to stdout may carry ANSI colours (a terminal, colour on)."""
    return _stdout.is_terminal and not _stdout.no_color


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

    def add_records(self, n: int) -> None:
        pass

    def set_total(self, total: int | None) -> None:
        pass


class _Bar:
    def __init__(self, progress: Progress, task: Any):
        self._progress, self._task = progress, task
        self._records = 0

    def advance(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def add_records(self, n: int) -> None:
        self._records += n
        self._progress.update(self._task, records=self._records)

    def set_total(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)


class _RecordsColumn(ProgressColumn):
    """Records done and records per second, for tasks that count them."""

    def render(self, task: Any) -> Text:
        records = task.fields.get("records")
        if records is None:
            return Text("")
        rate = records / task.elapsed if task.elapsed else 0
        return Text(f"{records:,} records, {rate:,.0f}/s")


@contextmanager
def progress(
    description: str, total: int | None, quiet: bool = False, unit: str = "bytes"
) -> Iterator[Any]:
    """A progress bar on stderr, only when stderr is a terminal: bytes read and
    speed (records/s once counted), or with unit="records" records done."""
    if quiet or not _stderr.is_terminal:
        yield _NoProgress()
        return
    if unit == "records":
        columns: list[Any] = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("records"),
            TimeRemainingColumn(),
        ]
    else:
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            _RecordsColumn(),
            TimeRemainingColumn(),
        ]
    with Progress(*columns, console=_stderr, transient=True) as bar:
        yield _Bar(bar, bar.add_task(description, total=total))


def mb(n: int) -> str:
    """A byte count for people: 512 B, 3.4 kB, 40.6 MB, 1.2 GB."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def count(n: int, noun: str) -> str:
    """'1 record', '2,000 records'."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def summary(parts: list[str], quiet: bool = False) -> None:
    """The one-line summary at the end of a command."""
    if not quiet:
        _stderr.print(_escape(", ".join(parts)))


def table(
    title: str, columns: list[str], rows: list[list[Any]], out: Console | None = None
) -> None:
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


# ---- spooky bench -------------------------------------------------------------------


class _NoSteps:
    def step(self, description: str) -> None:
        pass


class _Steps:
    def __init__(self, progress: Progress, task: Any):
        self._progress, self._task, self._started = progress, task, False

    def step(self, description: str) -> None:
        """Marks the previous step done and shows what runs now."""
        if self._started:
            self._progress.advance(self._task, 1)
        self._started = True
        self._progress.update(self._task, description=_escape(description))


@contextmanager
def bench_progress(total_steps: int, quiet: bool = False) -> Iterator[Any]:
    """A step-progress bar on stderr (only when it is a terminal): .step(text)."""
    if quiet or not _stderr.is_terminal:
        yield _NoSteps()
        return
    from rich.progress import MofNCompleteColumn, TimeElapsedColumn

    columns = [
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=_stderr, transient=True) as bar:
        yield _Steps(bar, bar.add_task("bench", total=total_steps))


_EIGHTHS = " ▏▎▍▌▋▊▉"


def speed_bar(speedup: float | None, width: int = 16, full_at: float = 8.0) -> str:
    """A bar as long as the speedup (full at full_at times; '+' past it), green
    when ours is faster, red when slower; markup."""
    import math

    if speedup is None or math.isnan(speedup):
        return ""
    cells = min(speedup, full_at) / full_at * width
    whole, part = int(cells), int((cells - int(cells)) * 8)
    text = "█" * whole + (_EIGHTHS[part] if part and whole < width else "")
    if not text:
        text = "▏"
    if speedup > full_at:
        text += "+"
    colour = "green" if speedup >= 1.0 else "red"
    return f"[{colour}]{text}[/]"


def _num(x: float | None, decimals: int | None = None) -> str:
    if x is None:
        return "—"
    if decimals is not None:
        return f"{x:,.{decimals}f}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _speedup(s: float | None) -> str:
    return "—" if s is None else f"{s:.2f}x"


def _grid(title: str, columns: list[tuple[str, str]]) -> Table:
    from rich import box

    t = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
    )
    for c, j in columns:
        t.add_column(c, justify=j, no_wrap=True)  # type: ignore[arg-type]
    return t


def bench_results(
    machine: list[tuple[str, str]],
    rows: list[dict[str, Any]],
    footnotes: list[str],
    out: Console | None = None,
) -> None:
    """The machine, one table for the per-operation rows (ns, lower is better)
    and one for the command rows (records/s, higher is better), each row with
    its speedup and a bar, then what every baseline is."""
    console = out or _stdout
    key_values(machine, out=console)
    timed = [r for r in rows if not r["unit"].endswith("/s")]
    rates = [r for r in rows if r["unit"].endswith("/s")]
    if timed:
        t = _grid(
            "\nper operation: ns, lower is better; speedup = baseline / ours",
            [
                ("group", "left"),
                ("name", "left"),
                ("ours", "right"),
                ("baseline", "right"),
                ("speedup", "right"),
                ("", "left"),
            ],
        )
        previous = None
        for r in timed:
            group = r["group"] if r["group"] != previous else ""
            previous = r["group"]
            t.add_row(
                _escape(group),
                _escape(r["name"]),
                _num(r["ours"]),
                _num(r["baseline"]),
                _speedup(r["speedup"]),
                speed_bar(r["speedup"], width=12),
            )
        console.print(t)
        seen: dict[str, str] = {}
        for r in timed:
            seen.setdefault(r["group"], f"{r['unit']}, baseline {r['baseline_name']}")
        for g, text in seen.items():
            console.print(f"  [dim]{_escape(g)}: {_escape(text)}[/]")
    if rates:
        t = _grid(
            "\ncommands: records/s, higher is better; speedup = ours / peer",
            [
                ("group", "left"),
                ("peer", "left"),
                ("ours", "right"),
                ("MB/s", "right"),
                ("peer", "right"),
                ("MB/s", "right"),
                ("speedup", "right"),
                ("", "left"),
            ],
        )
        previous = None
        for r in rates:
            group = r["group"] if r["group"] != previous else ""
            previous = r["group"]
            t.add_row(
                _escape(group),
                _escape(r["name"]),
                _num(r["ours"], 0),
                _num(r.get("ours_mb_s"), 1),
                _num(r["baseline"], 0),
                _num(r.get("baseline_mb_s"), 1),
                _speedup(r["speedup"]),
                speed_bar(r["speedup"], width=10),
            )
        console.print(t)
        for r in rates:
            text = r["baseline_name"] + (f"; {r['note']}" if r.get("note") else "")
            console.print(f"  [dim]{_escape(r['group'])} {_escape(r['name'])}: {_escape(text)}[/]")
    for line in footnotes:
        console.print(_escape(line))


_STATUS = {
    "ok": "ok",
    "faster": "[green]faster[/]",
    "slower": "[bold red]SLOWER[/]",
    "missing-old": "[yellow]new row[/]",
    "missing-new": "[yellow]missing now[/]",
    "unit-changed": "[yellow]unit changed[/]",
    "no-data": "no data",
}


def bench_comparison(
    entries: list[dict[str, Any]], saved: str, threshold: float, out: Console | None = None
) -> None:
    """One line per row of either run: ours then and now, the change as time
    (+ slower, - faster) and the verdict against the threshold."""
    t = _grid(
        f"\nagainst {saved}: change in time taken, a regression above +{threshold:g}%",
        [
            ("group", "left"),
            ("name", "left"),
            ("saved", "right"),
            ("now", "right"),
            ("change", "right"),
            ("", "left"),
        ],
    )
    previous = None
    for e in entries:
        group = e["group"] if e["group"] != previous else ""
        previous = e["group"]
        pct = e.get("slower_pct")
        change = "—" if pct is None else f"{pct:+.1f}%"
        t.add_row(
            _escape(group),
            _escape(e["name"]),
            _num(e["old"]),
            _num(e["new"]),
            change,
            _STATUS.get(e["status"], _escape(e["status"])),
        )
    (out or _stdout).print(t)
