"""Value equality of result objects that hold arrays and DataFrames.

A frozen dataclass compares its fields as a tuple, so ``a == b`` of two analyses of one ladder
raised "The truth value of a DataFrame is ambiguous" (or of an array), and NaN fields (a band
without bootstrap) made equal results unequal once unpickled. :class:`ValueEquality` compares
field by field: arrays and DataFrames by their values, NaN equal to NaN, nested results alike.
Such objects are unhashable (their fields are mutable types); compare them, do not hash them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields, is_dataclass

import numpy as np
import pandas as pd


def values_equal(a, b) -> bool:
    """Whether ``a`` and ``b`` hold the same values: arrays of one shape with equal entries,
    DataFrames and Series by ``.equals``, mappings, sequences and dataclasses item by item, floats
    with NaN equal to NaN."""
    if a is b:
        return True
    if isinstance(a, (pd.DataFrame, pd.Series)) or isinstance(b, (pd.DataFrame, pd.Series)):
        return type(a) is type(b) and a.equals(b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
            return bool(np.array_equal(a, b, equal_nan=True))
        return all(values_equal(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
    if is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(values_equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


class ValueEquality:
    """Mixin for frozen dataclasses declared with ``eq=False``: ``==`` by :func:`values_equal`."""

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(values_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    __hash__ = None
