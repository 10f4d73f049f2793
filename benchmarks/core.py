#!/usr/bin/env python3
"""Benchmarks of the spooky core.

    python benchmarks/core.py            # full run (about a minute)
    python benchmarks/core.py --quick    # a few seconds, noisier
    python benchmarks/core.py --json     # JSON rows on stdout, table on stderr

Needs the package installed (``pip install -e .``). See benchmarks/README.md for
what each row measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from typing import Any


def machine_info() -> dict[str, Any]:
    cpu = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "cpu": cpu or platform.processor() or platform.machine() or "unknown",
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }
    try:
        from spooky_cli._native import ffi, lib

        info["spooky_core"] = ffi.string(lib.spooky_version()).decode()
    except Exception:  # reported by main() when the import really matters
        pass
    return info


def _fmt(x: float) -> str:
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.1f}"
    return f"{x:.2f}"


def format_table(rows: list[dict[str, Any]], targets: dict[Any, float]) -> str:
    from spooky_cli.bench.micro import allocs_text

    header = (
        "group",
        "name",
        "unit",
        "ours",
        "baseline",
        "speedup",
        "allocs/rec",
        "baseline is",
        "target",
    )
    body = []
    for r in rows:
        t = targets.get((r["group"], r["name"]))
        mark = ""
        if t is not None:
            mark = f">= {t:g}x " + ("ok" if r["speedup"] >= t else "MISSED")
        body.append(
            (
                r["group"],
                r["name"],
                r["unit"],
                _fmt(r["ours"]),
                _fmt(r["baseline"]),
                f"{r['speedup']:.2f}x",
                allocs_text(r),
                r["baseline_name"],
                mark,
            )
        )
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)
    ]
    right = {3, 4, 5, 6}

    def line(cells: Any) -> str:
        out = []
        for i, c in enumerate(cells):
            out.append(c.rjust(widths[i]) if i in right else c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep] + [line(b) for b in body])


def format_machine(info: dict[str, Any]) -> str:
    lines = [
        f"cpu:     {info['cpu']}",
        f"cores:   {info['cores']} (usable by this process: {info['usable_cores']})",
        f"python:  {info['implementation']} {info['python']} on {info['platform']}",
    ]
    if "spooky_core" in info:
        lines.append(f"spooky:  core {info['spooky_core']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark the spooky core: slot vs by-name field access, "
        "buffer reuse, change detection (C loops and Python API).",
        epilog="example: python benchmarks/core.py --quick",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer and shorter repeats (seconds, noisier)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the rows as JSON on stdout (table goes to stderr)",
    )
    args = parser.parse_args(argv)

    try:
        import spooky_cli._native  # noqa: F401  (fail early if the core is not built)
        from spooky_cli.bench import micro
    except ImportError as exc:
        print(
            f"core.py: cannot import spooky_cli ({exc}); run `pip install -e .` first",
            file=sys.stderr,
        )
        return 2

    info = machine_info()
    table_out = sys.stderr if args.json else sys.stdout
    show_progress = sys.stderr.isatty()

    def progress(row: dict[str, Any]) -> None:
        if show_progress:
            print(
                f"  {row['group']:<18} {row['name']:<16} {row['speedup']:.2f}x",
                file=sys.stderr,
                flush=True,
            )

    if show_progress:
        print("running" + (" (quick)" if args.quick else "") + " ...", file=sys.stderr, flush=True)
    rows = micro.run_all(args.quick, progress)

    print(format_machine(info), file=table_out)
    print(file=table_out)
    print(format_table(rows, micro.TARGETS), file=table_out)
    print(file=table_out)
    print(
        "speedup = baseline / ours (times faster); medians of "
        f"{micro._repeats(args.quick)} alternated repeats. The machine may be "
        "shared and noisy: compare ratios within one run only.",
        file=table_out,
    )
    if args.json:
        json.dump({"machine": info, "quick": args.quick, "rows": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
