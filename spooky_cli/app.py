"""The `spooky` command line: argument parsing only; logic lives in commands/."""

from __future__ import annotations

import os
import signal
import sys
import threading
from enum import Enum
from typing import Any

import typer

from spooky_cli import render
from spooky_cli._version import __version__
from spooky_cli.errors import SpookyError
from spooky_cli.output import ReaderGone

app = typer.Typer(
    name="spooky",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_debug = False


class Color(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


class OnError(str, Enum):
    fail = "fail"
    skip = "skip"


class DiffFormat(str, Enum):
    text = "text"
    json = "json"
    ndjson = "ndjson"
    markdown = "markdown"


class FilterFormat(str, Enum):
    json = "json"
    spky = "spky"


class OnDuplicate(str, Enum):
    error = "error"
    last = "last"


class BigInt(str, Enum):
    error = "error"
    float = "float"


# ---- options several commands share: defined once ---------------------------------


def output_option(what: str, required: bool = False) -> Any:
    """-o/--output FILE: where a command writes; - is stdout."""
    return typer.Option(
        ... if required else "-", "-o", "--output", metavar="FILE", help=f"{what} (- for stdout)."
    )


def quiet_option(help: str = "No progress and no summary.") -> Any:
    return typer.Option(False, "-q", "--quiet", help=help)


def fields_option(help: str = "Comma-separated fields to keep, in that order.") -> Any:
    return typer.Option(None, "--fields", metavar="A,B", help=help)


def format_option(default: Any, help: str) -> Any:
    return typer.Option(default, "--format", help=help)


def field_list(text: str | None, option: str = "--fields") -> list[str] | None:
    """The names of a comma-separated option, or None when it was not given."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise SpookyError(f"{option} names no field (give names separated by commas)")
    return names


def _version(value: bool) -> None:
    if value:
        print(f"spooky {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    color: Color = typer.Option(Color.auto, "--color", help="Colour on stderr/stdout."),
    quiet: bool = quiet_option(),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Convert JSON to SpookyRecord files, read them back, look records up.

    Each command's options, with an example: spooky COMMAND --help. Global
    options (--color, --quiet, --debug) go before or after the command.

    Exit codes: 0 success, 1 differences (diff), no match (filter), not found
    (get) or a regression (bench --compare), 2 any error.
    """
    global _debug
    _debug = debug
    render.set_color(color.value)
    render.set_quiet(quiet)


@app.command()
def convert(
    inputs: list[str] = typer.Argument(
        ...,
        metavar="INPUT...",
        help="NDJSON/JSONL or JSON-array files, .gz ok; - for stdin; a folder: its "
        "*.ndjson, *.jsonl and *.json files.",
    ),
    output: str = output_option("Record file to write", required=True),
    key: list[str] = typer.Option(
        ["id"],
        "--key",
        metavar="PATH",
        help="Field whose string or integer value keys each record: a path (user.id; a name "
        "with a dot or comma quoted: '\"a.b\"'). Several, separated by commas or with --key "
        "repeated, make a composite key: --key tenant,user_id.",
    ),
    on_duplicate: OnDuplicate = typer.Option(
        OnDuplicate.error,
        "--on-duplicate",
        help="A repeated key: fail, or keep the last record (the summary counts the replaced).",
    ),
    on_error: OnError = typer.Option(
        OnError.fail,
        "--on-error",
        help="A bad line: fail, or list it on stderr and go on (no good line at all still fails).",
    ),
    big_int: BigInt = typer.Option(
        BigInt.error,
        "--big-int",
        help="An integer beyond i64 and u64: fail, or store the nearest float (as the "
        "reference does; the summary counts them).",
    ),
    quiet: bool = quiet_option(),
) -> None:
    """Convert JSON lines into a record file.

    Keys are sorted in memory up to 32 MiB, beyond that through unnamed temporary
    files in TMPDIR (default /tmp).

    Example: spooky convert events.ndjson.gz more.jsonl -o events.spky --key event_id

    Example: spooky convert orders.ndjson -o orders.spky --key tenant,order.id
    """
    from spooky_cli.commands import convert as cmd

    cmd.run(
        inputs,
        output,
        key=key,
        keep_last=on_duplicate is OnDuplicate.last,
        skip_errors=on_error is OnError.skip,
        quiet=quiet,
        big_int=big_int.value,
    )


@app.command()
def export(
    file: str = typer.Argument(
        ...,
        metavar="FILE.spky",
        help="Record file to read; a folder: a dataset of parts, in name order.",
    ),
    output: str = output_option("NDJSON to write"),
    fields: str | None = fields_option(),
    quiet: bool = quiet_option(),
) -> None:
    """Write a record file's records as NDJSON, in file order.

    Example: spooky export events.spky --fields id,user,ts -o events.ndjson
    """
    from spooky_cli.commands import export as cmd

    cmd.run(file, output, fields=field_list(fields), quiet=quiet)


@app.command()
def info(
    file: str = typer.Argument(
        ..., metavar="FILE.spky", help="Record file to describe; a folder: a dataset of parts."
    ),
    verify: bool = typer.Option(False, "--verify", help="Check every block checksum and record."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout."),
) -> None:
    """Describe a record file: counts, sizes, fields and their types.

    Example: spooky info events.spky --verify --json
    """
    from spooky_cli.commands import info as cmd

    cmd.run(file, verify=verify, as_json=as_json)


@app.command(context_settings={"ignore_unknown_options": True})
def get(
    ctx: typer.Context,
    file: str = typer.Argument(..., metavar="FILE.spky", help="Record file to read."),
    key: list[str] = typer.Argument(
        ...,
        metavar="KEY...",
        help="The record's key, one value per part of the file's key (tenant,user_id: two). "
        "Digits are tried as an integer, then as a string; '\"12\"' is only the string.",
    ),
    compact: bool = typer.Option(False, "--compact", help="One line of JSON instead of pretty."),
) -> None:
    """Print one record by key as JSON (via the key index). Exit 1 if absent.

    Example: spooky get events.spky 12345

    Example: spooky get orders.spky acme 42  (a file keyed by tenant,user_id)
    """
    from spooky_cli.commands import get as cmd

    cmd.run(file, key, compact=compact, usage=ctx)


@app.command()
def diff(
    old: str = typer.Argument(
        ...,
        metavar="OLD",
        help="Before: a record file, NDJSON/JSON (.gz ok; - for stdin), or a folder "
        "(of .spky parts: a dataset).",
    ),
    new: str = typer.Argument(..., metavar="NEW", help="After: the same choice."),
    output: str = output_option("Where the differences go"),
    fmt: DiffFormat = format_option(
        DiffFormat.text,
        "text for people, ndjson for one object per difference, json for one document "
        "{changes, summary}, markdown for a pull request comment.",
    ),
    summary: bool = typer.Option(False, "--summary", help="Only the counts, on stdout."),
    stat_file: str | None = typer.Option(
        None, "--stat-file", metavar="FILE", help="Also write the summary (JSON) to this file."
    ),
    key: list[str] | None = typer.Option(
        None,
        "--key",
        metavar="PATH",
        help="Key of NDJSON/JSON sides (default: the record file's key, else id); as convert's.",
    ),
    where: list[str] = typer.Option(
        [],
        "-w",
        "--where",
        metavar="EXPR",
        help="Compare only keys whose record matches this expression (filter's) on either "
        "side. Repeat to AND them.",
    ),
    fields: str | None = fields_option("Comma-separated fields: only these count as changes."),
    ignore: str | None = typer.Option(
        None,
        "--ignore",
        help="Comma-separated fields, or paths (user.updated_at: turns --deep on), whose "
        "changes do not count.",
    ),
    deep: bool = typer.Option(
        False, "--deep", help="Changes inside nested fields by path (user.address.city)."
    ),
    array_key: str | None = typer.Option(
        None,
        "--array-key",
        metavar="FIELD",
        help="Match array elements that are objects by this field, not by position "
        "(turns --deep on).",
    ),
    tolerance: float | None = typer.Option(
        None, "--tolerance", metavar="ABS", help="Numbers at most ABS apart are equal."
    ),
    rel_tolerance: float | None = typer.Option(
        None,
        "--rel-tolerance",
        metavar="REL",
        help="Numbers at most REL times the larger apart are equal.",
    ),
    full: bool = typer.Option(
        False, "--full", help="json/ndjson: the old and new records of changed keys too."
    ),
    limit: int | None = typer.Option(
        None, "--limit", metavar="N", help="markdown: differences shown (default 100)."
    ),
    quiet: bool = quiet_option("No output at all: the exit code."),
    verify: bool = typer.Option(
        False, "--verify", help="First check every block of both files, as info --verify."
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        metavar="ADDRESS",
        help="Datasets (folders of .spky parts): diff on the Dask cluster of this scheduler "
        "(tcp://host:8786) instead of a local one.",
    ),
) -> None:
    """Show records added, removed and changed between two record files, by key.

    Either side may be NDJSON/JSON instead (converted first, as convert
    would). The key index is trusted: a record whose digest equals the
    other side's is unchanged and not read. A record that differs is
    checked against its digest and whole before it counts. --verify first
    checks every block of both files, as info --verify does.

    Exit 0 when they hold the same records, 1 when they differ, 2 on error or
    damage found.

    Example: spooky diff yesterday.spky today.spky --ignore updated_at --format ndjson

    Example: spooky diff main.ndjson.gz pr.ndjson --key id --format markdown --stat-file stat.json

    A folder of .spky parts is a dataset: two datasets are diffed on Dask, a
    local cluster or --scheduler's, with the same output, counts and exit
    codes (text, ndjson and json; pip install 'spooky-cli[dask]').

    Example: spooky diff events-old/ events-new/ --scheduler tcp://10.0.0.5:8786 -o changes.ndjson
    """
    from spooky_cli.commands import diff as cmd

    cmd.run(
        old,
        new,
        output,
        fmt=fmt.value,
        summary_only=summary,
        fields=field_list(fields),
        ignore=field_list(ignore, "--ignore"),
        deep=deep,
        quiet=quiet,
        verify=verify,
        key=key or None,
        tolerance=tolerance,
        rel_tolerance=rel_tolerance,
        array_key=array_key,
        full=full,
        limit=limit,
        stat_file=stat_file,
        where=where or None,
        scheduler=scheduler,
    )


@app.command(name="filter")
def filter_(
    file: str = typer.Argument(
        ...,
        metavar="FILE.spky",
        help="Record file to read; a folder: a dataset of parts, in name order.",
    ),
    where: list[str] = typer.Option(
        [],
        "-w",
        "--where",
        metavar="EXPR",
        help="An expression: comparisons (== != < <= > >= in, not in, contains, startswith, "
        "endswith, exists, missing, is null) of fields or paths (user.name, events[*].type) "
        "joined by and, or, not and parentheses; a bare path is true when its value is. "
        "Repeat to AND them.",
    ),
    any_: bool = typer.Option(False, "--any", help="Match records where any --where holds."),
    output: str = output_option("Where matches go"),
    fmt: FilterFormat | None = format_option(
        None, "json (NDJSON) or spky (a record file); default: by -o's suffix."
    ),
    fields: str | None = fields_option(),
    count: bool = typer.Option(False, "--count", help="Print only the number of matches."),
    quiet: bool = quiet_option(),
) -> None:
    """Keep the records that match an expression, as NDJSON or a record file.

    Exit 0 when a record matched, 1 when none did, 2 on error.

    Example: spooky filter people.spky -w "age >= 30 and (city == 'Oslo' or vip)" -o oslo.spky
    """
    from spooky_cli.commands import filter as cmd

    cmd.run(
        file,
        where,
        output,
        fmt=fmt.value if fmt is not None else None,
        any_=any_,
        fields=field_list(fields),
        count_only=count,
        quiet=quiet,
    )


class ChangesFormat(str, Enum):
    debezium = "debezium"
    dbsp = "dbsp"


@app.command()
def merge(
    store: str = typer.Argument(..., metavar="STORE.spky", help="Record file holding the store."),
    batches: list[str] = typer.Argument(
        ...,
        metavar="BATCH...",
        help="NDJSON/JSONL or JSON-array files (.gz ok; - for stdin) or record files, keyed "
        "as the store.",
    ),
    output: str = output_option("Record file to write", required=True),
    changes: str | None = typer.Option(
        None, "--changes", metavar="FILE", help="Write the change stream (NDJSON) here."
    ),
    changes_format: ChangesFormat = typer.Option(
        ChangesFormat.debezium,
        "--changes-format",
        help='debezium: {"op","key","before","after"} per change; dbsp: {"insert":..} and '
        '{"delete":..} lines (an update is both).',
    ),
    version_field: str | None = typer.Option(
        None, "--version-field", metavar="F", help="A higher version wins; lower or equal: stale."
    ),
    hash_field: str | None = typer.Option(
        None, "--hash-field", metavar="F", help="A different content hash is an update."
    ),
    delete_missing: bool = typer.Option(
        False,
        "--delete-missing",
        help="The batch is a full snapshot: stored keys absent from it are deleted.",
    ),
    delete_field: str | None = typer.Option(
        None, "--delete-field", metavar="F", help="A batch record with F true deletes its key."
    ),
    quiet: bool = quiet_option(),
) -> None:
    """Merge batches into a store by key: inserts, updates, deletes.

    The new file holds the store's records in store order, updates in place
    and deletes left out, then the inserts in batch order.

    Example: spooky merge store.spky today.ndjson.gz -o new.spky --version-field version

    Example: spooky merge store.spky full.ndjson -o new.spky --delete-missing --changes c.ndjson
    """
    from spooky_cli.commands import merge as cmd

    cmd.run(
        store,
        batches,
        output,
        changes=changes,
        changes_format=changes_format.value,
        version_field=version_field,
        hash_field=hash_field,
        delete_missing=delete_missing,
        delete_field=delete_field,
        quiet=quiet,
    )


@app.command()
def apply(
    old: str = typer.Argument(..., metavar="OLD.spky", help="Record file to change."),
    changes: list[str] = typer.Argument(
        ...,
        metavar="CHANGES...",
        help="Change streams (NDJSON, .gz ok, - for stdin): merge --changes in either form, "
        "or diff --format json.",
    ),
    output: str = output_option("Record file to write", required=True),
    force: bool = typer.Option(
        False,
        "--force",
        help="Apply misfits as far as they go (an insert replaces, an update of an absent key "
        "inserts, a delete of one does nothing) instead of failing.",
    ),
    quiet: bool = quiet_option(),
) -> None:
    """Apply change streams to a record file.

    The new file holds OLD's records in file order, changed ones in place and
    deleted ones left out, then the new keys in the order of the changes.

    Example: spooky apply store.spky changes.ndjson -o new.spky

    Example: spooky diff a.spky b.spky --format json | spooky apply a.spky - -o b2.spky
    """
    from spooky_cli.commands import apply as cmd

    cmd.run(old, changes, output, force=force, quiet=quiet)


@app.command()
def bench(
    quick: bool = typer.Option(False, "--quick", help="Small data, fewer repeats (~15 s)."),
    records: int | None = typer.Option(
        None,
        "--records",
        min=1000,
        help="Records for the macro benchmarks (default 200k, quick 20k).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout."),
    save: str | None = typer.Option(None, "--save", help="Write the results (JSON) to this file."),
    compare: str | None = typer.Option(
        None, "--compare", help="Compare with a saved run; exit 1 if a row got slower."
    ),
    threshold: float = typer.Option(
        10.0, "--threshold", help="Percent slower that counts as a regression with --compare."
    ),
) -> None:
    """Measure FieldSlot access, buffer reuse and the commands against peers, side by side.

    Example: spooky bench --quick --save base.json; spooky bench --compare base.json
    """
    from spooky_cli.commands import bench as cmd

    cmd.run(
        quick=quick,
        records=records,
        as_json=as_json,
        save=save,
        compare=compare,
        threshold=threshold,
    )


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived: unwinds like KeyboardInterrupt, so
    every output and temp file is cleaned up on the way out, but typer does
    not swallow it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_SIGNALS: dict[int, str] = {
    signal.SIGINT: "interrupted",
    signal.SIGTERM: "terminated",
    signal.SIGHUP: "hung up",
}


def _on_signal(signum: int, _frame: object) -> None:
    for sig in _SIGNALS:  # a second signal ends the process at once
        signal.signal(sig, signal.SIG_DFL)
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app, turning errors into one line and exit code 2.
    A signal (INT, TERM, HUP) unwinds the command, says so on stderr, then
    ends the process by that same signal, as shells expect."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            if signal.getsignal(sig) is not signal.SIG_IGN:  # nohup and friends stay
                previous[sig] = signal.signal(sig, _on_signal)
    try:
        _run(argv)
    except Interrupted as exc:
        render.error(_SIGNALS.get(exc.signum, "stopped by a signal"))
        sys.stderr.flush()
        signal.signal(exc.signum, signal.SIG_DFL)
        os.kill(os.getpid(), exc.signum)
        sys.exit(128 + exc.signum)  # where the signal did not end us
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# Global options and how many values each takes; given after the command,
# they move before it unless the command has an option of that name itself
# (diff's -q means "no output at all").
_GLOBAL_OPTIONS = {"--color": 1, "--quiet": 0, "-q": 0, "--debug": 0}


def hoist_global_options(argv: list[str]) -> list[str]:
    """argv with the global options given after the command moved before it:
    `spooky info x.spky --color never` reads as `spooky --color never info x.spky`."""
    commands = getattr(typer.main.get_command(app), "commands", {})  # typer's own click
    head: list[str] = []
    i = 0
    while i < len(argv) and argv[i].startswith("-"):  # global options before the command
        name = argv[i].split("=", 1)[0]
        takes = _GLOBAL_OPTIONS.get(name, 0) if "=" not in argv[i] else 0
        head += argv[i : i + 1 + takes]
        i += 1 + takes
    if i >= len(argv) or argv[i] not in commands:
        return argv
    own: dict[str, int] = {}  # the command's options: values each takes
    for param in commands[argv[i]].params:
        if getattr(param, "param_type_name", "") == "option":
            for opt in (*param.opts, *param.secondary_opts):
                own[opt] = 0 if param.is_flag or param.count else param.nargs
    rest, moved = [argv[i]], []
    j = i + 1
    while j < len(argv):
        tok = argv[j]
        if tok == "--":
            rest += argv[j:]
            break
        name = tok.split("=", 1)[0]
        if name in own:
            takes = own[name] if "=" not in tok else 0
            rest += argv[j : j + 1 + takes]
            j += 1 + takes
        elif name in _GLOBAL_OPTIONS:
            takes = _GLOBAL_OPTIONS[name] if "=" not in tok else 0
            moved += argv[j : j + 1 + takes]
            j += 1 + takes
        else:
            rest.append(tok)
            j += 1
    return head + moved + rest


def _run(argv: list[str] | None) -> None:
    if argv is None:
        argv = sys.argv[1:]
    argv = hoist_global_options(argv)
    try:
        # without standalone mode click returns a typer.Exit's code instead of raising
        code = app(args=argv, prog_name="spooky", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        render.error("aborted")
        sys.exit(2)
    except ReaderGone:
        sys.exit(0)  # `spooky export x | head`: the reader had enough
    except KeyboardInterrupt:
        render.error("interrupted")
        sys.exit(130)
    except (SpookyError, OSError, MemoryError) as exc:
        if _debug:
            raise
        render.error(str(exc) if not isinstance(exc, OSError) else _os_message(exc))
        sys.exit(2)
    except Exception as exc:
        # click's usage errors (typer may bundle its own click: match by shape)
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(2)
        raise


def _os_message(exc: OSError) -> str:
    if exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return exc.strerror or str(exc)
