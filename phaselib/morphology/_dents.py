"""Rounded dents of a crystal's outline: bays that a hull concavity does not show on its own.

Private helper of :mod:`phaselib.morphology`. :func:`._fill.bays` judges each concavity of a
cluster's convex hull as a whole. A rounded bay (resorption, a melt inclusion cut by the
section) that opens into the notch between two touching crystals is only a part of that notch's
concavity, and it is then not filled: its two mouth corners start cuts, and the crystal holding it
is cut in pieces.

Along the outline, such a bay is a run of concave corners (the polygon of its arc) between two
mouth corners (convex where it is cut in a straight face, or a concave corner of the notch), the
outline between them a circular arc bending into the crystal and the segment joining them (the
chord) outside the crystal. Two grains meeting make a single concave corner, or, with a
grain of another phase pressed between them, a few straight edges: neither fits a circle within
a fraction of a pixel. Outlines traced from a classified map are ragged by a pixel or more and
show no such arcs: the test is for outlines drawn exactly (polygons, traced labels).
"""

from __future__ import annotations

import numpy as np
from skimage.draw import polygon as _polygon
from skimage.measure import find_contours

import phaselib.morphology._outline as _outline

ARC_RMS = 0.3  # pixels: the outline between the mouth corners fits a circle within this (``_fill.ARC_RMS``)...
ARC_RADIUS = 8.0  # pixels: ... of at least this radius (smaller: a notch of a few straight edges fits as well)
ARC_POINTS = 20  # ... through at least this many outline points
ARC_DEPTH = 2.5  # pixels: and the dent is at least this deep behind its chord...
ARC_DEEP = 0.3  # ... and this share of the chord (shallower: a sliver along a slightly bent boundary)


def _runs(concave):
    """(start, stop) index pairs of the maximal runs of True in a cyclic boolean sequence."""
    n = len(concave)
    if concave.all() or not concave.any():
        return []
    shift = int(np.flatnonzero(~concave)[0])  # start the cycle on a convex vertex
    c = np.roll(concave, -shift)
    edges = np.flatnonzero(np.diff(np.r_[0, c.astype(np.int8), 0]))
    return [((a + shift) % n, (b - 1 + shift) % n) for a, b in zip(edges[::2], edges[1::2])]


def _circle(pts):
    """Least-squares circle through points (y, x): centre (y, x), radius, RMS distance."""
    y, x = pts[:, 0], pts[:, 1]
    (a, b, c), *_ = np.linalg.lstsq(np.column_stack([x, y, np.ones_like(x)]), x * x + y * y, rcond=None)
    cx, cy = a / 2, b / 2
    r = np.sqrt(max(c + cx * cx + cy * cy, 0.0))
    return np.array([cy, cx]), float(r), float(np.sqrt(np.mean((np.hypot(x - cx, y - cy) - r) ** 2)))


def _dent(mask, pts, kept, v, i, j):
    """The outline points from vertex ``i`` to ``j`` if they bound a rounded dent, else None."""
    p, q = kept[i], kept[j]
    arc = pts[p:q + 1] if p < q else np.vstack([pts[p:], pts[:q + 1]])
    inner = arc[1:-1]
    if len(inner) < ARC_POINTS:
        return None
    chord = v[j] - v[i]
    length = np.hypot(*chord)
    if length < 2:
        return None
    normal = np.array([-chord[1], chord[0]]) / length
    deepest = np.abs((inner - v[i]) @ normal).max()
    if deepest < max(ARC_DEPTH, ARC_DEEP * length):
        return None
    # the chord lies outside the cluster (it spans the dent's mouth)
    probe = np.round(v[i] + np.linspace(0.15, 0.85, max(int(length), 2))[:, None] * chord).astype(int)
    probe = np.clip(probe, 0, np.array(mask.shape) - 1)
    if mask[probe[:, 0], probe[:, 1]].mean() > 0.2:
        return None
    _, radius, rms = _circle(inner)
    if rms > ARC_RMS or radius < ARC_RADIUS:
        return None
    return arc


def _dents_along(mask, pts, kept, turn, out):
    """Fill into ``out`` the rounded dents of one closed outline ``pts`` (outer), whose polygon has the
    vertices ``pts[kept]`` turning by ``turn`` degrees (concave: positive)."""
    n = len(kept)
    v = pts[kept]
    for r0, r1 in _runs(turn >= _outline._PAIR_TURN):
        # the arc's own corners are concave; its mouth corners are the convex ones on either side of the run
        # (a bay cut in a straight face), or a concave corner of the run (a bay opening into a notch)
        run = [(r0 - 1 + k) % n for k in range((r1 - r0) % n + 3)]
        if (kept[run[-1]] - kept[run[0]]) % len(pts) < ARC_POINTS + 1:
            continue  # too few outline points for any dent
        used = np.zeros(len(run), bool)
        for span in range(len(run) - 1, 1, -1):  # the widest dents first: mouth corners run[s], run[s + span]
            for s in range(len(run) - span):
                if used[s + 1:s + span].any():
                    continue
                arc = _dent(mask, pts, kept, v, run[s], run[s + span])
                if arc is not None:
                    rr, cc = _polygon(arc[:, 0], arc[:, 1], mask.shape)
                    out[rr, cc] = True
                    used[s:s + span + 1] = True


def arc_dents(filled, tol=1.0):
    """Rounded dents (circular bays) along the outer outlines of the clusters of ``filled``.

    Parameters
    ----------
    filled : (H, W) ndarray of bool
    tol : float
        Pixels: tolerance of the polygon whose concave corners bound the dents.

    Returns
    -------
    (H, W) ndarray of bool
        The dents' pixels (outside ``filled``).
    """
    out = np.zeros(filled.shape, bool)
    outlines = []
    for c in find_contours(np.pad(filled, 1).astype(np.uint8), 0.5, positive_orientation="high"):
        pts = c[:-1] - 1  # closed: the end point repeats the first
        # clusters' outlines only (a hole's runs the other way round), long enough to hold a dent
        y, x = pts[:, 0], pts[:, 1]
        if len(pts) >= 3 * ARC_POINTS and np.dot(x, np.roll(y, -1)) < np.dot(y, np.roll(x, -1)):
            outlines.append(pts)
    if not outlines:
        return out
    # every outline's polygon at once (closed: each outline's first point repeated at its end)
    sizes = np.array([len(p) + 1 for p in outlines])
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    kept = _outline._simplify(np.concatenate([np.vstack([p, p[:1]]) for p in outlines]), first, first + sizes - 1, tol)
    which = np.searchsorted(first, kept, side="right") - 1
    keep = kept != first[which] + sizes[which] - 1
    kept, which = kept[keep] - first[which[keep]], which[keep]
    bounds = np.flatnonzero(np.r_[True, which[1:] != which[:-1], True])
    for k0, k1 in zip(bounds[:-1], bounds[1:]):
        if k1 - k0 < 4:
            continue
        pts, kp = outlines[which[k0]], kept[k0:k1]
        v = pts[kp]
        a, b = v - np.roll(v, 1, axis=0), np.roll(v, -1, axis=0) - v
        turn = -np.degrees(np.arctan2(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0], (a * b).sum(1)))
        if (turn >= _outline._PAIR_TURN).any():
            _dents_along(filled, pts, kp, turn, out)
    return out & ~filled
