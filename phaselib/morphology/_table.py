"""The grain table: one row per grain, measured on a grain label image.

Private module: the public names are re-exported by :mod:`phaselib.morphology`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .._validate import check_array, check_number
from ._stats import equivalent_diameter

#: largest pixel size taken, micrometres (a metre: beyond it areas in um^2 overflow float64's range in no time)
MAX_PIXEL_UM = 1e6


@dataclass(frozen=True, eq=False)
class GrainTable:
    """One row per grain, as columns of equal length (``pandas.DataFrame(table.columns)``).

    Columns: ``grain_id``, ``phase`` (-1 if unknown), ``area_px``, ``area_um2``,
    ``equivalent_diameter_um``, ``major_axis_um``, ``minor_axis_um``, ``aspect_ratio``
    (major / minor), ``orientation_deg`` (major axis, counter-clockwise from the image's
    horizontal axis as displayed, in [-90, 90)), ``perimeter_um``, ``solidity`` (area / convex
    hull area), ``centroid_row``, ``centroid_col`` (pixels), ``touches_border``,
    ``n_inclusions`` (regions of other pixels the grain encloses: inclusions of other phases,
    unassigned or removed pixels), ``inclusion_area_px``, ``inclusion_area_um2`` (their area,
    which ``area_px`` leaves out: the section's outline holds ``area_px + inclusion_area_px``).
    Sizes are 2-D section sizes.
    """

    columns: dict
    pixel_size: float = 1.0

    def __len__(self) -> int:
        return len(self.columns["grain_id"])

    def __getitem__(self, name) -> np.ndarray:
        return self.columns[name]

    def keys(self):
        return self.columns.keys()

    def select(self, rows) -> GrainTable:
        """The table of some rows (boolean mask or indices), e.g. ``t.select(t["phase"] == 1)``."""
        return GrainTable({k: v[rows] for k, v in self.columns.items()}, self.pixel_size)

    def rows(self) -> list[dict]:
        """The rows as dicts of Python numbers."""
        return [{k: v[i].item() for k, v in self.columns.items()} for i in range(len(self))]

    def to_pandas(self):
        """A ``pandas.DataFrame`` (pandas imported here; it is not a dependency)."""
        import pandas as pd

        return pd.DataFrame(self.columns)

    def to_csv(self, path, unit="um") -> None:
        """Write the table as CSV (header line, one row per grain). ``unit="px"`` (a table of 1 um pixels whose
        pixel size is unknown): the lengths' columns are named ``_px`` and the ``_um2`` areas, copies of the
        ``_px`` counts, are left out."""
        columns = self.columns
        if unit == "px":
            if self.pixel_size != 1:
                raise ValueError(f"unit='px' is for a table of unknown pixel size (1), not of {self.pixel_size:g} um.")
            columns = {k[:-3] + "_px" if k.endswith("_um") else k: v for k, v in columns.items()
                       if not k.endswith("_um2")}
        elif unit != "um":
            raise ValueError(f"unit must be 'um' or 'px', got {unit!r}.")
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(list(columns))
            cols = list(columns.values())
            for i in range(len(self)):
                w.writerow([_fmt(c[i]) for c in cols])

    def __repr__(self) -> str:
        return f"<GrainTable {len(self)} grains, {len(self.columns)} columns, {self.pixel_size:g} um/px>"


def _fmt(v):
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (np.floating, float)):
        return format(float(v), ".8g")
    return str(v)


def grain_table(grain_labels, *, phases=None, pixel_size=1.0, outside=None):
    """Measure every grain of a grain label image.

    The measures are those of ``skimage.measure.regionprops_table`` (area, centroid,
    ``axis_major_length``, ``axis_minor_length``, ``orientation``, ``perimeter``), computed for
    all grains at once from image moments and neighbour counts, so that a full map with
    tens of thousands of grains takes a second or two instead of a minute. Solidity is the
    area over the area of the convex hull of the grain's pixel squares (the polygon of its
    vertices in 64 directions, exact where the hull may reach beyond it by 0.1 %: Qhull's).
    Inclusions are the holes of each grain (regions of other pixels it encloses, 4-connected;
    whatever they hold, other grains included), found from Euler numbers for all grains at
    once, then filled grain by grain for those that have any (a grain in several pieces is not
    looked into).

    Parameters
    ----------
    grain_labels : (H, W) array_like of int
        Grain ids (0: background), e.g. from :func:`separate_grains`.
    phases : int or (n,) array_like of int, optional
        Phase of all grains, or of each grain id ``1..n`` (``GrainMap.phases``).
    pixel_size : float
        Micrometres per pixel.
    outside : (H, W) array_like of bool, optional
        Pixels outside the specimen's data (that hold no counts: an empty edge of a drift-corrected map, a
        montage's gaps; ``PhaseMap.blank``): a grain beside them (8 neighbours) is cut there as at the map's
        border, and ``touches_border`` says so (not for lone dead pixels: :data:`OUTSIDE_MIN_PX`); a hole of
        outside pixels only (a dead pixel inside a crystal) is no inclusion.

    Returns
    -------
    GrainTable
    """
    lab = check_array(grain_labels, "grain_labels", ndim=2, kind="biu")
    out = None if outside is None else check_array(outside, "outside", ndim=2, kind="b")
    if out is not None and out.shape != lab.shape:
        raise ValueError(f"`outside` has shape {out.shape}; the grain labels have {lab.shape}.")
    if lab.size and lab.min() < 0:
        raise ValueError("`grain_labels` must be >= 0 (0 is the background).")
    if lab.size and lab.max() > lab.size:  # (an id of 10**9 would size every per-grain array: 7 GiB)
        raise ValueError(f"`grain_labels` must number the grains 1..n, n at most the number of pixels ({lab.size}), "
                         f"got an id {int(lab.max())} (skimage.segmentation.relabel_sequential renumbers them).")
    px = check_number(pixel_size, "pixel_size", low=0, low_open=True, high=MAX_PIXEL_UM)
    lab = lab.astype(np.int64, copy=False)
    m = _measure(lab)
    ids = m["label"]
    if out is not None and out.any():
        m["border"] = m["border"] | np.isin(ids, touching(lab, out))
    if phases is None:
        phase = np.full(ids.size, -1, np.int64)
    elif np.ndim(phases) == 0:
        phase = np.full(ids.size, int(phases), np.int64)
    else:
        per = np.asarray(phases)
        if per.ndim != 1 or per.dtype.kind not in "iu":
            raise TypeError("`phases` must be an integer or a 1-D integer array (phase of grain id 1, 2, ...).")
        if ids.size and per.size < ids.max():
            raise ValueError(f"`phases` (shape {per.shape}) must give the phase of every grain id "
                             f"1..{ids.max()}.")
        phase = per[ids - 1].astype(np.int64)
    area = m["area"]
    major, minor = m["major"] * px, m["minor"] * px
    with np.errstate(divide="ignore", invalid="ignore"):
        aspect = np.where(minor > 0, major / np.where(minor > 0, minor, 1), np.nan)
    cols = {
        "grain_id": ids, "phase": phase, "area_px": area, "area_um2": area * px * px,
        "equivalent_diameter_um": equivalent_diameter(area) * px,
        "major_axis_um": major, "minor_axis_um": minor, "aspect_ratio": aspect,
        "orientation_deg": (np.degrees(m["orientation"]) + 180.0) % 180.0 - 90.0,
        "perimeter_um": m["perimeter"] * px, "solidity": m["solidity"],
        "centroid_row": m["row"], "centroid_col": m["col"], "touches_border": m["border"],
    }
    n_incl, incl_area = _inclusions(lab, ids, out if out is not None and out.any() else None)
    cols.update(n_inclusions=n_incl, inclusion_area_px=incl_area, inclusion_area_um2=incl_area * px * px)
    return GrainTable(cols, px)


#: pieces of the outside smaller than this (pixels) that do not reach the map's edge (dead pixels, a short dead
#: run) cut no grain: a grain around one is whole, and is not said to touch a border
OUTSIDE_MIN_PX = 30


def touching(lab, outside):
    """Ids (> 0) of the grains of ``lab`` with a pixel beside (8 neighbours) or on an ``outside`` region (one
    of :data:`OUTSIDE_MIN_PX` pixels or more, or one on the map's edge)."""
    pieces, n = ndi.label(outside, np.ones((3, 3), bool))
    size = np.bincount(pieces.ravel(), minlength=n + 1)
    keep = size >= OUTSIDE_MIN_PX
    keep[np.concatenate([pieces[0], pieces[-1], pieces[:, 0], pieces[:, -1]])] = True
    keep[0] = False
    ring = ndi.binary_dilation(keep[pieces], np.ones((3, 3), bool))
    ids = np.unique(lab[ring])
    return ids[ids > 0]


def _euler8(lab, n):
    """Euler number (8-connected grains) of every label ``0..n``, from 2 x 2 windows (Gray)."""
    p = np.pad(lab, 1)
    a, b, c, d = p[:-1, :-1].ravel(), p[:-1, 1:].ravel(), p[1:, :-1].ravel(), p[1:, 1:].ravel()
    q1, q3, qd = (np.zeros(n + 1) for _ in range(3))
    for g, k, diag, new in (
            (a, 1 + (b == a) + (c == a) + (d == a), (d == a) & (b != a) & (c != a), a > 0),
            (b, 1 + (c == b) + (d == b), (c == b) & (d != b), (b > 0) & (b != a)),
            (c, 1 + (d == c), np.zeros(a.size, bool), (c > 0) & (c != a) & (c != b)),
            (d, np.ones(a.size, int), np.zeros(a.size, bool), (d > 0) & (d != a) & (d != b) & (d != c))):
        q1 += np.bincount(g[new & (k == 1)], minlength=n + 1)
        q3 += np.bincount(g[new & (k == 3)], minlength=n + 1)
        qd += np.bincount(g[new & (k == 2) & diag], minlength=n + 1)
    return (q1 - q3 - 2 * qd) / 4


def _inclusions(lab, ids, outside=None):
    """Number and area (px) of the holes of each grain ``ids`` (a hole all of ``outside`` pixels, a dead pixel
    inside a crystal, is none)."""
    count, area = np.zeros(ids.size, np.int64), np.zeros(ids.size, np.int64)
    if ids.size == 0:
        return count, area
    euler = _euler8(lab, int(ids.max()))
    boxes = ndi.find_objects(lab)
    for k in np.flatnonzero(euler[ids] < 1):  # a grain in one piece with a hole
        g = int(ids[k])
        grain = lab[boxes[g - 1]] == g
        holes = ndi.binary_fill_holes(grain) & ~grain
        pieces, n = ndi.label(holes)
        if outside is not None and n:
            known = np.bincount(pieces[~outside[boxes[g - 1]]], minlength=n + 1) > 0  # holds a specimen pixel
            holes &= known[pieces]
            n = int(known[1:].sum())
        count[k], area[k] = n, int(holes.sum())
    return count, area


_PERIMETER_WEIGHTS = np.zeros(50)  # skimage.measure.perimeter (4-neighbourhood)
_PERIMETER_WEIGHTS[[5, 7, 15, 17, 25, 27]] = 1
_PERIMETER_WEIGHTS[[21, 33]] = np.sqrt(2)
_PERIMETER_WEIGHTS[[13, 23]] = (1 + np.sqrt(2)) / 2
_HULL_DIRECTIONS = 64


def _shift(a, dr, dc, fill=0):
    """``a`` moved so that ``out[r, c] == a[r + dr, c + dc]`` (``fill`` outside)."""
    out = np.full_like(a, fill)
    h, w = a.shape
    out[max(0, -dr):h - max(0, dr), max(0, -dc):w - max(0, dc)] = \
        a[max(0, dr):h - max(0, -dr) or None, max(0, dc):w - max(0, -dc) or None]
    return out


def _measure(lab):
    """Per-grain measures of a label image, vectorised (regionprops conventions)."""
    h, w = lab.shape
    flat = lab.ravel()
    n = int(flat.max()) if flat.size else 0
    count = np.bincount(flat, minlength=n + 1)
    ids = np.flatnonzero(count[1:]) + 1
    area = count[ids]
    if ids.size == 0:
        empty = np.zeros(0)
        return dict(label=ids.astype(np.int64), area=area.astype(np.int64), row=empty, col=empty, major=empty,
                    minor=empty, orientation=empty, perimeter=empty, solidity=empty, border=np.zeros(0, bool))
    rr, cc = np.indices(lab.shape, dtype=np.float64)
    rr, cc = rr.ravel(), cc.ravel()

    def total(v):
        return np.bincount(flat, weights=v, minlength=n + 1)[ids]

    row, col = total(rr) / area, total(cc) / area
    at = np.zeros(n + 1, np.intp)
    at[ids] = np.arange(ids.size)
    dr, dc = rr - row[at[flat]], cc - col[at[flat]]  # (background rows are never summed)
    mu20, mu02, mu11 = total(dr * dr) / area, total(dc * dc) / area, total(dr * dc) / area
    half, diff = (mu20 + mu02) / 2, np.sqrt(((mu20 - mu02) / 2) ** 2 + mu11**2)
    major, minor = 4 * np.sqrt(np.clip(half + diff, 0, None)), 4 * np.sqrt(np.clip(half - diff, 0, None))
    orientation = np.where(np.abs(mu02 - mu20) <= 1e-12 * (mu02 + mu20), np.where(mu11 > 0, np.pi / 4, -np.pi / 4),
                           0.5 * np.arctan2(2 * mu11, mu20 - mu02))
    # perimeter: skimage's weighted count of border-pixel configurations, per grain
    same = {(dr, dc): _shift(lab, dr, dc, -1) == lab for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc}
    border = (lab > 0) & ~(same[-1, 0] & same[1, 0] & same[0, -1] & same[0, 1])
    code = border.astype(np.int64)
    for (dr, dc), s in same.items():
        code += (2 if dr == 0 or dc == 0 else 10) * (s & _shift(border, dr, dc, False))
    code = np.where(border, code, 0)
    perimeter = np.bincount(flat, weights=_PERIMETER_WEIGHTS[np.minimum(code, 49)].ravel(), minlength=n + 1)[ids]
    # convex hull of the pixel squares (border pixels suffice): the polygon of its vertices found in 64 directions,
    # exact (Qhull) where the hull may reach more than HULL_TOL beyond it
    b = np.flatnonzero(border.ravel())
    order = np.argsort(flat[b], kind="stable")
    b = b[order]
    starts = np.searchsorted(flat[b], ids)
    hull = _hull_area(rr[b], cc[b], starts)
    edge = np.zeros(n + 1, bool)
    edge[np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])] = True
    return dict(label=ids.astype(np.int64), area=area.astype(np.int64), row=row, col=col, major=major,
                minor=minor, orientation=orientation, perimeter=perimeter,
                solidity=np.minimum(area / hull, 1.0), border=edge[ids])


# ----------------------------------------------------------------- size statistics


def _shoelace(vr, vc):
    """Areas of polygons (one per row) of vertices ``(vr, vc)``."""
    return 0.5 * np.abs(np.sum(vr * np.roll(vc, -1, axis=1) - vc * np.roll(vr, -1, axis=1), axis=1))


#: a grain's hull is the polygon of its vertices found in :data:`_HULL_DIRECTIONS` directions where what it may miss
#: is at most this share of it; else Qhull's. The polygon of the support *lines* in 64 directions, taken before
#: session 59, made a 106 px needle's hull twice its size (solidity 0.20 for 0.37) and was 3-5 % too big for a third
#: of a space-filling texture's compact grains
HULL_TOL = 1e-3


def _hull_area(pr, pc, starts):
    """Area of the convex hull of the pixel squares of each grain, from its border pixels ``(pr, pc)`` (grain ``k``'s
    from ``starts[k]``)."""
    from scipy.spatial import ConvexHull

    n, m = starts.size, _HULL_DIRECTIONS
    seg = np.repeat(np.arange(n), np.diff(np.append(starts, pr.size)))
    theta = np.arange(m) * (2 * np.pi / m)
    vertex = np.empty((n, m, 2))
    for k, t in enumerate(theta):  # the corner furthest along t (ties: the one furthest round)
        w = np.array([np.cos(t), np.sin(t)]) + 1e-4 * np.array([np.cos(t + 0.1), np.sin(t + 0.1)])
        s = pr * w[0] + pc * w[1]
        hit = np.flatnonzero(s == np.maximum.reduceat(s, starts)[seg])
        first = hit[np.r_[True, seg[hit][1:] != seg[hit][:-1]]]
        vertex[:, k] = np.column_stack([pr[first], pc[first]]) + 0.5 * np.sign(w)
    inner = _shoelace(vertex[..., 0], vertex[..., 1])
    missed = np.zeros(n)  # what the hull may hold beyond each edge: its length times the furthest corner beyond it
    for k in range(m):
        a, e = vertex[:, k], vertex[:, (k + 1) % m] - vertex[:, k]
        length = np.hypot(e[:, 0], e[:, 1])
        normal = np.column_stack([e[:, 1], -e[:, 0]]) / np.where(length > 0, length, 1)[:, None]
        mid = theta[k] + np.pi / m
        normal *= np.where(normal @ np.array([np.cos(mid), np.sin(mid)]) < 0, -1, 1)[:, None]
        beyond = np.maximum.reduceat(pr * normal[:, 0][seg] + pc * normal[:, 1][seg], starts)
        beyond += 0.5 * np.abs(normal).sum(axis=1) - np.einsum("ij,ij->i", a, normal)
        missed += np.where(length > 0, np.clip(beyond, 0, None) * length, 0)
    hull = inner.copy()
    ends = np.append(starts[1:], pr.size)
    corners = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])
    for k in np.flatnonzero(missed > HULL_TOL * inner):
        centres = np.column_stack([pr[starts[k]:ends[k]], pc[starts[k]:ends[k]]])
        hull[k] = ConvexHull((centres[:, None, :] + corners).reshape(-1, 2)).volume
    return hull
