"""Grains of a phase map: watershed separation, grain tables, size statistics, CSDs.

The texture practical after the phase map: split the touching crystals of each phase,
measure every grain, describe the size distribution the way GrainSizeTools does, and read
a crystal size distribution (CSD) for a residence time.

All sizes here are **2-D section sizes** (apparent diameters of the grains cut by the
polished surface). A random section cuts most crystals off their centre, so section sizes
are smaller and more spread than the true 3-D sizes; no stereological correction (Saltykov,
CSDCorrections) is applied. Compare CSD slopes between 2-D data sets, or correct them
before reading 3-D growth times.

Examples
--------
>>> import numpy as np
>>> mask = np.zeros((30, 40), bool)
>>> mask[5:15, 3:13] = mask[9:19, 13:23] = True   # two touching, offset squares
>>> int(separate_grains(mask).max())
2
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import line as _draw_line
from skimage.feature import peak_local_max
from skimage.measure import find_contours
from skimage.morphology import h_maxima, remove_small_holes
from skimage.segmentation import relabel_sequential, watershed

from ._grainstats import (
    CSD,
    SizeStatistics,
    crystal_size_distribution,
    equivalent_diameter,
    plot_csd,
    plot_size_distribution,
    size_statistics,
)
from ._graintable import GrainTable, grain_table

__all__ = ["separate_grains", "grain_map", "GrainMap", "match_grains", "grain_table", "GrainTable",
           "equivalent_diameter", "size_statistics", "SizeStatistics", "crystal_size_distribution",
           "CSD", "plot_size_distribution", "plot_csd"]

_MIN_PIECE = 10  # pixels: a piece cut off by concavity cuts gets its own marker from this size
_CUT_TOL = 1.0  # pixels: tolerance of the polygon that approximates a grain outline
_PAIR_TURN = 10.0  # degrees: concave corners that may end a cut between two corners
_RAY_TURN = 20.0  # degrees: concave corners sharp enough to start a cut on their own
_CONE = 15.0  # degrees narrower than the geometric cone in which a cut keeps both parts convex


# ----------------------------------------------------------------- validation
def _check_mask(mask, name="mask"):
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D (H, W) array, got shape {m.shape}.")
    if m.dtype.kind not in "biuf":
        raise ValueError(f"`{name}` must be boolean or numeric, got dtype {m.dtype}.")
    if m.dtype.kind == "f" and not np.all(np.isfinite(m)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return m != 0


def _check_number(name, value, *, low=0.0, allow_low=False, allow_none=False):
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if not np.isfinite(v) or v < low or (v == low and not allow_low):
        raise ValueError(f"{name} must be {'>=' if allow_low else '>'} {low:g}, got {value!r}.")
    return v


# ----------------------------------------------------------------- concavity cuts
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


def _corners(mask):
    """Concave corners of the outlines of ``mask``: positions, inward bisectors, turns (deg)."""
    contours = [c for c in find_contours(np.pad(mask, 1).astype(np.uint8), 0.5, positive_orientation="high")
                if len(c) >= 8]
    if not contours:
        return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)
    sizes = np.array([len(c) for c in contours])
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    points = np.concatenate(contours) - 1
    kept = _simplify(points, first, first + sizes - 1, _CUT_TOL)
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
    a, b = p - p[prev], p[nxt] - p
    a /= np.maximum(np.hypot(a[:, 0], a[:, 1]), 1e-12)[:, None]
    b /= np.maximum(np.hypot(b[:, 0], b[:, 1]), 1e-12)[:, None]
    turn = -np.degrees(np.arctan2(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0], (a * b).sum(1)))
    ok = (turn >= _PAIR_TURN) & (group_last - group_first >= 2)  # concave: negative turn here
    u = a[ok] - b[ok]
    return p[ok], u / np.maximum(np.hypot(u[:, 0], u[:, 1]), 1e-12)[:, None], turn[ok]


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


def _concave_cuts(mask, min_component=3 * _MIN_PIECE):
    """Straight cuts from the concave corners of each cluster's outline.

    Touching crystal sections are convex, so every concave corner of the outline of a
    cluster is where two grains meet it. Pairs of concave corners that can be joined by a
    segment inside the cluster, splitting both corners into convex angles, are cut first
    (shortest and best aligned with the corners' bisectors first); a remaining sharp corner
    is cut along its bisector up to the background or an earlier cut.
    """
    h, w = mask.shape
    cut = np.zeros(mask.shape, bool)
    lab, _ = ndi.label(mask)
    size = np.bincount(lab.ravel())
    size[0] = 0
    pos, bis, turn = _corners(size[lab] >= min_component)
    if len(pos) == 0:
        return cut
    probe = np.clip(np.round(pos + 0.7 * bis).astype(np.intp), 0, [h - 1, w - 1])
    comp = lab[probe[:, 0], probe[:, 1]]
    ok = (comp > 0) & (size[comp] >= min_component)
    pos, bis, turn, comp = pos[ok], bis[ok], turn[ok], comp[ok]
    boxes = ndi.find_objects(lab)
    order = np.argsort(comp, kind="stable")
    bounds = np.flatnonzero(np.r_[True, comp[order][1:] != comp[order][:-1], True])
    for g0, g1 in zip(bounds[:-1], bounds[1:]):
        sel = order[g0:g1]
        p, u, t = pos[sel], bis[sel], turn[sel]
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
            ii, jj = np.nonzero(np.triu((ai <= half[:, None]) & (aj <= half[None, :]) & (length > 1.5), 1))
            score = length[ii, jj] * (1 + ai[ii, jj] / half[ii] + aj[ii, jj] / half[jj])
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
        for i in np.flatnonzero(~used & (t >= _RAY_TURN)):
            pts = _ray(mask, cut, p[i], u[i], reach)
            cut[pts[:, 0], pts[:, 1]] = True
    return cut & mask


# ----------------------------------------------------------------- watershed
def separate_grains(mask, *, min_distance=3, footprint=None, h=None, smoothing=1.0, compactness=0.0,
                    split_concave=True, fill_holes=20, min_area=0, exclude_border=False):
    """Split the touching grains of one phase: distance transform and watershed.

    The Euclidean distance to the background is computed on the mask with its small holes
    (inclusions) filled and, by default, with straight cuts drawn from the concave corners
    of every cluster (touching crystal sections are convex, so a concave corner is where
    two grains meet the cluster's outline; the distance map alone misses grains that share
    a long straight boundary). The map is smoothed, its maxima (``peak_local_max`` with
    ``min_distance`` / ``footprint``, or the h-maxima when ``h`` is given) are the markers,
    every piece between the cuts gets one, and a watershed of the negative distance,
    restricted to the mask, grows the grains.

    Parameters
    ----------
    mask : (H, W) array_like of bool
        Pixels of the phase (non-zero is the phase).
    min_distance : int
        Smallest distance between two markers, in pixels (``peak_local_max``).
    footprint : (N, M) ndarray of bool, optional
        Neighbourhood of a local maximum, overriding ``min_distance`` for the maximum filter.
    h : float, optional
        Use the h-maxima of the distance map (maxima at least ``h`` pixels above their
        surroundings) as markers instead of ``peak_local_max``.
    smoothing : float
        Standard deviation (pixels) of the Gaussian that smooths the distance map (0: none).
    compactness : float
        Compact watershed: larger values give more regular, straighter boundaries.
    split_concave : bool
        Draw the concave-corner cuts (see above). ``False`` gives the classic watershed.
    fill_holes : int
        Holes of at most this many pixels (inclusions) are ignored by the distance map.
    min_area : int
        Grains smaller than this (pixels) are removed (set to 0).
    exclude_border : bool
        Remove the grains that touch the map border (their sizes are truncated).

    Returns
    -------
    (H, W) ndarray of int32
        Grain labels ``1..n`` (0: background or removed).

    Examples
    --------
    >>> yy, xx = np.mgrid[:40, :60]
    >>> discs = ((yy - 20) ** 2 + (xx - 18) ** 2 < 100) | ((yy - 20) ** 2 + (xx - 38) ** 2 < 121)
    >>> labels = separate_grains(discs)
    >>> int(labels.max()), np.bincount(labels.ravel())[1:].tolist()
    (2, [305, 373])
    """
    m = _check_mask(mask)
    if not m.any():
        raise ValueError("`mask` is empty: the phase has no pixel, so there are no grains to separate.")
    return _separate(m, **_check_options(min_distance, footprint, h, smoothing, compactness,
                                         fill_holes, min_area), split_concave=bool(split_concave),
                     exclude_border=bool(exclude_border))


def _check_options(min_distance, footprint, h, smoothing, compactness, fill_holes, min_area):
    if isinstance(min_distance, bool) or not isinstance(min_distance, (int, np.integer)) or min_distance < 1:
        raise ValueError(f"min_distance must be a positive integer (pixels), got {min_distance!r}.")
    if footprint is not None:
        footprint = np.asarray(footprint, bool)
        if footprint.ndim != 2 or not footprint.any():
            raise ValueError(f"footprint must be a 2-D boolean array with at least one True, "
                             f"got shape {footprint.shape}.")
    for name, v in (("fill_holes", fill_holes), ("min_area", min_area)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name} must be a non-negative integer (pixels), got {v!r}.")
    return dict(min_distance=int(min_distance), footprint=footprint,
                h=_check_number("h", h, allow_none=True),
                smoothing=_check_number("smoothing", smoothing, allow_low=True),
                compactness=_check_number("compactness", compactness, allow_low=True),
                fill_holes=int(fill_holes), min_area=int(min_area))


def _separate(m, *, min_distance, footprint, h, smoothing, compactness, fill_holes, min_area,
              split_concave, exclude_border):
    filled = remove_small_holes(m, max_size=fill_holes) if fill_holes else m
    core = filled & ~_concave_cuts(filled) if split_concave else filled
    dist = ndi.distance_transform_edt(core)
    if smoothing > 0:
        dist = ndi.gaussian_filter(dist, smoothing)
    dist[~filled] = 0
    if h is not None:
        peaks = h_maxima(dist, h).astype(bool)
    else:
        coords = peak_local_max(dist, min_distance=min_distance, footprint=footprint, exclude_border=False)
        peaks = np.zeros(m.shape, bool)
        peaks[tuple(coords.T)] = True
    peaks &= m  # not in the filled holes
    markers, n = ndi.label(peaks)
    # every piece between the cuts (and every component) of some size gets a marker
    pieces, n_pieces = ndi.label(core & m)
    size = np.bincount(pieces.ravel())
    has = np.zeros(n_pieces + 1, bool)
    has[pieces[markers > 0]] = True
    lacking = np.flatnonzero(~has[1:] & (size[1:] >= _MIN_PIECE)) + 1
    if lacking.size:
        where = np.flatnonzero(np.isin(pieces.ravel(), lacking))
        where = where[np.lexsort((-dist.ravel()[where], pieces.ravel()[where]))]
        top = where[np.r_[True, pieces.ravel()[where][1:] != pieces.ravel()[where][:-1]]]
        markers.ravel()[top] = n + 1 + np.arange(top.size)
        n += lacking.size
    labels = watershed(-dist, markers, mask=m, compactness=compactness)
    rest, n_rest = ndi.label(m & (labels == 0))  # parts no marker could reach
    labels[rest > 0] = rest[rest > 0] + n
    if min_area > 1:
        area = np.bincount(labels.ravel())
        labels[area[labels] < min_area] = 0
    if exclude_border:
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        labels[np.isin(labels, edge[edge > 0])] = 0
    return relabel_sequential(labels)[0].astype(np.int32)


# ----------------------------------------------------------------- all phases
@dataclass(frozen=True, eq=False)
class GrainMap:
    """Grains of every phase of a label map.

    Attributes
    ----------
    labels : (H, W) ndarray of int32
        Grain id ``1..n_grains`` of every pixel (0: unassigned, background or removed).
    phases : (n_grains,) ndarray of int64
        Phase of each grain: ``phases[i]`` is the phase of grain id ``i + 1``.
    pixel_size : float
        Pixel size, micrometres.
    params : dict
        The separation options used.
    """

    labels: np.ndarray
    phases: np.ndarray
    pixel_size: float = 1.0
    params: dict = field(default_factory=dict)

    @property
    def n_grains(self) -> int:
        return len(self.phases)

    def table(self) -> GrainTable:
        """The grain table (:func:`grain_table`) of these grains."""
        return grain_table(self.labels, phases=self.phases, pixel_size=self.pixel_size)

    def __repr__(self) -> str:
        counts = np.bincount(self.phases) if self.n_grains else []
        per = ", ".join(f"phase {p}: {c}" for p, c in enumerate(counts) if c)
        return f"<GrainMap {self.n_grains} grains ({per}); {self.labels.shape}, {self.pixel_size:g} um/px>"


def grain_map(labels, *, phases=None, pixel_size=1.0, min_distance=3, footprint=None, h=None,
              smoothing=1.0, compactness=0.0, split_concave=True, fill_holes=20, min_area=0,
              exclude_border=False):
    """Separate the grains of every phase of a label map (see :func:`separate_grains`).

    Parameters
    ----------
    labels : (H, W) array_like of int
        Phase index of every pixel, negative for unassigned (``PhaseMap.labels``).
    phases : int or sequence of int, optional
        Phases to separate (default: every phase present).
    pixel_size : float
        Micrometres per pixel.
    min_distance, footprint, h, smoothing, compactness, split_concave, fill_holes, min_area, exclude_border
        As in :func:`separate_grains`.

    Returns
    -------
    GrainMap
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"`labels` must be a 2-D (H, W) phase map, got shape {lab.shape}.")
    if lab.dtype.kind not in "iub":
        raise ValueError(f"`labels` must hold integer phase indices, got dtype {lab.dtype}.")
    present = np.unique(lab[lab >= 0]).astype(np.int64)
    if present.size == 0:
        raise ValueError("`labels` has no assigned pixel (all are negative): no grains to separate.")
    if phases is None:
        phases = present
    else:
        phases = np.atleast_1d(np.asarray(phases))
        if phases.dtype.kind not in "iu" or phases.ndim != 1:
            raise ValueError(f"phases must be phase indices (integers), got {phases!r}.")
        missing = sorted(set(phases.tolist()) - set(present.tolist()))
        if missing:
            raise ValueError(f"phase(s) {missing} not in the map; its phases are {present.tolist()}.")
    pixel_size = _check_number("pixel_size", pixel_size)
    opts = _check_options(min_distance, footprint, h, smoothing, compactness, fill_holes, min_area)
    out = np.zeros(lab.shape, np.int32)
    grain_phase = []
    for p in np.unique(phases):
        g = _separate(lab == p, **opts, split_concave=bool(split_concave), exclude_border=bool(exclude_border))
        k = int(g.max())
        out[g > 0] = g[g > 0] + len(grain_phase)
        grain_phase += [int(p)] * k
    params = dict(opts, footprint=None if footprint is None else np.asarray(footprint, bool).tolist(),
                  split_concave=bool(split_concave), exclude_border=bool(exclude_border),
                  phases=[int(p) for p in np.unique(phases)])
    return GrainMap(out, np.asarray(grain_phase, np.int64), pixel_size, params)


def match_grains(labels, true_labels, *, min_iou=0.5):
    """Match found grains to true grains one-to-one by overlap (intersection over union).

    Parameters
    ----------
    labels, true_labels : (H, W) array_like of int
        Found and true grain ids (0: background).
    min_iou : float
        Smallest IoU of a match, in (0, 1]; from 0.5 up a grain can match at most one other.

    Returns
    -------
    pairs : (n, 2) ndarray of int64
        ``(found id, true id)`` of each match.
    iou : (n,) ndarray of float64
        Their intersection over union.
    """
    a, b = np.asarray(labels), np.asarray(true_labels)
    if a.shape != b.shape:
        raise ValueError(f"`labels` (shape {a.shape}) must have the same shape as `true_labels` "
                         f"(shape {b.shape}).")
    min_iou = _check_number("min_iou", min_iou)
    if min_iou > 1:
        raise ValueError(f"min_iou must be in (0, 1], got {min_iou!r}.")
    a, b = a.ravel().astype(np.int64), b.ravel().astype(np.int64)
    both = (a > 0) & (b > 0)
    base = int(b.max()) + 1
    pair, inter = np.unique(a[both] * base + b[both], return_counts=True)
    fa, tb = pair // base, pair % base
    iou = inter / (np.bincount(a)[fa] + np.bincount(b)[tb] - inter)
    order = np.argsort(-iou, kind="stable")
    seen_a, seen_b, keep = set(), set(), []
    for i in order[iou[order] >= min_iou]:  # greedy, best first (unique when min_iou >= 0.5)
        if fa[i] not in seen_a and tb[i] not in seen_b:
            seen_a.add(fa[i])
            seen_b.add(tb[i])
            keep.append(i)
    keep = np.asarray(keep, np.intp)
    return np.column_stack([fa[keep], tb[keep]]).astype(np.int64), iou[keep]
