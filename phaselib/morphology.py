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
from skimage.feature import peak_local_max
from skimage.morphology import h_maxima, remove_small_holes
from skimage.segmentation import relabel_sequential, watershed

from . import _split
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
from ._split import MIN_PIECE, concave_cuts

__all__ = ["separate_grains", "grain_map", "GrainMap", "spans_map", "match_grains", "score_grains", "grain_table",
           "GrainTable", "equivalent_diameter", "size_statistics", "SizeStatistics", "crystal_size_distribution",
           "CSD", "plot_size_distribution", "plot_csd"]

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


# ----------------------------------------------------------------- watershed
def separate_grains(mask, *, min_distance=3, footprint=None, h=None, smoothing=1.0, compactness=0.0,
                    split_concave=True, merge_convex=True, fill_holes=30, min_area=0,
                    exclude_border=False):
    """Split the touching grains of one phase: distance transform and watershed.

    The Euclidean distance to the background is computed on the mask with its small holes
    (inclusions) filled and, by default, with straight cuts drawn from the concave corners
    of every cluster (touching crystal sections are convex, so a concave corner is where
    two grains meet the cluster's outline; the distance map alone misses grains that share
    a long straight boundary). The map is smoothed, its maxima (``peak_local_max`` with
    ``min_distance`` / ``footprint``, or the h-maxima when ``h`` is given) are the markers,
    every piece between the cuts gets one, and a watershed of the negative distance,
    restricted to the mask, grows the grains. Last, touching pieces whose union is convex
    are merged: nothing in the mask tells them from one grain, and they are most often one
    grain split twice (an elongated grain with two distance maxima).

    Touching grains of one phase share boundaries that the mask does not show; only the
    corners where they meet the outline do. Where most grains of a phase touch others of
    the same phase (a phase filling ~40 % of a space-filling texture), about one grain in
    five stays merged with a neighbour (see the README's table).

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
        Draw the concave-corner cuts (see above). ``False`` (with ``merge_convex=False``)
        gives the classic watershed.
    merge_convex : bool
        Merge touching pieces whose union is convex (at most 0.5 % of its area inside its
        convex hull but outside it).
    fill_holes : int
        Holes of at most this many pixels (inclusions; 30 px: ~6 px across) are filled
        before the distance map and the cuts.
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
    return _separate(m, **_check_options(min_distance, footprint, h, smoothing, compactness, fill_holes,
                                         min_area, split_concave, merge_convex),
                     exclude_border=bool(exclude_border))


def _check_options(min_distance, footprint, h, smoothing, compactness, fill_holes, min_area,
                   split_concave, merge_convex):
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
                fill_holes=int(fill_holes), min_area=int(min_area), split_concave=bool(split_concave),
                merge_convex=bool(merge_convex))


def _separate(m, *, min_distance, footprint, h, smoothing, compactness, fill_holes, min_area,
              split_concave, merge_convex, exclude_border):
    filled = remove_small_holes(m, max_size=fill_holes) if fill_holes else m
    core = filled & ~concave_cuts(filled) if split_concave else filled
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
    lacking = np.flatnonzero(~has[1:] & (size[1:] >= MIN_PIECE)) + 1
    if lacking.size:
        where = np.flatnonzero(np.isin(pieces.ravel(), lacking))
        where = where[np.lexsort((-dist.ravel()[where], pieces.ravel()[where]))]
        top = where[np.r_[True, pieces.ravel()[where][1:] != pieces.ravel()[where][:-1]]]
        markers.ravel()[top] = n + 1 + np.arange(top.size)
        n += lacking.size
    labels = watershed(-dist, markers, mask=filled, compactness=compactness)
    rest, n_rest = ndi.label(filled & (labels == 0))  # parts no marker could reach
    labels[rest > 0] = rest[rest > 0] + n
    if merge_convex:
        labels = _split.merge_convex(labels)
    labels[~m] = 0  # the filled holes
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
    spanning_phases : tuple of int
        Phases whose largest cluster holds most of their area and crosses the map from one
        side to the other: a groundmass, a glass or crystals of one mineral packing the area.
        Their "grains" are pieces of that cluster; boundaries between crystals of one mineral
        do not show in a phase map, so many stay merged (see :func:`separate_grains`).
    """

    labels: np.ndarray
    phases: np.ndarray
    pixel_size: float = 1.0
    params: dict = field(default_factory=dict)
    spanning_phases: tuple = ()

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


def spans_map(mask) -> bool:
    """Whether one cluster of ``mask`` holds most of it and crosses the map side to side.

    Such a phase is a groundmass or a glass around the crystals, or crystals of one mineral
    packing the area: its pieces are not separable crystals in the usual sense.

    Parameters
    ----------
    mask : (H, W) array_like of bool

    Returns
    -------
    bool
    """
    m = _check_mask(mask)
    lab, n = ndi.label(m)
    if n == 0:
        return False
    size = np.bincount(lab.ravel())
    size[0] = 0
    big = int(size.argmax())
    if size[big] < 0.5 * size.sum():
        return False
    rows = np.any(lab[0] == big) and np.any(lab[-1] == big)
    cols = np.any(lab[:, 0] == big) and np.any(lab[:, -1] == big)
    return bool(rows or cols)


def grain_map(labels, *, phases=None, pixel_size=1.0, min_distance=3, footprint=None, h=None,
              smoothing=1.0, compactness=0.0, split_concave=True, merge_convex=True, fill_holes=30,
              min_area=0, exclude_border=False):
    """Separate the grains of every phase of a label map (see :func:`separate_grains`).

    Parameters
    ----------
    labels : (H, W) array_like of int
        Phase index of every pixel, negative for unassigned (``PhaseMap.labels``).
    phases : int or sequence of int, optional
        Phases to separate (default: every phase present).
    pixel_size : float
        Micrometres per pixel.
    min_distance, footprint, h, smoothing, compactness, split_concave, merge_convex, fill_holes
        As in :func:`separate_grains`.
    min_area, exclude_border
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
    opts = _check_options(min_distance, footprint, h, smoothing, compactness, fill_holes, min_area,
                          split_concave, merge_convex)
    out = np.zeros(lab.shape, np.int32)
    grain_phase = []
    for p in np.unique(phases):
        g = _separate(lab == p, **opts, exclude_border=bool(exclude_border))
        k = int(g.max())
        out[g > 0] = g[g > 0] + len(grain_phase)
        grain_phase += [int(p)] * k
    params = dict(opts, footprint=None if footprint is None else np.asarray(footprint, bool).tolist(),
                  exclude_border=bool(exclude_border),
                  phases=[int(p) for p in np.unique(phases)])
    spanning = tuple(int(p) for p in np.unique(phases) if spans_map(lab == p))
    return GrainMap(out, np.asarray(grain_phase, np.int64), pixel_size, params, spanning)


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


def score_grains(labels, true_labels, *, min_area=0, min_iou=0.5):
    """How well found grains reproduce known ones (synthetic maps with true grain ids).

    Grains smaller than ``min_area`` are left out on both sides.

    Parameters
    ----------
    labels, true_labels : (H, W) array_like of int
        Found and true grain ids (0: background), e.g. ``separate_grains(mask)`` and
        ``np.where(mask, rock.grain_ids, 0)``.
    min_area : int
        Smallest grain counted, pixels.
    min_iou : float
        Smallest intersection over union of a one-to-one match (:func:`match_grains`).

    Returns
    -------
    dict
        ``matched``: share of the true grains matched one-to-one; ``diameter_error``: median
        relative error of the equivalent diameter of the matched grains; ``count_error``:
        (found - true) / true grain count; ``n_true``, ``n_found``.

    Examples
    --------
    >>> from phaselib.datasets import make_discs
    >>> mask, ids = make_discs((120, 160), n_discs=12, overlap=0.2, seed=1)
    >>> s = score_grains(separate_grains(mask), ids, min_area=10)
    >>> s["matched"] >= 0.9, abs(s["count_error"]) <= 0.1
    (True, True)
    """
    found, truth = (np.array(x, dtype=np.int64) for x in (labels, true_labels))
    if found.shape != truth.shape or found.ndim != 2:
        raise ValueError(f"`labels` and `true_labels` must be two (H, W) maps of one shape, got "
                         f"{found.shape} and {truth.shape}.")
    for g in (found, truth):
        g[g < 0] = 0
        area = np.bincount(g.ravel())
        g[area[g] < min_area] = 0
    n_true, n_found = (np.count_nonzero(np.unique(g)) for g in (truth, found))
    if n_true == 0:
        raise ValueError("`true_labels` has no grain (of at least min_area pixels) to compare with.")
    pairs, _ = match_grains(found, truth, min_iou=min_iou)
    fa, ta = np.bincount(found.ravel()), np.bincount(truth.ravel())
    err = np.abs(np.sqrt(fa[pairs[:, 0]] / ta[pairs[:, 1]]) - 1)
    return dict(matched=len(pairs) / n_true, diameter_error=float(np.median(err)) if len(err) else np.nan,
                count_error=(n_found - n_true) / n_true, n_true=int(n_true), n_found=int(n_found))
