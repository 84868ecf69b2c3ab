"""What a crystal holds: inclusions (enclosed holes) and bays, filled while its grains are separated.

Private helpers of :mod:`phaselib.morphology`. A crystal section is convex; an inclusion of
another phase (or unassigned pixels) inside it is a hole of its phase's mask, and a resorbed
crystal has rounded bays. Their outlines are concave everywhere, so the concave-corner cuts
of :mod:`._split` would cut the crystal like a pizza from them. So, before the separation:

* every enclosed hole is filled (:func:`enclosed_holes`); it stays filled if it is an
  inclusion: its cluster is nearly convex once filled (:func:`solidity`), or, in a cluster
  of touching crystals, the separation of the filled cluster puts it inside one grain whose
  union with it is convex (:func:`not_in_one_grain`). Otherwise it is a pocket between
  grains (a grain of another phase enclosed by several grains of this one, as in a
  space-filling texture): its corners are where grains meet, and it is left open;
* rounded bays are filled (:func:`bays`): on a crystal standing alone, and, well rounded ones,
  in a cluster of touching crystals; so are inclusions open to the outside (:func:`open_inclusions`: small
  blobs of another phase, mostly surrounded by the crystal), where the phase map is known;
* grains around a pocket whose union with it is convex are merged (:func:`merge_around`), and so, where the
  phase map shows a matrix, are the grains around a hole whose rim a one-pixel gap breaks (:func:`narrow_mouthed`:
  an inclusion of the matrix's phase that lost a rim pixel to noise joins the matrix, and its corners cut the
  crystal), within the looser ``NARROW_DEFECT``: the outlines of a phase mapped at tens of counts per pixel are
  ragged by a pixel.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

import phaselib.morphology._split as _split

CROSS = ndi.generate_binary_structure(2, 1)
SOLID = 0.85  # a cluster at least this solid once its holes and bays are filled: its holes are inclusions
LOOSE = 0.6  # ... less solid than this (a network of grains): its holes are pockets
HOLE_SHARE = 0.9  # share of a hole's rim in one grain, for it to lie in that grain
HOLE_DEFECT = 0.05  # ... whose union with the hole lacks at most this share of its hull
GROUP_DEFECT = 0.005  # grains around a pocket merge when their union with it lacks at most this share
BAY_TRIANGLE = 1.4  # a bay holds this many times the triangle of its mouth and deepest point
BAY_TRIANGLE_NOTCHED = 2.5  # ... in a cluster with a notch, or thin: only bays behind a neck
BAY_DEPTH = 2.5  # pixels: shallower concavities are neither bays nor notches
BAY_DEEP = 0.3  # a concavity less deep than this for the width of its mouth is a sliver...
SLIVER_PX = 80  # ... and one of fewer pixels than this is neither a bay nor a notch
ARC_RMS = 0.3  # pixels: a concavity whose inner edge is a circular arc within this is a rounded bay...
ARC_PX, ARC_RADIUS = 40, 4.0  # ... if it holds this many pixels and the arc this radius (less: any shape fits)
BAY_INRADIUS = 4.0  # pixels: bays are sought on clusters at least 8 px thick (finer outlines cannot tell)...
BAY_INRADIUS_ANY = 8.0  # ... and, from 16 px, any rounded bay (thinner: only bays behind a neck)
SHALLOW_REST = 0.01  # a crystal with its bays filled lacking at most this share of its hull: the hull
_MIN_COMPONENT = 30
#: :func:`open_inclusions`: a blob of another phase with at least this share of the pixels just outside it in the
#: mask is an inclusion open to the outside (a spinel on an olivine's rim), not a gap between crystals
OPEN_SHARE = 0.5
#: grains around a hole whose rim a one-pixel gap breaks (:func:`narrow_mouthed`) merge when their union with it lacks
#: at most this share of its hull (ragged outlines: a lath with 5 % of its outline pixels lost lacks ~1 %; 0.005,
#: ``GROUP_DEFECT``, mended the bench's lath but not those of ``tests/test_grains_open_holes.py``)
NARROW_DEFECT = 0.03


def enclosed_holes(m, speck=0):
    """Holes of ``m``: regions of other pixels enclosed by it (4-connected), holding no island of it.

    An island of at most ``speck`` pixels (a few mixed pixels of an inclusion taken for the host's
    phase) is no grain: it counts as part of the hole around it, and is returned with it.
    """
    if speck > 0:
        lab, n = ndi.label(m)
        small = np.bincount(lab.ravel(), minlength=n + 1) <= speck
        small[0] = False
        m = m & ~small[lab]
    inside = ndi.binary_fill_holes(m)
    holes = inside & ~m
    if not holes.any():
        return holes
    islands = ndi.binary_fill_holes(holes) & m
    if islands.any():  # a hole around an island of the mask is not filled (its island is a grain)
        lab, _ = ndi.label(holes)
        ring = ndi.binary_dilation(islands, CROSS) & holes
        holes &= ~np.isin(lab, np.unique(lab[ring]))
    return holes


def open_inclusions(m, phase_map, max_px):
    """Inclusions of ``m`` open to the outside: blobs (8-connected) of one other phase of ``phase_map`` (or of its
    unassigned pixels) of at most ``max_px`` pixels, at least ``OPEN_SHARE`` of the pixels 8-adjacent to them in
    ``m``, that ``m`` does not enclose. A gap between two crystals is matrix, connected to the rest of it: no such
    blob."""
    lab = np.where(m, np.iinfo(np.int64).min, np.asarray(phase_map, np.int64))
    out = np.zeros(m.shape, bool)
    if max_px < 1:
        return out
    square = np.ones((3, 3), bool)
    for p in np.unique(lab[~m]):
        blobs, n = ndi.label(lab == p, square)
        size = np.bincount(blobs.ravel(), minlength=n + 1)
        small = size <= max_px
        small[0] = False
        if not small.any():
            continue
        ids = np.where(small[blobs], blobs, 0)
        ring = ndi.grey_dilation(ids, footprint=square) * (ids == 0)  # a ring pixel goes to one blob beside it
        around = np.bincount(ring.ravel(), minlength=n + 1)
        in_m = np.bincount(ring[m], minlength=n + 1)
        open_ = small & (in_m >= OPEN_SHARE * np.maximum(around, 1))
        out |= open_[blobs]
    return out & ~ndi.binary_fill_holes(m)


def narrow_mouthed(m):
    """Holes of ``m`` whose ring a gap of one pixel breaks (an inclusion of the matrix's phase whose rim lost a pixel
    to noise, so that it joins the matrix): the regions of other pixels that ``m`` encloses once closed by a 3 x 3
    square, holding a hole of that closing, with the gap's pixels."""
    closed = ndi.binary_closing(np.pad(m, 1), np.ones((3, 3), bool))[1:-1, 1:-1] | m
    inner = ndi.binary_fill_holes(closed) & ~closed
    if not inner.any():
        return inner
    near, _ = ndi.label(ndi.binary_fill_holes(closed) & ~m & ~ndi.binary_fill_holes(m), CROSS)
    return np.isin(near, np.unique(near[inner & (near > 0)])) & (near > 0)


def concavity(region, depth):
    """A concavity's shape: the ratio of its area to the triangle of its mouth and its deepest
    point (``region`` in its box; ``depth``: distance to the hull's outside).

    Between two touching convex grains the concavity under the hull lies in that triangle (the
    deepest point is where the grains meet): a ratio of 1 at most (1.1 once pixelised, even for
    grains meeting at an angle of 170 degrees). A rounded bay (a disc's segment, or a bottle
    behind a neck) holds 4/3 of it or more (1.45-1.55 once pixelised, shallow segments too).
    ``None``: a sliver along the hull (less deep than ``BAY_DEEP`` times its mouth) of fewer
    than ``SLIVER_PX`` pixels, whose shape its pixels cannot tell (it counts as a notch).
    """
    pts = np.argwhere(region)
    mouth = pts[depth[region] < 1.5]
    if len(mouth) < 2:
        return 0.0
    span = np.sqrt(((mouth[:, None] - mouth[None]) ** 2).sum(-1))
    i, j = np.unravel_index(np.argmax(span), span.shape)
    p, q = mouth[i].astype(float), mouth[j].astype(float)
    u = (q - p) / max(np.hypot(*(q - p)), 1e-9)
    off = np.abs((pts - p) @ np.array([-u[1], u[0]]))
    if off.max() < BAY_DEEP * span[i, j] and len(pts) < SLIVER_PX:
        return None  # a small sliver along the hull: too few pixels to tell its shape
    tri = _split.hull_mask(np.array([p, q, pts[np.argmax(off)]]), region.shape)
    return region.sum() / max(int(tri.sum()), 1)


def arc_misfit(region, cluster):
    """RMS distance (pixels) of the concavity's pixels along the cluster to their best circle, and
    its radius: a resorption bay's edge is an arc (0.22-0.30 px on the phenocryst textures), a
    notch between grains is not (0.4-2.8 px on the Voronoi textures and the default rock)."""
    pts = np.argwhere(region & ndi.binary_dilation(cluster, CROSS)).astype(float)
    if len(pts) < 5:
        return np.inf, 0.0
    y, x = pts[:, 0], pts[:, 1]
    (a, b, c), *_ = np.linalg.lstsq(np.column_stack([x, y, np.ones_like(x)]), x * x + y * y, rcond=None)
    cx, cy = a / 2, b / 2
    radius = np.sqrt(max(c + cx * cx + cy * cy, 0.0))
    return float(np.sqrt(np.mean((np.hypot(x - cx, y - cy) - radius) ** 2))), float(radius)


def bays(filled):
    """Bays of the crystals of ``filled``.

    Each concavity of a cluster (a region of its convex hull outside it) is a bay (holding
    ``BAY_TRIANGLE`` times its triangle or more, :func:`concavity`) or a notch; a small sliver,
    and a concavity opening on the map border (what lies beyond it is unknown), count as
    notches. On a cluster without a notch (a crystal standing alone) at least
    ``2 * BAY_INRADIUS_ANY`` pixels thick, every bay is filled, and, when what then remains of its
    hull is a few pixels (at most ``SHALLOW_REST`` of it, in concavities too shallow or too small
    to be bays or notches), the whole hull: a corner left where a bay's fill meets the outline
    would start a cut through a crystal that is one convex section. On a cluster with a notch
    (touching grains meet there: its concave corners are cut as usual), and on thinner ones
    (down to ``2 * BAY_INRADIUS`` pixels), only the bays holding ``BAY_TRIANGLE_NOTCHED`` times
    their triangle or more (a bottle behind a neck, a hopper cavity), and, in a cluster with a
    notch, those whose edge is a circular arc (:func:`arc_misfit`): a notch between several
    small grains can hold as much of its triangle as a rounded bay, but its edge is not an arc.
    """
    out = np.zeros_like(filled)
    comp, n = ndi.label(filled)
    if n == 0:
        return out
    size = np.bincount(comp.ravel())
    boxes = ndi.find_objects(comp)
    for i in np.flatnonzero(size >= max(_MIN_COMPONENT, np.pi * BAY_INRADIUS**2)):
        if i == 0:
            continue
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in boxes[i - 1])
        c = comp[box] == i
        thickness = ndi.distance_transform_edt(c).max()
        if thickness < BAY_INRADIUS:
            continue
        vertices = _split._hull(np.argwhere(c & ~ndi.binary_erosion(c, CROSS, border_value=0)))
        if not LOOSE * _split._defect(vertices, 0) <= size[i] < _split._defect(vertices, 0):
            continue  # convex, or a network of grains
        hull = _split.hull_mask(vertices, c.shape)
        lab, deep = _concavities(hull, ~filled[box])
        sides = [(box[0].start == 0, lab[0]), (box[0].stop == filled.shape[0], lab[-1]),
                 (box[1].start == 0, lab[:, 0]), (box[1].stop == filled.shape[1], lab[:, -1])]
        edge = set(np.concatenate([v for on, v in sides if on] + [[]]).astype(int).tolist())
        shapes, notched = [], False
        for j, sl, r, depth in deep:
            ratio = None if j in edge else concavity(r, depth)
            if ratio is None:  # on the map border, or a small sliver: a notch as likely as a bay
                notched = True
            else:
                shapes.append((sl, r, ratio))
                notched |= ratio < BAY_TRIANGLE
        least = BAY_TRIANGLE_NOTCHED if notched or thickness < BAY_INRADIUS_ANY else BAY_TRIANGLE
        if least == BAY_TRIANGLE and shapes:  # one crystal, every deep concavity a bay
            rest = hull & ~filled[box]
            for sl, r, _ in shapes:
                rest[sl] &= ~r
            if rest.sum() <= SHALLOW_REST * size[i]:  # and the rest of its hull a few shallow pixels
                out[box] |= hull & ~filled[box]
                continue
        for sl, r, ratio in shapes:
            if ratio < least and notched and ratio >= BAY_TRIANGLE and r.sum() >= ARC_PX:
                misfit, radius = arc_misfit(r, c[sl])  # a rounded bay of a crystal touching others
                if misfit <= ARC_RMS and radius >= ARC_RADIUS:
                    ratio = least
            if ratio >= least:
                out[box][sl] |= r
    return out


def solidity(filled, where):
    """Solidity (pixels / pixel centres in the convex hull) of the clusters of ``filled`` that
    hold a pixel of ``where``, on their pixels (0 elsewhere)."""
    comp, n = ndi.label(filled)
    out = np.zeros(n + 1)
    boxes = ndi.find_objects(comp)
    outline = filled & ~ndi.binary_erosion(filled, CROSS, border_value=0)
    for i in np.unique(comp[where & filled]):
        if i == 0:
            continue
        c = comp[boxes[i - 1]] == i
        k = int(c.sum())
        out[i] = k / max(_split._defect(_split._hull(np.argwhere(outline[boxes[i - 1]] & c)), 0), k)
    return out[comp]


def _rims(labels, regions):
    """Region labels, and for each region: its rim pixels per grain, as (region, grain, count)."""
    rl, nr = ndi.label(regions)
    near = ndi.grey_dilation(rl, footprint=CROSS)
    rim = (labels > 0) & (near > 0) & (rl == 0)
    base = int(labels.max()) + 1
    pair, count = np.unique(near[rim].astype(np.int64) * base + labels[rim], return_counts=True)
    return rl, nr, pair // base, pair % base, count


def not_in_one_grain(labels, regions, defect=HOLE_DEFECT):
    """The regions that do not lie in one grain (``HOLE_SHARE`` of their rim) whose union with
    them is convex (lacking at most ``defect`` of its hull) or whose hull holds no notch (a grain
    with a shallow bay left open is one crystal; two crystals merged meet at a notch:
    :func:`_has_notch`); ``labels`` cover the regions."""
    rl, nr, ph, pg, count = _rims(labels, regions)
    total = np.bincount(ph, weights=count, minlength=nr + 1)
    order = np.argsort(count, kind="stable")
    best, host = np.zeros(nr + 1), np.zeros(nr + 1, np.int64)
    best[ph[order]], host[ph[order]] = count[order], pg[order]
    ok = (best >= HOLE_SHARE * np.maximum(total, 1)) & (host > 0)
    ok[0] = False
    boxes = ndi.find_objects(labels)
    convex = {}
    for i in np.flatnonzero(ok):
        g = int(host[i])
        if g not in convex:
            pts = np.argwhere(labels[boxes[g - 1]] == g)
            convex[g] = _split._defect(_split._hull(pts), len(pts)) <= defect * len(pts)
            if not convex[g]:  # less convex (a bay left open), but one crystal while no notch shows two
                convex[g] = not _has_notch(np.pad(labels[boxes[g - 1]] == g, 1))
        ok[i] = convex[g]
    return regions & ~ok[rl]


def _has_notch(grain):
    """Whether a grain's hull holds a notch: a concavity at least ``BAY_DEPTH`` deep holding less than
    ``BAY_TRIANGLE`` times its triangle (where two convex crystals meet); bays and small slivers are not."""
    vertices = _split._hull(np.argwhere(grain & ~ndi.binary_erosion(grain, CROSS, border_value=0)))
    _, deep = _concavities(_split.hull_mask(vertices, grain.shape), ~grain)
    for _, _, r, depth in deep:
        ratio = concavity(r, depth)
        if ratio is not None and ratio < BAY_TRIANGLE:
            return True
    return False


def _concavities(hull, outside):
    """The concavities of a convex hull (regions of ``hull & outside``) at least ``BAY_DEPTH`` deep and 8 px:
    their label map, and ``(label, slice, region, depth to the hull's outside)`` of each."""
    lab, _ = ndi.label(hull & outside)
    depth = ndi.distance_transform_edt(np.pad(hull, 1))[1:-1, 1:-1]
    deep = []
    for j, sl in enumerate(ndi.find_objects(lab), 1):
        r = lab[sl] == j
        if depth[sl][r].max() >= BAY_DEPTH and r.sum() >= 8:
            deep.append((j, sl, r, depth[sl]))
    return lab, deep


def merge_around(labels, regions, defect=GROUP_DEFECT):
    """Merge the grains around a region (a pocket) when their union with it is convex.

    Cuts from the corners of a hole split a crystal like a pizza: every slice is convex, but
    together with the hole they make one convex section. The grains lying in the hull of the
    union are added first (slices cut off from the hole by other cuts).
    """
    rl, nr, ph, pg, count = _rims(labels, regions)
    if nr == 0:
        return labels
    total = np.bincount(ph, weights=count, minlength=nr + 1)
    keep = count >= 0.02 * total[ph]
    by_region = {}
    for h, g in zip(ph[keep].tolist(), pg[keep].tolist()):
        by_region.setdefault(h, set()).add(g)
    out = labels.copy()
    base = int(labels.max()) + 1
    parent = np.arange(base)
    area = np.bincount(rl.ravel())
    gsize = np.bincount(out.ravel(), minlength=base)
    for j in sorted(by_region, key=lambda k: -area[k]):
        group = {int(parent[g]) for g in by_region[j]}
        if len(group) < 2:
            continue
        for _ in range(4):
            grp = np.array(sorted(group))
            inside = np.isin(out, grp)
            rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
            box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
            held = [k for k, gs in by_region.items() if {int(parent[g]) for g in gs} <= group]
            pts = np.argwhere(inside[box] | np.isin(rl[box], held))
            hull = _split._hull(pts)
            sub = out[box]
            within = np.bincount(sub[_split.hull_mask(hull, sub.shape)].ravel(), minlength=base)
            more = set(np.flatnonzero((within >= 0.9 * gsize) & (gsize > 0)).tolist()) - {0} - group
            if not more:
                break
            group |= more
        if _split._defect(hull, len(pts)) <= defect * len(pts):
            grp = np.array(sorted(group))
            out[np.isin(out, grp)] = grp[0]
            parent[np.isin(parent, grp)] = grp[0]
            gsize[grp[0]] = gsize[grp].sum()
            gsize[grp[1:]] = 0
    return out
