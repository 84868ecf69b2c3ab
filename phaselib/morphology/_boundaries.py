"""Grain boundaries from a co-registered image (crossed polars, BSE): splits that a phase map cannot see.

Touching crystals of one mineral make one region of a phase map, but in crossed polars each
crystal has its own interference colour and extinction (in BSE, a weaker channelling
contrast), so the boundaries between them are edges of the image. :func:`image_grains`
smooths the image at a scale that averages twin lamellae and noise (``sigma``), takes the
Sobel gradient magnitude of every channel (their root sum of squares) as the watershed
landscape, puts one marker at each maximum of the distance to the strong edges and the
phase's outline (crystal cores), grows them over the landscape inside the phase, and merges
neighbours whose mean colours differ by less than ``merge`` (one crystal cut twice).

Assumptions: crystals of one phase differ in colour (a random orientation gives two touching
crystals the same colour now and then; those stay merged); edges inside a crystal (twins,
cleavage, dust) are finer than ``sigma`` or weaker than the boundaries.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import sobel, threshold_otsu
from skimage.segmentation import relabel_sequential, watershed

from .._validate import check_array, check_number


def check_boundary_image(image, shape):
    """The image as (H, W, C) float64 in [0, 1] (uint8 / float, grey or colour) of ``shape``."""
    img = check_array(image, "boundary_image", kind="biuf")
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[:2] != tuple(shape):
        raise ValueError(f"`boundary_image` must be an (H, W) or (H, W, C) image of the map's shape "
                         f"{tuple(shape)}, got {img.shape}.")
    img = img.astype(np.float64)
    hi = 255.0 if image.dtype == np.uint8 else max(float(img.max()), 1e-12)
    return img / hi


def edge_landscape(image, sigma=2.5):
    """(H, W) gradient magnitude of the smoothed image, every channel (root sum of squares)."""
    sm = ndi.gaussian_filter(image, (sigma, sigma, 0)) if sigma > 0 else image
    return np.sqrt(sum(sobel(sm[..., c]) ** 2 for c in range(sm.shape[-1]))), sm


def image_grains(mask, image, *, sigma=2.5, min_distance=4, merge=0.06, min_area=0, mask_grains=None):
    """Grains of one phase split along the edges of a co-registered image.

    Parameters
    ----------
    mask : (H, W) array of bool
        Pixels of the phase.
    image : (H, W) or (H, W, C) array
        XP (or BSE) image of the same pixels (uint8, or floats scaled to their maximum).
    sigma : float
        Smoothing before the gradient, pixels (averages twin lamellae and noise).
    min_distance : int
        Smallest distance between two crystal cores, pixels.
    merge : float
        Neighbours whose mean smoothed colours differ by less than this (Euclidean, in [0, 1]
        units) are one crystal.
    min_area : int
        Pieces smaller than this (pixels) join their neighbour.
    mask_grains : (H, W) array of int, optional
        Grains of the mask alone (:func:`separate_grains`): their boundaries are kept too (a
        piece of the image regions is cut where they cut), so touching crystals of one colour
        split by the mask's concave corners stay split.

    Returns
    -------
    (H, W) ndarray of int32
        Grain id ``1..n`` of every pixel of the mask.
    """
    m = np.asarray(mask, bool)
    sigma = check_number(sigma, "sigma", low=0, high=50)
    merge = check_number(merge, "merge", low=0)
    img = check_boundary_image(image, m.shape)
    edges, smooth = edge_landscape(img, sigma)
    if not m.any():
        return np.zeros(m.shape, np.int32)
    inside = edges[m]
    t = threshold_otsu(inside) if np.ptp(inside) > 0 else np.inf
    cores = m & (edges < t)
    dist = ndi.gaussian_filter(ndi.distance_transform_edt(cores), 1.0)
    peaks = peak_local_max(dist, min_distance=int(min_distance), labels=ndi.label(m)[0], exclude_border=False)
    markers = np.zeros(m.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    comps, n = ndi.label(m)
    missing = np.setdiff1d(np.arange(1, n + 1), comps[markers > 0])
    for c in missing:  # a piece of the phase without a core gets one marker
        r, q = np.argwhere(comps == c)[0]
        markers[r, q] = markers.max() + 1
    labels = watershed(edges, markers, mask=m)
    labels = _merge_similar(labels, smooth, merge)
    if mask_grains is not None:
        g = np.asarray(mask_grains, np.int64)
        labels = np.where(m, relabel_sequential(labels.astype(np.int64) * (int(g.max()) + 1) + g)[0], 0)
    if min_area > 1:
        area = np.bincount(labels.ravel())
        small = area[labels] < min_area
        if small.any() and (~small & m).any():  # small pieces join their nearest neighbour
            idx = ndi.distance_transform_edt(small | ~m, return_distances=False, return_indices=True)
            grown = labels[tuple(idx)]
            labels = np.where(small & m, grown, labels)
            labels[~m] = 0
    return relabel_sequential(labels)[0].astype(np.int32)


def _merge_similar(labels, smooth, merge):
    """Merge 4-adjacent regions whose mean colours differ by less than ``merge`` (union-find)."""
    n = int(labels.max())
    if n < 2 or merge <= 0:
        return labels
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=n + 1).astype(float)
    means = np.stack([np.bincount(flat, smooth[..., c].ravel(), n + 1) for c in range(smooth.shape[-1])], 1)
    means /= np.maximum(counts, 1)[:, None]
    pairs = set()
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:])):
        d = (a != b) & (a > 0) & (b > 0)
        pairs |= set(zip(np.minimum(a[d], b[d]).tolist(), np.maximum(a[d], b[d]).tolist()))
    parent = np.arange(n + 1)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in sorted(pairs, key=lambda p: np.linalg.norm(means[p[0]] - means[p[1]])):
        if np.linalg.norm(means[a] - means[b]) < merge:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[rb] = ra
    roots = np.array([find(i) for i in range(n + 1)])
    return roots[labels]


def split_grains(mask, grains, image, *, min_area=10, **options):
    """Split the grains of a mask (e.g. :func:`separate_grains`) along the edges of an image.

    Grains removed from ``grains`` (0 inside the mask: too small, on the border) stay removed.
    ``options`` go to :func:`image_grains`. Returns (H, W) int32 grain ids ``1..n``.
    """
    g = np.asarray(grains)
    out = image_grains(mask, image, mask_grains=g, min_area=min_area, **options)
    out[g == 0] = 0
    if min_area > 1:
        area = np.bincount(out.ravel())
        out[area[out] < min_area] = 0
    return relabel_sequential(out)[0].astype(np.int32)
