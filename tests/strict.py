"""Equality of JSON-like values as a record's bytes see it: types matter
(1 != 1.0, True != 1), floats by their sign too (-0.0 != 0.0), object keys in
any order. Shared by the tests that compare decoded output with an oracle."""

from __future__ import annotations

import math
from typing import Any


def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b
