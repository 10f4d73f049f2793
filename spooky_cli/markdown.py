"""A diff as Markdown, for a pull request comment (`spooky diff --format
markdown`): a table of the counts, then the first differences as tables.
Made from the few differences shown (a bounded list), never per record of
the files.

Values are compact JSON in code spans. GitHub's tables split cells at every
unescaped `|`, code spans included, so each is escaped (`\\|`); a code span
is fenced with more backticks than it holds; control characters (newlines)
are JSON escapes, so no value breaks its row."""

from __future__ import annotations

from typing import Any

import orjson


def code(text: str) -> str:
    """text as a code span inside a table cell."""
    longest = run = 0
    for c in text:
        run = run + 1 if c == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _label(text: str) -> str:
    """A field or path with any control character as its JSON escape."""
    if any(c < " " or c == "\x7f" for c in text):
        return _json(text)[1:-1]
    return text


def diff_markdown(
    changes: list[dict[str, Any]], summary: dict[str, Any], details: bool = True
) -> bytes:
    """The report: summary (diff_summary: counts, maybe the tolerance), then
    changes (the first differences, as the ndjson format gives them) in three
    tables, changed, added and removed, and "… and N more" for the
    differences not shown. details=False: the summary alone."""
    lines = [
        "| added | removed | changed | unchanged |",
        "|---:|---:|---:|---:|",
        f"| {summary['added']:,} | {summary['removed']:,} | {summary['changed']:,} "
        f"| {summary['unchanged']:,} |",
    ]
    tol = summary.get("tolerance")
    if tol is not None:
        bounds = tolerance_bounds(tol["abs"], tol["rel"])
        lines += ["", f"Numbers within {bounds} count as equal."]
    total = summary["added"] + summary["removed"] + summary["changed"]
    if not details:
        return ("\n".join(lines) + "\n").encode("utf-8")
    if total == 0:
        lines += ["", "No differences."]
    changed = [c for c in changes if c["op"] == "changed"]
    if changed:
        lines += ["", "**Changed**", "", "| key | field | old | new |", "|---|---|---|---|"]
        for c in changed:
            key = code(_json(c["key"]))
            for field, change in c["fields"].items():
                old = code(_json(change["old"])) if "old" in change else "*absent*"
                new = code(_json(change["new"])) if "new" in change else "*absent*"
                lines.append(f"| {key} | {code(_label(field))} | {old} | {new} |")
    for op, title in (("added", "Added"), ("removed", "Removed")):
        rows = [c for c in changes if c["op"] == op]
        if rows:
            lines += ["", f"**{title}**", "", "| key | record |", "|---|---|"]
            lines += [f"| {code(_json(c['key']))} | {code(_json(c['record']))} |" for c in rows]
    if total > len(changes):
        lines += ["", f"… and {total - len(changes):,} more"]
    return ("\n".join(lines) + "\n").encode("utf-8")


__all__ = ["code", "diff_markdown"]


def tolerance_bounds(abs_: float, rel: float) -> str:
    """`abs 0.01`, `rel 1e-06` or both joined by `or`: the bounds given."""
    parts = [f"{n} {v:g}" for n, v in (("abs", abs_), ("rel", rel)) if v]
    return " or ".join(parts) or "abs 0"
