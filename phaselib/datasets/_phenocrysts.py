"""Porphyritic textures: phenocrysts with inclusions, bays and hopper shapes in a groundmass.

Private module: :func:`make_phenocrysts` is public through :mod:`phaselib.datasets`. Like
:func:`make_discs` it makes labels only (no spectra): the test texture of grain separation on
crystals that hold inclusions of other phases.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import label as _label

from .._validate import check_int, check_number, check_positive
from ._texture import _check_seed, _check_shape

#: aspect ratio and corner truncations (along, across) of the sections of each phase:
#: olivine-like elongated hexagons, pyroxene-like octagons, plagioclase-like laths (cycled)
_HABITS = (
    dict(aspect=(1.2, 2.0), cut=((0.15, 0.35), (0.3, 0.5))),
    dict(aspect=(1.0, 1.5), cut=((0.15, 0.3), (0.15, 0.3))),
    dict(aspect=(2.0, 4.0), cut=((0.0, 0.1), (0.0, 0.2))),
)
_OXIDE = dict(aspect=(1.0, 1.3), cut=((0.0, 0.45), (0.0, 0.45)))  # spinel-like inclusions
_ABUNDANCE = (0.4, 0.35, 0.25)  # shares of the crystals of phases 1, 2, 3
_SAME_PHASE = 0.6  # share of the touching crystals placed against one of their own phase
_KINDS = (0.45, 0.35, 0.2)  # inclusions: melt (groundmass), oxide, another phenocryst phase
_SQUARE = np.ones((3, 3), bool)


# ----------------------------------------------------------------- convex sections
def _area(v):
    x, y = v[:, 0], v[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _polygon(rng, habit, diameter, angle, centre):
    """Vertices (N, 2) of a convex section of equivalent diameter ``diameter``."""
    aspect = rng.uniform(*habit["aspect"])
    ta, tb = (rng.uniform(*c) for c in habit["cut"])
    a, b = np.sqrt(aspect), 1 / np.sqrt(aspect)
    quad = [(a, b * (1 - 2 * tb)), (a * (1 - 2 * ta), b)]  # one quadrant, corner cut off
    pts = []
    for sa, sb in ((1, 1), (-1, 1), (-1, -1), (1, -1)):
        q = quad if sa * sb > 0 else quad[::-1]
        pts += [(sa * x, sb * y) for x, y in q]
    pts = np.array(pts, float)
    keep = np.r_[True, np.hypot(*np.diff(pts, axis=0).T) > 1e-9]
    pts = pts[keep]
    pts *= diameter / 2 * np.sqrt(np.pi / _area(pts))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return pts @ rot.T + centre


def _inside(v, p):
    """Whether points ``p`` (..., 2) lie in the convex polygon ``v``."""
    e = np.roll(v, -1, axis=0) - v
    cross = e[:, 0] * (p[..., 1, None] - v[:, 1]) - e[:, 1] * (p[..., 0, None] - v[:, 0])
    sign = np.sign(e[0, 0] * (v[2, 1] - v[0, 1]) - e[0, 1] * (v[2, 0] - v[0, 0]))
    return np.all(sign * cross >= -1e-9, axis=-1)


def _crossings(va, vb):
    """Points where the outlines of two convex polygons cross."""
    p, r = va[:, None], (np.roll(va, -1, axis=0) - va)[:, None]
    q, s = vb[None], (np.roll(vb, -1, axis=0) - vb)[None]
    den = r[..., 0] * s[..., 1] - r[..., 1] * s[..., 0]
    qp = q - p
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qp[..., 0] * s[..., 1] - qp[..., 1] * s[..., 0]) / den
        u = (qp[..., 0] * r[..., 1] - qp[..., 1] * r[..., 0]) / den
    ok = (np.abs(den) > 1e-12) & (t >= 0) & (t < 1) & (u >= 0) & (u < 1)
    return (p + t[..., None] * r)[ok]


def _split_line(va, vb):
    """``(n, d)``: the side ``n . p < d`` of the overlap of two convex sections goes to ``va``."""
    x = _crossings(va, vb)
    ca, cb = va.mean(0), vb.mean(0)
    if len(x) >= 2:
        p = x[0]
        q = x[np.argmax(np.hypot(*(x - p).T))]
        n = np.array([q[1] - p[1], p[0] - q[0]])
        sa, sb = n @ (ca - p), n @ (cb - p)
        if np.hypot(*n) > 1e-6 and sa * sb < 0:
            return (n, n @ p) if sa < 0 else (-n, -(n @ p))
    n = cb - ca  # the power line of the two sections
    return n, 0.5 * ((cb @ cb - _area(vb) / np.pi) - (ca @ ca - _area(va) / np.pi))


def _raster(shape, v, lines=(), pad=0):
    """``(r0, c0, mask)``: the pixel centres of a box inside polygon ``v`` and the ``lines``."""
    r0, c0 = np.maximum(np.floor(v.min(0)).astype(int) - pad, 0)
    r1, c1 = np.minimum(np.ceil(v.max(0)).astype(int) + 1 + pad, shape)
    if r1 <= r0 or c1 <= c0:
        return 0, 0, np.zeros((0, 0), bool)
    p = np.stack(np.mgrid[r0:r1, c0:c1], -1).astype(float)
    inside = _inside(v, p)
    for n, d in lines:
        inside &= p @ n < d
    return r0, c0, inside


# ----------------------------------------------------------------- crystals
def _place(rng, shape, cover, crystals, phase, diameter, touching):
    """A new section: apart from the others, or overlapping one of them (then its index)."""
    h, w = shape
    habit = _HABITS[(phase - 1) % 3]
    own = [i for i, c in enumerate(crystals) if c["phase"] == phase]
    for _ in range(40):
        partner = None
        if crystals and rng.random() < touching:
            pool = own if own and rng.random() < _SAME_PHASE else range(len(crystals))
            partner = list(pool)[rng.integers(len(pool))]
            other = crystals[partner]
            turn = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(0.55, 0.9) * (diameter + other["diameter"]) / 2
            centre = other["centre"] + dist * np.array([np.cos(turn), np.sin(turn)])
        else:
            centre = rng.uniform(-diameter / 3, (h + diameter / 3, w + diameter / 3))
        v = _polygon(rng, habit, diameter, rng.uniform(0, np.pi), centre)
        r0, c0, inside = _raster(shape, v, pad=2)
        if inside.sum() < 0.3 * _area(v):
            continue  # mostly off the map
        near = ndimage.binary_dilation(inside, _SQUARE, iterations=2)
        hit = np.unique(cover[r0:r0 + inside.shape[0], c0:c0 + inside.shape[1]][near])
        hit = hit[hit > 0] - 1
        if partner is None and hit.size == 0:
            return v, centre, None
        if partner is not None and set(hit.tolist()) == {partner}:
            other = crystals[partner]
            overlap = cover[r0:r0 + inside.shape[0], c0:c0 + inside.shape[1]][inside] == partner + 1
            if 0 < overlap.sum() < 0.3 * min(_area(v), other["area"]) and len(_crossings(v, other["poly"])) >= 2:
                return v, centre, partner
    return None, None, None


def _crystals(rng, shape, n_phases, size, fraction, touching):
    """Convex sections, their phases and the pairs that overlap."""
    h, w = shape
    cover = np.zeros(shape, np.int32)  # first section covering each pixel (1-based)
    crystals, total, fails = [], 0.0, 0
    share = np.asarray(_ABUNDANCE[:n_phases]) / np.sum(_ABUNDANCE[:n_phases])
    while total < fraction * h * w and fails < 100:
        phase = 1 + int(rng.choice(n_phases, p=share))
        diameter = size * rng.lognormal(0.0, 0.35)
        v, centre, partner = _place(rng, shape, cover, crystals, phase, diameter, touching)
        if v is None:
            fails += 1
            continue
        r0, c0, inside = _raster(shape, v)
        win = cover[r0:r0 + inside.shape[0], c0:c0 + inside.shape[1]]
        win[inside & (win == 0)] = len(crystals) + 1
        crystals.append(dict(poly=v, centre=centre, diameter=diameter, area=_area(v), phase=phase,
                             partners=[] if partner is None else [partner]))
        if partner is not None:
            crystals[partner]["partners"].append(len(crystals) - 1)
        total += inside.sum() - (0 if partner is None else 0.5 * (win[inside] != len(crystals)).sum())
    return crystals


def _bays(rng, region, diameter, n):
    """``region`` (a crystal's pixels) less ``n`` rounded bays opening to the outside."""
    out = region.copy()
    edge = np.argwhere(region & ~ndimage.binary_erosion(region))
    centre = np.argwhere(region).mean(0)
    yy, xx = np.indices(region.shape)
    for _ in range(n):
        p = edge[rng.integers(len(edge))]
        inward = (centre - p) / max(np.hypot(*(centre - p)), 1e-9)
        r = rng.uniform(0.1, 0.22) * diameter
        c = p + rng.uniform(-0.4, 0.6) * r * inward
        trial = out & ((yy - c[0]) ** 2 + (xx - c[1]) ** 2 > r * r)
        if _label(trial, connectivity=1).max() == 1 and trial.sum() > 0.6 * region.sum():
            out = trial
    return out


def _hopper(rng, region, poly, origin):
    """``region`` with a hopper cavity: a smaller copy of the section opened by a channel."""
    centre = poly.mean(0)
    inner = centre + rng.uniform(0.35, 0.55) * (poly - centre)
    d = poly[:, None] - poly[None]
    i, j = np.unravel_index(np.argmax(np.hypot(d[..., 0], d[..., 1])), d.shape[:2])
    axis = (poly[i] - poly[j]) / np.hypot(*(poly[i] - poly[j]))
    p = np.stack(np.indices(region.shape), -1) + origin - centre
    along, across = p @ axis, p @ np.array([-axis[1], axis[0]])
    width = rng.uniform(0.15, 0.3) * np.ptp(inner @ np.array([-axis[1], axis[0]]))
    cavity = _inside(inner, p + centre) | ((along > 0) & (np.abs(across) <= width))
    trial = region & ~cavity
    return trial if _label(trial, connectivity=1).max() == 1 and trial.sum() > 0.3 * region.sum() else region


def _inclusion_shape(rng, kind, area, angle):
    """Pixel offsets mask of an inclusion (melt: an ellipse; else a convex polygon)."""
    d = 2 * np.sqrt(area / np.pi)
    half = int(np.ceil(d)) + 1
    p = np.stack(np.mgrid[-half:half + 1, -half:half + 1], -1).astype(float)
    if kind == 0:
        e = rng.uniform(1.0, 1.8)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        q = p @ rot
        return (q[..., 0] / (d / 2 * np.sqrt(e))) ** 2 + (q[..., 1] * np.sqrt(e) / (d / 2)) ** 2 <= 1
    habit = _OXIDE if kind == 1 else _HABITS[int(rng.integers(3))]
    return _inside(_polygon(rng, habit, d, angle, np.zeros(2)), p)


def _inclusions(rng, host, count, load, kinds_phase):
    """Inclusions inside ``host``: list of (mask in host's box, phase)."""
    room = ndimage.binary_erosion(host, _SQUARE)  # a host wall of at least one pixel
    taken = np.zeros_like(host)
    out = []
    shares = rng.dirichlet(np.ones(count)) * load * host.sum()
    for a in sorted(shares, reverse=True):
        kind = int(rng.choice(3, p=_KINDS))
        for attempt in range(30):
            if attempt and attempt % 10 == 0:
                a *= 0.7
            if a < 3:
                break
            shape = _inclusion_shape(rng, kind, a, rng.uniform(0, np.pi))
            free = np.argwhere(room & ~taken)
            if not len(free) or not shape.any():
                break
            r, c = free[rng.integers(len(free))] - np.array(shape.shape) // 2
            if r < 0 or c < 0 or r + shape.shape[0] > host.shape[0] or c + shape.shape[1] > host.shape[1]:
                continue
            win = np.zeros_like(host)
            win[r:r + shape.shape[0], c:c + shape.shape[1]] = shape
            if np.all(room[win]) and not np.any(taken[win]):
                taken |= ndimage.binary_dilation(win, _SQUARE)
                out.append((win, kinds_phase[kind]()))
                break
    return out


def _draw(rng, shape, n_phases, size, fraction, touching, n_incl, load, embayed, skeletal, unassigned):
    crystals = _crystals(rng, shape, n_phases, size, fraction, touching)
    ids = np.zeros(shape, np.int64)  # 0 groundmass, 1..n crystals, then inclusions
    labels = np.zeros(shape, np.int16)
    for k, c in enumerate(crystals, 1):
        lines = [_split_line(c["poly"], crystals[j]["poly"]) for j in c["partners"]]
        r0, c0, region = _raster(shape, c["poly"], lines)
        box = ids[r0:r0 + region.shape[0], c0:c0 + region.shape[1]]
        region &= box == 0
        parts, n_parts = ndimage.label(region)
        if n_parts > 1:  # slivers cut off by a neighbour's split line go to the groundmass
            region = parts == 1 + np.argmax(np.bincount(parts.ravel())[1:])
        if region.sum() < 10:
            continue
        u = rng.random()
        if u < skeletal:
            region = _hopper(rng, region, c["poly"], np.array([r0, c0]))
        elif u < skeletal + embayed:
            region = _bays(rng, region, c["diameter"], int(rng.integers(1, 4)))
        box[region] = k
        labels[r0:r0 + region.shape[0], c0:c0 + region.shape[1]][region] = c["phase"]
        c["box"], c["region"] = (r0, c0), region
    next_id = len(crystals) + 1
    others = {p: [q for q in range(1, n_phases + 1) if q != p] or [n_phases + 1] for p in range(1, n_phases + 1)}
    for c in crystals:
        if "region" not in c:
            continue
        (r0, c0), region = c["box"], c["region"]
        kinds_phase = (lambda: 0, lambda: n_phases + 1,
                       lambda p=c["phase"]: others[p][rng.integers(len(others[p]))])
        count = int(rng.integers(n_incl[0], n_incl[1] + 1))
        if count == 0:
            continue
        for win, phase in _inclusions(rng, region, count, rng.uniform(*load), kinds_phase):
            sl = (slice(r0, r0 + win.shape[0]), slice(c0, c0 + win.shape[1]))
            ids[sl][win] = next_id
            labels[sl][win] = -1 if rng.random() < unassigned else phase
            next_id += 1
    grain_ids = _label(ids + 1, background=0, connectivity=1).astype(np.int32)
    return labels, grain_ids


# ----------------------------------------------------------------- public API
def _pair(value, name, check, **limits):
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a pair (smallest, largest), got {value!r}.") from None
    lo, hi = check(lo, name, **limits), check(hi, name, **limits)
    if lo > hi:
        raise ValueError(f"`{name}` must be (smallest, largest) with smallest <= largest, got {value!r}.")
    return lo, hi


def make_phenocrysts(shape, *, n_phases=3, crystal_size=40.0, crystal_fraction=0.3, touching=0.4,
                     inclusions=(1, 5), inclusion_load=(0.02, 0.25), embayed=0.2, skeletal=0.05,
                     unassigned=0.1, seed=0):
    """A porphyritic texture: phenocrysts with inclusions, bays and hopper shapes in a groundmass.

    Labels only (no spectra), like :func:`make_discs`. Phase 0 is the groundmass (a glass, or
    microlites too fine to resolve); phases ``1..n_phases`` are phenocrysts with convex
    polygonal sections (olivine-like elongated hexagons, pyroxene-like octagons,
    plagioclase-like laths of aspect 2-4, cycled; 40, 35 and 25 % of the crystals), randomly
    oriented, with log-normal sizes (equivalent diameter ``crystal_size`` times
    ``lognormal(0, 0.35)``); phase ``n_phases + 1`` (an oxide, spinel-like) occurs only as
    inclusions. A share ``touching`` of the crystals is placed overlapping an earlier one by
    10-45 % of their mean diameter (60 % of them against one of the same phase:
    glomerocrysts); the overlap is split by the straight line through the crossings of the two
    outlines, so touching crystals stay convex and share a straight boundary. Then each
    crystal gets, in this order:

    * with probability ``skeletal`` a hopper cavity (a copy of the section at 35-55 % of its
      size, emptied into groundmass and opened to the outside by a channel along the long
      axis), or else with probability ``embayed`` one to three rounded bays of groundmass
      (resorption): discs of radius 10-22 % of the crystal's diameter centred up to 0.6 radius
      inside its outline, so some bays have a neck narrower than the bay;
    * a number of inclusions drawn uniformly in ``inclusions`` that take together a share of
      its area drawn uniformly in ``inclusion_load``: melt (groundmass phase, ellipses of
      aspect 1-1.8; 45 %), oxide (squares to octagons; 35 %) or another phenocryst phase (a
      chadacryst, of that phase's habit; 20 %), each enclosed by a host wall of at least one
      pixel and apart from the others, so the larger ones cover hundreds of pixels; a share
      ``unassigned`` of them are unassigned pixels (label -1), as a classification leaves
      mixed pixels.

    Assumptions: sections are convex before bays and cavities, and touching crystals share
    straight boundaries; a grain is a crystal, an inclusion or a connected piece of
    groundmass (the groundmass is not split into microlites); a crystal cut in two by the map
    border or its neighbour's split line is two grains; crystals are cut by the map border
    like a real section; inclusions never touch their host's outline (one that does is a bay)
    or each other, and hold no inclusion; an inclusion of the groundmass phase is a grain of
    its own, apart from the groundmass around the crystal.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` in pixels.
    n_phases : int
        Phenocryst phases, 1 to 3.
    crystal_size : float
        Median equivalent diameter of the phenocrysts, pixels (at least 8).
    crystal_fraction : float
        Target share of the map taken by phenocrysts, in (0, 0.6]; fewer when no room is left.
    touching : float
        Share (0 to 1) of the crystals placed against another.
    inclusions : (int, int)
        Smallest and largest number of inclusions per crystal (0 to 10).
    inclusion_load : (float, float)
        Smallest and largest share of a crystal's area taken by its inclusions (0 to 0.4).
    embayed, skeletal, unassigned : float
        Probabilities (0 to 1), see above (``embayed + skeletal`` at most 1).
    seed : int
        Random seed.

    Returns
    -------
    labels : (H, W) ndarray of int16
        Phase of every pixel: 0 groundmass, ``1..n_phases`` phenocrysts, ``n_phases + 1``
        oxide, -1 unassigned.
    grain_ids : (H, W) ndarray of int32
        Grain id ``1..n`` of every pixel (4-connected grains). A host crystal's id does not
        cover its inclusions: each inclusion has its own id.

    Examples
    --------
    >>> labels, ids = make_phenocrysts((200, 300), seed=1)
    >>> labels.shape, int(labels.min()) >= -1, int(labels.max()) <= 4
    ((200, 300), True, True)
    """
    h, w = _check_shape(shape)
    n_phases = check_int(n_phases, "n_phases", low=1, high=3)
    size = check_positive(crystal_size, "crystal_size")
    if size < 8:
        raise ValueError(f"`crystal_size` must be a number >= 8, got {crystal_size!r}.")
    fraction = check_number(crystal_fraction, "crystal_fraction", low=0, high=0.6, low_open=True)
    touching = check_number(touching, "touching", low=0, high=1)
    n_incl = _pair(inclusions, "inclusions", check_int, low=0, high=10)
    load = _pair(inclusion_load, "inclusion_load", check_number, low=0, high=0.4)
    embayed, skeletal, unassigned = (check_number(v, name, low=0, high=1) for v, name in
                                     ((embayed, "embayed"), (skeletal, "skeletal"), (unassigned, "unassigned")))
    if embayed + skeletal > 1:
        raise ValueError(f"`embayed` + `skeletal` must be at most 1, got {embayed} + {skeletal}.")
    rng = np.random.default_rng([_check_seed(seed), 2])
    return _draw(rng, (h, w), n_phases, size, fraction, touching, n_incl, load, embayed, skeletal, unassigned)
