"""Regions of an intensity cube that mean something: the dip test on spectral-shape scores.

A clustering of shape scores (:func:`phaselib.decompose.shape_pca`) gains the most by cutting where
the spread is largest, so on a cube whose regions differ in noise (a thin or dark piece beside clear
ones) it can cut one noisy material in two along its noise, and leave two materials of close shapes
in one region (another generator's cubes at 30 neutrons per bin: polyethylene with titanium,
PMMA with zirconium, while niobium was cut in two). Pixel by pixel the two cases look alike; what
tells them apart is where the pixels lie. The mean of a pixel's scores over its ``size`` x ``size``
neighbours of the same region(s) has ``size**2`` times less noise variance; two materials leave two
modes in it, one material cut along its noise leaves one (the test :mod:`._dip` makes on counts).

Merge test (:func:`pair_dip`)
    The scores of a pair of regions are projected on the line between their means (0 at one, 1 at
    the other) and averaged over each pixel's ``size`` x ``size`` neighbours of the pair; the pair is
    one material when the density of those means between the two ends does not fall under
    :data:`DIP_SHARE` of the lower density at either end, and the two regions' means of them lie within
    :data:`SHIFT` of each other (a material's pixels have the same expected scores whatever their labels;
    two materials too noisy for a dip still lie apart).
Split test (:func:`split_dip`)
    The means of a region's inside pixels (their 3 x 3 neighbours all of the region) over their
    ``size`` x ``size`` neighbours in the region are projected on their main axis; the region holds two
    materials when the density of those projections has a valley, with :data:`MIN_PIXELS` pixels or more
    each side, under :data:`DIP_SHARE` of the lower of the highest densities either side (a region of
    three or four materials has several modes; its halves are cut at the deepest valley).

Pixels without a shape (an open beam: every one has the same scores) are left out of both tests, and a
split must leave each side of the inside pixels :data:`CORE_PIXELS` pixels whose 3 x 3 neighbours are all on
that side, and one side off the other (a band lying along the other, a blurred rim, is no material).
**Assumption**: a region's pieces are wider than a few pixels (a narrower piece has no inside pixels
and is not split; in a 5 x 5 mean it mixes with its neighbours).
"""

from __future__ import annotations

import numpy as np

import phaselib.refine._check as _check

from .._validate import check_int, check_labels, check_number

#: two regions are two materials when the density of their 5 x 5 means between them falls under this share
#: of the lower density at either (other generator's cubes at 30-1000 neutrons per bin: true pairs 0.00-0.24;
#: a material cut in two along its noise 1.1-1.4, PE / Ti in one region 0.24, PMMA / Zr 0.00)
DIP_SHARE = 0.5
#: ... and pieces of one material when, besides, their 5 x 5 means lie this near each other (on the scale from one
#: region's mean scores, 0, to the other's, 1): one material cut by its noise 0.03-0.22, two materials 0.86-1.0,
#: regions each mixing several materials at 10 neutrons per bin 0.3-0.6 (without a dip: too noisy to tell)
SHIFT = 0.3
#: pixels each side of a split needs (and each region of a pair for a density of its own)
MIN_PIXELS = 40
#: ratios are reported up to this (a density at an end near 0)
CAP = 100.0
#: a region needs this many pixels whose 5 x 5 neighbours (the means' scale) are all of it, and each side of a split
#: of a region's inside pixels this many whose 3 x 3 neighbours are: fewer, and it is a band along boundaries (mixed
#: pixels) or a few pixels, not a piece of material (a 15 px piece has tens)
CORE_PIXELS = 5
#: a side of a split with more than this share of its pixels within 3 px of the other side lies along it: a rim
#: (a detector's blur on a piece's edge: 0.98-1.0), not a material of its own (two materials in one region: pieces
#: apart, 0.0, or touching along a small share)
RIM_SHARE = 0.8
#: means scored at most per test (a random sample of a larger map's)
MAX_SCORED = 20_000


def _box_mean(values, mask, size):
    """Mean of ``values`` (H, W) or (H, W, D) over each pixel's ``size`` x ``size`` neighbours in ``mask``."""
    from scipy import ndimage as ndi

    n = ndi.uniform_filter(mask.astype(np.float64), size, mode="constant")
    v = values * (mask if values.ndim == 2 else mask[..., None])
    if values.ndim == 2:
        return ndi.uniform_filter(v, size, mode="constant") / np.maximum(n, 1e-12)
    return np.stack([ndi.uniform_filter(v[..., j], size, mode="constant") for j in range(v.shape[-1])],
                    -1) / np.maximum(n, 1e-12)[..., None]


def _bbox(mask):
    """Slices of the smallest box holding ``mask`` (a box mean over ``mask`` inside it is the same as on the map)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _dip(means):
    """Density of ``means`` between 0 and 1, over the lower density at 0 and 1 (None: too few or all alike)."""
    from scipy.stats import gaussian_kde

    if means.size > MAX_SCORED:
        means = np.random.default_rng(0).choice(means, MAX_SCORED, replace=False)
    if means.size < 2 * MIN_PIXELS or np.ptp(means) <= 0:
        return None
    density = gaussian_kde(means)(np.linspace(0.0, 1.0, 41))
    low = min(density[0], density[-1])
    return min(float(density[5:36].min() / low), CAP) if low > 0 else CAP


def open_beam(features):
    """(H, W) bool: pixels without a shape (the one score vector many pixels share exactly), or none."""
    x = features.reshape(-1, features.shape[-1])
    values, counts = np.unique(x[:, 0], return_counts=True)
    if counts.max() < max(2, x.shape[0] // 100):
        return np.zeros(features.shape[:2], bool)
    same = np.all(x == x[np.flatnonzero(x[:, 0] == values[counts.argmax()])[0]], axis=1)
    return same.reshape(features.shape[:2])


def pair_dip(features, labels, a, b, *, size=5, exclude=None):
    """``(ratio, shift)``: the merge test of regions ``a`` and ``b`` (see the module docstring). ``ratio`` under
    :data:`DIP_SHARE`: two materials; ``shift``, the mean 5 x 5 means of ``a``'s pixels less ``b``'s, on the
    scale where ``b``'s mean scores are 0 and ``a``'s 1: near 1 for two materials in two places, near 0 for one
    material whose pixels the labels parted by their noise. None when a region has under :data:`MIN_PIXELS`
    pixels, or the ratio cannot be had."""
    size = check_int(size, "size", high=99)
    features, labels = _check.feature_map(features, labels)
    a, b = _check.region(a, "a"), _check.region(b, "b")
    ina, inb = labels == a, labels == b
    if exclude is not None:
        exclude = _check.mask(exclude, "exclude", labels.shape)
        ina, inb = ina & ~exclude, inb & ~exclude
    if min(np.count_nonzero(ina), np.count_nonzero(inb)) < MIN_PIXELS:
        return None
    mu_a, mu_b = features[ina].mean(0), features[inb].mean(0)
    d = mu_a - mu_b
    dd = float(d @ d)
    if dd <= 0:
        return CAP, 0.0
    pair = ina | inb
    means = _box_mean(((features - mu_b) @ d) / dd, pair, size)
    ratio = _dip(means[pair])
    return None if ratio is None else (ratio, float(means[ina].mean() - means[inb].mean()))


def split_dip(features, labels, a, *, size=5, exclude=None):
    """``(ratio, part)``: the split test of region ``a`` (see the module docstring), ``part`` (H, W) bool the
    inside pixels of its second group; None when the region has too few inside pixels or a group is too small."""
    from scipy import ndimage as ndi

    size = check_int(size, "size", high=99)
    features, labels = _check.feature_map(features, labels)
    region = labels == _check.region(a, "a")
    if exclude is not None:
        region &= ~_check.mask(exclude, "exclude", labels.shape)
    if np.count_nonzero(region) < 2 * MIN_PIXELS:
        return None
    box = _bbox(region)
    inside = np.zeros_like(region)
    inside[box] = ndi.binary_erosion(region[box], np.ones((3, 3), bool), border_value=1)
    if np.count_nonzero(inside) < 2 * MIN_PIXELS:
        return None
    x = _box_mean(features[box], region[box], size)[inside[box]]
    c = x - x.mean(0)
    axis = np.linalg.svd(c[:: max(1, len(c) // 5000)], full_matrices=False)[2][0]
    valley = _valley(c @ axis)
    if valley is None:
        return None
    ratio, second = valley
    part = np.zeros_like(region)
    part[inside] = second
    other = inside & ~part
    if min(_core(part, 3), _core(other, 3)) < CORE_PIXELS or max(_along(part, other), _along(other, part)) > RIM_SHARE:
        return None  # a side of a few pixels, or a band lying along the other: a blurred rim, not a material
    return ratio, part


def _along(side, other, reach=3):
    """Share of ``side``'s pixels within ``reach`` pixels of ``other``."""
    from scipy import ndimage as ndi

    near = ndi.binary_dilation(other, np.ones((2 * reach + 1, 2 * reach + 1), bool))
    return float(np.count_nonzero(side & near)) / max(int(np.count_nonzero(side)), 1)


def _core(mask, size):
    """Pixels of ``mask`` whose ``size`` x ``size`` neighbours all are in it."""
    from scipy import ndimage as ndi

    if not mask.any():
        return 0
    box = _bbox(mask)
    return int(np.count_nonzero(ndi.binary_erosion(mask[box], np.ones((size, size), bool), border_value=0)))


def _valley(p):
    """``(ratio, upper)``: the deepest valley of the density of ``p`` with :data:`MIN_PIXELS` values or more
    each side, its density over the lower of the highest densities either side, and the values above it; None
    when there is no room for one."""
    from scipy.stats import gaussian_kde

    sample = p if p.size <= MAX_SCORED else np.random.default_rng(0).choice(p, MAX_SCORED, replace=False)
    if np.ptp(sample) <= 0:
        return None
    grid = np.linspace(sample.min(), sample.max(), 101)
    density = gaussian_kde(sample)(grid)
    below = np.searchsorted(np.sort(p), grid)  # values under each grid point
    ok = (below >= MIN_PIXELS) & (p.size - below >= MIN_PIXELS)
    ok[[0, -1]] = False
    if not ok.any():
        return None
    left, right = np.maximum.accumulate(density), np.maximum.accumulate(density[::-1])[::-1]
    ratios = np.where(ok, density / np.maximum(np.minimum(left, right), 1e-300), np.inf)
    i = int(np.argmin(ratios))
    return min(float(ratios[i]), CAP), p > grid[i]


def split_region(features, labels, a, part, *, size=5):
    """``labels`` with region ``a`` cut in two: ``part`` and the pixels of ``a`` whose mean scores over their
    ``size`` x ``size`` neighbours in ``a`` are nearer the part's go to a new region (the next number), the
    others stay (a pixel's own scores are too noisy where the two materials are close)."""
    size = check_int(size, "size", high=99)
    features, labels = _check.feature_map(features, labels)
    region = labels == _check.region(a, "a")
    part = _check.mask(part, "part", labels.shape)
    if not part.any() or (part & ~region).any() or not (region & ~part).any():
        raise ValueError("`part` must be some, not all, of the pixels of region `a`.")
    rest = region & ~part
    new = int(labels.max()) + 1
    box = _bbox(region)
    means = np.zeros(region.shape + features.shape[-1:])
    means[box] = _box_mean(features[box], region[box], size)
    mu_new, mu_old = means[part].mean(0), means[rest].mean(0)
    x = means[region]
    nearer = ((x - mu_new) ** 2).sum(1) < ((x - mu_old) ** 2).sum(1)
    out = labels.copy()
    out[region] = np.where(nearer, new, a)
    out[part] = new
    return out


def region_tests(features, labels, *, size=5, share=DIP_SHARE, tiny=True, merges=True, splits=True):
    """The best merge and the best split of a labelled intensity map.

    Parameters
    ----------
    features : (H, W, D) ndarray
        Shape scores (:meth:`~phaselib.decompose.Decomposition.features` of a shape PCA).
    labels : (H, W) int ndarray
        Regions ``0..K-1``.
    size : int
        Side of the neighbourhoods averaged.
    share : float
        :data:`DIP_SHARE`.
    tiny : bool
        Offer a region too small to test as a merge (to make room for a split when the number of regions is
        fixed; not when it is free: a small piece may be a material of its own).
    merges, splits : bool
        Test the pairs for a merge, the regions for a split (a caller that needs one of them only).

    Returns
    -------
    merge : (ratio, a, b) or None
        The pair of regions with the weakest dip, when it is one material (ratio >= ``share``); ``b`` goes into
        ``a``. With ``tiny``, a region with under :data:`CORE_PIXELS` pixels whose ``size`` x ``size``
        neighbours all are of it (a few pixels, a band along boundaries: too little to test), not mostly open
        beam, comes first (ratio ``inf``, ``a`` the region whose mean scores are nearest). None without ``merges``.
    split : (ratio, a, part) or None
        The region with the deepest dip between its two groups, when it holds two (ratio < ``share``). None
        without ``splits``.
    """
    size = check_int(size, "size", high=99)
    share = check_number(share, "share", low=0, high=1)
    labels = check_labels(labels, "labels", low=0, high=1000)  # regions 0..K-1: a table of K x K pairs
    features, labels = _check.feature_map(features, labels)
    beam = open_beam(features)
    k = int(labels.max()) + 1
    merge = split = None
    sizes = np.bincount(labels.ravel(), minlength=k)
    cores = {a: _core(labels == a, size) for a in range(k)} if tiny and merges else {}
    small = [a for a in cores if sizes[a] and cores[a] < CORE_PIXELS and np.mean(beam[labels == a]) < 0.5]
    if small and k > 1:
        b = min(small, key=lambda r: cores[r])
        means = np.array([features[labels == a].mean(0) if sizes[a] and a != b else np.full(features.shape[-1], np.inf)
                          for a in range(k)])
        merge = (float("inf"), int(np.argmin(((means - features[labels == b].mean(0)) ** 2).sum(1))), b)
    for a in range(k):
        for b in range(a + 1, k) if merges else ():
            test = pair_dip(features, labels, a, b, size=size, exclude=beam)
            if test is not None and test[0] >= share and test[1] < SHIFT and (merge is None or test[0] > merge[0]):
                merge = (test[0], a, b)
        s = split_dip(features, labels, a, size=size, exclude=beam) if splits else None
        if s is not None and s[0] < share and (split is None or s[0] < split[0]):
            split = (s[0], a, s[1])
    return merge, split
