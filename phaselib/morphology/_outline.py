"""Concave corners of grain outlines: the polygons of the outlines and the corners that are of the shape.

Private helpers of :mod:`phaselib.morphology` (:mod:`._split` cuts between the corners).
"""

from __future__ import annotations

import numpy as np
from skimage.measure import find_contours

_CUT_TOL = 1.0  # pixels: tolerance of the polygon that approximates a grain outline
_PAIR_TURN = 10.0  # degrees: concave corners that may end a cut between two corners
_PERSIST = 1.5  # pixels: a concave corner must persist on the outline simplified to this (see _persistent)
_PERSIST_R = 4.0  # pixels: ... within this distance
_PERSIST_TURN = 90.0  # degrees: ... unless it is this sharp
_PERSIST_EDGE = 4.0  # pixels: ... or both its edges are this long, unless it is a dent's corner (_dent): there
_SPAN = 10.0  # pixels: ... the outline read this far either side of it ...
_DENT_TURN = 15.0  # degrees: ... runs on in one direction within this, the corner under _PERSIST px off its chord
_BLUNT_EDGE = 5.0  # pixels: two concave corners this close in a row are one blunted corner (see _join_blunt)...
_BLUNT_TURN = 150.0  # degrees: ... turning at most this much together (a slot's two corners are left apart)


def _simplify(points, first, last, tol):
    """Douglas-Peucker on many polylines at once (``approximate_polygon``'s rule, vectorised).

    ``points`` (N, 2) holds the polylines one after the other, polyline ``k`` being
    ``points[first[k]:last[k] + 1]``. Returns the indices of the kept vertices.
    """
    n = len(points)
    keep = np.zeros(n, bool)
    keep[first] = keep[last] = True
    idx = np.arange(n)
    active = idx  # points of the segments still to check
    while active.size:
        lo = np.maximum.accumulate(np.where(keep, idx, 0))[active]
        hi = np.minimum.accumulate(np.where(keep, idx, n)[::-1])[::-1][active]
        a, ab = points[lo], points[hi] - points[lo]
        length = np.hypot(ab[:, 0], ab[:, 1])
        rel = points[active] - a
        cross = np.abs(ab[:, 0] * rel[:, 1] - ab[:, 1] * rel[:, 0])
        dist = np.where(length > 0, cross / np.maximum(length, 1e-12), np.hypot(rel[:, 0], rel[:, 1]))
        dist[keep[active]] = 0.0
        order = np.lexsort((-dist, lo))  # by segment, farthest point first
        head = order[np.r_[True, lo[order][1:] != lo[order][:-1]]]
        split = head[dist[head] > tol]
        keep[active[split]] = True
        active = active[np.isin(lo, lo[split]) & ~keep[active]]
    return idx[keep]


def _outline_points(mask):
    """``(points, first, sizes)`` of the closed outlines of ``mask`` (8 points or more) one after the other, or
    None: what :func:`_corners` simplifies (found once when corners are sought at two tolerances)."""
    contours = [c for c in find_contours(np.pad(mask, 1).astype(np.uint8), 0.5, positive_orientation="high")
                if len(c) >= 8]
    if not contours:
        return None
    sizes = np.array([len(c) for c in contours])
    return np.concatenate(contours) - 1, np.r_[0, np.cumsum(sizes)[:-1]], sizes


def _corners(mask, tol=_CUT_TOL, blunt=False):
    """Concave corners of the outlines of ``mask`` (each outline a polygon within ``tol`` pixels):
    positions, inward bisectors, turns (deg), and the edges before and after each corner (vectors).
    ``mask`` may also be its :func:`_outline_points` (found once for two tolerances)."""
    outline = mask if isinstance(mask, tuple) else _outline_points(mask)
    if outline is None:
        return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)), np.zeros((0, 2))
    points, first, sizes = outline
    kept = _simplify(points, first, first + sizes - 1, tol)
    contour = np.searchsorted(first, kept, side="right") - 1
    kept = kept[kept != (first + sizes - 1)[contour]]  # closed outlines: drop the repeated end point
    contour = np.searchsorted(first, kept, side="right") - 1
    # previous / next vertex along the same closed outline
    start = np.r_[True, contour[1:] != contour[:-1]]
    end = np.r_[contour[1:] != contour[:-1], True]
    i = np.arange(kept.size)
    group_first = np.maximum.accumulate(np.where(start, i, 0))
    group_last = np.minimum.accumulate(np.where(end, i, kept.size)[::-1])[::-1]
    prev = np.where(start, group_last, i - 1)
    nxt = np.where(end, group_first, i + 1)
    p = points[kept]
    edge_in, edge_out = p - p[prev], p[nxt] - p
    a = edge_in / np.maximum(np.hypot(edge_in[:, 0], edge_in[:, 1]), 1e-12)[:, None]
    b = edge_out / np.maximum(np.hypot(edge_out[:, 0], edge_out[:, 1]), 1e-12)[:, None]
    turn = -np.degrees(np.arctan2(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0], (a * b).sum(1)))
    ok = (turn >= _PAIR_TURN) & (group_last - group_first >= 2)  # concave: negative turn here
    if blunt:
        p, a, b, turn, edge_in, edge_out, ok = _join_blunt(p, a, b, turn, edge_in, edge_out, ok, nxt)
    u = a[ok] - b[ok]
    return p[ok], u / np.maximum(np.hypot(u[:, 0], u[:, 1]), 1e-12)[:, None], turn[ok], edge_in[ok], edge_out[ok]


def _join_blunt(p, a, b, turn, edge_in, edge_out, ok, nxt):
    """Two concave corners in a row joined by an edge under ``_BLUNT_EDGE`` px are one blunted corner (a
    notch rounded by the beam's spread or a smoothed phase map): one corner at the middle of that edge,
    turning as much as both, with the edge into the first and the edge out of the second (at most
    ``_BLUNT_TURN`` degrees together: the two corners at the end of a slot are left apart)."""
    p, a, b, turn, edge_in, edge_out, ok = (x.copy() for x in (p, a, b, turn, edge_in, edge_out, ok))
    length = np.hypot(edge_out[:, 0], edge_out[:, 1])
    both = turn + turn[nxt]
    for i in np.flatnonzero(ok & ok[nxt] & (length < _BLUNT_EDGE) & (both <= _BLUNT_TURN) & (nxt != np.arange(len(p)))):
        j = nxt[i]
        if not (ok[i] and ok[j]):  # already joined to its other neighbour
            continue
        p[i] = (p[i] + p[j]) / 2
        b[i], edge_out[i], turn[i] = b[j], edge_out[j], turn[i] + turn[j]
        ok[j] = False
    return p, a, b, turn, edge_in, edge_out, ok


def _persistent(outline, pos, turn, edge_in, edge_out, tol, dents=True):
    """Which concave corners are of the shape, not of the noise of its outline: those still found (within
    ``_PERSIST_R`` px) on the outline simplified to ``_PERSIST`` px, those sharper than
    ``_PERSIST_TURN`` (a slit between two crystals) and those whose both edges are ``_PERSIST_EDGE`` px or
    longer, unless they are the corners of a dent in a straight face (:func:`_dent`). The outline of a
    classified phase carries one-pixel bumps and notches (mixed pixels given to one side); their corners are
    shallow, between edges of 1-3 px, and gone once the polygon may stray 1.5 px: pair cuts between them cut
    laths into bands (anorthite at 50 counts/px: 19 crystals found as 36). A one-pixel dent along a lath's
    face has longer edges (4-24 px): its two corners, kept, took the corners of true contacts from the pair
    cuts, and laths were cut across (anorthite at 50 counts/px, session 64: 18 grains for 14 laths).
    ``outline``: the :func:`_outline_points` the corners were found on. ``dents=False``: a dent's corners are
    kept (the corners counted to decide whether a phase's crystals stand apart, a rule set on those counts)."""
    from scipy.spatial import cKDTree

    if tol >= _PERSIST:  # a coarse outline already: its corners are of the shape
        return np.ones(len(pos), bool)
    coarse = _corners(outline, _PERSIST)[0]
    near = np.zeros(len(pos), bool)
    if len(coarse):
        near = cKDTree(coarse).query(pos, distance_upper_bound=_PERSIST_R)[0] <= _PERSIST_R
    short = np.minimum(np.hypot(edge_in[:, 0], edge_in[:, 1]), np.hypot(edge_out[:, 0], edge_out[:, 1]))
    long_ = short >= _PERSIST_EDGE
    if dents and long_.any():
        long_[long_] = ~_dent(outline, pos[long_], _SPAN)
    return near | (turn >= _PERSIST_TURN) | long_


def _dent(outline, pos, span):
    """Whether each outline point ``pos`` is the corner of a dent in a straight face: the outline ``span`` / 2 to
    ``span`` px before it and after it runs in one direction (within ``_DENT_TURN`` degrees), and the point lies
    less than ``_PERSIST`` px off the chord joining the outline's points ``span`` px before and after it. (A corner
    where two grains meet turns the outline for good; around a small grain the outline turns back at its convex
    corners, and the chord passes near the corner, so its depth alone does not tell.)"""
    from scipy.spatial import cKDTree

    points, first, sizes = outline
    idx = cKDTree(points).query(pos)[1]
    k = np.searchsorted(first, idx, side="right") - 1
    out = np.zeros(len(pos), bool)
    for j in np.unique(k):
        c = points[first[j]:first[j] + sizes[j]]  # closed: the last point repeats the first
        arc = np.r_[0.0, np.cumsum(np.hypot(*np.diff(c, axis=0).T))]
        sel = np.flatnonzero(k == j)
        s = arc[idx[sel] - first[j]]
        at = [c[np.clip(np.searchsorted(arc, np.mod(s + f * span, arc[-1])), 0, len(c) - 1)]
              for f in (-1.0, -0.5, 0.5, 1.0)]
        u, v = at[1] - at[0], at[3] - at[2]
        turn = np.degrees(np.abs(np.arctan2(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0], (u * v).sum(1))))
        ab, ap = at[3] - at[0], pos[sel] - at[0]
        off = np.abs(ab[:, 0] * ap[:, 1] - ab[:, 1] * ap[:, 0]) / np.maximum(np.hypot(ab[:, 0], ab[:, 1]), 1e-12)
        out[sel] = (turn <= _DENT_TURN) & (off < _PERSIST)
    return out
