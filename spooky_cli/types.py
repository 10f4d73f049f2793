"""Field types: the type tags of the record format."""

from enum import IntEnum


class FieldType(IntEnum):
    NULL = 0
    BOOL = 1
    I64 = 2
    F64 = 3
    STR = 4
    NESTED = 5
    U64 = 6
