"""Synthetic rock textures: grains, a fine-grained groundmass and inclusions; touching discs.

Private module: :func:`make_texture` and :func:`make_discs` are public through
:mod:`phaselib.datasets`. Everything works on ``(H, W)`` maps (never on spectra), in row
chunks where a full ``(H*W, d)`` array would be large.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import label as _label

from .._validate import check_int, check_number, check_positive

_ROWS = 256  # rows per nearest-seed query
_ACCESSORY = 0.08  # phases with a smaller target fraction form small grains and inclusions
_TINY_CELL = 1.0  # a phase under 1 % takes no cell bigger than this times what it lacks


def check_fractions(n_phases, fractions):
    """Normalised target fractions (default ``0.6 ** i``), validated."""
    if fractions is None:
        check_int(n_phases, "n_phases")
        f = 0.6 ** np.arange(int(n_phases))
    else:
        f = np.asarray(fractions, float).ravel()
        if f.size != n_phases or not np.all(np.isfinite(f)) or np.any(f <= 0):
            raise ValueError(f"fractions must be {n_phases} positive numbers (one per phase), "
                             f"got {fractions!r}.")
    return f / f.sum()


def check_phases(name, phases, k):
    """A list of phase indices, each in ``0..k-1``."""
    phases = [int(p) for p in phases]
    if any(p < 0 or p >= k for p in phases):
        raise ValueError(f"{name} must be phase indices in 0..{k - 1}, got {phases}.")
    return phases


def accessory_phases(fractions) -> np.ndarray:
    """Boolean mask of the minor phases (small grains and inclusions only)."""
    f = np.asarray(fractions, float)
    return (f < _ACCESSORY) & (f < f.max())


def smooth_field(shape, scale: float, rng) -> np.ndarray:
    """Zero-mean, unit-variance random field (float32) smooth over ``scale`` pixels."""
    h, w = shape
    step = max(float(scale) / 2.0, 1.0)
    gh, gw = int(np.ceil(h / step)) + 4, int(np.ceil(w / step)) + 4
    coarse = ndimage.gaussian_filter(rng.standard_normal((gh, gw)), 1.0, mode="wrap")
    rows = (np.arange(h, dtype=np.float32) / step + 2.0)[:, None]
    cols = (np.arange(w, dtype=np.float32) / step + 2.0)[None, :]
    field = np.empty((h, w), np.float32)
    for r0 in range(0, h, _ROWS):
        rr = np.broadcast_to(rows[r0:r0 + _ROWS], (min(_ROWS, h - r0), w))
        cc = np.broadcast_to(cols, rr.shape)
        field[r0:r0 + _ROWS] = ndimage.map_coordinates(coarse, [rr, cc], order=3, mode="nearest")
    field -= field.mean()
    sd = field.std()
    return field / sd if sd > 0 else field


def _nearest(tree: cKDTree, shape, extra=None, mask=None) -> np.ndarray:
    """Index of the nearest seed of every pixel (or of ``mask`` pixels; -1 elsewhere)."""
    h, w = shape
    out = np.full(shape, -1, np.int32)
    cols = np.arange(w, dtype=np.float64)
    for r0 in range(0, h, _ROWS):
        r1 = min(r0 + _ROWS, h)
        rr, cc = np.meshgrid(np.arange(r0, r1, dtype=np.float64), cols, indexing="ij")
        pts = [rr.ravel(), cc.ravel()] + ([np.full(rr.size, extra)] if extra is not None else [])
        pts = np.stack(pts, axis=1)
        sel = slice(None) if mask is None else mask[r0:r1].ravel()
        idx = np.full(rr.size, -1, np.int32)
        if np.any(sel):
            idx[sel] = tree.query(pts[sel], workers=-1)[1]
        out[r0:r1] = idx.reshape(r1 - r0, w)
    return out


def texture(shape, fractions, *, grain_size, matrix_fraction, matrix_grain_size,
            matrix_phases, inclusion_phases, inclusion_density, rng, exact=False):
    """Labels (H, W) int16 and grain ids (H, W) int32 (see ``datasets.make_texture``)."""
    h, w = shape
    k = len(fractions)
    target = np.asarray(fractions, float) * h * w  # target areas, in pixels

    # 1. coarse grains: a power diagram (weighted Voronoi) of seeds with log-normal radii,
    #    seeds a margin beyond the map so that border grains are cut like a real section.
    m = float(grain_size)
    area = (h + 2 * m) * (w + 2 * m)
    n = max(int(round(area / (np.pi / 4 * grain_size**2))), k + 1)
    seeds = np.column_stack([rng.uniform(-m, h + m, n), rng.uniform(-m, w + m, n)])
    radius = 0.5 * grain_size * rng.lognormal(0.0, 0.45, n)
    weight = radius**2
    lift = np.sqrt(weight.max() - weight)  # d^2 - r^2 == 3-D distance^2 - const
    cell = _nearest(cKDTree(np.column_stack([seeds, lift])), shape, extra=0.0)
    areas = np.bincount(cell.ravel(), minlength=n).astype(float)

    # 2. groundmass: the coarse cells where a smooth field is lowest, filled with small
    #    Voronoi grains of the matrix phases.
    ids = cell
    phase_of = np.full(n, -1, np.int64)
    next_id = n
    if matrix_fraction > 0 and matrix_phases:
        field = smooth_field(shape, 4 * grain_size, rng)
        at = field[np.clip(seeds[:, 0].astype(int), 0, h - 1), np.clip(seeds[:, 1].astype(int), 0, w - 1)]
        order = np.argsort(at)
        chosen = order[: np.searchsorted(np.cumsum(areas[order]), matrix_fraction * h * w) + 1]
        chosen = chosen[areas[chosen] > 0]
        mask = np.zeros(n, bool)
        mask[chosen] = True
        mask = mask[cell]
        npix = int(mask.sum())
        nf = max(int(round(npix / (np.pi / 4 * matrix_grain_size**2))), 1)
        where = np.flatnonzero(mask)[rng.integers(0, npix, nf)]
        fseeds = np.column_stack(np.unravel_index(where, shape)) + rng.uniform(-0.5, 0.5, (nf, 2))
        fine = _nearest(cKDTree(fseeds), shape, mask=mask)
        p = target[list(matrix_phases)] / target[list(matrix_phases)].sum()
        fphase = np.asarray(matrix_phases)[rng.choice(len(p), nf, p=p)]
        ids = np.where(mask, fine + n, cell)
        phase_of = np.concatenate([phase_of, fphase])
        target -= np.bincount(fphase, weights=np.bincount(fine[mask], minlength=nf), minlength=k)
        areas[chosen] = 0
        next_id = n + nf

    # 3. phases of the coarse cells, roughly largest first, each to a phase that still lacks
    #    area (probability ~ the deficit); accessory phases only take small cells, which
    #    come last, so the minor phases get the area they need.
    n_incl = int(round(inclusion_density * h * w)) if inclusion_phases else 0
    incl_phases = np.asarray(inclusion_phases or [], int)
    # exact: a phase takes at most half its target area as inclusions (they are otherwise
    # shared evenly); the tiniest phases (< 1 %) take cells no bigger than what they lack,
    # then inclusions for the rest.
    tiny = (np.asarray(fractions) < 0.01) & exact
    budget = 0.5 * target if exact else np.full(k, np.inf)
    if n_incl:
        share = target[incl_phases].clip(0) + 1e-9
        expect = 0.5 * n_incl * 7.0 * share / share.sum()  # ~7 px per inclusion
        even = np.minimum(n_incl * 7.0 / incl_phases.size, budget[incl_phases])
        aside = np.where(even >= budget[incl_phases], even, expect)
        target[incl_phases] -= np.where(tiny[incl_phases], 0.0, aside)
    small = np.median(areas[areas > 0]) if np.any(areas > 0) else 0
    accessory = accessory_phases(fractions)
    for i in np.argsort(-areas * rng.lognormal(0.0, 0.5, n), kind="stable"):
        if areas[i] <= 0:
            continue
        deficit = target.clip(0)
        if areas[i] > small:
            deficit = np.where(accessory, 0.0, deficit)
        if tiny.any():
            deficit = np.where(tiny & (areas[i] > _TINY_CELL * deficit), 0.0, deficit)
        if deficit.sum() <= 0:
            deficit = np.where(accessory, 0.0, target - target.min() + 1e-9)
        ph = rng.choice(k, p=deficit / deficit.sum())
        phase_of[i] = ph
        target[ph] -= areas[i]
    # every phase present (when there are enough cells): steal a cell from the commonest phase
    present = np.bincount(phase_of[:n][areas > 0], minlength=k)
    for ph in np.flatnonzero(present == 0):
        donors = np.flatnonzero((areas > 0) & (present[np.maximum(phase_of[:n], 0)] > 1))
        if donors.size:
            i = donors[np.argmin(areas[donors])]
            present[phase_of[i]] -= 1
            phase_of[i], present[ph] = ph, 1
    if tiny.any():
        got = np.bincount(phase_of[ids].ravel(), minlength=k)
        budget[tiny] = np.maximum(np.asarray(fractions)[tiny] * h * w - got[tiny], 0.0)

    # 4. inclusions: small discs of the inclusion phases inside coarse grains of other phases
    ids = ids.astype(np.int64)
    extra = []
    host_ok = np.ones(n, bool)
    host_ok[incl_phases] = False
    used = np.zeros(k)
    for _ in range(20 * n_incl):
        if len(extra) >= n_incl:
            break
        r = rng.uniform(0.7, 2.3)
        R = int(np.ceil(r)) + 1
        y, x = int(rng.integers(R, max(h - R, R + 1))), int(rng.integers(R, max(w - R, R + 1)))
        if y + R >= h or x + R >= w:
            continue
        host = ids[y, x]
        if host >= n or not host_ok[phase_of[host]]:
            continue
        win = ids[y - R:y + R + 1, x - R:x + R + 1]
        if np.any(win != host):
            continue  # touches another grain (or an inclusion): keep the disc inside its host
        yy, xx = np.ogrid[-R:R + 1, -R:R + 1]
        disc = yy**2 + xx**2 <= r * r
        ph, a = incl_phases[rng.integers(incl_phases.size)], disc.sum()
        if used[ph] + a > budget[ph]:  # that phase has its share: another one, if any
            room = incl_phases[used[incl_phases] + a <= budget[incl_phases]]
            if room.size == 0:
                continue
            ph = room[rng.integers(room.size)]
        win[disc] = next_id
        extra.append(ph)
        used[ph] += a
        next_id += 1
    phase_of = np.concatenate([phase_of, np.asarray(extra, np.int64)])

    labels = phase_of[ids].astype(np.int16)
    grain_ids = _label(ids + 1, background=0, connectivity=1).astype(np.int32)
    return labels, grain_ids


def touching_discs(shape, n_discs, radius, overlap, rng):
    """Mask and grain ids (H, W) of overlapping discs split by their power diagram."""
    h, w = shape
    r_lo, r_hi = radius
    centres, radii = np.zeros((0, 2)), np.zeros(0)
    for _ in range(100 * n_discs):
        if len(radii) >= n_discs:
            break
        c, r = rng.uniform(0, (h, w)), rng.uniform(r_lo, r_hi)
        if np.all(np.hypot(*(centres - c).T) > (1 - overlap) * (radii + r)):
            centres, radii = np.vstack([centres, c]), np.append(radii, r)
    best = np.full(shape, np.inf)
    ids = np.zeros(shape, np.int32)
    for i, ((cy, cx), r) in enumerate(zip(centres, radii), 1):
        r0, r1 = max(int(cy - r) - 1, 0), min(int(cy + r) + 2, h)
        c0, c1 = max(int(cx - r) - 1, 0), min(int(cx + r) + 2, w)
        yy, xx = np.ogrid[r0:r1, c0:c1]
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        power = np.where(d2 < r * r, d2 - r * r, np.inf)  # power distance inside the disc
        win = power < best[r0:r1, c0:c1]
        best[r0:r1, c0:c1][win] = power[win]
        ids[r0:r1, c0:c1][win] = i
    ids = _label(ids, background=0, connectivity=1).astype(np.int32)  # ids 1..n of the pieces left
    return ids > 0, ids


# ----------------------------------------------------------------- validation
def _check_shape(shape):
    try:
        h, w = (int(n) for n in shape)
        ok = h >= 1 and w >= 1 and (h, w) == tuple(shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"shape must be (rows, columns), two positive integers; got {shape!r}.")
    return h, w


def _check_seed(seed):
    return check_int(seed, "seed", low=0)


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False, got {value!r}.")
    return bool(value)


# ----------------------------------------------------------------- public API
def make_texture(shape, *, n_phases=6, fractions=None, grain_size=12.0, matrix_fraction=0.25,
                 matrix_grain_size=3.0, matrix_phases=None, inclusion_phases=None,
                 inclusion_density=1e-3, seed=0, exact_fractions=False):
    """A rock texture alone: phase labels and grain ids, without spectra.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` of the map, in pixels.
    n_phases : int
        Number of phases ``K`` (ignored when ``fractions`` is given).
    fractions : sequence of float, optional
        Target area fraction of each phase (normalised). Default: ``0.6 ** i``, normalised
        (for six phases ~ 42, 25, 15, 9, 5.5 and 3.3 %). The realised fractions differ a
        little; read them from the labels (see ``exact_fractions`` for the smallest).
    grain_size : float
        Typical equivalent diameter of the grains, in pixels (sizes spread log-normally).
    matrix_fraction : float
        Share of the area (0 to 0.9) taken by a fine-grained groundmass.
    matrix_grain_size : float
        Grain diameter in the groundmass, in pixels.
    matrix_phases : sequence of int, optional
        Phases of the groundmass; default the (up to) three most abundant major phases.
    inclusion_phases : sequence of int, optional
        Phases of the small inclusions (discs of 1-15 pixels inside bigger grains); default
        the minor phases (target fraction < 8 %), or the least abundant phase.
    inclusion_density : float
        Inclusions per pixel of map (``1e-3`` is 20 in a 128 x 160 map).
    seed : int
        Random seed.
    exact_fractions : bool
        Give the phases under 1 % their target area (accessories: a 0.1 % phase is 60 pixels
        of a 200 x 300 map): small grains no bigger than what they lack, then inclusions up
        to the target, so they get it within a few pixels where the inclusions find room.
        Off (the default, kept for the maps made before), they share the inclusions evenly
        and may get two or three times their target.

    Returns
    -------
    labels : (H, W) ndarray of int16
        Phase index of every pixel.
    grain_ids : (H, W) ndarray of int32
        Grain id ``1..n_grains`` of every pixel (4-connected grains).
    """
    h, w = _check_shape(shape)
    f = check_fractions(n_phases if fractions is None else len(np.ravel(fractions)), fractions)
    k = f.size
    grain_size = check_positive(grain_size, "grain_size")
    matrix_grain_size = check_positive(matrix_grain_size, "matrix_grain_size")
    if grain_size < 2 or matrix_grain_size < 1:
        raise ValueError("grain_size must be at least 2 pixels and matrix_grain_size at least 1.")
    matrix_fraction = check_number(matrix_fraction, "matrix_fraction", low=0, high=0.9)
    inclusion_density = check_number(inclusion_density, "inclusion_density", low=0, high=0.02)
    seed = _check_seed(seed)
    by_size = list(np.argsort(-f, kind="stable"))
    minor = accessory_phases(f)
    if matrix_phases is None:
        matrix_phases = [p for p in by_size if not minor[p]][:3]
    matrix_phases = check_phases("matrix_phases", matrix_phases, k)
    if inclusion_phases is None:
        inclusion_phases = list(np.flatnonzero(minor)) or (by_size[-1:] if k > 1 else [])
    inclusion_phases = check_phases("inclusion_phases", inclusion_phases, k)
    if len(inclusion_phases) >= k:
        raise ValueError("inclusion_phases must leave at least one phase to host the inclusions.")
    return texture(
        (h, w), f, grain_size=grain_size, matrix_fraction=matrix_fraction,
        matrix_grain_size=matrix_grain_size, matrix_phases=matrix_phases,
        inclusion_phases=inclusion_phases, inclusion_density=inclusion_density,
        rng=np.random.default_rng([seed, 0]), exact=_check_bool(exact_fractions, "exact_fractions"))


def make_discs(shape, *, n_discs=100, radius=(10.0, 25.0), overlap=0.4, seed=0):
    """Touching and overlapping discs of one phase, with their true grains.

    The classic test of grain separation: discs with radii drawn uniformly in ``radius``,
    placed at random so that two centres are never closer than ``(1 - overlap)`` times the
    sum of their radii; where discs overlap, each pixel goes to the disc of smallest power
    distance (``d**2 - r**2``), so every grain is convex and two touching grains share a
    straight boundary.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` in pixels.
    n_discs : int
        Number of discs wanted (fewer when the map is full).
    radius : (float, float)
        Smallest and largest radius, pixels.
    overlap : float
        In [0, 1): 0 lets discs touch without overlapping.
    seed : int
        Random seed.

    Returns
    -------
    mask : (H, W) ndarray of bool
    grain_ids : (H, W) ndarray of int32
        Grain id ``1..n`` of every pixel of the mask (0 elsewhere).
    """
    h, w = _check_shape(shape)
    check_int(n_discs, "n_discs")
    lo, hi = (check_positive(r, "radius") for r in np.ravel(radius)) if np.size(radius) == 2 else (0, -1)
    if not 0 < lo <= hi:
        raise ValueError(f"radius must be (smallest, largest), two positive numbers, got {radius!r}.")
    overlap = check_number(overlap, "overlap", low=0, high=1, high_open=True)
    return touching_discs((h, w), int(n_discs), (lo, hi), overlap,
                                   np.random.default_rng([_check_seed(seed), 1]))
