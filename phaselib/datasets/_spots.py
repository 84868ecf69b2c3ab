"""Neutron radiographs with gamma spots, and where the spots are (:func:`make_spotty_radiograph`).

Private helper of :mod:`phaselib.datasets`. A neutron radiograph is the open beam (a smooth
profile) times the sample's transmission: discs and bars of different attenuation with sharp
edges, a fine porous texture inside some of them, Poisson counts. Gamma rays hitting the
scintillator or the camera add *spots*: mostly single hot pixels, some small clusters (2 to 8
touching pixels, brightest in their first pixel), with amplitudes spread evenly in log over more
than two decades, from a few percent of the open beam to ten times it. A gamma hit's amplitude
does not depend on the neutron counts under it, so one faint spot stands out of a dark region
(few counts, small Poisson noise) and is lost in a bright one: no single threshold on the
difference to the median fits both. The spots are known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .._validate import check_int, check_number


@dataclass(frozen=True, eq=False)
class SpottyImage:
    """A spotty radiograph and its truth.

    Attributes
    ----------
    image : (H, W) float32 ndarray
        Counts with spots.
    spots : (H, W) bool ndarray
        Where spots were added.
    clean : (H, W) float32 ndarray
        The same counts without the spots.
    expected : (H, W) float32 ndarray
        Expected counts (no noise, no spots).
    options : dict
    """

    image: np.ndarray
    spots: np.ndarray
    clean: np.ndarray
    expected: np.ndarray
    options: dict

    @property
    def n_spot_pixels(self) -> int:
        return int(self.spots.sum())


def _sample(shape, rng, porous):
    """Transmission (H, W) of discs and bars with sharp edges and, in some, a porous texture."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mu = np.zeros(shape, np.float32)
    for _ in range(max(3, (h * w) // 6000)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.06, 0.2) * min(h, w)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        mu[inside] = rng.uniform(0.3, 2.5)
    for _ in range(max(2, (h * w) // 15000)):
        r0, c0 = rng.integers(0, h), rng.integers(0, w)
        bar = (slice(r0, r0 + rng.integers(4, max(5, h // 6))), slice(c0, c0 + rng.integers(h // 8 + 4, w // 2 + 5)))
        mu[bar] += rng.uniform(0.1, 0.8)
    if porous:
        grains = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), 1.5)
        grains /= grains.std()
        mu += np.where(mu > 0, 0.05 * grains, 0)
    return np.exp(-np.clip(mu, 0, None))


def make_spotty_radiograph(shape=(256, 256), *, open_beam=3000.0, spot_fraction=0.004, cluster_share=0.35,
                           min_amplitude=0.03, porous=True, seed=0) -> SpottyImage:
    """A neutron radiograph with gamma spots, and where the spots are.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` pixels.
    open_beam : float
        Mean counts of the open beam (where nothing attenuates).
    spot_fraction : float
        Share of the pixels hit by a spot (clusters included), in (0, 0.2].
    cluster_share : float
        Share of the spot events that are clusters of 2-8 pixels rather than one pixel.
    min_amplitude : float
        Smallest spot amplitude, as a fraction of ``open_beam`` (amplitudes are log-uniform up
        to 10 times the open beam).
    porous : bool
        A fine porous texture inside the sample (the median filter then sees large
        differences where no spot is).
    seed : int

    Returns
    -------
    SpottyImage

    Examples
    --------
    >>> s = make_spotty_radiograph((64, 96), seed=1)
    >>> s.image.shape, s.spots.dtype, s.n_spot_pixels
    ((64, 96), dtype('bool'), 31)
    """
    if not (isinstance(shape, (tuple, list)) and len(shape) == 2):
        raise ValueError(f"`shape` must be (H, W), got {shape!r}.")
    h, w = (check_int(s, "shape", low=16) for s in shape)
    check_number(open_beam, "open_beam", low=1, high=1e7)
    check_number(spot_fraction, "spot_fraction", low=0, high=0.2, low_open=True)
    check_number(cluster_share, "cluster_share", low=0, high=1)
    check_number(min_amplitude, "min_amplitude", low=0, high=10, low_open=True, high_open=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    beam = open_beam * (1 - 0.25 * (((yy - h / 2) / h) ** 2 + ((xx - w / 2) / w) ** 2) * 4)
    beam *= 1 + 0.03 * np.sin(xx / w * 5 + rng.uniform(0, 6))
    expected = (beam * _sample((h, w), rng, porous)).astype(np.float32)
    clean = rng.poisson(expected).astype(np.float32)
    added = np.zeros((h, w), np.float32)
    n_pixels = int(round(spot_fraction * h * w))
    placed = 0
    while placed < n_pixels:
        r, c = int(rng.integers(0, h)), int(rng.integers(0, w))
        amp = open_beam * float(np.exp(rng.uniform(np.log(min_amplitude), np.log(10.0))))
        size = int(rng.integers(2, 9)) if rng.random() < cluster_share else 1
        for i in range(size):
            if added[r, c] == 0:
                placed += 1
            added[r, c] += amp * (1.0 if i == 0 else rng.uniform(0.3, 0.9))
            dr, dc = ((1, 0), (-1, 0), (0, 1), (0, -1))[int(rng.integers(0, 4))]
            r, c = min(max(r + dr, 0), h - 1), min(max(c + dc, 0), w - 1)
    image = clean + added
    options = dict(shape=(h, w), open_beam=open_beam, spot_fraction=spot_fraction, cluster_share=cluster_share,
                   min_amplitude=min_amplitude, porous=porous, seed=seed)
    return SpottyImage(image.astype(np.float32), added > 0, clean, expected, options)
