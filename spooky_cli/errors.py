"""One exception tree for everything spooky raises; C status codes map onto it."""

from __future__ import annotations


class SpookyError(Exception):
    """Root of every error spooky raises on bad input or misuse."""


class JsonError(SpookyError, ValueError):
    """Input is not valid JSON (or not a JSON object where a record is wanted)."""

    def __init__(
        self,
        message: str,
        *,
        line: int = 1,
        column: int = 1,
        offset: int = 0,
        source: str | None = None,
    ):
        self.reason = message
        self.line, self.column, self.offset, self.source = line, column, offset, source
        where = f"{source}:" if source else ""
        super().__init__(f"{where}{line}:{column}: {message}")


class BigIntError(JsonError):
    """An integer literal beyond both i64 and u64: stored only when asked to,
    as the nearest float (convert --big-int float, big_int="float")."""


class HashCollision(JsonError):
    """Two different field names of one record share an xxh64 hash."""


class InvalidRecord(SpookyError, ValueError):
    """Bytes are not a valid SpookyRecord (or a nested value is not valid CBOR)."""


class NotJsonValue(SpookyError, ValueError):
    """A stored value has no JSON form (NaN, infinity, CBOR bytes or tags)."""


class FieldNotFound(SpookyError, LookupError):
    """The record has no field of that name."""


class TypeMismatch(SpookyError, TypeError):
    """The field, or the value given, has another type than the call needs."""


class LengthMismatch(SpookyError, ValueError):
    """An in-place write of a value with another byte length."""


class FieldExists(SpookyError):
    """add_field of a name the record already has."""


class RecordTooLarge(SpookyError):
    """A record would pass the 4 GiB its u32 offsets can address."""


class RecordKeyError(JsonError):
    """A record's key field is missing or not a string or an integer."""


class DuplicateKey(SpookyError):
    """Two records with one key (convert's default --on-duplicate error)."""


class RecordFileError(SpookyError):
    """A record file is not valid: bad magic, version, structure or checksum."""


class TruncatedFile(RecordFileError):
    """A record file ends early (no end magic)."""


class ChecksumMismatch(RecordFileError):
    """A block's bytes do not match their checksum."""


class PredicateError(SpookyError, ValueError):
    """A filter predicate that does not parse, or whose value cannot be stored."""


class ChangeMisfit(SpookyError):
    """A change (spooky apply) that does not fit the record it meets: an
    update or delete of an absent key, an insert of a present one, a before
    that differs."""


class StaleSlotError(SpookyError):
    """A FieldSlot that does not fit the record: resolved on another record
    (always checked), used after a layout change (debug runs: an assert), or
    a write whose index entry no longer matches the slot (always checked)."""


_BY_CODE: dict[int, type[SpookyError]] = {
    2: SpookyError,
    15: BigIntError,
    20: HashCollision,
    30: InvalidRecord,
    31: InvalidRecord,
    32: NotJsonValue,
    40: FieldNotFound,
    41: TypeMismatch,
    42: LengthMismatch,
    43: FieldExists,
    44: RecordTooLarge,
    45: StaleSlotError,
    50: RecordKeyError,
    51: RecordKeyError,
    52: DuplicateKey,
    60: TruncatedFile,
    61: RecordFileError,
    62: ChecksumMismatch,
}

JSON_CODES = frozenset({10, 11, 12, 13, 14, 15, 20, 50, 51})


def error_for(code: int, context: str) -> Exception:
    """The exception for a C status code: "<context>: <reason>"."""
    from spooky_cli._native import ffi, lib

    reason = ffi.string(lib.spooky_strerror(code)).decode()
    if code == 1:
        return MemoryError(f"{context}: {reason}")
    if code in (63, 64):
        import os

        errno = ffi.errno or 5
        return OSError(errno, f"{context}: {os.strerror(errno)}")
    cls = _BY_CODE.get(code, JsonError if code in JSON_CODES else SpookyError)
    return cls(f"{context}: {reason}")


def check(code: int, context: str) -> None:
    """Raises the mapped exception unless code is 0 (SPOOKY_OK)."""
    if code:
        raise error_for(code, context)
