"""Supervised phases from the painted pixels of a session (no widgets: the Label step and session files use it)."""

from __future__ import annotations

import numpy as np


def train(session, classifier=None):
    """Classify the session's map from its painted pixels (classes without a pixel are left out); ``classifier``
    None: phaselib's default for the map (poisson for counts, rf for an intensity cube)."""
    from phaselib.classify import classify

    paint = session.paint
    if (not isinstance(paint, np.ndarray) or session.image is None or paint.shape != session.image.shape[:2]
            or paint.dtype.kind not in "iu"):
        raise ValueError("Paint a few pixels of each phase first.")
    names = list(session.label_names)
    if paint.max() >= len(names):
        raise ValueError(f"Painted classes go up to {int(paint.max())}, but only {len(names)} classes are named.")
    used = [c for c in range(len(names)) if (paint == c).any()]
    if len(used) < 2:
        raise ValueError("Paint pixels of at least two classes, then train.")
    lut = np.full(len(names) + 1, -1, np.int16)
    lut[used] = np.arange(len(used))
    labels = lut[np.where(paint >= 0, paint, len(names))]
    result = classify(session.image, labels, classifier=classifier, class_names=[names[c] for c in used])
    session.supervised = (result, used)
    return result
