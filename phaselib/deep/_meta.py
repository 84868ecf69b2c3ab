"""The metadata of a segmentation model, checked before a prediction uses it (no torch, no ONNX)."""

from __future__ import annotations

import math

#: the largest tile side a model may have (training refuses a bigger one)
MAX_TILE = 4096
#: the largest pixel size, in mm, that a model records or a prediction takes (a metre: beyond, absurd coordinates)
MAX_MM_PER_PIXEL = 1e3


def check_meta(meta, name):
    """``meta`` if it is a model's whole metadata, else a ValueError naming the file ``name``: the
    fields a prediction uses, each of the right kind (a model file altered by hand or damaged
    would otherwise fail deep inside the prediction, or normalise by a zero or NaN spread)."""
    def bad(field):
        return ValueError(f"{name} is not a usable phaselib segmentation model (its '{field}' is missing or wrong).")

    def numbers(v, n):
        return isinstance(v, list) and len(v) == n and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)

    if not isinstance(meta, dict):
        raise bad("metadata")
    inputs, channels = meta.get("inputs"), meta.get("channels")
    if not (isinstance(inputs, list) and inputs and all(isinstance(r, str) and r for r in inputs)
            and len(set(inputs)) == len(inputs)):
        raise bad("inputs")
    if not (isinstance(channels, list) and len(channels) == len(inputs)
            and all(isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= 4 for c in channels)):
        raise bad("channels")
    classes, colors = meta.get("classes"), meta.get("colors")
    if not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) and c for c in classes)
            and len(set(classes)) == len(classes)):  # two classes of one name: fractions and scores mix them up
        raise bad("classes")
    if not (isinstance(colors, list) and len(colors) == len(classes) and all(isinstance(c, str) for c in colors)):
        raise bad("colors")
    n = sum(channels)
    if not numbers(meta.get("mean"), n):
        raise bad("mean")
    if not (numbers(meta.get("std"), n) and min(meta["std"]) > 0):
        raise bad("std")
    tile = meta.get("tile")
    if not (isinstance(tile, int) and not isinstance(tile, bool) and 16 <= tile <= MAX_TILE):
        raise bad("tile")
    mm = meta.get("mm_per_pixel")
    if mm is not None and not (isinstance(mm, (int, float)) and not isinstance(mm, bool) and math.isfinite(mm)
                               and 0 < mm <= MAX_MM_PER_PIXEL):
        raise bad("mm_per_pixel")
    offsets = meta.get("class_offsets")
    if offsets is not None and not (numbers(offsets, len(classes)) and max(map(abs, offsets)) <= 20):
        raise bad("class_offsets")
    gains = meta.get("gains")
    if gains is not None and not (isinstance(gains, dict) and set(gains) == set(inputs)
                                  and all(isinstance(v, str) and v in inputs
                                          and channels[inputs.index(v)] == channels[inputs.index(r)]
                                          for r, v in gains.items())):
        raise bad("gains")
    levels = meta.get("class_levels")
    if levels is not None and not (gains is not None and isinstance(levels, dict)
                                   and isinstance(levels.get("mean"), list) and len(levels["mean"]) == len(classes)
                                   and all(numbers(v, n) for v in levels["mean"])
                                   and isinstance(levels.get("std"), list) and len(levels["std"]) == len(classes)
                                   and all(numbers(v, n) and min(v) > 0 for v in levels["std"])
                                   and numbers(levels.get("weight"), len(classes))
                                   and min(levels["weight"]) >= 0 and sum(levels["weight"]) > 0):
        raise bad("class_levels")
    patterns = meta.get("patterns", {})
    if not (isinstance(patterns, dict) and all(isinstance(patterns.get(r, ""), str) for r in inputs)):
        raise bad("patterns")
    return meta
