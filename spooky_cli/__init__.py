"""spooky: bulk conversion of JSON to SpookyRecords, record files and diffs.

The record layout is docs/FORMAT.md; the hot loops live in the C core (native/).
"""

from spooky_cli._version import __version__
from spooky_cli.encode import (
    encode_value,
    record_from_json,
    record_from_json_into,
    serialize,
    serialize_into,
)
from spooky_cli.errors import (
    BigIntError,
    FieldExists,
    FieldNotFound,
    HashCollision,
    InvalidRecord,
    JsonError,
    LengthMismatch,
    NotJsonValue,
    PredicateError,
    RecordTooLarge,
    SpookyError,
    StaleSlotError,
    TypeMismatch,
)
from spooky_cli.record import FieldSlot, SpookyRecord, SpookyRecordMut
from spooky_cli.types import FieldType

__all__ = [
    "BigIntError",
    "FieldExists",
    "FieldNotFound",
    "FieldSlot",
    "FieldType",
    "HashCollision",
    "InvalidRecord",
    "JsonError",
    "LengthMismatch",
    "NotJsonValue",
    "PredicateError",
    "RecordTooLarge",
    "SpookyError",
    "SpookyRecord",
    "SpookyRecordMut",
    "StaleSlotError",
    "TypeMismatch",
    "__version__",
    "encode_value",
    "record_from_json",
    "record_from_json_into",
    "serialize",
    "serialize_into",
]
