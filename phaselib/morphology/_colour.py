"""Pieces of a phase cut or joined by their colours (private to :mod:`._boundaries`).

A region of the edge watershed that holds two compact blobs of distinct colour, with a step of colour
between them, is cut in two (:func:`split_two_colours`: a thin crystal along a bigger one has no core of
its own; a crystal whose colour sweeps across it, undulose extinction, is not cut), and so is a
twinned region whose lamellae run two ways (:func:`split_two_orientations`); pieces of
one region parted only by the phase map's cut join again when their inner colours agree
(:func:`join_same_colour`) or, twinned, when their lamellae run one way (:func:`join_twinned`);
neighbours of one mean colour merge (:func:`merge_similar`); slivers are found by their depth and
elongation (:func:`thin`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

#: A region is cut when its two colour groups differ by this much (Euclidean, [0, 1] units) ...
SPLIT_COLOUR = 0.08
#: ... each holds this many pixels or more (20 before session 51; 12 and 8 gave bench_xp_grains' sets the same,
#: and its 10 px grains +0.006 to +0.011) ...
SPLIT_AREA = 12
#: ... the two largest blobs hold this share of the region ...
SPLIT_COMPACT = 0.8
#: ... and each is this thick (radius of its largest inscribed disc, px): not a band of mixed
#: pixels along a boundary.
SPLIT_THICK = 2.0
#: ... the groups are coherent (this share of neighbouring pixels in one group, :func:`_coherence`: noise
#: alone draws two groups 1.6 noise deviations apart, interleaved) ...
SPLIT_COHERENT = 0.8
#: Lamellar regions are cut when the mean unit directions of their two groups of lamellae are this far apart
#: (chord between double-angle unit vectors: 0.75 is lamellae ~22 degrees apart; 0.45-0.9 gave the same
#: matched share within 0.002)
SPLIT_ORIENTATION = 0.75
#: ... and the colour steps across the cut: the pixels within STEP_BAND px of it on each side differ by
#: STEP_SHARE of the groups' gap or more. A boundary is a step; undulose extinction (strained quartz) sweeps
#: the colour of one crystal gradually, and its two halves differ only far apart. Chosen on bench_xp_grains'
#: sets and two of strained quartz (0.5 / 0.6 / 0.7: swept crystals matched 0.79 / 0.81 / 0.84, the default
#: sets 0.906 / 0.906 / 0.905); bands 1.5-4 or 2-5 px from the cut tell sweeps from steps less well.
STEP_BAND = 3.0
STEP_SHARE = 0.7
#: A region that no two colour groups cut is also tried as each of this many colour groups against the rest (a
#: crystal with no core of its own inside a region that holds two others, which 2-means parts first) ...
SPLIT_PARTS = 3
#: ... with a stricter step: the best of several partitions passes the step test more easily by chance, and the bands
#: of a crystal whose extinction sweeps across it (undulose) make such groups. Session 52, bench_xp_grains: the ten
#: sets 0.916 -> 0.923, fresh sets +0.009 to +0.015 (24 px plagioclase 0.874 -> 0.889); strained quartz 10 / 25
#: degrees 0.888 / 0.813 -> 0.870 / 0.791 (0.857 / 0.772 with STEP_SHARE; 0.881 / 0.809 at 1.0, the ten sets 0.920).
PARTS_STEP_SHARE = 0.85
#: Pieces with no pixel this far (px) from their edge, and this many times the area of a disc
#: of that depth, are slivers (left between a cut of the phase map and an image boundary):
#: they join their nearest neighbour. Small round grains stay.
THIN_DEPTH = 2.0
THIN_ELONGATION = 6.0
#: Pieces of one image region cut by the phase map join when their inner colours agree this well ...
SAME_COLOUR = 0.02
#: ... or, both twinned, when their lamellae run within ~6 degrees (cosine of the double angle) and their
#: colours averaged over the lamellae agree within this (session 52: on bench_xp_grains' cuts of the phase map
#: inside one image region between twinned pieces, 73 of one crystal joined and 5 of two; the ten sets
#: 0.915 -> 0.916, 40 px plagioclase 0.889 -> 0.908, fresh plagioclase sets +0.006 to +0.010).
TWIN_JOIN_COS = 0.98
TWIN_JOIN_COLOUR = 0.08


def label_depth(labels):
    """(H, W) distance of every pixel to the nearest pixel whose 4-neighbour holds another label (its depth
    inside its region; 0 on either side of a change of label)."""
    edge = np.zeros(labels.shape, bool)
    for a, b, ea, eb in ((labels[:-1], labels[1:], edge[:-1], edge[1:]),
                         (labels[:, :-1], labels[:, 1:], edge[:, :-1], edge[:, 1:])):
        ea |= a != b
        eb |= a != b
    return ndi.distance_transform_edt(~edge)


def _inner_means(labels, image):
    """Pixel count and mean of ``image`` (H, W, C) of each label's inner pixels (2 px or more from its edges)."""
    n = int(labels.max())
    inner = np.where(label_depth(labels) >= 2, labels, 0).ravel()
    count = np.bincount(inner, minlength=n + 1).astype(float)
    means = np.stack([np.bincount(inner, image[..., c].ravel(), n + 1) for c in range(image.shape[-1])], 1)
    return count, means / np.maximum(count, 1)[:, None]


def join_same_colour(labels, regions, image, level):
    """Join pieces of one image region parted only by a cut of the phase map when their inner
    pixels (2 px or more from their edges) have the same mean colour within ``level``: one
    crystal that the phase map's concave corners cut (two crystals rarely agree that closely)."""
    if int(labels.max()) < 2:
        return labels
    count, means = _inner_means(labels, image)
    return _join(labels, [(a, b) for a, b in _neighbours(labels, regions)
                          if min(count[a], count[b]) >= SPLIT_AREA / 2
                          and np.linalg.norm(means[a] - means[b]) < level])


def join_twinned(labels, regions, features, lamellar):
    """Join pieces of one image region parted only by a cut of the phase map when both are twinned
    (mean :func:`~._boundaries.lamellar_index` of their inner pixels over 0.5), their lamellae run one way
    (:data:`TWIN_JOIN_COS`) and their colours averaged over the lamellae agree (:data:`TWIN_JOIN_COLOUR`).
    A twinned crystal's mean colour varies with the share of each stripe a piece holds, so
    :func:`join_same_colour` leaves it cut; two touching twinned crystals rarely share a direction.
    ``features`` as the landscape's (colours smoothed over the lamellae, then the two orientation channels)."""
    if int(labels.max()) < 2:
        return labels
    count, means = _inner_means(labels, np.concatenate([features, lamellar[..., None]], -1))
    twin, colour, direction = means[:, -1] > 0.5, means[:, :-3], means[:, -3:-1]
    norm = np.maximum(np.linalg.norm(direction, axis=1), 1e-12)
    return _join(labels, [(a, b) for a, b in _neighbours(labels, regions)
                          if min(count[a], count[b]) >= SPLIT_AREA / 2 and twin[a] and twin[b]
                          and direction[a] @ direction[b] / (norm[a] * norm[b]) > TWIN_JOIN_COS
                          and np.linalg.norm(colour[a] - colour[b]) < TWIN_JOIN_COLOUR])


def _join(labels, pairs):
    """Labels with every pair of ``pairs`` (and what they chain to) made one (connected components)."""
    if not pairs:
        return labels
    n = int(labels.max()) + 1
    a, b = np.asarray(pairs).T
    comp = connected_components(coo_matrix((np.ones(a.size), (a, b)), shape=(n, n)), directed=False)[1]
    return np.where(labels > 0, comp[labels] + 1, 0)


def _neighbours(labels, within):
    """Pairs ``(a, b)``, ``a < b``, of 4-adjacent labels with the same ``within`` id."""
    pairs = set()
    for a, b, wa, wb in ((labels[:, :-1], labels[:, 1:], within[:, :-1], within[:, 1:]),
                         (labels[:-1], labels[1:], within[:-1], within[1:])):
        d = (a != b) & (a > 0) & (b > 0) & (wa == wb)
        pairs |= set(zip(np.minimum(a[d], b[d]).tolist(), np.maximum(a[d], b[d]).tolist()))
    return sorted(pairs)


def merge_similar(labels, smooth, merge, within=None):
    """Merge 4-adjacent regions whose mean colours differ by less than ``merge`` (and chains of them);
    with ``within`` (an id map), only regions of one id (one grain of the phase map) merge."""
    n = int(labels.max())
    if n < 2 or merge <= 0:
        return labels
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=n + 1).astype(float)
    means = np.stack([np.bincount(flat, smooth[..., c].ravel(), n + 1) for c in range(smooth.shape[-1])], 1)
    means /= np.maximum(counts, 1)[:, None]
    pairs = _neighbours(labels, np.zeros_like(labels) if within is None else np.asarray(within))
    return _join(labels, [(a, b) for a, b in pairs if np.linalg.norm(means[a] - means[b]) < merge])


def _two_means(x, iterations=10):
    """Two groups of the rows of ``x`` (k-means from a split along the first principal axis)."""
    d = x - x.mean(0)
    proj = d @ np.linalg.svd(d, full_matrices=False)[2][0]
    a = proj > np.median(proj)
    for _ in range(iterations):
        if a.all() or not a.any():
            return None
        c1, c0 = x[a].mean(0), x[~a].mean(0)
        new = ((x - c1) ** 2).sum(1) < ((x - c0) ** 2).sum(1)
        if (new == a).all():
            break
        a = new
    return a, float(np.linalg.norm(c1 - c0))


def _each_against_rest(x, k, iterations=10):
    """The ``k`` groups of the rows of ``x`` (k-means from ``k`` slices along the first principal axis), each as
    ``(mask, gap)``: its rows against all the others and the distance between the two means."""
    d = x - x.mean(0)
    proj = d @ np.linalg.svd(d, full_matrices=False)[2][0]
    group = np.argmin(np.abs(proj[:, None] - np.quantile(proj, (np.arange(k) + 0.5) / k)[None]), 1)
    for _ in range(iterations):
        centres = np.stack([x[group == j].mean(0) if (group == j).any() else np.full(x.shape[1], np.inf)
                            for j in range(k)])
        new = np.argmin(((x[:, None] - centres[None]) ** 2).sum(-1), 1)
        if (new == group).all():
            break
        group = new
    masks = [group == j for j in range(k)]
    return [(a, float(np.linalg.norm(x[a].mean(0) - x[~a].mean(0)))) for a in masks if a.any() and not a.all()]


def thin(labels, within=None):
    """(H, W) bool: pixels of slivers (:data:`THIN_DEPTH`, :data:`THIN_ELONGATION`); with
    ``within`` (the phase map's grains), only pieces of a grain cut in several count: a whole
    grain of the phase map (a lath, a microlite) is never a sliver."""
    depth = label_depth(labels)
    ids = np.arange(int(labels.max()) + 1)
    deepest = np.zeros(ids.size)
    deepest[1:] = ndi.maximum(depth, labels, ids[1:])
    area = np.bincount(labels.ravel(), minlength=ids.size)
    sliver = (deepest < THIN_DEPTH) & (area > THIN_ELONGATION * np.pi * (deepest + 0.5) ** 2)
    if within is not None:
        owner = np.zeros(ids.size, np.int64)
        owner[labels.ravel()] = np.asarray(within).ravel()
        pieces = np.bincount(owner[1:], minlength=int(owner.max()) + 1)
        sliver &= pieces[owner] > 1
    return sliver[labels] & (labels > 0)


def _thickness(blob):
    """Radius of the largest disc inside a blob, pixels (its distance transform's maximum)."""
    return float(ndi.distance_transform_edt(np.pad(blob, 1)).max())


def _largest(part):
    """The largest 8-connected blob of a boolean array (empty if none)."""
    comps, k = ndi.label(part, np.ones((3, 3)))
    if k == 0:
        return part
    return comps == np.argmax(np.bincount(comps.ravel())[1:]) + 1


def split_two_colours(labels, image, lamellar, rounds=2):
    """Cut each non-lamellar region whose pixels form two blobs of distinct colour.

    The region's pixels are parted in two colour groups (:func:`_two_means`); the cut is made
    when the groups' mean colours differ by :data:`SPLIT_COLOUR` or more, the largest blob of
    each group holds :data:`SPLIT_AREA` pixels or more, the two blobs hold
    :data:`SPLIT_COMPACT` of the region, and the colour steps across the cut (:data:`STEP_SHARE`).
    The rest (mixed pixels along boundaries, specks) goes
    to the nearer blob.
    """
    def wanted(reg, sl):
        if lamellar[sl][reg].mean() > 0.5:
            return None
        x = image[sl][reg]
        p = SPLIT_AREA / len(x)  # two groups d apart, the smaller a share p: variance >= p (1 - p) d^2
        return None if x.var(0).sum() < p * (1 - p) * SPLIT_COLOUR ** 2 else x

    def jump(sl, side_a, side_b):
        return _jump(side_a, side_b, image[sl])

    return _split_regions(labels, wanted, SPLIT_COLOUR, rounds, jump=jump, parts=SPLIT_PARTS)


def split_two_orientations(labels, orientation, lamellar, rounds=2):
    """Cut each lamellar region whose twin lamellae run two ways, in two compact blobs.

    Two twinned crystals of one mineral side by side average to one colour and their boundary's edge
    is weaker than the lamellae's own (a 40 px plagioclase texture); the directions of their lamellae
    differ. ``orientation`` is (H, W, 2), the lamellae's double-angle direction ``(cos 2a, sin 2a)`` times
    any strength (the landscape's last two channels); the region's unit directions are parted in two
    groups and cut as :func:`split_two_colours` does when the groups' means are :data:`SPLIT_ORIENTATION`
    apart or more. Measured (``bench_xp_grains``, ten sets): matched 0.904 -> 0.907 (40 px plagioclase
    0.839 -> 0.854, every set level or up), count error +0.32 -> +0.35.
    """
    norm = np.linalg.norm(orientation, axis=-1, keepdims=True)
    unit = np.where(norm > 1e-6, orientation / np.maximum(norm, 1e-6), 0.0)

    def wanted(reg, sl):
        return unit[sl][reg] if lamellar[sl][reg].mean() > 0.5 else None

    return _split_regions(labels, wanted, SPLIT_ORIENTATION, rounds)


def _jump(side_a, side_b, image):
    """Colour difference across the interface of two touching pixel sets: the mean of each one's
    pixels within :data:`STEP_BAND` px of the other, compared (Euclidean)."""
    band_a = side_a & (ndi.distance_transform_edt(~side_b) <= STEP_BAND)
    band_b = side_b & (ndi.distance_transform_edt(~side_a) <= STEP_BAND)
    if not (band_a.any() and band_b.any()):
        return 0.0
    return float(np.linalg.norm(image[band_a].mean(0) - image[band_b].mean(0)))


def _coherence(a, reg):
    """Share of the 4-neighbour pairs of a region's pixels that fall in one group (``a`` or not):
    about 0.5 when the groups are drawn by noise, near 1 for two blobs."""
    same = total = 0
    for p, q, rp, rq in ((a[:-1], a[1:], reg[:-1], reg[1:]), (a[:, :-1], a[:, 1:], reg[:, :-1], reg[:, 1:])):
        both = rp & rq
        total += int(both.sum())
        same += int((both & (p == q)).sum())
    return same / max(total, 1)


def _cut(reg, group, min_gap, gap, jump, sl, share):
    """The side of a region to cut off along one colour group (``group``: a mask of the region's pixels), or
    None when the group makes no cut: its gap, coherence, blobs, thickness and step (``jump``) as
    :func:`split_two_colours` says."""
    if gap < min_gap:
        return None
    a = np.zeros(reg.shape, bool)
    a[reg] = group
    if _coherence(a, reg) < SPLIT_COHERENT:
        return None  # the groups interleave: noise, not two blobs
    blob_a, blob_b = _largest(a), _largest(reg & ~a)
    na, nb = int(blob_a.sum()), int(blob_b.sum())
    if min(na, nb) < SPLIT_AREA or na + nb < SPLIT_COMPACT * reg.sum():
        return None
    if min(_thickness(blob_a), _thickness(blob_b)) < SPLIT_THICK:
        return None
    near = ndi.distance_transform_edt(~(blob_a | blob_b), return_distances=False, return_indices=True)
    side_a = blob_a[tuple(near)] & reg
    if jump is not None and jump(sl, side_a, reg & ~side_a) < share * gap:
        return None  # a sweep of colour across one crystal (undulose extinction), not a boundary
    return side_a


def _split_regions(labels, wanted, min_gap, rounds, jump=None, parts=2):
    """Cut regions in two blobs where ``wanted(region mask, slice)`` gives features (else None) whose two
    groups are ``min_gap`` apart or more (see :func:`split_two_colours` for the blob rules); with
    ``jump(slice, side_a, side_b)``, only where the features step across the cut by :data:`STEP_SHARE` of the
    gap. With ``parts`` over 2 (and ``jump``), a region that its two groups do not cut is tried as each of
    ``parts`` groups against the rest (step :data:`PARTS_STEP_SHARE`); the first that cuts is kept."""
    labels = labels.copy()
    for _ in range(rounds):
        n, changed = int(labels.max()), False
        for i, sl in enumerate(ndi.find_objects(labels), 1):
            if sl is None:
                continue
            reg = labels[sl] == i
            if reg.sum() < 2 * SPLIT_AREA:
                continue
            x = wanted(reg, sl)
            two = None if x is None else _two_means(x)
            side = None if two is None else _cut(reg, two[0], min_gap, two[1], jump, sl, STEP_SHARE)
            if side is None and x is not None and parts > 2 and jump is not None:
                for group, gap in _each_against_rest(x, parts):
                    side = _cut(reg, group, min_gap, gap, jump, sl, PARTS_STEP_SHARE)
                    if side is not None:
                        break
            if side is None:
                continue
            n += 1
            labels[sl][side] = n
            changed = True
        if not changed:
            break
    return labels
