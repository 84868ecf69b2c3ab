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


def _rows(h, w, max_pixels=MAX_PIXELS, band=32):
    """Rows to score: all, or bands of ``band`` rows spread evenly over a map of more than ``max_pixels``."""
    if h * w <= max_pixels:
        return np.arange(h)
    n_bands = max(1, max_pixels // (band * w))
    starts = np.linspace(0, max(h - band, 0), n_bands).astype(int)
    return np.unique(np.concatenate([np.arange(s, min(s + band, h)) for s in starts]))


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
    from scipy import ndimage as ndi
    from scipy.stats import gaussian_kde

    h, w = labels.shape
    rows = _rows(h, w)
    lab = labels[rows]
    pair = (lab == a) | (lab == b)
    if min(np.count_nonzero(lab == a), np.count_nonzero(lab == b)) < MIN_PIXELS:
        return None
    ma = ndi.gaussian_filter1d(np.asarray(sum_a, np.float64) / max(float(np.sum(sum_a)), 1.0), sigma)
    mb = ndi.gaussian_filter1d(np.asarray(sum_b, np.float64) / max(float(np.sum(sum_b)), 1.0), sigma)
    floor = 1e-6 * max(ma.max(), mb.max(), 1e-30)
    llr = np.log((ma + floor) / (mb + floor)).astype(np.float32)
    score = np.zeros(pair.shape, np.float64)
    total = np.zeros(pair.shape, np.float64)
    for i, r in enumerate(rows):  # row by row, the pair's pixels only: the map's counts are never copied whole
        cols = np.flatnonzero(pair[i])
        if cols.size:
            line = np.asarray(data[r], np.float32)[cols] if cols.size > w // 2 else np.asarray(
                data[r][cols], np.float32)
            score[i, cols], total[i, cols] = line @ llr, line.sum(1)
    ones = np.ones((size, size))
    t = ndi.convolve(score * pair, ones, mode="constant")
    n = ndi.convolve(total * pair, ones, mode="constant")
    keep = pair & (n > 0)
    s = t[keep] / n[keep]
    if s.size > 20000:
        s = np.random.default_rng(0).choice(s, 20000, replace=False)
    if np.ptp(s) <= 0:
        return None
    at_a, at_b = float(ma @ llr), float(mb @ llr)
    density = gaussian_kde(s)(np.linspace(at_b, at_a, 41))
    low = min(density[0], density[-1])
    return float(density[5:36].min() / low) if low > 0 else None
