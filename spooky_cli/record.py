"""SpookyRecord (read-only, zero-copy), SpookyRecordMut (owns a bytearray) and FieldSlot."""

from __future__ import annotations

import itertools
import struct
import weakref
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

from spooky_cli._native import ffi, lib
from spooky_cli.encode import python_value, scratch, serialize_into
from spooky_cli.errors import (
    FieldNotFound,
    InvalidRecord,
    LengthMismatch,
    StaleSlotError,
    TypeMismatch,
    check,
)
from spooky_cli.types import FieldType

_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
_U32 = struct.Struct("<I")
_entry_at = struct.Struct("<QIIB").unpack_from  # name_hash, offset, length, tag of an entry
_count_of = _U32.unpack_from
_record_ids = itertools.count(1)
_NOT_FOUND = lib.SPOOKY_E_NOT_FOUND
_I64_T, _U64_T, _F64_T, _BOOL_T, _STR_T, _NESTED_T = 2, 6, 3, 1, 4, 5


class FieldSlot(NamedTuple):
    """A field resolved once: read and write it through the record's _at methods
    with no hashing and no search. Valid until the record's layout changes.

    A slot belongs to the record it was resolved on (record_id): used on
    another record it raises StaleSlotError, always (one integer compare).
    After a layout change (generation) it raises in debug runs (an assert,
    gone under python -O). Writes through a slot also check, in O(1), that the
    index entry at its position still holds its hash, offset, length and type,
    so a stale slot can never corrupt a record, -O or not."""

    name: str
    name_hash: int
    position: int  # in the record's index
    offset: int
    length: int
    type: FieldType
    generation: int
    record_id: int


def _name_bytes(name: str) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"field names are str, not {type(name).__name__}")
    return name.encode("utf-8", "surrogatepass")


class SpookyRecord:
    """A read-only view of one record's bytes (bytes, bytearray or memoryview).

    Validated once on construction; reads never copy the record."""

    __slots__ = ("_data", "_ptr", "_len", "_generation", "_id")

    def __init__(self, data: bytes | bytearray | memoryview):
        if isinstance(data, memoryview) and (data.format != "B" or data.ndim != 1):
            data = data.cast("B")
        ptr = ffi.from_buffer("uint8_t[]", data)
        n = len(ptr)
        check(lib.spooky_record_validate(ptr, n), f"invalid record ({n} bytes)")
        self._data, self._ptr, self._len, self._generation = data, ptr, n, 0
        self._id = next(_record_ids)

    # -- lookup ---------------------------------------------------------------

    def _find(self, name: str) -> Any:
        """The C slot of a field (scratch memory: read it at once), or None."""
        b = _name_bytes(name)
        s = scratch().slot
        rc = lib.spooky_record_resolve(self._ptr, self._len, b, len(b), s)
        if rc:
            if rc == _NOT_FOUND:
                return None
            check(rc, f"could not read field {name!r}")
        return s

    def _require(self, name: str) -> Any:
        s = self._find(name)
        if s is None:
            raise FieldNotFound(f"no field {name!r}")
        return s

    def resolve(self, name: str) -> FieldSlot | None:
        """Resolves a field once (one binary search); None if absent."""
        s = self._find(name)
        if s is None:
            return None
        return FieldSlot(
            name,
            s.name_hash,
            s.index,
            s.offset,
            s.length,
            FieldType(s.tag),
            self._generation,
            self._id,
        )

    def _check_slot(self, slot: FieldSlot) -> None:
        """The debug check of the plan: no layout change since resolve."""
        if slot.generation != self._generation:
            raise StaleSlotError(
                f"slot for {slot.name!r} is from generation {slot.generation}, the record is "
                f"at {self._generation}: resolve it again after a layout change"
            )

    # -- reads by name ----------------------------------------------------------

    @property
    def field_count(self) -> int:
        return _U32.unpack_from(self._data, 0)[0]

    @property
    def generation(self) -> int:
        return self._generation

    def has_field(self, name: str) -> bool:
        return self._find(name) is not None

    def field_type(self, name: str) -> FieldType | None:
        s = self._find(name)
        return None if s is None else FieldType(s.tag)

    def get_i64(self, name: str) -> int | None:
        s = self._find(name)
        return None if s is None or s.tag != _I64_T else _I64.unpack_from(self._data, s.offset)[0]

    def get_u64(self, name: str) -> int | None:
        s = self._find(name)
        return None if s is None or s.tag != _U64_T else _U64.unpack_from(self._data, s.offset)[0]

    def get_f64(self, name: str) -> float | None:
        s = self._find(name)
        return None if s is None or s.tag != _F64_T else _F64.unpack_from(self._data, s.offset)[0]

    def get_bool(self, name: str) -> bool | None:
        s = self._find(name)
        return None if s is None or s.tag != _BOOL_T else self._data[s.offset] == 1

    def get_str(self, name: str) -> str | None:
        s = self._find(name)
        return None if s is None or s.tag != _STR_T else self._text(s.offset, s.length)

    def get_raw(self, name: str) -> tuple[FieldType, bytes] | None:
        """A field's type and its value bytes exactly as stored (no decoding)."""
        s = self._find(name)
        if s is None:
            return None
        return FieldType(s.tag), bytes(self._data[s.offset : s.offset + s.length])

    def get_cbor(self, name: str) -> bytes | None:
        """The raw CBOR bytes of a nested field."""
        s = self._find(name)
        if s is None or s.tag != _NESTED_T:
            return None
        return bytes(self._data[s.offset : s.offset + s.length])

    def get(self, name: str) -> Any:
        """Any field as a Python value (nested values decoded); None if absent."""
        s = self._find(name)
        return None if s is None else self._value(s.tag, s.offset, s.length)

    def iter_fields(self) -> Iterator[tuple[int, FieldType, Any]]:
        """(name_hash, type, value) of every field in index order. Names are not
        stored in records; a record file's name table maps hashes to names."""
        s = ffi.new("spooky_slot *")
        for i in range(self.field_count):
            check(lib.spooky_record_slot_at(self._ptr, self._len, i, s), "could not read field")
            yield s.name_hash, FieldType(s.tag), self._value(s.tag, s.offset, s.length)

    # -- reads through a slot -------------------------------------------------------

    def _owned(self, slot: FieldSlot) -> None:
        if slot.record_id != self._id:
            raise StaleSlotError(
                f"slot for {slot.name!r} was resolved on another record: resolve it on this one"
            )

    def _typed(self, slot: FieldSlot, tag: int) -> int:
        if slot.record_id != self._id:
            self._owned(slot)
        if __debug__:
            self._check_slot(slot)
        if slot.type != tag:
            raise TypeMismatch(
                f"field {slot.name!r} is {slot.type.name}, not {FieldType(tag).name}"
            )
        return slot.offset

    def get_i64_at(self, slot: FieldSlot) -> int:
        return _I64.unpack_from(self._data, self._typed(slot, _I64_T))[0]

    def get_u64_at(self, slot: FieldSlot) -> int:
        return _U64.unpack_from(self._data, self._typed(slot, _U64_T))[0]

    def get_f64_at(self, slot: FieldSlot) -> float:
        return _F64.unpack_from(self._data, self._typed(slot, _F64_T))[0]

    def get_bool_at(self, slot: FieldSlot) -> bool:
        return self._data[self._typed(slot, _BOOL_T)] == 1

    def get_str_at(self, slot: FieldSlot) -> str:
        return self._text(self._typed(slot, _STR_T), slot.length)

    def get_at(self, slot: FieldSlot) -> Any:
        if slot.record_id != self._id:
            self._owned(slot)
        if __debug__:
            self._check_slot(slot)
        return self._value(slot.type, slot.offset, slot.length)

    # -- values -----------------------------------------------------------------------

    def _text(self, offset: int, length: int) -> str:
        try:
            return str(self._data[offset : offset + length], "utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRecord(f"string field is not valid UTF-8: {exc.reason}") from None

    def _value(self, tag: int, offset: int, length: int) -> Any:
        if tag == _I64_T:
            return _I64.unpack_from(self._data, offset)[0]
        if tag == _STR_T:
            return self._text(offset, length)
        if tag == _F64_T:
            return _F64.unpack_from(self._data, offset)[0]
        if tag == _U64_T:
            return _U64.unpack_from(self._data, offset)[0]
        if tag == _BOOL_T:
            return self._data[offset] == 1
        if tag == _NESTED_T:
            s = scratch()
            s.out.len = 0
            check(
                lib.spooky_cbor_to_json(self._ptr + offset, length, s.out),
                "could not decode nested field",
            )
            return orjson.loads(memoryview(ffi.buffer(s.out.data, s.out.len)))
        return None

    def to_bytes(self) -> bytes:
        return bytes(self._data[: self._len])

    def __len__(self) -> int:
        return self._len

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SpookyRecord):
            return self.to_bytes() == other.to_bytes()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.field_count} fields, {self._len} bytes)"


# The record each caller's buffer currently backs (from_spooky_value_into).
_records_on_buffer: weakref.WeakValueDictionary[int, SpookyRecordMut] = (
    weakref.WeakValueDictionary()
)


class SpookyRecordMut(SpookyRecord):
    """A record that owns a bytearray and can be changed in place.

    Fixed-width writes (set_i64/u64/f64/bool, same-length strings) keep the
    layout and every FieldSlot valid. Changes of length or type, add_field and
    remove_field rewrite the record and bump `generation`, making slots stale."""

    __slots__ = ("__weakref__",)
    _data: bytearray

    def __init__(self, data: bytes | bytearray | memoryview):
        super().__init__(bytearray(data))

    @classmethod
    def from_spooky_value_into(cls, obj: Any, buf: bytearray) -> SpookyRecordMut:
        """Serializes obj into buf (memory reused) and returns a record that uses
        buf as its storage."""
        previous = _records_on_buffer.get(id(buf))
        if previous is not None and previous._data is buf:
            previous._detach()  # its bytes are about to be overwritten
        serialize_into(obj, buf)
        rec = cls.__new__(cls)
        rec._data, rec._ptr, rec._len, rec._generation = (
            buf,
            ffi.from_buffer("uint8_t[]", buf),
            len(buf),
            0,
        )
        rec._id = next(_record_ids)
        _records_on_buffer[id(buf)] = rec
        return rec

    def _detach(self) -> None:
        """Lets go of a buffer that a later from_spooky_value_into reuses: this
        record becomes empty and its slots stale."""
        ffi.release(self._ptr)
        self._data = bytearray(b"\0" * 20)  # a valid empty record
        self._ptr = ffi.from_buffer("uint8_t[]", self._data)
        self._len = 20
        self._generation += 1

    # -- in place -------------------------------------------------------------------

    def _pack(self, st: struct.Struct, offset: int, value: Any, what: str) -> None:
        # pack first: pack_into zeroes its target before it rejects a value
        try:
            raw = st.pack(value)
        except struct.error:
            raise TypeMismatch(f"{value!r} does not fit a {what}") from None
        self._data[offset : offset + 8] = raw

    def _typed_by_name(self, name: str, tag: int) -> int:
        return self._field_of_type(name, tag)[0]

    def _field_of_type(self, name: str, tag: int) -> tuple[int, int]:
        """(offset, length) of a field that must exist with this type."""
        s = self._require(name)
        if s.tag != tag:
            raise TypeMismatch(
                f"field {name!r} is {FieldType(s.tag).name}, not {FieldType(tag).name}"
            )
        return s.offset, s.length

    def set_i64(self, name: str, value: int) -> None:
        self._pack(_I64, self._typed_by_name(name, _I64_T), value, "i64")

    def set_u64(self, name: str, value: int) -> None:
        self._pack(_U64, self._typed_by_name(name, _U64_T), value, "u64")

    def set_f64(self, name: str, value: float) -> None:
        """A raw fixed-width write: any double, NaN included (set_field and
        serialize refuse NaN and infinities, which JSON cannot hold)."""
        self._pack(_F64, self._typed_by_name(name, _F64_T), value, "f64")

    def set_bool(self, name: str, value: bool) -> None:
        self._data[self._typed_by_name(name, _BOOL_T)] = 1 if value else 0

    def _writable(self, slot: FieldSlot, tag: int) -> int:
        """The slot's offset, once its index entry is checked to be unchanged:
        O(1), and done whether or not asserts run."""
        offset = self._typed(slot, tag)
        data, i = self._data, slot.position
        if i >= _count_of(data)[0] or _entry_at(data, 20 + 20 * i) != (
            slot.name_hash,
            offset,
            slot.length,
            tag,
        ):
            raise StaleSlotError(
                f"slot for {slot.name!r} no longer matches the record (its layout changed): "
                "resolve it again"
            )
        return offset

    def set_i64_at(self, slot: FieldSlot, value: int) -> None:
        self._pack(_I64, self._writable(slot, _I64_T), value, "i64")

    def set_u64_at(self, slot: FieldSlot, value: int) -> None:
        self._pack(_U64, self._writable(slot, _U64_T), value, "u64")

    def set_f64_at(self, slot: FieldSlot, value: float) -> None:
        self._pack(_F64, self._writable(slot, _F64_T), value, "f64")

    def set_bool_at(self, slot: FieldSlot, value: bool) -> None:
        self._data[self._writable(slot, _BOOL_T)] = 1 if value else 0

    def set_str_at(self, slot: FieldSlot, value: str) -> None:
        """Same byte length only (a slot cannot follow a splice)."""
        offset = self._writable(slot, _STR_T)
        raw = _str_bytes(value)
        if len(raw) != slot.length:
            raise LengthMismatch(
                f"field {slot.name!r} holds {slot.length} bytes, the new value {len(raw)}: "
                "use set_str to change the length"
            )
        self._data[offset : offset + len(raw)] = raw

    def set_str_exact(self, name: str, value: str) -> None:
        """Same byte length only, in place."""
        offset, length = self._field_of_type(name, _STR_T)
        raw = _str_bytes(value)
        if len(raw) != length:
            raise LengthMismatch(f"field {name!r} holds {length} bytes, the new value {len(raw)}")
        self._data[offset : offset + len(raw)] = raw

    # -- in place when the length allows, else a splice -------------------------------

    def set_str(self, name: str, value: str) -> None:
        """In place when the byte length is the same, else a splice (bumps generation)."""
        self._typed_by_name(name, _STR_T)
        self._put(name, _STR_T, _str_bytes(value))

    def set_field(self, name: str, value: Any) -> None:
        """Any Python value, changing the field's type if needed."""
        tag, raw = python_value(value)
        self._put(name, tag, raw)

    def set_null(self, name: str) -> None:
        self._put(name, FieldType.NULL, b"")

    def _put(self, name: str, tag: int, raw: bytes) -> None:
        s = self._require(name)
        if s.tag == tag and s.length == len(raw):
            self._data[s.offset : s.offset + len(raw)] = raw
        else:
            self._edit(s.name_hash, lib.SPOOKY_EDIT_REPLACE, tag, raw, name)

    # -- structural -------------------------------------------------------------------

    def add_field(self, name: str, value: Any) -> None:
        """Adds a field (FieldExists if present). Bumps generation."""
        tag, raw = python_value(value)
        b = _str_bytes(name)  # a stored name must be valid Unicode
        self._edit(lib.spooky_name_hash(b, len(b)), lib.SPOOKY_EDIT_INSERT, tag, raw, name)

    def remove_field(self, name: str) -> None:
        """Removes a field (FieldNotFound if absent). Bumps generation."""
        b = _name_bytes(name)
        self._edit(lib.spooky_name_hash(b, len(b)), lib.SPOOKY_EDIT_REMOVE, 0, b"", name)

    def _edit(self, name_hash: int, mode: int, tag: int, raw: bytes, name: str) -> None:
        s = scratch()
        check(
            lib.spooky_record_edit(
                self._ptr, self._len, name_hash, mode, tag, raw, len(raw), s.out
            ),
            f"could not change field {name!r}",
        )
        ffi.release(self._ptr)
        self._data[:] = ffi.buffer(s.out.data, s.out.len)
        self._ptr = ffi.from_buffer("uint8_t[]", self._data)
        self._len = len(self._data)
        self._generation += 1


def _str_bytes(value: str) -> bytes:
    if not isinstance(value, str):
        raise TypeMismatch(f"expected a str, not {type(value).__name__}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TypeMismatch(f"string is not valid Unicode: {exc.reason}") from None
