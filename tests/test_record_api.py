"""SpookyRecord / SpookyRecordMut / FieldSlot unit tests: reads by name and by
slot, slot validity across fixed-width and structural writes, buffers reused
across records, typed getters, iter_fields, and stale-slot checks under -O."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import reference_encoder as ref
from hypothesis import given
from hypothesis import strategies as st

from spooky_cli import (
    FieldNotFound,
    FieldSlot,
    FieldType,
    SpookyRecord,
    SpookyRecordMut,
    StaleSlotError,
    TypeMismatch,
    record_from_json,
    record_from_json_into,
    serialize,
    serialize_into,
)

I64_MAX, U64_MAX = ref.I64_MAX, ref.U64_MAX

SAMPLE = {
    "id": 42,
    "big": U64_MAX,
    "score": 9.5,
    "ok": True,
    "name": "Ada",
    "none": None,
    "tags": ["x", 1],
    "meta": {"k": [1.5, None]},
}
TYPES = {
    "id": FieldType.I64,
    "big": FieldType.U64,
    "score": FieldType.F64,
    "ok": FieldType.BOOL,
    "name": FieldType.STR,
    "none": FieldType.NULL,
    "tags": FieldType.NESTED,
    "meta": FieldType.NESTED,
}
GETTERS = {
    FieldType.I64: "get_i64",
    FieldType.U64: "get_u64",
    FieldType.F64: "get_f64",
    FieldType.BOOL: "get_bool",
    FieldType.STR: "get_str",
}


# -- construction and reads ----------


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_reads_from_any_buffer(wrap):
    data = serialize(SAMPLE)
    rec = SpookyRecord(wrap(data))
    assert rec.field_count == len(SAMPLE)
    assert len(rec) == len(data)
    assert rec.to_bytes() == data == bytes(rec)
    for name, value in SAMPLE.items():
        assert rec.has_field(name)
        assert rec.field_type(name) == TYPES[name]
        assert rec.get(name) == value
    assert not rec.has_field("missing")
    assert rec.field_type("missing") is None
    assert rec.get("missing") is None


def test_typed_getters_none_for_absent_or_other_type():
    rec = SpookyRecord(serialize(SAMPLE))
    for name, ftype in TYPES.items():
        for gtype, getter in GETTERS.items():
            got = getattr(rec, getter)(name)
            if gtype == ftype:
                assert got == SAMPLE[name]
            else:
                assert got is None, (getter, name)
        assert (rec.get_cbor(name) is None) == (ftype != FieldType.NESTED)
    for getter in [*GETTERS.values(), "get_cbor", "get"]:
        assert getattr(rec, getter)("absent") is None


def test_get_cbor_is_canonical_cbor():
    rec = SpookyRecord(serialize(SAMPLE))
    assert rec.get_cbor("meta") == ref.encode_cbor(SAMPLE["meta"])
    assert rec.get_cbor("tags") == ref.encode_cbor(SAMPLE["tags"])


def test_bool_and_int_are_distinct():
    rec = SpookyRecord(serialize({"t": True, "one": 1}))
    assert rec.get_bool("t") is True and rec.get_i64("t") is None
    assert rec.get_i64("one") == 1 and rec.get_bool("one") is None
    assert rec.get("t") is True and rec.get("one") == 1


def test_negative_zero_and_u64_boundaries():
    rec = SpookyRecord(
        record_from_json(b'{"z":-0,"i":9223372036854775807,"u":9223372036854775808}')
    )
    assert rec.field_type("z") == FieldType.F64 and str(rec.get_f64("z")) == "-0.0"
    assert rec.get_i64("i") == I64_MAX and rec.get_u64("i") is None
    assert rec.get_u64("u") == I64_MAX + 1 and rec.get_i64("u") is None


def test_iter_fields_in_index_order():
    data = serialize(SAMPLE)
    rec = SpookyRecord(data)
    fields = list(rec.iter_fields())
    assert [h for h, _, _ in fields] == sorted(ref.name_hash(n) for n in SAMPLE)
    by_hash = {ref.name_hash(n): n for n in SAMPLE}
    for h, ftype, value in fields:
        name = by_hash[h]
        assert ftype == TYPES[name] and isinstance(ftype, FieldType)
        assert value == SAMPLE[name]


def test_empty_record():
    rec = SpookyRecord(serialize({}))
    assert rec.field_count == 0 and len(rec) == 20
    assert list(rec.iter_fields()) == []
    assert rec.resolve("a") is None


def test_equality_and_repr():
    a, b = SpookyRecord(serialize({"a": 1})), SpookyRecord(bytearray(serialize({"a": 1})))
    assert a == b and a != SpookyRecord(serialize({"a": 2}))
    assert "1 fields" in repr(a)


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.none()
        | st.booleans()
        | st.integers(-(2**63), U64_MAX)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=8)
        | st.lists(st.integers(0, 9) | st.text(max_size=3), max_size=4),
        max_size=10,
    )
)
def test_get_round_trips(obj):
    rec = SpookyRecord(serialize(obj))
    for name, value in obj.items():
        got = rec.get(name)
        assert ref.encode_cbor(got) == ref.encode_cbor(value)
        slot = rec.resolve(name)
        assert ref.encode_cbor(rec.get_at(slot)) == ref.encode_cbor(value)


# -- slots ----------


def test_resolve_returns_field_slot():
    data = serialize(SAMPLE)
    rec = SpookyRecord(data)
    slot = rec.resolve("name")
    assert isinstance(slot, FieldSlot)
    assert slot.name == "name" and slot.name_hash == ref.name_hash("name")
    assert slot.type == FieldType.STR and slot.length == 3 and slot.generation == 0
    assert data[slot.offset : slot.offset + slot.length] == b"Ada"
    entry = data[20 + 20 * slot.position : 20 + 20 * slot.position + 8]
    assert int.from_bytes(entry, "little") == slot.name_hash
    assert rec.resolve("nope") is None


def test_slot_stays_valid_across_fixed_width_writes():
    rec = SpookyRecordMut(serialize(SAMPLE))
    slots = {n: rec.resolve(n) for n in SAMPLE}
    assert rec.get_i64_at(slots["id"]) == 42
    rec.set_i64("id", -7)
    rec.set_u64("big", I64_MAX + 1)
    rec.set_f64("score", 0.25)
    rec.set_bool("ok", False)
    rec.set_str("name", "Bob")  # same length: in place
    rec.set_field("tags", ["y", 2])  # same type and length: in place
    assert rec.generation == 0
    assert rec.get_i64_at(slots["id"]) == -7
    assert rec.get_u64_at(slots["big"]) == I64_MAX + 1
    assert rec.get_f64_at(slots["score"]) == 0.25
    assert rec.get_bool_at(slots["ok"]) is False
    assert rec.get_str_at(slots["name"]) == "Bob"
    assert rec.get_at(slots["tags"]) == ["y", 2]
    rec.set_i64_at(slots["id"], 1)
    rec.set_u64_at(slots["big"], U64_MAX)
    rec.set_f64_at(slots["score"], -1.5)
    rec.set_bool_at(slots["ok"], True)
    rec.set_str_at(slots["name"], "Zoe")
    assert rec.get("id") == 1 and rec.get("big") == U64_MAX and rec.get("score") == -1.5
    assert rec.get("ok") is True and rec.get("name") == "Zoe"
    assert rec.to_bytes() == serialize(
        {
            **SAMPLE,
            "id": 1,
            "big": U64_MAX,
            "score": -1.5,
            "ok": True,
            "name": "Zoe",
            "tags": ["y", 2],
        }
    )


def test_slot_type_checked():
    rec = SpookyRecordMut(serialize(SAMPLE))
    slot = rec.resolve("name")
    for method in ("get_i64_at", "get_u64_at", "get_f64_at", "get_bool_at"):
        with pytest.raises(TypeMismatch):
            getattr(rec, method)(slot)
    with pytest.raises(TypeMismatch):
        rec.set_i64_at(slot, 1)
    with pytest.raises(TypeMismatch):
        rec.get_str_at(rec.resolve("id"))


@pytest.mark.skipif(not __debug__, reason="stale slots are only caught when __debug__")
@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.set_str("name", "Adalbert"),
        lambda r: r.set_field("id", "now a string"),
        lambda r: r.set_field("id", 1.0),
        lambda r: r.set_null("id"),
        lambda r: r.add_field("new", 1),
        lambda r: r.remove_field("none"),
        lambda r: r.set_field("tags", []),
    ],
    ids=["longer-str", "type-change", "int-to-float", "null", "add", "remove", "nested-shorter"],
)
def test_structural_change_makes_slots_stale(change):
    rec = SpookyRecordMut(serialize(SAMPLE))
    slot = rec.resolve("score")
    str_slot = rec.resolve("name")
    change(rec)
    assert rec.generation == 1
    for call in (
        lambda: rec.get_f64_at(slot),
        lambda: rec.get_at(slot),
        lambda: rec.set_f64_at(slot, 1.0),
        lambda: rec.set_str_at(str_slot, "Ada"),
    ):
        with pytest.raises(StaleSlotError):
            call()
    fresh = rec.resolve("score")
    assert fresh.generation == 1
    assert rec.get_f64_at(fresh) == 9.5
    rec.set_f64_at(fresh, 2.0)
    assert rec.get_f64("score") == 2.0


def test_fields_after_a_splice_move():
    rec = SpookyRecordMut(serialize({"a": "x", "b": 1, "c": "y", "d": [1]}))
    rec.set_str("a", "x" * 50)
    rec.set_str("c", "")
    assert rec.to_bytes() == serialize({"a": "x" * 50, "b": 1, "c": "", "d": [1]})
    assert (rec.get("b"), rec.get("d")) == (1, [1])


def test_mutations_on_missing_fields():
    rec = SpookyRecordMut(serialize({"a": 1}))
    for call in (
        lambda: rec.set_i64("b", 1),
        lambda: rec.set_str("b", ""),
        lambda: rec.set_field("b", 1),
        lambda: rec.set_null("b"),
        lambda: rec.remove_field("b"),
        lambda: rec.set_str_exact("b", ""),
    ):
        with pytest.raises(FieldNotFound):
            call()
    assert rec.to_bytes() == serialize({"a": 1})


def test_mut_copies_its_input():
    data = bytearray(serialize({"a": 1}))
    rec = SpookyRecordMut(data)
    rec.set_i64("a", 2)
    assert SpookyRecord(data).get("a") == 1
    assert rec.get("a") == 2


# -- buffers reused across records ----------


def test_two_records_through_one_bytearray():
    buf = bytearray()
    first, second = {"a": 1, "s": "long string " * 10}, {"zz": [1, 2], "b": None}
    assert serialize_into(first, buf) == len(buf)
    assert bytes(buf) == ref.encode_record(first)
    assert SpookyRecord(bytes(buf)).get("s") == first["s"]
    assert serialize_into(second, buf) == len(buf)  # shorter: buf shrinks
    assert bytes(buf) == ref.encode_record(second)
    assert serialize_into(first, buf) == len(buf)  # longer again
    assert bytes(buf) == ref.encode_record(first)


def test_many_records_through_one_bytearray():
    buf = bytearray()
    for i in range(300):
        obj = {"i": i, "s": "x" * (i % 37), "f": i / 7, "n": [i] * (i % 5)}
        n = serialize_into(obj, buf) if i % 2 else record_from_json_into(json.dumps(obj), buf)
        assert n == len(buf)
        assert bytes(buf) == ref.encode_record(obj)


def test_from_spooky_value_into_uses_the_buffer():
    buf = bytearray(b"old contents")
    rec = SpookyRecordMut.from_spooky_value_into(SAMPLE, buf)
    assert isinstance(rec, SpookyRecordMut)
    assert bytes(buf) == serialize(SAMPLE) == rec.to_bytes()
    assert rec.generation == 0
    rec.set_i64("id", 5)  # in place: visible in buf
    assert SpookyRecord(bytes(buf)).get("id") == 5
    rec.add_field("extra", "x")  # rebuilt into buf
    assert bytes(buf) == rec.to_bytes() == serialize({**SAMPLE, "id": 5, "extra": "x"})


def test_from_spooky_value_into_again_after_dropping_the_record():
    buf = bytearray()
    rec = SpookyRecordMut.from_spooky_value_into({"a": 1}, buf)
    assert rec.get("a") == 1
    del rec
    rec = SpookyRecordMut.from_spooky_value_into({"b": "a longer value than before"}, buf)
    assert rec.get("b") == "a longer value than before"
    assert bytes(buf) == serialize({"b": "a longer value than before"})


def test_from_spooky_value_into_reuse_loop():
    buf = bytearray()
    rec = None
    for i in range(5):
        obj = {"i": i, "s": "x" * i}
        rec = SpookyRecordMut.from_spooky_value_into(obj, buf)
        assert rec.to_bytes() == bytes(buf) == serialize(obj)
    assert rec is not None


# -- stale slots are a debug-only check ----------

_STALE_SCRIPT = textwrap.dedent("""
    from spooky_cli import SpookyRecordMut, StaleSlotError, serialize
    rec = SpookyRecordMut(serialize({"a": 1, "b": "x"}))
    slot = rec.resolve("a")
    rec.add_field("c", 3)
    try:
        rec.get_at(slot)
        rec.get_i64_at(slot)
    except StaleSlotError:
        print("raised", __debug__)
    else:
        print("silent", __debug__)
""")


@pytest.mark.parametrize("flags, expected", [([], "raised True"), (["-O"], "silent False")])
def test_stale_slot_check_only_under_debug(flags, expected, tmp_path):
    # run away from the checkout: `-c` puts the cwd first on sys.path, and the
    # source tree has no compiled core unless installed in editable mode
    out = subprocess.run(
        [sys.executable, *flags, "-c", _STALE_SCRIPT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == expected


def test_reused_buffer_detaches_the_previous_record():
    buf = bytearray()
    first = SpookyRecordMut.from_spooky_value_into({"a": 1, "s": "long string"}, buf)
    slot = first.resolve("a")
    second = SpookyRecordMut.from_spooky_value_into({"b": 2}, buf)
    assert second.get_i64("b") == 2
    assert first.field_count == 0 and first.get_i64("a") is None  # its bytes are gone
    if __debug__:
        with pytest.raises(StaleSlotError):
            first.get_i64_at(slot)


def test_get_raw_returns_stored_bytes():
    rec = SpookyRecord(serialize({"i": -2, "s": "é", "n": None, "v": [1]}))
    assert rec.get_raw("i") == (FieldType.I64, (-2).to_bytes(8, "little", signed=True))
    assert rec.get_raw("s") == (FieldType.STR, "é".encode())
    assert rec.get_raw("n") == (FieldType.NULL, b"")
    assert rec.get_raw("v") == (FieldType.NESTED, b"\x81\x01")
    assert rec.get_raw("missing") is None


# -- slots belong to their record, and writes never corrupt ----------


@pytest.mark.parametrize("cls", [SpookyRecord, SpookyRecordMut])
def test_a_slot_from_another_record_always_raises(cls):
    a = SpookyRecordMut(serialize({"id": 1, "zzz": "a"}))
    b = cls(serialize({"id": 2, "zzz": "b"}))
    slot = a.resolve("id")
    assert slot.record_id != b.resolve("id").record_id
    with pytest.raises(StaleSlotError, match="another record"):
        b.get_i64_at(slot)
    with pytest.raises(StaleSlotError, match="another record"):
        b.get_at(slot)
    if isinstance(b, SpookyRecordMut):
        with pytest.raises(StaleSlotError, match="another record"):
            b.set_i64_at(slot, 99)
    assert b.get("id") == 2 and b.get("zzz") == "b"  # untouched, still valid
    SpookyRecord(b.to_bytes())


def test_same_bytes_other_record_still_raises():
    data = serialize({"id": 1, "x": 2})
    a, b = SpookyRecordMut(data), SpookyRecordMut(data)
    with pytest.raises(StaleSlotError):
        b.set_i64_at(a.resolve("x"), 5)
    assert b.to_bytes() == data


_NO_CORRUPTION_SCRIPT = textwrap.dedent("""
    from spooky_cli import SpookyRecord, SpookyRecordMut, StaleSlotError, TypeMismatch, serialize
    names = ("id", "name", "score", "ok")
    changes = {
        "splice": lambda r: r.set_str("name", "a much longer name than before"),
        "add": lambda r: r.add_field("aaa", 1),
        "remove": lambda r: r.remove_field("name"),
        "type": lambda r: r.set_field("score", 1),
    }
    writes = (("id", "set_i64_at", -1), ("score", "set_f64_at", 2.5), ("ok", "set_bool_at", False))
    for what, change in changes.items():
        for name, setter, value in writes:
            rec = SpookyRecordMut(serialize({"id": 7, "name": "Ada", "score": 1.5, "ok": True}))
            slot = rec.resolve(name)
            change(rec)
            before = {n: rec.get(n) for n in names}
            try:
                getattr(rec, setter)(slot, value)
                result = "wrote"
            except StaleSlotError:
                result = "stale"
            SpookyRecord(rec.to_bytes())  # still a valid record
            after = {n: rec.get(n) for n in names}
            want = {**before, name: value} if result == "wrote" else before
            print(what, name, result, after == want)
""")


@pytest.mark.parametrize("flags", [[], ["-O"]])
def test_a_stale_slot_never_corrupts_a_record(flags, tmp_path):
    out = subprocess.run(
        [sys.executable, *flags, "-c", _NO_CORRUPTION_SCRIPT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [line.split() for line in out.stdout.splitlines()]
    assert len(rows) == 12
    assert all(ok == "True" for *_, ok in rows), out.stdout  # only the slot's own field changed
    results = {(what, name): result for what, name, result, _ in rows}
    if not flags:  # the generation assert catches every stale use
        assert set(results.values()) == {"stale"}
    else:  # the entry check catches what moved or changed type; the rest is a safe write
        for what in ("splice", "add", "remove", "type"):
            assert "stale" in {r for (w, _), r in results.items() if w == what}, results
        assert results[("type", "score")] == "stale"


def test_c_slot_writes_check_the_index_entry():
    from spooky_cli._native import ffi, lib

    data = bytearray(serialize({"a": 1, "b": "xy", "c": 2}))
    ptr = ffi.from_buffer("uint8_t[]", data)
    slot = ffi.new("spooky_slot *")
    assert lib.spooky_record_resolve(ptr, len(data), b"c", 1, slot) == 0
    assert lib.spooky_set_i64_at(ptr, len(data), slot, 5) == 0
    stale = ffi.new("spooky_slot *")
    ffi.memmove(stale, slot, ffi.sizeof("spooky_slot"))
    stale.offset += 1  # as if the field had moved: bounds still fine
    assert lib.spooky_set_i64_at(ptr, len(data), stale, 6) == lib.SPOOKY_E_STALE_SLOT
    stale.offset -= 1
    stale.index = 99
    assert lib.spooky_set_i64_at(ptr, len(data), stale, 6) == lib.SPOOKY_E_STALE_SLOT
    assert SpookyRecord(bytes(data)).get("c") == 5


def test_a_slot_past_the_end_of_a_shrunk_record_is_stale():
    rec = SpookyRecordMut(serialize({f"f{i}": i for i in range(10)}))
    slots = [rec.resolve(f"f{i}") for i in range(10)]
    last = max(slots, key=lambda s: s.position)
    for i in range(9):
        if f"f{i}" != last.name:
            rec.remove_field(f"f{i}")
    rec.remove_field(last.name)
    rec.add_field("g", 1)
    assert rec.field_count == 2
    with pytest.raises(StaleSlotError):
        rec.set_i64_at(last, 5)  # under -O too: the entry check, not an assert
