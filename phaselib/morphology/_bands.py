"""Bands of one crystal: grains of one piece between the pair cuts that the watershed parted across it.

Private helper of :mod:`phaselib.morphology` (:func:`merge_bands`, called by ``_separate._grains`` where lone
concave corners start no ray). There a piece between the pair cuts is a crystal that may be bent or bitten
(a hopper frame, a lath, a crystal with a neighbour's corner pressed in): the distance map has several maxima
along it, and the watershed cuts it in bands whose unions are not convex. Two bands of one crystal meet across
the whole width of the narrower; two crystals touching meet at a neck, along less than the narrower one's width.

One case of two crystals also meets across a whole width: the end of a lath against the face of another crystal
(a T of two laths), when the pair cut between the two concave corners of the contact was not drawn (a corner of a
classified map's outline a pixel off, and the cut then just outside the cone of convex cuts). Such a boundary runs
from a concave corner of the outline to another: a band's ends lie on a face, or one on the inner corner of a bent
frame and the other on its convex outer side. Two grains whose boundary joins two concave corners (within
``CONTACT_R`` px of both its ends) are not merged as bands.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

import phaselib.morphology._split as _split

#: two grains of one piece merge when their boundary is at least this share of the narrower one's inscribed
#: diameter (0.8 and 1.0 tried, 0.8 kept)
BAND = 0.8
#: pixels: a boundary's end within this distance of a concave corner of the outline ends there
CONTACT_R = 2.0


def _contacts(labels, corners):
    """The pairs of grains ``(a, b)``, ``a < b``, whose boundary ends at two concave corners: pixels of their
    boundary next to the background within ``CONTACT_R`` px of two corners at least ``2 CONTACT_R`` px apart."""
    from scipy.spatial import cKDTree

    if corners is None or len(corners) < 2:
        return set()
    outside = ndi.binary_dilation(labels == 0, np.ones((3, 3), bool), border_value=1)
    h, w = labels.shape
    rows, cols, keys = [], [], []
    base = int(labels.max()) + 1
    for a, b, ra, ca in ((labels[1:], labels[:-1], 1, 0), (labels[:, 1:], labels[:, :-1], 0, 1)):
        edge = (a > 0) & (b > 0) & (a != b)
        r, c = np.nonzero(edge)
        key = np.minimum(a[r, c], b[r, c]).astype(np.int64) * base + np.maximum(a[r, c], b[r, c])
        for dr, dc in ((ra, ca), (0, 0)):  # the pixels on both sides of the edge
            rr, cc = r + dr, c + dc
            near = outside[rr, cc]
            rows.append(rr[near])
            cols.append(cc[near])
            keys.append(key[near])
    rows, cols, keys = np.concatenate(rows), np.concatenate(cols), np.concatenate(keys)
    if not len(keys):
        return set()
    hits = cKDTree(np.asarray(corners, np.float64)).query_ball_point(np.column_stack([rows, cols]), CONTACT_R)
    found = {}
    for k, near in zip(keys.tolist(), hits):
        if near:
            found.setdefault(k, set()).update(near)
    out = set()
    for k, idx in found.items():
        if len(idx) >= 2:
            pts = np.asarray(corners)[sorted(idx)]
            if np.hypot(*(pts[:, None] - pts[None]).transpose(2, 0, 1)).max() >= 2 * CONTACT_R:
                out.add((k // base, k % base))
    return out


def merge_bands(labels, main, corners=None):
    """Merge the grains of one piece between the cuts that meet across the whole width of the narrower
    (their boundary at least ``BAND`` times its inscribed diameter), unless their boundary joins two concave
    corners of the outline (module docstring). The boundary's length is measured
    (:func:`._split.boundary_lengths`), not its pixel edges counted: along a diagonal those are 1.4 times
    as many, and two crystals touching across a diagonal neck merged (phenocrysts mapped at a 1.5 px beam).

    Parameters
    ----------
    labels : (H, W) ndarray of int
        Grain ids (0: background).
    main : dict
        Grain id -> the piece between the cuts holding most of its pixels.
    corners : (N, 2) array_like, optional
        The concave corners of the outline the cuts were drawn from (``concave_cuts``' ``counts["corners"]``).

    Returns
    -------
    (H, W) ndarray
        The labels, merged grains sharing the smaller id.
    """
    inner = labels > 0
    edge = np.zeros(labels.shape, bool)
    edge[1:] |= labels[1:] != labels[:-1]
    edge[:-1] |= labels[1:] != labels[:-1]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    dt = ndi.distance_transform_edt(inner & ~edge)
    n = int(labels.max())
    radius = np.zeros(n + 1)
    radius[1:] = np.asarray(ndi.maximum(dt, labels, np.arange(1, n + 1))) + 0.5
    uniq, length = _split.boundary_lengths(labels)
    if not len(uniq):
        return labels
    contacts = _contacts(labels, corners)
    parent = np.arange(n + 1)

    def root(g):
        while parent[g] != g:
            g = parent[g]
        return g

    for (a, b), shared in zip(uniq.tolist(), length.tolist()):
        if main.get(a, -1) == main.get(b, -2) and shared >= BAND * 2 * min(radius[a], radius[b]) \
                and (a, b) not in contacts:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    for g in range(n + 1):
        parent[g] = root(g)
    return parent[labels].astype(labels.dtype)
