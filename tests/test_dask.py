"""spooky_cli.dask on a LocalCluster of two worker processes: every result
equals the single-process command's on the same records gathered into one
file, also when a worker dies in the middle of a task."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import orjson
import pytest

REASON = "the dask extra is not installed (pip install 'spooky-cli[dask]')"
for _module in ("dask.dataframe", "distributed", "pandas", "pyarrow"):
    pytest.importorskip(_module, reason=REASON)

import pandas as pd  # noqa: E402
from cli_runner import run_cli  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import spooky_cli.dask as sd  # noqa: E402
from spooky_cli.bench import data  # noqa: E402
from spooky_cli.commands import convert  # noqa: E402
from spooky_cli.diff import diff_files  # noqa: E402
from spooky_cli.errors import DuplicateKey, SpookyError  # noqa: E402
from spooky_cli.filter import Filter, filter_file  # noqa: E402
from spooky_cli.reader import open_records  # noqa: E402

N = 4000  # ~2 MB of records: the gathered file has two blocks


@pytest.fixture(scope="module")
def crash_marker(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test hook's file: whoever removes it ends its worker process."""
    return str(tmp_path_factory.mktemp("crash") / "armed")


@pytest.fixture(scope="module")
def client(crash_marker: str):
    os.environ["SPOOKY_DASK_CRASH_ONCE"] = crash_marker  # the workers inherit it
    try:
        with (
            LocalCluster(
                processes=True,
                n_workers=2,
                threads_per_worker=1,
                dashboard_address=None,
                silence_logs=40,
            ) as cluster,
            Client(cluster) as c,
        ):
            yield c
    finally:
        del os.environ["SPOOKY_DASK_CRASH_ONCE"]


def _quiet_convert(inputs: list[str], out: str) -> None:
    convert.run(inputs, out, key="id", keep_last=False, skip_errors=False, quiet=True)


def _split(lines: bytes, folder: str, parts: int, by_key: bool) -> list[str]:
    """NDJSON inputs: consecutive runs of lines, or by id modulo parts (then a
    key's old and new records are in parts of other numbers)."""
    os.makedirs(folder)
    rows = lines.splitlines()
    outs: list[list[bytes]] = [[] for _ in range(parts)]
    for i, line in enumerate(rows):
        at = orjson.loads(line)["id"] % parts if by_key else i * parts // len(rows)
        outs[at].append(line)
    paths = []
    for i, chunk in enumerate(outs):
        paths.append(os.path.join(folder, f"in-{i}.ndjson"))
        with open(paths[-1], "wb") as f:
            f.write(b"\n".join(chunk) + b"\n")
    return paths


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory, client: Client) -> dict[str, str]:
    """old.spky / new.spky (gathered) and the same records as datasets: old in
    3 parts by position, new in 4 parts by key."""
    d = tmp_path_factory.mktemp("sets")
    old_lines = b"".join(data.lines(N))
    new_lines = b"".join(data.changed_lines(N))
    out = {"dir": str(d)}
    for side, lines, parts, by_key in (("old", old_lines, 3, False), ("new", new_lines, 4, True)):
        whole = str(d / f"{side}.ndjson")
        with open(whole, "wb") as f:
            f.write(lines)
        _quiet_convert([whole], str(d / f"{side}.spky"))
        inputs = _split(lines, str(d / f"{side}-in"), parts, by_key)
        sd.convert_many(inputs, str(d / side), key="id")
        out[side] = str(d / side)
        out[f"{side}.spky"] = str(d / f"{side}.spky")
        out[f"{side}-in"] = str(d / f"{side}-in")
    return out


def _export(path: str, fields: list[str] | None = None) -> list[dict]:
    buf = io.BytesIO()
    with open_records(path) as r:
        r.export_ndjson(buf.write, fields)
    return [orjson.loads(line) for line in buf.getvalue().splitlines()]


def _reference_diff(old: str, new: str, **kw: object) -> tuple[bytes, tuple[int, ...]]:
    buf = io.BytesIO()
    with open_records(old) as a, open_records(new) as b:
        counts = diff_files(a, b, buf.write, **kw)  # type: ignore[arg-type]
    return buf.getvalue(), tuple(counts)


# ---- convert_many, read_spky, read_spky_bag -----------------------------------------------


def test_convert_many_makes_what_convert_makes(sets: dict[str, str], tmp_path) -> None:
    inputs = sorted(os.listdir(sets["old-in"]))
    for i, name in enumerate(inputs):
        one = str(tmp_path / f"{i}.spky")
        _quiet_convert([os.path.join(sets["old-in"], name)], one)
        with open(one, "rb") as a, open(os.path.join(sets["old"], f"part-{i:05d}.spky"), "rb") as b:
            assert a.read() == b.read()


def test_convert_many_takes_a_glob_and_read_spky_a_glob_or_a_list(
    sets: dict[str, str], tmp_path
) -> None:
    parts = sd.convert_many(os.path.join(sets["new-in"], "in-*.ndjson"), tmp_path / "g")
    assert len(parts) == 4
    want = sd.read_spky_bag(sets["new"]).compute()
    assert sd.read_spky_bag(str(tmp_path / "g" / "part-*.spky")).compute() == want
    assert (
        sd.read_spky_bag(parts[:2] + [str(tmp_path / "g" / "part-0000[23].spky")]).compute() == want
    )


def test_convert_many_refuses_a_folder_with_parts(sets: dict[str, str]) -> None:
    with pytest.raises(SpookyError, match="holds record files already"):
        sd.convert_many([sets["old-in"]], sets["old"])


def test_bag_is_the_export_of_the_gathered_file(sets: dict[str, str]) -> None:
    assert sd.read_spky_bag(sets["old"]).compute() == _export(sets["old.spky"])


def test_dataframe_rows_and_types(sets: dict[str, str]) -> None:
    ddf = sd.read_spky(sets["old"])
    df = ddf.compute()
    rows = _export(sets["old.spky"])
    assert list(df.columns) == list(rows[0])  # the input's field order
    assert df["id"].dtype == "int64" and df["content_hash"].dtype == "uint64"
    assert df["price"].dtype == "float64" and df["active"].dtype == "bool"
    assert isinstance(df["note"].dtype, pd.StringDtype)  # str or null: nullable
    assert df["user"].dtype == object
    assert df["id"].tolist() == [r["id"] for r in rows]
    assert df["content_hash"].tolist() == [r["content_hash"] for r in rows]  # u64 exact
    assert df["user"].tolist() == [r["user"] for r in rows]  # nested: Python objects
    assert df["events"].tolist() == [r["events"] for r in rows]
    assert [None if v is pd.NA else v for v in df["note"]] == [r["note"] for r in rows]
    assert dict(ddf.dtypes) == dict(df.dtypes)


def test_a_partition_per_range_of_blocks(sets: dict[str, str]) -> None:
    with open_records(sets["old.spky"]) as r:
        blocks = r.block_count
    assert blocks >= 2
    ddf = sd.read_spky(sets["old.spky"], blocks_per_partition=1)
    assert ddf.npartitions == blocks
    assert ddf["id"].compute().tolist() == [r["id"] for r in _export(sets["old.spky"])]


def test_columns_and_where_run_in_c_as_filter(sets: dict[str, str]) -> None:
    where = "price > 50 and (active or user.verified) and tags[*] != 'x'"
    fields = ["id", "user.name", "price"]
    df = sd.read_spky(sets["old"], columns=fields, where=where).compute()
    buf = io.BytesIO()
    with open_records(sets["old.spky"]) as r:
        filter_file(r, Filter([where]), fields=fields, write=buf.write)
    want = [orjson.loads(line) for line in buf.getvalue().splitlines()]
    assert 0 < len(df) < N
    assert list(df.columns) == ["id", "user", "price"]
    assert df.to_dict(orient="records") == want
    bag = sd.read_spky_bag(sets["old"], columns=fields, where=where).compute()
    assert bag == want


def test_read_errors_name_the_field(sets: dict[str, str]) -> None:
    with pytest.raises(SpookyError, match="unknown field 'nope'"):
        sd.read_spky(sets["old"], columns=["nope"])
    with pytest.raises(SpookyError, match="unknown field 'nope' in where"):
        sd.read_spky(sets["old"], where="nope > 1")


# ---- to_spky -------------------------------------------------------------------------------


def test_to_spky_from_a_bag_round_trips(sets: dict[str, str], tmp_path) -> None:
    bag = sd.read_spky_bag(sets["new"])
    parts = sd.to_spky(bag, tmp_path / "copy", key="id")
    assert len(parts) == bag.npartitions
    assert sd.read_spky_bag(str(tmp_path / "copy")).compute() == bag.compute()


def test_to_spky_from_a_dataframe(sets: dict[str, str], tmp_path) -> None:
    fields = ["id", "price", "active", "user", "note"]
    ddf = sd.read_spky(sets["old"], columns=fields)
    sd.to_spky(ddf, tmp_path / "copy", key="id")
    got = sd.read_spky_bag(str(tmp_path / "copy")).compute()
    want = _export(sets["old.spky"], fields)
    for row in want:  # a DataFrame's missing value is a field left out
        if row["note"] is None:
            del row["note"]
    assert got == want
    with pytest.raises(SpookyError, match="holds record files already"):
        sd.to_spky(ddf, tmp_path / "copy", key="id")
    fewer = sd.to_spky(ddf.repartition(npartitions=1), tmp_path / "copy", overwrite=True)
    assert sorted(os.listdir(tmp_path / "copy")) == [os.path.basename(fewer[0])]


# ---- diff_datasets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"fmt": "text"},
        {"fields": ["price", "active"]},
        {"ignore": ["version", "content_hash", "user.verified"]},
        {"deep": True},
    ],
    ids=["json", "text", "fields", "ignore-paths", "deep"],
)
def test_diff_datasets_equals_diff_of_gathered_files(sets: dict[str, str], options: dict) -> None:
    want, counts = _reference_diff(sets["old.spky"], sets["new.spky"], **options)
    d = sd.plan_diff(sets["old"], sets["new"], ranges=3, **options)
    changes = d.changes.compute()
    assert "".join(changes["text"]).encode() == want
    assert tuple(d.counts(changes)) == counts
    assert changes["key"].is_monotonic_increasing  # ranges in key order


def test_diff_datasets_writes_ndjson_parts(sets: dict[str, str], tmp_path) -> None:
    want, counts = _reference_diff(sets["old.spky"], sets["new.spky"])
    got = sd.diff_datasets(sets["old"], sets["new"], output=tmp_path / "out", ranges=2)
    assert tuple(got) == counts
    names = sorted(os.listdir(tmp_path / "out"))
    assert names == ["part-00000.ndjson", "part-00001.ndjson"]
    assert b"".join((tmp_path / "out" / n).read_bytes() for n in names) == want


def test_diff_of_a_file_and_a_dataset(sets: dict[str, str]) -> None:
    want, _ = _reference_diff(sets["old.spky"], sets["new.spky"])
    changes = sd.diff_datasets(sets["old.spky"], sets["new"])
    assert "".join(changes.compute()["text"]).encode() == want


def test_a_key_in_two_parts_is_an_error(sets: dict[str, str], tmp_path) -> None:
    twice = tmp_path / "twice"
    twice.mkdir()
    for name in ("part-00000.spky", "part-00001.spky"):
        os.link(os.path.join(sets["old"], "part-00000.spky"), twice / name)
    with pytest.raises(DuplicateKey, match="is in two parts of the old dataset"):
        sd.diff_datasets(str(twice), sets["new"]).compute()


def test_a_worker_killed_mid_task_is_retried(
    sets: dict[str, str], client: Client, crash_marker: str
) -> None:
    want, counts = _reference_diff(sets["old.spky"], sets["new.spky"])
    open(crash_marker, "w").close()
    d = sd.plan_diff(sets["old"], sets["new"], ranges=4)
    changes = d.changes.compute()
    assert not os.path.exists(crash_marker)  # a task took it and ended its worker
    assert "".join(changes["text"]).encode() == want
    assert tuple(d.counts(changes)) == counts
    client.wait_for_workers(2, timeout=60)


# ---- the command line ----------------------------------------------------------------------


def test_cli_diff_of_datasets_on_a_scheduler(sets: dict[str, str], client: Client) -> None:
    address = client.scheduler.address
    want, _ = _reference_diff(sets["old.spky"], sets["new.spky"], fmt="text")
    r = run_cli("diff", sets["old"], sets["new"], "--scheduler", address, "--color", "never")
    assert r.code == 1, r.stderr
    assert r.stdout == want
    r = run_cli(
        "diff", sets["old"], sets["new"], "--scheduler", address, "--summary", "--format", "json"
    )
    one = run_cli("diff", sets["old.spky"], sets["new.spky"], "--summary", "--format", "json")
    assert (r.code, r.stdout) == (one.code, one.stdout)
    r = run_cli("diff", sets["old"], sets["old"], "--scheduler", address, "-q", "--verify")
    assert (r.code, r.stdout) == (0, b"")


def test_cli_scheduler_is_for_datasets(sets: dict[str, str]) -> None:
    r = run_cli("diff", sets["old.spky"], sets["new.spky"], "--scheduler", "tcp://127.0.0.1:1")
    assert r.code == 2 and "datasets" in r.stderr


def test_cli_reads_a_dataset_as_its_gathered_file(sets: dict[str, str]) -> None:
    one, many = sets["old.spky"], sets["old"]
    for args in (
        ["export"],
        ["export", "--fields", "id,user.name"],
        ["filter", "-w", "price > 50", "--fields", "id,price"],
        ["filter", "-w", "price > 50", "--count"],
    ):
        a, b = run_cli(args[0], one, *args[1:]), run_cli(args[0], many, *args[1:])
        assert (a.code, a.stdout) == (b.code, b.stdout), args
    a = orjson.loads(run_cli("info", one, "--json", "--verify").stdout)
    b = orjson.loads(run_cli("info", many, "--json", "--verify").stdout)
    assert len(b.pop("parts")) == 3
    for k in ("record_count", "fields", "key_fields"):
        assert a[k] == b[k], k
    assert a["verified"]["records"] == b["verified"]["records"]


def test_without_the_extra_the_cli_says_what_to_install(sets: dict[str, str], tmp_path) -> None:
    code = (
        "import sys; sys.modules['dask'] = None\n"
        "from spooky_cli.app import main\n"
        f"main(['diff', {sets['old']!r}, {sets['new']!r}])\n"
    )
    r = subprocess.run(  # not in the checkout: its spooky_cli has no built core
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert r.returncode == 2
    assert "pip install 'spooky-cli[dask]'" in r.stderr


@pytest.mark.parametrize(
    "extra",
    [
        ["--format", "markdown"],
        ["-w", "active"],
        ["--tolerance", "1"],
        ["--full", "--format", "ndjson"],
    ],
)
def test_dataset_diff_refuses_what_it_cannot_do_yet(sets: dict[str, str], extra: list[str]) -> None:
    # these work on files; on datasets they are refused up front, by name
    r = run_cli("diff", sets["old"], sets["new"], *extra)
    assert r.code == 2 and b"Traceback" not in r.stderr.encode()
    assert "not yet for datasets" in r.stderr and extra[0] in r.stderr


def test_dataset_diff_as_one_json_document(sets: dict[str, str]) -> None:
    # the same document, byte for byte, as the diff of the gathered files
    got = run_cli("diff", sets["old"], sets["new"], "--format", "json")
    want = run_cli("diff", sets["old.spky"], sets["new.spky"], "--format", "json")
    assert (got.code, got.stdout) == (want.code, want.stdout) == (1, got.stdout)
    assert orjson.loads(got.stdout)["summary"]["changed"] > 0
    same = run_cli("diff", sets["old"], sets["old"], "--format", "json")
    alone = run_cli("diff", sets["old.spky"], sets["old.spky"], "--format", "json")
    assert (same.code, same.stdout) == (alone.code, alone.stdout) == (0, same.stdout)
