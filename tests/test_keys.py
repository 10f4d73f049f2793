"""Record keys: the sort form of one-part and composite keys (native/keys.c)
against an independent writer of FORMAT.md (filebuilder.sort_form) and
against Python's own tuple order; composite and nested keys (--key
tenant,user.id) through convert, the reader, info --verify, export, diff and
filter -o, their errors, and damaged key sections."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import filebuilder as fb
import orjson
import pytest
from cli_runner import run_cli
from hypothesis import given
from hypothesis import strategies as st

from spooky_cli.errors import RecordFileError, RecordKeyError, SpookyError
from spooky_cli.keys import KeySpec, key_from_sort_form, key_to_sort_form
from spooky_cli.reader import RecordFileReader
from spooky_cli.writer import RecordFileWriter

ints = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(2**63, 2**64 - 1),
    st.sampled_from([0, -1, 1, 2**63 - 1, 2**63, -(2**63), 2**64 - 1]),
)
# strings that hold 0x00, and prefixes of each other ("", "a", "a\0", "a\0b", "ab")
texts = st.one_of(
    st.text(alphabet=st.sampled_from(["a", "b", "\x00", "\x01", "\xff", "é", "\U0001f600"])),
    st.text(max_size=6),
)
parts = st.one_of(ints, texts)


def oracle(key: tuple[int | str, ...]) -> tuple[tuple[int, int | bytes], ...]:
    """Tuple order: part by part, integers by value before strings, strings
    by their UTF-8 bytes (code point order)."""
    return tuple((0, v) if isinstance(v, int) else (1, v.encode()) for v in key)


@given(st.integers(2, 4).flatmap(lambda n: st.lists(st.tuples(*[parts] * n), max_size=30)))
def test_composite_byte_order_is_tuple_order(keys: list[tuple[int | str, ...]]) -> None:
    forms = {k: key_to_sort_form(k) for k in keys}
    assert sorted(keys, key=forms.__getitem__) == sorted(keys, key=oracle)
    for k, form in forms.items():
        assert form == fb.sort_form(k)  # the bytes FORMAT.md describes
        assert key_from_sort_form(form, len(k)) == k
    assert len(set(forms.values())) == len(forms)  # one key, one form


@given(st.lists(parts, max_size=30))
def test_one_part_keys_keep_their_bytes(keys: list[int | str]) -> None:
    for k in keys:
        form = key_to_sort_form(k)
        assert form == fb.sort_form(k) == key_to_sort_form((k,))
        assert key_from_sort_form(form) == k
    assert sorted(keys, key=key_to_sort_form) == sorted(keys, key=lambda k: oracle((k,)))


def test_composite_forms() -> None:
    assert key_to_sort_form(("acme", 42)) == b"\x03acme\x00\x01" + (42 ^ 2**63).to_bytes(8, "big")
    assert key_to_sort_form(("a\x00b", "")) == b"\x03a\x00\xffb\x00\x03\x00"
    # a one-part string is not escaped and has no end
    assert key_to_sort_form("a\x00b") == b"\x03a\x00b"
    assert key_from_sort_form(b"\x03a\x00\xffb\x00\x03\x00", 2) == ("a\x00b", "")


@pytest.mark.parametrize(
    "raw,parts",
    [
        (b"\x03ab", 2),  # a string part without its end
        (b"\x03a\x00", 1),  # fine as one part ("a\0") ...
        (b"\x03a\x00\x03b\x00\x03", 2),  # bytes after the parts
        (b"\x03a\x00", 2),  # one part short
        (b"\x03\xff\x00\x03b\x00", 2),  # not UTF-8
        (b"\x01\x00\x00", 2),  # an integer cut short
        (b"\x04a\x00\x03b\x00", 2),  # an unknown kind
        (b"", 1),
    ],
)
def test_malformed_composite_forms(raw: bytes, parts: int) -> None:
    if raw == b"\x03a\x00" and parts == 1:
        assert key_from_sort_form(raw) == "a\x00"
        return
    with pytest.raises(ValueError, match="not a stored key"):
        key_from_sort_form(raw, parts)


def test_bad_key_values() -> None:
    with pytest.raises(ValueError, match="at least one part"):
        key_to_sort_form(())
    with pytest.raises(TypeError):
        key_to_sort_form(("a", 1.5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):
        key_to_sort_form(("a", 2**64))


# ---- what keys a file: KeySpec, --key ----------------------------------------------


def test_key_spec_parses_paths() -> None:
    k = KeySpec.parse("tenant, user.id")
    assert k.paths == (("tenant",), ("user", "id")) and k.parts == 2
    assert k.fields == ["tenant", "user.id"] and k.text == "tenant,user.id"
    assert KeySpec.parse(["tenant", "user.id"]) == k  # a repeated --key
    odd = KeySpec.parse('"a.b","c,d".e')
    assert odd.paths == (("a.b",), ("c,d", "e"))
    assert odd.text == '"a.b","c,d".e' and KeySpec.parse(odd.text) == odd
    assert KeySpec.parse("id").section == struct.pack("<II", 1, 2) + b"id"
    for bad, message in [
        ("a,,b", "expected a field name"),
        ("a,", "expected a field name"),
        ("a..b", "expected a field name"),
        ('"a', "unterminated"),
        ("a b", "unexpected 'b'"),
        ("id,id", "names a field twice"),
        ("", "expected a field name"),
    ]:
        with pytest.raises(SpookyError, match=message):
            KeySpec.parse(bad)


# ---- composite and nested keys through the commands ---------------------------------

ORDERS = [
    {"tenant": "acme", "user": {"id": 42, "name": "Ann"}, "v": 1},
    {"tenant": "acme", "user": {"id": 7, "name": "Bo"}, "v": 2},
    {"tenant": "beta", "user": {"id": "x\u0000y", "name": "Cy"}, "v": 3},
    {"tenant": "acme", "user": {"id": "7", "name": "Di"}, "v": 4},
    {"tenant": "", "user": {"id": 2**64 - 1, "name": "Ed"}, "v": 5},
]
TENANT_USER = [("tenant",), ("user", "id")]


def ndjson(objs: list[dict]) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


def convert(tmp_path: Path, objs: list[dict], *args: str, name: str = "o") -> Path:
    src = tmp_path / f"{name}.ndjson"
    src.write_bytes(ndjson(objs))
    out = tmp_path / f"{name}.spky"
    res = run_cli("convert", str(src), "-o", str(out), "-q", *args)
    assert res.code == 0, res.stderr
    return out


def varied(n: int) -> list[dict]:
    """Records keyed by (tenant, user.id) with ints and strings mixed,
    strings holding 0x00 and prefixes of each other, in no key order."""
    out = []
    for i in range(n):
        uid: int | str = (i * 7919) % n - n // 2 if i % 3 else f"u{i % 50}\u0000{i}"
        out.append(
            {
                "tenant": ["acme", "ac", "acme\u0000", "b"][i % 4],
                "user": {"id": uid, "tags": [i % 5, str(i)]},
                "v": i,
            }
        )
    return out


@pytest.mark.parametrize(
    "key,paths",
    [
        ("tenant,user.id", TENANT_USER),
        ("user.id,tenant", [("user", "id"), ("tenant",)]),
        ("v", [("v",)]),
        ("user.tags.1", [("user", "tags", "1")]),
        ("v,user.tags.1", [("v",), ("user", "tags", "1")]),
    ],
)
def test_c_writer_matches_the_python_builder_on_these_keys(
    tmp_path: Path, key: str, paths: list
) -> None:
    """The C writer and filebuilder (FORMAT.md again, in Python) agree byte
    for byte on composite and nested keys, over several blocks."""
    objs = varied(12000)
    out = convert(tmp_path, objs, "--key", key)
    built = fb.build(objs, key=paths, version=2)
    assert len(built.block_offsets) > 1
    assert out.read_bytes() == built.data
    with RecordFileReader(out) as r:
        assert list(r.keys()) == sorted(built.keys, key=fb.sort_form)
        assert r.key_fields == key.split(",")
        assert r.verify() == (r.block_count, len(objs))


def test_a_nested_key_is_the_value_a_top_level_one_would_be(tmp_path: Path) -> None:
    objs = [{"id": i, "user": {"id": i}, "s": {"k": f"s{i}"}} for i in (5, -3, 2**64 - 1, 0)]
    top = convert(tmp_path, objs, "--key", "id", name="top")
    nested = convert(tmp_path, objs, "--key", "user.id", name="nested")
    with RecordFileReader(top) as a, RecordFileReader(nested) as b:
        assert [e.key for e in a.index_entries()] == [e.key for e in b.index_entries()]
        assert b.get(2**64 - 1).get("id") == 2**64 - 1 and b.get(4) is None
    # the keys' bytes (the heaps) are the same: only the key sections differ
    assert fb.key_section("id") != fb.key_section([("user", "id")])
    with RecordFileReader(convert(tmp_path, objs, "--key", "s.k", name="str")) as c:
        assert list(c.keys()) == ["s-3", "s0", "s18446744073709551615", "s5"]


def test_composite_keys_through_the_commands(tmp_path: Path) -> None:
    out = convert(tmp_path, ORDERS, "--key", "tenant", "--key", "user.id")
    assert (
        out.read_bytes()
        == convert(tmp_path, ORDERS, "--key", "tenant,user.id", name="b").read_bytes()
    )
    facts = orjson.loads(run_cli("info", str(out), "--verify", "--json").stdout)
    assert facts["key_field"] == "tenant,user.id" and facts["key_fields"] == ["tenant", "user.id"]
    assert facts["verified"]["records"] == 5
    with RecordFileReader(out) as r:
        assert list(r.keys()) == [
            ("", 2**64 - 1),
            ("acme", 7),
            ("acme", 42),
            ("acme", "7"),
            ("beta", "x\x00y"),
        ]
        assert r.get(("acme", 42)).get("v") == 1 and r.get(("acme", "42")) is None
        assert ("acme", "7") in r and ("acme", 8) not in r
        with pytest.raises(SpookyError, match="keyed by tenant,user.id: a key is a tuple of 2"):
            r.get("acme")
    res = run_cli("get", str(out), "acme", "42", "--compact")
    assert res.code == 0 and orjson.loads(res.stdout) == ORDERS[0]
    res = run_cli("get", str(out), "acme", '"7"', "--compact")
    assert res.code == 0 and orjson.loads(res.stdout)["v"] == 4
    # export gives the input back; a convert of it, the same file
    exported = run_cli("export", str(out), "-q").stdout
    assert exported == ndjson(ORDERS)
    again = tmp_path / "again.ndjson"
    again.write_bytes(exported)
    res = run_cli(
        "convert", str(again), "-o", str(tmp_path / "again.spky"), "--key", "tenant,user.id"
    )
    assert res.code == 0 and (tmp_path / "again.spky").read_bytes() == out.read_bytes()


def test_composite_keys_in_diff(tmp_path: Path) -> None:
    old = convert(tmp_path, ORDERS, "--key", "tenant,user.id", name="old")
    changed = [dict(o) for o in ORDERS[1:]] + [{"tenant": "new", "user": {"id": 1}, "v": 9}]
    changed[0]["v"] = 20
    new = convert(tmp_path, changed, "--key", "tenant,user.id", name="new")
    res = run_cli("diff", str(old), str(new), "--format", "ndjson")
    assert res.code == 1, res.stderr
    got = [orjson.loads(x) for x in res.stdout.splitlines()]
    assert [(g["op"], g["key"]) for g in got] == [
        ("changed", ["acme", 7]),
        ("removed", ["acme", 42]),
        ("added", ["new", 1]),
    ]
    text = run_cli("diff", str(old), str(new), "--color", "never").stdout.decode()
    assert '~ ["acme",7]\n    v: 2 -> 20\n' in text and '- ["acme",42] {' in text
    assert run_cli("diff", str(old), str(old)).code == 0
    # keyed differently: an error naming both keys
    other = convert(tmp_path, ORDERS, "--key", "user.id,tenant", name="other")
    res = run_cli("diff", str(old), str(other))
    assert res.code == 2
    assert "keyed by 'tenant,user.id'" in res.stderr and "by 'user.id,tenant'" in res.stderr


def test_filter_to_a_record_file_keeps_the_key(tmp_path: Path) -> None:
    src = convert(tmp_path, ORDERS, "--key", "tenant,user.id")
    out = tmp_path / "acme.spky"
    res = run_cli("filter", str(src), "-w", 'tenant == "acme"', "--fields", "v", "-o", str(out))
    assert res.code == 0, res.stderr
    facts = orjson.loads(run_cli("info", str(out), "--verify", "--json").stdout)
    assert facts["key_fields"] == ["tenant", "user.id"] and facts["verified"]["records"] == 3
    with RecordFileReader(out) as r:
        assert list(r.keys()) == [("acme", 7), ("acme", 42), ("acme", "7")]
        # every key part's field is kept, after the projection
        assert orjson.loads(r.get_json(("acme", 42))) == {
            "v": 1,
            "tenant": "acme",
            "user": {"id": 42, "name": "Ann"},
        }


# ---- key errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "key,line,needle,column",
    [
        (
            "tenant,user_id",
            {"tenant": "a"},
            'record has no field "user_id" (choose the key with --key)',
            1,
        ),
        ("tenant,user_id", {"user_id": 1}, 'record has no field "tenant"', 1),
        (
            "tenant,user_id",
            {"tenant": "a", "user_id": 1.5},
            'key field "user_id" is not a string or an integer',
            15,  # at the field
        ),
        (
            "user.id",
            {"user": {"name": "x"}},
            'record has no field "user.id" (choose the key with --key)',
            1,
        ),
        ("user.id", {"user": 5}, 'record has no field "user.id"', 1),
        ("user.id", {"user": {"id": 1.5}}, 'key field "user.id" is not a string or an integer', 2),
        ("user.id", {"user": {"id": None}}, 'key field "user.id" is not', 2),
        ("user.id", {"user": {"id": [1]}}, 'key field "user.id" is not', 2),
        ("user.id", {"user": {"id": True}}, 'key field "user.id" is not', 2),
        ("tags.1", {"tags": ["a", 1]}, None, 0),  # decimal digits index an array
        ("tags.1", {"tags": ["a"]}, 'record has no field "tags.1"', 1),
        ("deep.0.x", {"deep": [{"x": 5}]}, None, 0),
        ("deep.0.x", {"deep": [{"y": 5}]}, 'record has no field "deep.0.x"', 1),
        ('"a.b"', {"a": {"b": 1}}, 'record has no field "\\"a.b\\""', 1),
    ],
)
def test_key_errors_name_the_part(
    tmp_path: Path, key: str, line: dict, needle: str | None, column: int
) -> None:
    src = tmp_path / "in.ndjson"
    first = {
        "tenant": "0",
        "user_id": 0,
        "user": {"id": 0, "name": "z"},
        "a.b": 0,
        "a": {"b": 9},
        "tags": ["s", "t"],
        "deep": [{"x": 0}],
    }
    src.write_bytes(ndjson([first, line]))
    res = run_cli("convert", str(src), "-o", str(tmp_path / "o.spky"), "--key", key)
    if needle is None:
        assert res.code == 0, res.stderr
        return
    assert res.code == 2 and needle in res.stderr, res.stderr
    assert f"in.ndjson:2:{column}:" in res.stderr
    # the Python API says the same, with its own hint
    with (
        pytest.raises(RecordKeyError, match=re.escape(needle.replace("--key", "key="))),
        RecordFileWriter(tmp_path / "p.spky", key=key) as w,
    ):
        w.write_many([first, line])


def test_a_repeated_composite_key(tmp_path: Path) -> None:
    src = tmp_path / "in.ndjson"
    src.write_bytes(ndjson([*ORDERS, ORDERS[0]]))
    res = run_cli("convert", str(src), "-o", str(tmp_path / "o.spky"), "--key", "tenant,user.id")
    assert res.code == 2
    assert "key ('acme', 42) (tenant,user.id) repeats: at " in res.stderr
    assert "in.ndjson:1 and at " in res.stderr and "in.ndjson:6" in res.stderr
    res = run_cli(
        "convert",
        str(src),
        "-o",
        str(tmp_path / "o.spky"),
        "--key",
        "tenant,user.id",
        "--on-duplicate",
        "last",
    )
    assert res.code == 0 and "1 replaced" in res.stderr


def test_bad_key_options(tmp_path: Path) -> None:
    src = tmp_path / "in.ndjson"
    src.write_bytes(ndjson(ORDERS))
    for key, message in [
        ("a,,b", "key 'a,,b': expected a field name"),
        ("v,v", "names a field twice"),
    ]:
        res = run_cli("convert", str(src), "-o", str(tmp_path / "o.spky"), "--key", key)
        assert res.code == 2 and message in res.stderr, res.stderr
        assert not (tmp_path / "o.spky").exists()


def test_verify_makes_each_key_again_from_its_parts(tmp_path: Path) -> None:
    """A record whose nested key value is not its stored key: verify and
    filter -o refuse it; a plain read does not look."""
    objs = [{"tenant": "a", "user": {"id": f"u{i}"}} for i in range(5)]

    def mangle(rec: bytes) -> bytes:
        return rec.replace(b"u3", b"u9")  # the record changes, its stored key stays

    built = fb.build(objs, key=TENANT_USER, version=2, mangle=mangle)
    p = tmp_path / "bad.spky"
    p.write_bytes(built.data)
    res = run_cli("info", str(p), "--verify")
    assert res.code == 2 and "stored key differs from the key field" in res.stderr
    res = run_cli("filter", str(p), "-w", "tenant exists", "-o", str(tmp_path / "f.spky"))
    assert res.code == 2 and "stored key differs from the key field" in res.stderr
    good = fb.build(objs, key=TENANT_USER, version=2)
    p.write_bytes(good.data)
    assert run_cli("info", str(p), "--verify").code == 0


def test_a_damaged_key_section_is_refused(tmp_path: Path) -> None:
    built = fb.build(ORDERS, key=TENANT_USER, version=2)
    key = built.sections["key"]  # [2 steps][6]"tenant" ... no: [1][6]"tenant" [2][4]"user"[2]"id"
    assert built.footer_payload[key : key + 4] == struct.pack("<I", 1)
    p = tmp_path / "k.spky"
    cases = [
        (68, struct.pack("<I", 0), "the key has no parts"),
        (68, struct.pack("<I", 1000), "more key parts than the key section holds"),
        (68, struct.pack("<I", 1), "bytes after the key's parts"),
        (68, struct.pack("<I", 3), "key part runs past the key section"),
        (key, struct.pack("<I", 0), "key part has no steps"),
        (key, struct.pack("<I", 9), "key step runs past the key section"),
        (key + 4, struct.pack("<I", 2**32 - 1), "key step runs past the key section"),
        (key + 8, b"\xff", "key step is not UTF-8"),
        (64, struct.pack("<I", 10**6), "key section outside the footer"),
    ]
    for at, new, message in cases:
        p.write_bytes(fb.patch_footer(built, at, new))
        with pytest.raises(RecordFileError, match=re.escape(message)):
            RecordFileReader(p)
        res = run_cli("info", str(p))
        assert res.code == 2 and message in res.stderr


# ---- spooky get KEY... --------------------------------------------------------------


def test_get_reaches_integer_and_string_keys(tmp_path: Path) -> None:
    objs = [
        {"id": 12, "v": "int"},
        {"id": "12", "v": "str"},
        {"id": "007", "v": "zeros"},
        {"id": 7, "v": "seven"},
        {"id": '"q"', "v": "quoted"},
        {"id": "99999999999999999999", "v": "big"},
        {"id": "a\u0000b", "v": "nul"},
    ]
    out = convert(tmp_path, objs)

    def got(*key: str) -> str | int:
        res = run_cli("get", str(out), "--compact", *key)
        return orjson.loads(res.stdout)["v"] if res.code == 0 else res.code

    assert got("12") == "int"  # an integer first
    assert got('"12"') == "str"  # in JSON string quotes: only the string
    assert got("007") == "seven" and got('"007"') == "zeros"
    assert got('"\\"q\\""') == "quoted" and got('"q"') == 1
    assert got("99999999999999999999") == "big"  # beyond u64: only a string
    assert got('"a\\u0000b"') == "nul"
    assert got('"13"') == 1 and got("13") == 1
    only_strings = convert(tmp_path, [{"id": "5"}], name="s")
    assert run_cli("get", str(only_strings), "5").code == 0  # then the string


def test_get_takes_one_argument_per_part(tmp_path: Path) -> None:
    objs = [
        {"a": 1, "b": "2", "v": "int,str"},
        {"a": "1", "b": 2, "v": "str,int"},
        {"a": "x", "b": -3, "v": "x"},
    ]
    out = convert(tmp_path, objs, "--key", "a,b")

    def got(*key: str) -> str | int:
        res = run_cli("get", str(out), "--compact", *key)
        return orjson.loads(res.stdout)["v"] if res.code == 0 else res.code

    assert got("1", "2") == "int,str"  # (1, 2) is not there; (1, "2") is tried next
    assert got('"1"', "2") == "str,int" and got("1", '"2"') == "int,str"
    assert got("x", "-3") == "x" and got("x", "3") == 1
    res = run_cli("get", str(out), "x")
    assert res.code == 2
    assert "keyed by a,b: give 2 key values, one per part (not 1)" in res.stderr
    assert "Usage: spooky get" in res.stderr
    assert run_cli("get", str(out), "1", "2", "3").code == 2
    res = run_cli("get", str(out), "x", "4")
    assert res.code == 1 and "no record with key 'x 4'" in res.stderr
