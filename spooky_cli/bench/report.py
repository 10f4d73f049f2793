"""Results of `spooky bench`: the machine, saving and loading runs, and the
comparison of a run with a saved one.

A run is ``{"machine": {...}, "settings": {...}, "rows": [row, ...]}``; a row is
``{"group", "name", "unit", "ours", "baseline_name", "baseline", "speedup"}``
(plus optional ``note``, ``ours_mb_s``, ``baseline_mb_s``). Rows are matched
across runs by (group, name).

Comparison looks at ``ours`` only (the baselines are other people's code) and
states every change as time: for a time unit (``ns/op``) the ratio new/old, for
a rate (``records/s``) old/new. "20% slower" means the same work took 1.2x as
long, whichever the unit.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import subprocess
from typing import Any

from spooky_cli.errors import SpookyError

Row = dict[str, Any]

FORMAT = "spooky-bench/1"


# ---- machine -----------------------------------------------------------------------


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def core_compiler() -> str | None:
    """The compiler and flags recorded in the C core's debug info (GCC writes
    them as DW_AT_producer, e.g. 'GNU C11 12.2.0 ... -O3 -O2 -std=c11'), if
    the .so carries them."""
    try:
        from spooky_cli import _spooky  # type: ignore[attr-defined]

        path = _spooky.__file__
        with open(path, "rb") as f:
            blob = f.read()
    except (ImportError, OSError, AttributeError, TypeError):
        return None
    found = re.search(rb"GNU C[0-9]*[^\x00]{0,400}", blob)
    if not found:
        return None
    return found.group(0).decode("ascii", "replace")


def _effective_opt(producer: str) -> str | None:
    levels = re.findall(r"(?<!\S)-O[0-3sgz]?(?!\S)", producer)
    return levels[-1] if levels else None  # the last -O on the line wins


def _version_of(module: str) -> str | None:
    try:
        mod = __import__(module)
    except ImportError:
        return None
    return getattr(mod, "__version__", "?")


def _jq_version() -> str | None:
    jq = shutil.which("jq")
    if jq is None:
        return None
    try:
        out = subprocess.run(
            [jq, "--version"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip() or "?"


def machine_info() -> dict[str, Any]:
    """CPU model, cores, Python, the core's version and compiler flags, peers."""
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "cpu": _cpu_model() or platform.processor() or platform.machine() or "unknown",
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
    }
    try:
        from spooky_cli._native import ffi, lib

        info["spooky_core"] = ffi.string(lib.spooky_version()).decode()
    except Exception:  # noqa: BLE001  (the benchmarks report the import error)
        info["spooky_core"] = None
    producer = core_compiler()
    if producer:
        info["core_compiler"] = producer
        info["core_opt"] = _effective_opt(producer)
    else:
        import sysconfig

        info["core_compiler"] = None
        info["core_opt"] = "-O2 (native/build.py default; not recorded in the .so)"
        info["python_cflags"] = sysconfig.get_config_var("CFLAGS")
    info["peers"] = {
        "orjson": _version_of("orjson"),
        "pyarrow": _version_of("pyarrow"),
        "duckdb": _version_of("duckdb"),
        "jq": _jq_version(),
    }
    return info


def machine_lines(info: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs describing the machine, for people."""
    peers = info.get("peers") or {}
    peer_text = ", ".join(f"{k} {v}" if v else f"{k} not installed" for k, v in peers.items())
    core = info.get("spooky_core") or "?"
    compiler = info.get("core_compiler") or "unknown compiler"
    opt = info.get("core_opt")
    lines = [
        (
            "cpu",
            f"{info.get('cpu')}, {info.get('cores')} cores ({info.get('usable_cores')} usable)",
        ),
        ("python", f"{info.get('python')} on {info.get('platform')}"),
        ("core", f"spooky {core}, {compiler}" + (f" (effective {opt})" if opt else "")),
    ]
    if peer_text:
        lines.append(("peers", peer_text))
    return lines


# ---- runs ---------------------------------------------------------------------------


def make_run(machine: dict[str, Any], rows: list[Row], settings: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "machine": machine, "settings": settings, "rows": rows}


def dumps(run: dict[str, Any]) -> str:
    return json.dumps(run, indent=2, ensure_ascii=False) + "\n"


def save(path: str, run: dict[str, Any]) -> None:
    from spooky_cli.output import open_output

    with open_output(path) as f:
        f.write(dumps(run).encode("utf-8"))


def load(path: str) -> dict[str, Any]:
    """A saved run; SpookyError naming the file if it is not one."""
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except FileNotFoundError:
        raise SpookyError(f"could not read saved run {path}: no such file") from None
    except OSError as exc:
        raise SpookyError(f"could not read saved run {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SpookyError(f"could not read saved run {path}: not JSON ({exc})") from None
    rows = doc.get("rows") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise SpookyError(
            f'could not read saved run {path}: no "rows" list '
            "(write one with spooky bench --save FILE)"
        )
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or not all(k in r for k in ("group", "name", "unit", "ours")):
            raise SpookyError(
                f"could not read saved run {path}: row {i} lacks group, name, unit or ours"
            )
    return doc


# ---- comparison ---------------------------------------------------------------------


def higher_is_better(unit: str) -> bool:
    """records/s, MB/s: a rate; ns/op, ns/record, s: a time."""
    return "/s" in unit


def slower_pct(unit: str, old: float, new: float) -> float:
    """How much longer (in percent) the same work took in the new run;
    negative when it got faster."""
    if higher_is_better(unit):
        return (old / new - 1.0) * 100.0
    return (new / old - 1.0) * 100.0


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    if math.isnan(x) or x <= 0 or math.isinf(x):
        return None
    return float(x)


def compare(old_rows: list[Row], new_rows: list[Row], threshold: float) -> tuple[list[Row], bool]:
    """One entry per (group, name) in either run, in the new run's order then
    the rows only the old run has. status: ok, faster, slower (beyond the
    threshold: a regression), missing-old, missing-new, unit-changed, no-data.
    Returns (entries, regressed)."""
    old = {(r["group"], r["name"]): r for r in old_rows}
    new = {(r["group"], r["name"]): r for r in new_rows}
    keys = list(new) + [k for k in old if k not in new]
    out: list[Row] = []
    regressed = False
    for key in keys:
        o, n = old.get(key), new.get(key)
        ref = n or o
        assert ref is not None  # key comes from one of the two runs
        entry: Row = {
            "group": key[0],
            "name": key[1],
            "unit": ref["unit"],
            "old": o.get("ours") if o else None,
            "new": n.get("ours") if n else None,
            "slower_pct": None,
        }
        if o is None:
            entry["status"] = "missing-old"
        elif n is None:
            entry["status"] = "missing-new"
        elif o["unit"] != n["unit"]:
            entry["status"] = "unit-changed"
        else:
            a, b = _number(o.get("ours")), _number(n.get("ours"))
            if a is None or b is None:
                entry["status"] = "no-data"
            else:
                pct = slower_pct(n["unit"], a, b)
                entry["slower_pct"] = round(pct, 1)
                if pct > threshold:
                    entry["status"] = "slower"
                    regressed = True
                elif pct < -threshold:
                    entry["status"] = "faster"
                else:
                    entry["status"] = "ok"
        out.append(entry)
    return out, regressed
