"""JSON helpers shared by the writers of results (``summary.json``, ``.npz`` metadata, ``size_stats.json``)."""

from __future__ import annotations

import json
import math

import numpy as np


def jsonable(obj):
    """``json.dumps(default=...)`` for NumPy scalars and arrays (anything else as text)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def finite(obj):
    """``obj`` with NumPy values as Python ones and every NaN or infinity as None (strict JSON's null)."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, (np.generic, np.ndarray)):
        return finite(jsonable(obj))
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj, **kwargs) -> str:
    """Strict JSON of ``obj`` (no NaN: a value that is not a number is null), NumPy values included."""
    return json.dumps(finite(obj), default=jsonable, allow_nan=False, **kwargs)
