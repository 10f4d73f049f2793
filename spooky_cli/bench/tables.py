"""spooky bench's tables and step bar: what `spooky bench` shows, drawn with
the consoles of spooky_cli.render (so --color, NO_COLOR and TERM=dumb hold)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape as _escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from spooky_cli import render
from spooky_cli.bench.micro import allocs_text


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
    if quiet or not render.stderr().is_terminal:
        yield _NoSteps()
        return
    columns = [
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=render.stderr(), transient=True) as bar:
        yield _Steps(bar, bar.add_task("bench", total=total_steps))


_EIGHTHS = " ▏▎▍▌▋▊▉"


def speed_bar(speedup: float | None, width: int = 16, full_at: float = 8.0) -> str:
    """A bar as long as the speedup (full at full_at times; '+' past it), green
    when ours is faster, red when slower; markup."""
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
    console = out or render.stdout()
    render.key_values(machine, out=console)
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
                ("allocs/rec", "right"),
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
                allocs_text(r),
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
    (out or render.stdout()).print(t)
