"""`spooky bench`: every row is there, --save/--compare work, the data are
deterministic. No test here asserts a speed: the command runs with
SPOOKY_BENCH_TINY=1 (tiny sizes, numbers meaningless), and the comparison is
tested on synthetic runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from spooky_cli.app import app
from spooky_cli.bench import data, macro, micro, report
from spooky_cli.commands import bench as bench_cmd
from spooky_cli.commands import convert
from spooky_cli.errors import SpookyError

EXPECTED = {
    "fieldslot": set(micro.OPS),
    "python-fieldslot": set(micro.OPS),
    "python-slot-checks": set(micro.SLOT_CHECKS),
    "serialize": {"serialize_into"},
    "python-serialize": {"serialize_into"},
    "change-detection": {"detect_changes"},
    "convert": {"orjson", "pyarrow", "duckdb", "jq"},
    "export": {"orjson", "duckdb", "jq"},
    "diff": {"orjson", "pyarrow", "duckdb", "jq"},
    "filter": {"orjson", "pyarrow", "duckdb", "jq"},
}
ROW_KEYS = {"group", "name", "unit", "ours", "baseline_name", "baseline", "speedup"}


def _bench(*args: str) -> Any:
    return CliRunner().invoke(app, ["bench", *args])


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bench_cmd.TINY_ENV, "1")


def test_json_has_every_row_and_save_writes_it(tiny: None, tmp_path: Path) -> None:
    saved = tmp_path / "run.json"
    res = _bench("--quick", "--json", "--save", str(saved))
    assert res.exit_code == 0, (res.stderr, res.exception)
    doc = json.loads(res.stdout)
    assert json.loads(saved.read_text()) == doc

    assert {"cpu", "cores", "python", "spooky_core", "core_compiler", "peers"} <= set(
        doc["machine"]
    )
    assert doc["settings"]["tiny"] is True
    got: dict[str, set] = {}
    for row in doc["rows"]:
        assert set(row) >= ROW_KEYS, row
        got.setdefault(row["group"], set()).add(row["name"])
    assert got == EXPECTED

    for row in doc["rows"]:
        if row["ours"] is None or row["baseline"] is None:
            assert row["speedup"] is None and row["note"], row  # says why
            continue
        # speedup = how many times faster ours is, whatever the unit
        if row["unit"].endswith("/s"):
            want = row["ours"] / row["baseline"]
        else:
            want = row["baseline"] / row["ours"]
        assert row["speedup"] == pytest.approx(want, rel=0.05, abs=0.01), row
    for row in doc["rows"]:
        if row["unit"] == macro.UNIT:  # the commands: ours always measured
            assert row["ours"] is not None and row["ours_mb_s"] is not None, row
        if row["baseline"] is None:  # only a peer that is not installed
            assert "not installed" in row["note"], row


def test_table_output(tiny: None) -> None:
    res = _bench("--quick")
    assert res.exit_code == 0, (res.stderr, res.exception)
    for word in (
        "fieldslot",
        "python-serialize",
        "convert",
        "export",
        "diff",
        "filter",
        "speedup",
        "cpu",
        "records match",
    ):
        assert word in res.stdout
    assert "not implemented" not in res.stdout


def test_missing_peers_keep_their_rows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(macro, "available", lambda module: False)
    monkeypatch.setattr(macro.shutil, "which", lambda name: None)
    steps: list[str] = []
    rows = macro.run_macro(300, str(tmp_path), repeats=1, progress=steps.append)
    assert len(steps) == bench_cmd._macro_steps(1)  # the progress bar's total
    by_key = {(r["group"], r["name"]): r for r in rows}
    assert {g for g, _ in by_key} == {"convert", "export", "diff", "filter"}
    for key in [
        ("convert", "pyarrow"),
        ("convert", "duckdb"),
        ("convert", "jq"),
        ("export", "duckdb"),
        ("export", "jq"),
        ("diff", "pyarrow"),
        ("diff", "duckdb"),
        ("diff", "jq"),
        ("filter", "pyarrow"),
        ("filter", "duckdb"),
        ("filter", "jq"),
    ]:
        row = by_key[key]
        assert row["baseline"] is None and row["speedup"] is None
        assert "not installed" in row["note"]
        assert row["ours"] is not None  # ours still measured
    for group in ("convert", "export", "diff", "filter"):
        assert by_key[(group, "orjson")]["speedup"] is not None


def test_filter_and_diff_catch_a_peer_that_disagrees(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(macro, "available", lambda module: False)
    monkeypatch.setattr(macro.shutil, "which", lambda name: None)
    src = data.ndjson(str(tmp_path), 300)
    spky = str(tmp_path / "all.spky")
    convert.run([src], spky, key="id", keep_last=False, skip_errors=False, quiet=True)

    ours, peers = macro.filter_contenders(src, spky, 300, str(tmp_path))
    assert "records match" in (ours.note or "")
    monkeypatch.setattr(macro.peers, "matches", lambda d: d["version"] <= 400)  # wrong
    with pytest.raises(RuntimeError, match="orjson loop"):
        macro.filter_contenders(src, spky, 300, str(tmp_path))

    ours, peers = macro.diff_contenders(src, spky, 300, str(tmp_path))
    orjson_peer = next(p for p in peers if p.name == "orjson")
    assert orjson_peer.run is not None and orjson_peer.check is not None
    orjson_peer.run()
    orjson_peer.check()  # found what the generator made
    new = tmp_path / f"{Path(src).stem}-new.ndjson"
    new.write_bytes(Path(src).read_bytes())  # now the peer finds no difference
    orjson_peer.run()
    with pytest.raises(RuntimeError, match="orjson peer"):
        orjson_peer.check()


# ---- comparison on synthetic runs ------------------------------------------------------


def _row(group: str, name: str, unit: str, ours: Any) -> dict[str, Any]:
    return {
        "group": group,
        "name": name,
        "unit": unit,
        "ours": ours,
        "baseline_name": "b",
        "baseline": 1.0,
        "speedup": 1.0,
        "note": None,
    }


OLD = [
    _row("fieldslot", "get_i64", "ns/op", 10.0),
    _row("convert", "orjson", "records/s", 100_000.0),
    _row("serialize", "serialize_into", "ns/record", 1000.0),
    _row("gone", "row", "ns/op", 5.0),
]


def _status(entries: list[dict[str, Any]]) -> dict[tuple, str]:
    return {(e["group"], e["name"]): e["status"] for e in entries}


def test_compare_time_unit_regression() -> None:
    new = [_row("fieldslot", "get_i64", "ns/op", 11.5)]  # 15% more time
    entries, regressed = report.compare(OLD, new, 10.0)
    assert regressed
    assert _status(entries)[("fieldslot", "get_i64")] == "slower"
    assert entries[0]["slower_pct"] == pytest.approx(15.0)


def test_compare_rate_unit_regression_and_direction() -> None:
    # 100k -> 80k records/s: the same work takes 1.25x as long.
    entries, regressed = report.compare(
        OLD, [_row("convert", "orjson", "records/s", 80_000.0)], 10.0
    )
    assert regressed and entries[0]["slower_pct"] == pytest.approx(25.0)
    # 100k -> 150k records/s is an improvement, not a regression.
    entries, regressed = report.compare(
        OLD, [_row("convert", "orjson", "records/s", 150_000.0)], 10.0
    )
    assert not regressed and _status(entries)[("convert", "orjson")] == "faster"


def test_compare_improvement_noise_and_missing_rows() -> None:
    new = [
        _row("fieldslot", "get_i64", "ns/op", 5.0),  # 2x faster
        _row("serialize", "serialize_into", "ns/record", 1050.0),  # 5%: noise
        _row("convert", "orjson", "records/s", None),  # no number now
        _row("brand", "new", "ns/op", 1.0),
    ]  # not in the old run
    entries, regressed = report.compare(OLD, new, 10.0)
    assert not regressed
    assert _status(entries) == {
        ("fieldslot", "get_i64"): "faster",
        ("serialize", "serialize_into"): "ok",
        ("convert", "orjson"): "no-data",
        ("brand", "new"): "missing-old",
        ("gone", "row"): "missing-new",
    }


def test_compare_threshold_is_respected() -> None:
    new = [_row("fieldslot", "get_i64", "ns/op", 11.5)]
    assert report.compare(OLD, new, 20.0)[1] is False
    assert report.compare(OLD, new, 10.0)[1] is True


def _fake_runs(monkeypatch: pytest.MonkeyPatch, rows: list[dict[str, Any]]) -> None:
    """The command with fixed rows instead of measurements."""
    micro_rows = [r for r in rows if not r["unit"].endswith("/s")]
    macro_rows = [r for r in rows if r["unit"].endswith("/s")]
    monkeypatch.setattr(
        micro, "run_all", lambda quick, progress=None: [dict(r) for r in micro_rows]
    )
    monkeypatch.setattr(macro, "run_macro", lambda n, workdir, **kw: [dict(r) for r in macro_rows])


def _saved(tmp_path: Path, rows: list[dict[str, Any]]) -> str:
    path = tmp_path / "saved.json"
    path.write_text(report.dumps(report.make_run({"cpu": "test"}, rows, {})))
    return str(path)


def test_cli_compare_exit_codes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    now = [
        _row("fieldslot", "get_i64", "ns/op", 10.0),
        _row("convert", "orjson", "records/s", 100_000.0),
        _row("brand", "new", "ns/op", 1.0),
    ]
    _fake_runs(monkeypatch, now)

    slower_now = _saved(
        tmp_path, [_row("fieldslot", "get_i64", "ns/op", 5.0), _row("gone", "row", "ns/op", 1.0)]
    )
    res = _bench("--compare", slower_now)
    assert res.exit_code == 1, (res.stderr, res.exception)
    assert "SLOWER" in res.stdout and "missing now" in res.stdout and "new row" in res.stdout

    res = _bench("--compare", slower_now, "--threshold", "150")  # +100% is within 150%
    assert res.exit_code == 0, (res.stderr, res.exception)

    faster_now = _saved(
        tmp_path,
        [
            _row("fieldslot", "get_i64", "ns/op", 20.0),
            _row("convert", "orjson", "records/s", 50_000.0),
        ],
    )
    res = _bench("--compare", faster_now, "--json")
    assert res.exit_code == 0, (res.stderr, res.exception)
    assert json.loads(res.stdout)["rows"][0]["name"] == "get_i64"  # stdout stays JSON


def test_cli_compare_bad_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_runs(monkeypatch, [])
    res = _bench("--compare", str(tmp_path / "missing.json"))
    assert isinstance(res.exception, SpookyError) and "missing.json" in str(res.exception)
    bad = tmp_path / "bad.json"
    bad.write_text('{"no": "rows"}')
    res = _bench("--compare", str(bad))
    assert isinstance(res.exception, SpookyError) and "rows" in str(res.exception)
    res = _bench("--threshold", "-1")
    assert isinstance(res.exception, SpookyError) and "--threshold" in str(res.exception)


# ---- generated data ---------------------------------------------------------------------


def test_data_is_deterministic_realistic_and_prefix_stable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "POOL", 400)
    n = data.POOL + 500  # also some lines made from the pool
    blob = b"".join(data.lines(n, seed=3))
    assert blob == b"".join(data.lines(n, seed=3))
    assert blob != b"".join(data.lines(n, seed=4))
    lines = blob.splitlines()
    assert len(lines) == n
    assert b"".join(data.lines(100, seed=3)) == b"\n".join(lines[:100]) + b"\n"
    docs = [json.loads(line) for line in lines]
    assert [d["id"] for d in docs] == list(range(data.FIRST_ID, data.FIRST_ID + n))
    assert all(2**63 <= d["content_hash"] < 2**64 for d in docs)
    assert 300 <= len(blob) / n <= 500
    assert any(not line.isascii() for line in lines)
    assert isinstance(docs[-1]["user"], dict) and isinstance(docs[-1]["events"], list)


def test_new_version_is_deterministic_and_counted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(data, "POOL", 400)
    n = 3000
    counts: dict[str, int] = {}
    blob = b"".join(data.changed_lines(n, seed=3, counts=counts))
    assert blob == b"".join(data.changed_lines(n, seed=3))
    assert blob != b"".join(data.changed_lines(n, seed=4))
    old = {d["id"]: d for d in map(json.loads, b"".join(data.lines(n, seed=3)).splitlines())}
    new_lines = blob.splitlines()
    new = {d["id"]: d for d in map(json.loads, new_lines)}
    assert len(new) == len(new_lines)  # keys unique
    assert counts == {
        "changed": sum(1 for k in old.keys() & new.keys() if old[k] != new[k]),
        "removed": len(old.keys() - new.keys()),
        "added": len(new.keys() - old.keys()),
    }
    assert 0.07 * n <= counts["changed"] <= 0.13 * n
    assert 0 < counts["removed"] <= 0.03 * n and 0 < counts["added"] <= 0.03 * n
    assert all(k >= data.FIRST_ID + n for k in new.keys() - old.keys())
    # from the written file, the same bytes and counts
    path, from_file = data.changed_ndjson(data.ndjson(str(tmp_path), n, 3), n, 3)
    assert Path(path).read_bytes() == blob and from_file == counts


def test_data_file_is_cached(tmp_path: Path) -> None:
    path = data.ndjson(str(tmp_path), 50)
    mtime = Path(path).stat().st_mtime_ns
    assert data.ndjson(str(tmp_path), 50) == path
    assert Path(path).stat().st_mtime_ns == mtime
    assert data.average_size(path) == pytest.approx(Path(path).stat().st_size / 50)
