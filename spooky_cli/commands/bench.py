"""`spooky bench`: the micro benchmarks of the core and the commands against
their peers, in one run, as a table (stdout) or JSON (--json).

--save FILE writes the run as JSON; --compare FILE prints the change of every
row's `ours` against a saved run and exits 1 when one got slower by more than
--threshold percent (rows only one run has are listed, never failed).

SPOOKY_BENCH_TINY=1 in the environment shrinks everything (2,000 records,
one macro repeat) so the test suite can run the whole command in seconds;
such numbers mean nothing."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from typing import Any

import typer

from spooky_cli import render
from spooky_cli.bench import macro, micro, report, tables
from spooky_cli.errors import SpookyError

TINY_ENV = "SPOOKY_BENCH_TINY"
DEFAULT_RECORDS = 200_000
QUICK_RECORDS = 20_000
TINY_RECORDS = 2_000

# Rows micro.run_all emits (for the progress bar's total).
MICRO_ROWS = len(micro.OPS) * 2 + len(micro.SLOT_CHECKS) + 3


def _tiny() -> bool:
    return os.environ.get(TINY_ENV, "").lower() in ("1", "true", "yes")


def _macro_steps(repeats: int) -> int:
    """Steps of the progress bar in macro.run_macro: generation and the setup
    of the diff and filter groups, then one per run of each available
    contender (jq: in convert, diff and filter; export shows convert's)."""
    pyarrow, duckdb = macro.available("pyarrow.json"), macro.available("duckdb")
    jq = shutil.which("jq") is not None
    convert = 1 + 1 + pyarrow + duckdb + jq
    export = 1 + 1 + duckdb
    diff = 1 + 1 + pyarrow + duckdb + jq
    filter_ = 1 + 1 + pyarrow + duckdb + jq
    return 3 + repeats * (convert + export + diff + filter_)


def run(
    quick: bool,
    records: int | None,
    as_json: bool,
    save: str | None,
    compare: str | None,
    threshold: float,
) -> None:
    if threshold < 0:
        raise SpookyError(f"--threshold must be a percentage >= 0, got {threshold:g}")
    if records is not None and records < 1:
        raise SpookyError(f"--records must be >= 1, got {records}")
    saved = report.load(compare) if compare else None  # fail before the long part

    tiny = _tiny()
    n = records or (TINY_RECORDS if tiny else QUICK_RECORDS if quick else DEFAULT_RECORDS)
    repeats = 1 if tiny else macro.repeats_for(quick)
    started = time.perf_counter()
    machine = report.machine_info()

    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="spooky-bench-") as workdir,
        tables.bench_progress(MICRO_ROWS + _macro_steps(repeats)) as bar,
    ):
        labels = iter(
            ["fieldslot"] * len(micro.OPS)
            + ["serialize", "change-detection"]
            + ["python-fieldslot"] * len(micro.OPS)
            + ["python-slot-checks"] * len(micro.SLOT_CHECKS)
            + ["python-serialize"]
        )
        bar.step(f"micro: {next(labels)}")

        def micro_done(row: dict[str, Any]) -> None:
            bar.step(f"micro: {next(labels, 'done')}")

        rows += micro.run_all(quick or tiny, micro_done)
        for r in rows:
            r.setdefault("note", None)
        rows += macro.run_macro(n, workdir, quick=quick, progress=bar.step, repeats=repeats)
    seconds = time.perf_counter() - started

    settings = {
        "quick": quick,
        "tiny": tiny,
        "records": n,
        "macro_repeats": repeats,
        "micro_repeats": micro._repeats(quick or tiny),
        "seconds": round(seconds, 1),
    }
    result = report.make_run(machine, rows, settings)
    if save:
        report.save(save, result)

    if as_json:
        sys.stdout.flush()
        sys.stdout.write(report.dumps(result))
        sys.stdout.flush()
    else:
        tables.bench_results(report.machine_lines(machine), rows, _footnotes(settings))

    if saved is not None:
        entries, regressed = report.compare(saved.get("rows", []), rows, threshold)
        out = render.stderr() if as_json else render.stdout()
        tables.bench_comparison(entries, compare or "", threshold, out=out)
        was = saved.get("settings") or {}
        differs = [k for k in ("records", "quick", "tiny") if k in was and was[k] != settings[k]]
        if differs:
            render.warning(
                f"{compare} was run with other settings ("
                + ", ".join(f"{k} {was[k]} -> {settings[k]}" for k in differs)
                + "): the rows may not be comparable"
            )
        if regressed:
            slower = sum(1 for e in entries if e["status"] == "slower")
            render.note(f"{slower} row(s) more than {threshold:g}% slower than {compare}")
            raise typer.Exit(1)


def _footnotes(settings: dict[str, Any]) -> list[str]:
    generated = (
        f"{settings['records']:,} generated records (~420 bytes of nested JSON "
        f"each); medians of {settings['micro_repeats']} (micro) and "
        f"{settings['macro_repeats']} (commands) interleaved runs; "
        f"{settings['seconds']:.0f} s in all."
    )
    fairness = (
        "Ours runs in-process (the command's own function, fsync included); so do "
        "the Python peers. Only ratios within one run mean anything on a shared "
        "machine."
    )
    lines = ["", generated, fairness]
    if settings["tiny"]:
        lines.append(f"{TINY_ENV} is set: tiny sizes, the numbers mean nothing.")
    return lines
