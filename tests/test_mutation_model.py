"""SpookyRecordMut against a dict model: after every operation the record's bytes
equal serialize(model) (and the reference encoder's record of it), and the
generation bumps exactly on a layout change (another length or type, add,
remove), never on fixed-width or same-length writes. Failed operations raise
the documented error and leave bytes and generation alone."""

from __future__ import annotations

import pytest
import reference_encoder as ref
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from spooky_cli import (
    FieldExists,
    FieldNotFound,
    LengthMismatch,
    SpookyRecordMut,
    StaleSlotError,
    TypeMismatch,
    serialize,
)

I64_MIN, I64_MAX, U64_MAX = ref.I64_MIN, ref.I64_MAX, ref.U64_MAX
NAMES = ["a", "b", "id", "name", "é", "score", "tags", "n", "k9", "😀"]

names = st.sampled_from(NAMES)
i64s = st.integers(I64_MIN, I64_MAX)
u64s = st.integers(I64_MAX + 1, U64_MAX)
f64s = st.floats(allow_nan=False, allow_infinity=False)
short_text = st.text(alphabet=st.sampled_from("ab é日😀"), max_size=4)
scalars = st.none() | st.booleans() | i64s | u64s | f64s | short_text
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(short_text, inner, max_size=3),
    max_leaves=6,
)


def tag_and_len(value) -> tuple[int, int]:
    tag, raw = ref.field_value(value)
    return tag, len(raw)


class RecordModel(RuleBasedStateMachine):
    """The record under test, the dict it should equal, and the slots handed out."""

    @initialize(initial=st.dictionaries(names, values, max_size=len(NAMES)))
    def start(self, initial):
        self.model = dict(initial)
        self.rec = SpookyRecordMut(serialize(self.model))
        self.gen = 0
        self.slots: dict[str, object] = {}

    # -- helpers ---------------------------------------------------------------------------

    def expect_error(self, exc, fn, *args):
        before = self.rec.to_bytes()
        with pytest.raises(exc):
            fn(*args)
        assert self.rec.to_bytes() == before
        assert self.rec.generation == self.gen

    def tag(self, name) -> int:
        return ref.field_value(self.model[name])[0]

    def write(self, name, value, layout_change: bool):
        self.model[name] = value
        if layout_change:
            self.gen += 1

    # -- by name: fixed width ---------------------------------------------------------------

    def _fixed(self, method, tag, name, value, in_range=True):
        if name not in self.model:
            self.expect_error(FieldNotFound, getattr(self.rec, method), name, value)
        elif self.tag(name) != tag or not in_range:
            self.expect_error(TypeMismatch, getattr(self.rec, method), name, value)
        else:
            getattr(self.rec, method)(name, value)
            self.write(name, value, False)

    @rule(name=names, value=st.integers(I64_MIN - 2, U64_MAX + 2))
    def set_i64(self, name, value):
        self._fixed("set_i64", ref.TAG_I64, name, value, I64_MIN <= value <= I64_MAX)

    @rule(name=names, value=st.integers(-2, U64_MAX + 2) | u64s)
    def set_u64(self, name, value):
        # a u64 field holds values above i64 max; a smaller one written there stays
        # u64 in the record but the model's serialize would make it i64
        ok = I64_MAX < value <= U64_MAX
        if name in self.model and self.tag(name) == ref.TAG_U64 and 0 <= value <= I64_MAX:
            return
        self._fixed("set_u64", ref.TAG_U64, name, value, ok)

    @rule(name=names, value=f64s)
    def set_f64(self, name, value):
        self._fixed("set_f64", ref.TAG_F64, name, value)

    @rule(name=names, value=st.booleans())
    def set_bool(self, name, value):
        self._fixed("set_bool", ref.TAG_BOOL, name, value)

    # -- by name: strings --------------------------------------------------------------------

    @rule(name=names, value=short_text)
    def set_str(self, name, value):
        if name not in self.model:
            self.expect_error(FieldNotFound, self.rec.set_str, name, value)
        elif self.tag(name) != ref.TAG_STR:
            self.expect_error(TypeMismatch, self.rec.set_str, name, value)
        else:
            changed = len(value.encode()) != len(self.model[name].encode())
            self.rec.set_str(name, value)
            self.write(name, value, changed)

    @rule(name=names, value=short_text)
    def set_str_exact(self, name, value):
        if name not in self.model:
            self.expect_error(FieldNotFound, self.rec.set_str_exact, name, value)
        elif self.tag(name) != ref.TAG_STR:
            self.expect_error(TypeMismatch, self.rec.set_str_exact, name, value)
        elif len(value.encode()) != len(self.model[name].encode()):
            self.expect_error(LengthMismatch, self.rec.set_str_exact, name, value)
        else:
            self.rec.set_str_exact(name, value)
            self.write(name, value, False)

    # -- by name: any value, null, add, remove --------------------------------------------------

    @rule(name=names, value=values)
    def set_field(self, name, value):
        if name not in self.model:
            self.expect_error(FieldNotFound, self.rec.set_field, name, value)
            return
        changed = tag_and_len(value) != tag_and_len(self.model[name])
        self.rec.set_field(name, value)
        self.write(name, value, changed)

    @rule(name=names)
    def set_null(self, name):
        if name not in self.model:
            self.expect_error(FieldNotFound, self.rec.set_null, name)
            return
        changed = self.model[name] is not None
        self.rec.set_null(name)
        self.write(name, None, changed)

    @rule(name=names, value=values)
    def add_field(self, name, value):
        if name in self.model:
            self.expect_error(FieldExists, self.rec.add_field, name, value)
            return
        self.rec.add_field(name, value)
        self.write(name, value, True)

    @rule(name=names)
    def remove_field(self, name):
        if name not in self.model:
            self.expect_error(FieldNotFound, self.rec.remove_field, name)
            return
        self.rec.remove_field(name)
        del self.model[name]
        self.gen += 1

    # -- through slots ----------------------------------------------------------------------

    @rule(name=names)
    def resolve(self, name):
        slot = self.rec.resolve(name)
        if name not in self.model:
            assert slot is None
            return
        tag, length = tag_and_len(self.model[name])
        assert slot.name == name and slot.name_hash == ref.name_hash(name)
        assert (int(slot.type), slot.length, slot.generation) == (tag, length, self.gen)
        raw = self.rec.to_bytes()[slot.offset : slot.offset + slot.length]
        assert raw == ref.field_value(self.model[name])[1]
        self.slots[name] = slot

    def _slot_write(self, method, tag, name, value, length_ok=True):
        slot = self.slots[name]
        if slot.generation != self.gen:
            if __debug__:
                self.expect_error(StaleSlotError, getattr(self.rec, method), slot, value)
            del self.slots[name]
            return
        if int(slot.type) != tag:
            self.expect_error(TypeMismatch, getattr(self.rec, method), slot, value)
        elif not length_ok:
            self.expect_error(LengthMismatch, getattr(self.rec, method), slot, value)
        else:
            getattr(self.rec, method)(slot, value)
            self.write(name, value, False)

    @precondition(lambda self: self.slots)
    @rule(data=st.data(), value=i64s)
    def set_i64_at(self, data, value):
        name = data.draw(st.sampled_from(sorted(self.slots)))
        self._slot_write("set_i64_at", ref.TAG_I64, name, value)

    @precondition(lambda self: self.slots)
    @rule(data=st.data(), value=u64s)
    def set_u64_at(self, data, value):
        name = data.draw(st.sampled_from(sorted(self.slots)))
        self._slot_write("set_u64_at", ref.TAG_U64, name, value)

    @precondition(lambda self: self.slots)
    @rule(data=st.data(), value=f64s)
    def set_f64_at(self, data, value):
        name = data.draw(st.sampled_from(sorted(self.slots)))
        self._slot_write("set_f64_at", ref.TAG_F64, name, value)

    @precondition(lambda self: self.slots)
    @rule(data=st.data(), value=st.booleans())
    def set_bool_at(self, data, value):
        name = data.draw(st.sampled_from(sorted(self.slots)))
        self._slot_write("set_bool_at", ref.TAG_BOOL, name, value)

    @precondition(lambda self: self.slots)
    @rule(data=st.data(), value=short_text)
    def set_str_at(self, data, value):
        name = data.draw(st.sampled_from(sorted(self.slots)))
        slot = self.slots[name]
        same_len = len(value.encode()) == slot.length
        self._slot_write("set_str_at", ref.TAG_STR, name, value, same_len)

    @precondition(lambda self: self.slots)
    @rule(data=st.data())
    def read_at(self, data):
        name = data.draw(st.sampled_from(sorted(self.slots)))
        slot = self.slots[name]
        if slot.generation != self.gen:
            if __debug__:
                with pytest.raises(StaleSlotError):
                    self.rec.get_at(slot)
            del self.slots[name]
            return
        got = self.rec.get_at(slot)
        expected = self.model[name]
        if isinstance(expected, tuple):
            expected = list(expected)
        if isinstance(expected, float):
            assert ref.encode_cbor(got) == ref.encode_cbor(expected)
        elif isinstance(expected, (list, dict)):
            # nested values come back decoded; compare canonical CBOR of both
            assert ref.encode_cbor(got) == ref.encode_cbor(expected)
        else:
            assert got == expected and type(got) is type(expected)

    # -- after every step ------------------------------------------------------------------------

    @invariant()
    def bytes_match_model(self):
        expected = serialize(self.model)
        assert self.rec.to_bytes() == expected
        assert expected == ref.encode_record(self.model)
        assert self.rec.generation == self.gen
        assert self.rec.field_count == len(self.model)
        assert len(self.rec) == len(expected)


TestRecordModel = RecordModel.TestCase


# -- a few fixed sequences, readable on their own -------------------------------------------------


def test_fixed_width_writes_keep_generation():
    rec = SpookyRecordMut(serialize({"i": 1, "u": U64_MAX, "f": 1.5, "b": True, "s": "abc"}))
    rec.set_i64("i", -5)
    rec.set_u64("u", I64_MAX + 7)
    rec.set_f64("f", -0.0)
    rec.set_bool("b", False)
    rec.set_str("s", "xyz")
    rec.set_str_exact("s", "é1")
    rec.set_field("i", 99)
    assert rec.generation == 0
    assert rec.to_bytes() == serialize(
        {"i": 99, "u": I64_MAX + 7, "f": -0.0, "b": False, "s": "é1"}
    )


@pytest.mark.parametrize(
    "old, new",
    [
        ("abc", "abcd"),
        (1, 1.0),
        (1, "1"),
        (None, 0),
        (True, 1),
        ([1], [1, 2]),
        ({"a": 1}, [1]),
        (1, I64_MAX + 1),
        ("", None),
    ],
)
def test_layout_changes_bump_generation(old, new):
    rec = SpookyRecordMut(serialize({"x": old, "y": "tail"}))
    rec.set_field("x", new)
    assert rec.generation == 1
    assert rec.to_bytes() == serialize({"x": new, "y": "tail"})
    assert rec.get_str("y") == "tail"


@pytest.mark.parametrize("value", [[1], {"a": "b"}, "same", 7, 2.5, None, True])
def test_same_type_same_length_set_field_keeps_generation(value):
    rec = SpookyRecordMut(serialize({"x": value}))
    rec.set_field("x", value)
    assert rec.generation == 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), U64_MAX + 1, I64_MIN - 1, object()])
def test_set_field_and_add_field_refuse_non_json(bad):
    rec = SpookyRecordMut(serialize({"x": 1}))
    with pytest.raises(TypeMismatch):
        rec.set_field("x", bad)
    with pytest.raises(TypeMismatch):
        rec.add_field("y", bad)
    assert rec.to_bytes() == serialize({"x": 1}) and rec.generation == 0


def test_add_then_remove_everything():
    rec = SpookyRecordMut(serialize({}))
    model = {}
    for i, name in enumerate(NAMES):
        rec.add_field(name, i if i % 2 else str(i))
        model[name] = i if i % 2 else str(i)
        assert rec.to_bytes() == serialize(model)
    for name in NAMES:
        rec.remove_field(name)
        del model[name]
        assert rec.to_bytes() == serialize(model)
    assert rec.to_bytes() == bytes(20)
    assert rec.generation == 2 * len(NAMES)
