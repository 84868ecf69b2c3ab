"""The dip test: whether two phases of one chemistry are two populations or pieces of one.

Two phases whose major elements are the same (olivine and orthopyroxene, two plagioclases, Fo90 and Fo75)
pass the chemistry test of :mod:`._merge` as one, and so do the pieces of one zoned phase that a clustering
cut in two. What parts them is the distribution of the pixels between them: each pixel's counts are scored by
the log-likelihood ratio per count of the two phase spectra (the best linear direction between two Poisson
spectra), summed over its 3 x 3 neighbours of either phase (9 times the counts, no selection by the
clustering inside the pair; alone on a binned map); two populations leave a dip in the density of those
scores between the two phases' own scores, pieces of one (zoning, a cut along the noise) do not.
**Assumption**: a phase's crystals are wider than a pixel or two, so that a 3 x 3 neighbourhood is mostly
one population.
"""

from __future__ import annotations

import numpy as np

#: two phases are two populations when the density between them falls under this share of the lower of the
#: two densities at their own scores (generator maps at 100 counts/px: olivine / orthopyroxene 0.10,
#: Fo90 / Fo75 0.17, An60 / An35 0.43-0.64 zoned; a phase cut in two along its main axis 1.0-1.6)
DIP_SHARE = 0.5
#: ... with a number of phases asked for (the user says how many there are): labradorite / andesine of
#: ``make_rock`` at 60 counts/px score 0.71 on 5 x 5 sums with their true labels and were merged (K = 6: 5 phases,
#: ARI 0.61 -> 6, 0.81; at 120 counts/px 0.63 -> 0.86; at 200, with halves cut on 3 x 3 means, 0.64 -> 0.86); under
#: ``auto`` 0.8 split the magnetite inclusions of phenocrysts (1.5 px beam) by their hosts, so ``auto`` keeps 0.5
ASKED_DIP_SHARE = 0.8
#: each phase needs this many pixels for a density of its own (a phase of a few tens of pixels has no mode)
MIN_PIXELS = 200
#: pixels scored at most (row bands spread over a larger map)
MAX_PIXELS = 400_000
#: :func:`valley_cut`: the most cuts
ITERATIONS = 4


def _rows(h, w, max_pixels=MAX_PIXELS, band=32):
    """Rows to score: all, or bands of ``band`` rows spread evenly over a map of more than ``max_pixels``."""
    if h * w <= max_pixels:
        return np.arange(h)
    n_bands = max(1, max_pixels // (band * w))
    starts = np.linspace(0, max(h - band, 0), n_bands).astype(int)
    return np.unique(np.concatenate([np.arange(s, min(s + band, h)) for s in starts]))


def _direction(sum_a, sum_b, sigma):
    """The pair's smoothed, normalised spectra and the log-likelihood ratio per count between them."""
    from scipy import ndimage as ndi

    ma = ndi.gaussian_filter1d(np.asarray(sum_a, np.float64) / max(float(np.sum(sum_a)), 1.0), sigma)
    mb = ndi.gaussian_filter1d(np.asarray(sum_b, np.float64) / max(float(np.sum(sum_b)), 1.0), sigma)
    floor = 1e-6 * max(ma.max(), mb.max(), 1e-30)
    llr = np.log((ma + floor) / (mb + floor)).astype(np.float32)
    return float(ma @ llr), float(mb @ llr), llr


def _scores(data, rows, pair, llr, size, side=None):
    """Each pair pixel's score (its ``size`` x ``size`` pair neighbours' summed log-likelihood ratio per count) on
    ``rows``, and, with ``side`` ((len(rows), W) bool), the summed spectra of the pixels on either side
    (``llr`` None: the sums alone, no score)."""
    from scipy import ndimage as ndi

    score = np.zeros(pair.shape, np.float64)
    total = np.zeros(pair.shape, np.float64)
    sums = np.zeros((2, np.shape(data)[-1])) if side is not None else None
    w = pair.shape[1]
    for i, r in enumerate(rows):  # row by row, the pair's pixels only: the map's counts are never copied whole
        cols = np.flatnonzero(pair[i])
        if cols.size:
            line = np.asarray(data[r], np.float32)[cols] if cols.size > w // 2 else np.asarray(
                data[r][cols], np.float32)
            if llr is not None:
                score[i, cols], total[i, cols] = line @ llr, line.sum(1)
            if side is not None:
                on = side[i, cols]
                sums[0] += line[~on].sum(0)
                sums[1] += line[on].sum(0)
    if llr is None:
        return None, sums
    ones = np.ones((size, size))
    t = ndi.convolve(score * pair, ones, mode="constant")
    n = ndi.convolve(total * pair, ones, mode="constant")
    keep = pair & (n > 0)
    out = np.full(pair.shape, np.nan)
    out[keep] = t[keep] / n[keep]
    return out, sums


def _density(s, at_a, at_b):
    """The scores' density on 41 points from ``at_b`` to ``at_a``; None when the scores do not spread."""
    from scipy.stats import gaussian_kde

    s = s[np.isfinite(s)]
    if s.size > 20000:
        s = np.random.default_rng(0).choice(s, 20000, replace=False)
    if s.size < 2 or np.ptp(s) <= 0:
        return None
    return gaussian_kde(s)(np.linspace(at_b, at_a, 41))


def dip_ratio(data, labels, a, b, sum_a, sum_b, *, size=3, sigma=2.0):
    """Density of the pair's 3 x 3 scores between the two phases, over the lower density at either one.

    Parameters
    ----------
    data : (H, W, C) array_like of counts (in memory)
    labels : (H, W) int ndarray
    a, b : int
        The two phases.
    sum_a, sum_b : (C,) ndarray
        Their summed spectra.
    size : int
        Each pixel is scored with its ``size`` x ``size`` neighbours of the pair (1 on a binned map, whose
        pixels already mix several of the map's).
    sigma : float
        Smoothing of the spectra along the channels (channels).

    Returns
    -------
    float or None
        None when a phase has under :data:`MIN_PIXELS` pixels (on the scored rows).
    """
    h, w = labels.shape
    rows = _rows(h, w)
    lab = labels[rows]
    pair = (lab == a) | (lab == b)
    if min(np.count_nonzero(lab == a), np.count_nonzero(lab == b)) < MIN_PIXELS:
        return None
    at_a, at_b, llr = _direction(sum_a, sum_b, sigma)
    density = _density(_scores(data, rows, pair, llr, size)[0][pair], at_a, at_b)
    if density is None:
        return None
    low = min(density[0], density[-1])
    return float(density[5:36].min() / low) if low > 0 else None


def valley_cut(data, labels, a, b, sum_a, sum_b, *, size=3, sigma=2.0, iterations=ITERATIONS):
    """The pair's pixels cut again where the density of their scores is lowest between the two populations.

    Two halves of a phase cut by 2-means on its features (:func:`phaselib.refine.halves`) can show a dip and still
    not follow the populations: a 2-means cut of a large andesine phase holding labradorite grains parts the
    andesine in two, and the half that gets the labradorite mixes both (its merge test then sees one population
    again). Here the pixels are scored as for :func:`dip_ratio` and cut at the lowest density between the two
    halves' own scores; the halves' spectra are summed again and the cut repeated (at most ``iterations`` times,
    until under 0.5 % of the pixels change side).

    Parameters
    ----------
    data, labels, a, b, sum_a, sum_b, size, sigma
        As :func:`dip_ratio`.
    iterations : int

    Returns
    -------
    (H, W) bool ndarray or None
        The pair's pixels that go to ``b`` (False elsewhere); None when the scores do not spread or a side
        would keep under :data:`MIN_PIXELS` pixels.
    sum_a, sum_b : (C,) ndarray
        The two sides' summed spectra (on the rows scored).
    ratio : float
        The dip (as :func:`dip_ratio`) of the final cut.
    """
    h, w = labels.shape
    rows = _rows(h, w)
    pair = (labels[rows] == a) | (labels[rows] == b)
    side = labels[rows] == b
    ratio = None
    for _ in range(iterations):
        at_a, at_b, llr = _direction(sum_a, sum_b, sigma)
        s = _scores(data, rows, pair, llr, size)[0]
        density = _density(s[pair], at_a, at_b)
        if density is None or min(density[0], density[-1]) <= 0:
            return None, sum_a, sum_b, None
        ratio = float(density[5:36].min() / min(density[0], density[-1]))
        cut = np.linspace(at_b, at_a, 41)[5 + int(np.argmin(density[5:36]))]
        last = llr, cut
        new = pair & (s < cut)  # lower scores: b's side
        moved = np.count_nonzero(new != side)
        side = new
        if min(np.count_nonzero(side), np.count_nonzero(pair & ~side)) < MIN_PIXELS:
            return None, sum_a, sum_b, None
        sum_a, sum_b = _scores(data, rows, pair, None, size, side=side)[1]
        if moved < 0.005 * np.count_nonzero(pair):
            break
    if rows.size == h:
        return side, sum_a, sum_b, ratio
    full = (labels == a) | (labels == b)  # a large map: every row scored once, on the last cut
    s = _scores(data, np.arange(h), full, last[0], size)[0]
    return full & (s < last[1]), sum_a, sum_b, ratio
