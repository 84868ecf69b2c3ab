"""Concavity cuts and the merging of convex unions: the convexity rules of grain separation.

Private helpers of :mod:`phaselib.morphology`. Crystal sections are convex, so

* every concave corner of the outline of a cluster of touching grains is where two grains
  meet the outline: straight cuts from those corners split the cluster
  (:func:`concave_cuts`); a lone corner (no partner across the cluster) may also be a bite of
  a neighbour of another phase: where a phase's crystals stand apart, lone corners start no
  cut (``_separate.lone_rays``);
* two touching pieces whose union is convex cannot be told apart from one grain, and are
  most often one grain cut twice (a second maximum of the distance map in an elongated
  grain, a cut too many): they are merged (:func:`merge_convex`).
"""

from __future__ import annotations

import heapq
from math import gcd

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull, QhullError
from skimage.draw import line as _draw_line

from ._outline import _CUT_TOL, _PERSIST, _corners, _outline_points, _persistent

MIN_PIECE = 10  # pixels: a piece cut off by concavity cuts gets its own marker from this size
_RAY_TURN = 20.0  # degrees: concave corners sharp enough to start a cut on their own
_CONE = 15.0  # degrees narrower than the geometric cone in which a cut keeps both parts convex
_ALONG = 8.0  # degrees: a cut this close to the continuation of an edge at both its corners runs along it
_ALONG_EDGE = 8.0  # pixels: ... an edge at least this long (a crystal face, not a piece of a curve)
_ALONG_SLACK = 5.0  # degrees past the geometric cone allowed to such a cut (pixelised edges)
MERGE_DEFECT = 0.005  # touching grains whose union lacks at most this share of its hull merge
PIECE_DEFECT = 0.03  # ... or this share, when they lie in one piece between the concavity cuts
_LOOK_DEFECT = 0.05  # ... unions lacking up to this share are looked at pixel by pixel (see merge_convex)
_CHAIN = 3  # ... and up to this many grains whose pixels fill the hull of the union, one after the other


# ----------------------------------------------------------------- concavity cuts
def _continues(cut, edge_in, edge_out):
    """Whether a cut (unit vectors) from a corner continues the edge into it or the edge out of it
    (edge vectors) backwards, within ``_ALONG`` degrees, that edge being ``_ALONG_EDGE`` px or longer."""
    out = np.zeros(np.broadcast_shapes(cut.shape, edge_in.shape)[:-1], bool)
    for edge, sign in ((edge_in, 1.0), (edge_out, -1.0)):
        length = np.hypot(edge[..., 0], edge[..., 1])
        cos = (cut * sign * edge).sum(-1) / np.maximum(length, 1e-12)
        out |= (cos >= np.cos(np.radians(_ALONG))) & (length >= _ALONG_EDGE)
    return out


def _ray(mask, cut, start, direction, length):
    """Pixels from ``start`` along ``direction`` to the background or an earlier cut."""
    h, w = mask.shape
    t = np.arange(0.5, length, 0.5)
    pts = np.round(start + t[:, None] * direction).astype(np.intp)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < h) & (pts[:, 1] >= 0) & (pts[:, 1] < w)
    pts = pts[: np.argmin(inside) if not inside.all() else len(pts)]
    out = ~mask[pts[:, 0], pts[:, 1]]
    first = np.argmax(~out) if (~out).any() else len(out)  # the corner may sit on a pixel edge
    out[:first] = False
    end = np.argmax(out) if out.any() else len(pts)
    hit = cut[pts[first + 2:end, 0], pts[first + 2:end, 1]]
    if hit.any():
        end = first + 2 + np.argmax(hit) + 1
    return pts[:end]


def concave_cuts(mask, min_component=3 * MIN_PIECE, hole_rays=True, tol=_CUT_TOL, rays=True, counts=None,
                 dents=True, one_end=True):
    """Straight cuts from the concave corners of each cluster's outline.

    Touching crystal sections are convex, so every concave corner of the outline of a
    cluster is where two grains meet it. Pairs of concave corners that can be joined by a
    segment inside the cluster, splitting both corners into convex angles, are cut first
    (shortest and best aligned with the corners' bisectors first); a remaining sharp corner
    is cut along its bisector up to the background or an earlier cut.

    A cut that continues an edge of the outline at both its corners (within ``_ALONG``
    degrees: a crystal's straight edge running on past the place where another crystal
    touches it, as where a lath meets another at a sharp angle) keeps that side straight, at
    the very edge of the cone of convex cuts: such pairs are allowed up to that edge. With
    ``rays=False`` and ``one_end``, an edge continued at one corner suffices (a crystal near the end of another's
    face: past the contact's far corner the face runs on a few pixels only), and a lone corner is cut from along
    such a face where it runs to the map's edge (:func:`_face_to_map_edge`).

    ``rays=False``: lone corners start no ray (pair cuts only). ``counts``, a dict, receives the number
    of pair cuts drawn (``"pairs"``) and of lone sharp corners, rays drawn or not (``"lone"``). ``dents=False``:
    the corners of one-pixel dents in straight faces are kept (``_outline._persistent``). ``dents=False`` and
    ``one_end=False``: the corners paired as when ``_separate.lone_rays``' ratio was set on their counts.
    """
    h, w = mask.shape
    cut = np.zeros(mask.shape, bool)
    lab, _ = ndi.label(mask)
    size = np.bincount(lab.ravel())
    size[0] = 0
    outline = _outline_points(size[lab] >= min_component)
    if outline is None:
        return cut
    pos, bis, turn, e_in, e_out = _corners(outline, tol, blunt=tol >= _PERSIST)
    if len(pos) == 0:
        return cut
    keep = _persistent(outline, pos, turn, e_in, e_out, tol, dents=dents)
    pos, bis, turn, e_in, e_out = pos[keep], bis[keep], turn[keep], e_in[keep], e_out[keep]
    if len(pos) == 0:
        return cut
    probe = np.clip(np.round(pos + 0.7 * bis).astype(np.intp), 0, [h - 1, w - 1])
    comp = lab[probe[:, 0], probe[:, 1]]
    ok = (comp > 0) & (size[comp] >= min_component)
    pos, bis, turn, comp, e_in, e_out = pos[ok], bis[ok], turn[ok], comp[ok], e_in[ok], e_out[ok]
    boxes = ndi.find_objects(lab)
    enclosed = None if hole_rays else ndi.binary_fill_holes(mask) & ~mask
    order = np.argsort(comp, kind="stable")
    bounds = np.flatnonzero(np.r_[True, comp[order][1:] != comp[order][:-1], True])
    for g0, g1 in zip(bounds[:-1], bounds[1:]):
        sel = order[g0:g1]
        p, u, t, a, b = pos[sel], bis[sel], turn[sel], e_in[sel], e_out[sel]  # a, b: edges (vectors)
        box = boxes[comp[sel[0]] - 1]
        reach = np.hypot(box[0].stop - box[0].start, box[1].stop - box[1].start) + 2
        half = 90.0 - t / 2 - _CONE  # a cut within this angle of the bisector keeps both sides convex
        used = np.zeros(len(p), bool)
        if len(p) > 1:
            d = p[None, :, :] - p[:, None, :]
            length = np.hypot(d[..., 0], d[..., 1])
            unit = d / np.maximum(length, 1e-9)[..., None]
            ai = np.degrees(np.arccos(np.clip((unit * u[:, None, :]).sum(-1), -1, 1)))
            aj = np.degrees(np.arccos(np.clip((-unit * u[None, :, :]).sum(-1), -1, 1)))
            # along an edge: the cut from i continues the (long) edge into i or out of i, at both ends; where lone
            # corners start no ray (crystals standing apart), at one end: near the end of a crystal's face the face
            # runs on a few pixels only past the contact's other corner, too short an edge to show a direction
            along_i = _continues(unit, a[:, None, :], b[:, None, :])
            along_j = _continues(-unit, a[None, :, :], b[None, :, :])
            if one_end and not rays:
                along_i, along_j = along_i | along_j, np.ones_like(along_j)
            wide = half + _CONE + _ALONG_SLACK
            edge = np.maximum(np.hypot(a[:, 0], a[:, 1]), np.hypot(b[:, 0], b[:, 1]))
            near = length <= 2 * np.maximum(edge[:, None], edge[None, :])  # a contact, not a chord across
            along = along_i & along_j & near & (ai <= wide[:, None]) & (aj <= wide[None, :])
            inside = (ai <= half[:, None]) & (aj <= half[None, :])
            if len(p) == 2 and (t >= _RAY_TURN).all():
                # two sharp concave corners and no other: two convex grains meeting along the segment between
                # them (else a ray from each leaves a wedge between the two); no margin inside the cones of
                # convex cuts, which are narrow at sharp corners
                inside |= (ai <= half[:, None] + _CONE) & (aj <= half[None, :] + _CONE)
            ii, jj = np.nonzero(np.triu((inside | along) & (length > 1.5), 1))
            hi, hj = np.maximum(half[ii], 1.0), np.maximum(half[jj], 1.0)
            score = length[ii, jj] * (1 + np.minimum(ai[ii, jj] / hi, 2) + np.minimum(aj[ii, jj] / hj, 2))
            best = np.argsort(score, kind="stable")
            for i, j in zip(ii[best], jj[best]):
                if used[i] or used[j]:
                    continue
                r, c = _draw_line(*np.round(p[i]).astype(int), *np.round(p[j]).astype(int))
                r, c = np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)
                if (~mask[r[1:-1], c[1:-1]]).sum() > 1 or cut[r[2:-2], c[2:-2]].any():
                    continue
                cut[r, c] = True
                used[i] = used[j] = True
                if counts is not None:
                    counts["pairs"] = counts.get("pairs", 0) + 1
        ray_ok = np.ones(len(p), bool)
        if not hole_rays:  # no ray from the corners of a hole (pair cuts only)
            out_px = np.clip(np.round(p - 1.0 * u).astype(np.intp), 0, [h - 1, w - 1])
            ray_ok = ~enclosed[out_px[:, 0], out_px[:, 1]]
        lone = np.flatnonzero(~used & (t >= _RAY_TURN) & ray_ok)
        if counts is not None:
            counts["lone"] = counts.get("lone", 0) + lone.size
        for i in lone if rays else ():
            pts = _ray(mask, cut, p[i], u[i], reach)
            cut[pts[:, 0], pts[:, 1]] = True
        for i in lone if one_end and not rays else ():
            _face_to_map_edge(mask, cut, p[i], u[i], half[i], (a[i], -b[i]))
    return cut & mask


def _face_to_map_edge(mask, cut, start, bisector, half, edges):
    """Cut from a lone concave corner along a face it continues (an edge of ``_ALONG_EDGE`` px or more, within the
    cone of "along" cuts), where the face runs inside the mask up to the map's edge and the cut parts two convex
    pieces whose union is not: a contact that runs out of the map has one concave corner only."""
    h, w = mask.shape
    for e in edges:
        size = np.hypot(e[0], e[1])
        d = e / max(size, 1e-12)
        if size < _ALONG_EDGE or np.degrees(np.arccos(np.clip(d @ bisector, -1, 1))) > half + _CONE + _ALONG_SLACK:
            continue
        pts = _ray(mask, cut, start, d, 2 * size + 2)
        if len(pts) < 2 or not (pts[-1, 0] in (0, h - 1) or pts[-1, 1] in (0, w - 1)):
            continue
        beyond = np.round(start + (np.hypot(*(pts[-1] - start)) + 1.0) * d).astype(int)
        ray = np.zeros(mask.shape, bool)
        ray[pts[:, 0], pts[:, 1]] = True
        # not where the ray met the background on the map's last pixels
        if not (0 <= beyond[0] < h and 0 <= beyond[1] < w) and _convex_pieces(mask & ~cut, ray):
            cut |= ray
            return


def _convex_pieces(mask, ray):
    """Whether ``ray`` parts the two largest pieces along it, each convex within ``PIECE_DEFECT``, whose union with
    it is not (it lacks over twice that share of its hull): two crystals, not one cut across."""
    lab, _ = ndi.label(mask & ~ray)
    ids, n = np.unique(lab[ndi.binary_dilation(ray) & (lab > 0)], return_counts=True)
    if len(ids) < 2:
        return False
    a, b = (lab == g for g in ids[np.argsort(-n)[:2]])
    lacks = [_defect(_hull(q), len(q)) / len(q) for q in map(np.argwhere, (a, b, a | b | (ray & mask)))]
    return lacks[0] <= PIECE_DEFECT and lacks[1] <= PIECE_DEFECT and lacks[2] > 2 * PIECE_DEFECT


# ----------------------------------------------------------------- fragments
def _hull(points):
    """Vertices (lattice points) of the convex hull of integer points; all of them if flat."""
    if len(points) < 3:
        return points
    try:
        return points[ConvexHull(points).vertices]
    except QhullError:  # all on one line: its two ends
        order = np.lexsort((points[:, 1], points[:, 0]))
        return points[order[[0, -1]]]


def hull_mask(vertices, shape, origin=(0, 0)):
    """Pixel centres of a box (``origin``, ``shape``) inside or on the convex polygon ``vertices``."""
    v = np.asarray(vertices, float) - origin
    if len(v) < 3:
        return np.zeros(shape, bool)
    rr, cc = np.mgrid[:shape[0], :shape[1]]
    e = np.roll(v, -1, axis=0) - v
    cross = (e[:, 0, None, None] * (cc[None] - v[:, 1, None, None])
             - e[:, 1, None, None] * (rr[None] - v[:, 0, None, None]))
    return np.all(cross >= -1e-9, axis=0) | np.all(cross <= 1e-9, axis=0)


def _defect(vertices, n_pixels):
    """Pixels whose centres lie in the hull polygon ``vertices`` but not in the set (Pick)."""
    v = vertices.astype(np.int64)
    if len(v) < 3:  # a point or a segment
        return (gcd(*map(int, np.abs(v[-1] - v[0]))) + 1) - n_pixels
    nxt = np.roll(v, -1, axis=0)
    area2 = abs(int(np.sum(v[:, 0] * nxt[:, 1] - nxt[:, 0] * v[:, 1])))
    on_edges = sum(gcd(int(a), int(b)) for a, b in np.abs(nxt - v))
    inside = (area2 - on_edges + 2) // 2  # Pick: A = I + B/2 - 1
    return inside + on_edges - n_pixels


def _touching_pairs(labels):
    """Pairs of grains sharing a pixel edge (rows ``a < b``)."""
    a = np.concatenate([labels[1:].ravel(), labels[:, 1:].ravel()])
    b = np.concatenate([labels[:-1].ravel(), labels[:, :-1].ravel()])
    keep = (a > 0) & (b > 0) & (a != b)
    return np.unique(np.sort(np.column_stack([a[keep], b[keep]]), axis=1), axis=0)


def boundary_lengths(labels):
    """Pairs of touching grains (rows ``a < b``) and the length (px) of each boundary: the geometric mean
    of the pixel edges they share (``sqrt(2)`` times the length along a diagonal) and of the pixels along
    it, on each side in turn (``sqrt(2)`` times too few there): within 10 % at any angle."""
    idx = np.arange(labels.size).reshape(labels.shape)
    a = np.concatenate([labels[1:].ravel(), labels[:, 1:].ravel()])
    b = np.concatenate([labels[:-1].ravel(), labels[:, :-1].ravel()])
    ia = np.concatenate([idx[1:].ravel(), idx[:, 1:].ravel()])
    ib = np.concatenate([idx[:-1].ravel(), idx[:, :-1].ravel()])
    keep = (a > 0) & (b > 0) & (a != b)
    a, b, ia, ib = a[keep], b[keep], ia[keep], ib[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs, inverse, edges = np.unique(np.column_stack([lo, hi]), axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    # pixels along each boundary: (pair, pixel) once each, the pixels of both sides counted, then halved
    along = np.unique(np.concatenate([inverse.astype(np.int64) * labels.size + ia,
                                      inverse.astype(np.int64) * labels.size + ib]))
    pixels = np.bincount(along // labels.size, minlength=len(pairs)) / 2
    return pairs, np.sqrt(edges * pixels)


def merge_convex(labels, *, defect=MERGE_DEFECT, pieces=None, piece_defect=PIECE_DEFECT):
    """Merge touching grains whose union is convex: they cannot be told apart.

    Two grains merge when the pixels inside the convex hull of their union but outside it
    number at most ``defect`` times its area, or when the pixels missing from it belong to
    one third grain and the union of the three is that convex: a watershed line between the
    pieces of one long grain is ragged by a pixel, and a third piece's pixels then poke into
    the hull of two (a lath cut in bands stayed in bands). The third may itself lack pixels of
    one fourth grain, and so on, up to ``_CHAIN`` grains added (a lath cut in four bands: each
    pair and each triple lacks a few pixels of the next band, the four together are convex).
    The most convex unions merge first, and a merged grain is tried again with its neighbours.

    Two grains that lie in one piece between the concavity cuts (``pieces``) merge while their union
    lacks at most ``piece_defect`` of its hull: no concave corner of the outline parts them, only the
    watershed of the distance map (a long grain has two maxima), and pixels of a neighbour left on
    their side of a cut (a few along a contact) or a ragged watershed line make their union lack
    more than ``defect``.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        Grain ids (0: background).
    defect : float
        See above.
    pieces : dict, optional
        Grain id -> id (> 0) of the piece between the cuts holding most of its pixels. A merged
        grain keeps the larger one's id, and so its piece.
    piece_defect : float
        See above.

    Returns
    -------
    (H, W) ndarray of int32
        The labels with merged grains sharing an id (ids not renumbered).
    """
    out = np.asarray(labels).astype(np.int32, copy=True)
    pairs = _touching_pairs(out)
    if pairs.size == 0:
        return out
    area = np.bincount(out.ravel())
    nbrs = {}
    for a, b in pairs.tolist():
        nbrs.setdefault(a, set()).add(b)
        nbrs.setdefault(b, set()).add(a)
    boxes = ndi.find_objects(out)
    hulls = {}

    def hull_of(g):
        if g not in hulls:
            box = boxes[g - 1]
            rr, cc = np.nonzero(out[box] == g)
            hulls[g] = _hull(np.column_stack([rr + box[0].start, cc + box[1].start]))
        return hulls[g]

    size = {g: int(area[g]) for g in nbrs}
    version = dict.fromkeys(nbrs, 0)
    members = {g: [g] for g in nbrs}  # the labels each merged grain holds
    heap = []

    parent = np.arange(out.max() + 1, dtype=np.int32)

    def root(g):
        while parent[g] != g:
            g = parent[g]
        return g

    def third(union, held):
        """The one grain holding every pixel of the hull ``union`` outside the labels ``held``,
        if there is one."""
        lo, hi = union.min(0), union.max(0) + 1
        sub = out[lo[0]:hi[0], lo[1]:hi[1]]
        lack = sub[hull_mask(union, sub.shape, origin=lo) & ~np.isin(sub, held)]
        if lack.size == 0 or (lack == 0).any():
            return None
        found = {root(int(g)) for g in np.unique(lack)}
        return found.pop() if len(found) == 1 else None

    def one_grain_with_others(union, a, b, n):
        """Whether a and b, with the grains whose pixels fill the hull of their union one after
        the other (at most ``_CHAIN``), make one convex grain."""
        held = members[a] + members[b]
        for _ in range(_CHAIN):
            c = third(union, held)
            if c is None or c not in size:
                return False
            held, n = held + members[c], n + size[c]
            union = _hull(np.concatenate([union, hull_of(c)]))
            d = _defect(union, n)
            if d <= defect * n:
                return True
            if d > _LOOK_DEFECT * n:
                return False
        return False

    def consider(a, b):
        union = _hull(np.concatenate([hull_of(a), hull_of(b)]))
        n = size[a] + size[b]
        d = _defect(union, n)
        if pieces is not None and pieces.get(a, 0) == pieces.get(b, -1) and d <= piece_defect * n:
            d = defect * n  # parted by the watershed alone
        if defect * n < d <= _LOOK_DEFECT * n and len(union) >= 3 and one_grain_with_others(union, a, b, n):
            d = defect * n  # one grain with the others: these two merge (and then the others)
        if d <= defect * n:
            heapq.heappush(heap, (d / n, a, b, version[a], version[b], union))

    for a, b in pairs.tolist():
        consider(a, b)
    while heap:
        _, a, b, va, vb, union = heapq.heappop(heap)
        if parent[a] != a or parent[b] != b or version[a] != va or version[b] != vb:
            continue  # one of them has changed since
        keep, gone = (a, b) if size[a] >= size[b] else (b, a)
        parent[gone] = keep
        size[keep] += size.pop(gone)
        members[keep] += members.pop(gone)
        hulls[keep] = union
        version[keep] += 1
        nbrs[keep] = (nbrs[keep] | nbrs.pop(gone)) - {a, b}
        for c in nbrs[keep]:
            nbrs[c].discard(gone)
            nbrs[c].add(keep)
            consider(keep, c)
    while True:  # follow chains of merges to the final id
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    return parent[out]
