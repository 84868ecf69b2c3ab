"""JSON helpers shared by the writers of results (``summary.json``, ``.npz`` metadata, ``size_stats.json``)."""

from __future__ import annotations

import numpy as np


def jsonable(obj):
    """``json.dumps(default=...)`` for NumPy scalars and arrays (anything else as text)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
