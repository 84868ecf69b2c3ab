"""The noise of a detector image as a function of its level, for the spot features of :mod:`phaselib.spots`."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def fit_noise(image, med5=None, n_bins=24):
    """``(gain, offset)`` of the noise variance ``gain * level + offset`` of an image, fitted to it.

    The variance of a counting detector grows with the level (Poisson: ``gain`` 1, ``offset`` 0, in counts); a
    camera's units scale it (gain), its read noise and offset add a constant, a flat-field correction divides both,
    a blur lowers it. So the spread of the differences of each pixel to the median of its 8 neighbours (1.4826 x
    their median absolute deviation, which spots and edges hardly move, divided by 1.09, its value for independent
    noise of unit variance; a ramp's pixel is its neighbours' median, noise apart) is measured among pixels of like
    level (``n_bins`` quantiles of the 5 x 5 median) and a straight line fitted to it (Theil-Sen, robust to a bin of
    texture or edges; slope >= 0). Poisson counts give ~(1, 0); texture finer than 3 px counts as noise.
    """
    f = np.asarray(image, np.float32)  # (checked by phaselib.spots.noise_model)
    med5 = ndimage.median_filter(f, size=5, mode="reflect") if med5 is None else med5
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    level, r = med5.ravel(), (f - ndimage.median_filter(f, footprint=ring, mode="reflect")).ravel()
    n_bins = int(min(n_bins, level.size // 200))
    if n_bins < 3:  # too few pixels to measure: Poisson counts
        return 1.0, 0.0
    order = np.argsort(level, kind="stable")
    m, v = [], []
    for part in np.array_split(order, n_bins):
        d = r[part]
        v.append((1.4826 / 1.09 * np.median(np.abs(d - np.median(d)))) ** 2)
        m.append(np.median(level[part]))
    m, v = np.asarray(m, float), np.asarray(v, float)
    from scipy.stats import theilslopes

    gain = max(float(theilslopes(v, m)[0]), 0.0) if np.ptp(m) > 0 else 0.0
    offset = float(np.median(v - gain * m))
    if gain * m.min() + offset <= 0:  # a level where the line says no noise: its smallest measured spread
        offset = float(max(v.min(), 0) - gain * m.min())
    return gain, offset


#: an image whose fitted noise variance at its median level lies within this factor of the level holds counts (Poisson);
#: only images off it (a camera's units, a flat-field correction, a blurred count) use the fitted line
POISSON_FACTOR = 1.5


def _noise_var(image, med5):
    """The noise variance as a function of the level: Poisson's where the image holds counts, else fitted."""
    gain, offset = fit_noise(image, med5)
    level = float(np.median(med5))
    fitted = gain * level + offset
    if level >= 1 and 1 / POISSON_FACTOR <= fitted / level <= POISSON_FACTOR:
        return lambda m: np.maximum(np.abs(m), 1.0), dict(noise="poisson")
    floor = max(gain * float(np.percentile(med5, 1)) + offset, 1e-12 * float(np.abs(image).max()) ** 2, 1e-30)
    return lambda m: np.maximum(gain * m + offset, floor), dict(noise="fitted", gain=gain, offset=offset)
