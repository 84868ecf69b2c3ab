"""Grain boundaries from a co-registered image (crossed polars, BSE): splits that a phase map cannot see.

Touching crystals of one mineral make one region of a phase map, but in crossed polars each
crystal has its own interference colour and extinction (in BSE, a weaker channelling
contrast), so the boundaries between them are edges of the image. :func:`image_grains`
smooths the image at a scale that averages twin lamellae and noise (``sigma``), takes the
Sobel gradient magnitude of every channel (their root sum of squares) as the watershed
landscape, puts one marker in each basin of that landscape deep enough to be a crystal's core
(:func:`core_markers`), grows them over the landscape inside the phase, and merges
neighbours whose mean colours differ by less than ``merge`` (one crystal cut twice).

Twin lamellae (polysynthetic twins of plagioclase, calcite: stripes of two colours a few
pixels wide) are told apart from grain boundaries by scale: where most of the local variance
of the image goes away under a smoothing of ``TWIN_SIGMA`` (and the noise does not explain
it) and a profile across them shows several stripes (one dark line is a crack), the pixel is
lamellar; there the colour is smoothed at ``TWIN_SIGMA`` instead of
``sigma``, and the orientation of the lamellae (the double angle of the structure tensor) is
added as two channels, so two twinned crystals whose averaged colours agree are still told
apart by the direction of their stripes. A phase that shows no lamellae anywhere is split on colours smoothed at
a finer scale (:data:`FINE_SHARE` of ``sigma``): its small crystals keep basins of their own. Last, pieces are cut
and joined by their colours
(:mod:`._colour`): a region holding two compact blobs of distinct colour is cut in two (a thin
crystal along a bigger one: no marker of its own); pieces of one crystal parted by the phase
map's cut join again. A phase mostly black in the image (glass, opaques) is not split.

Assumptions: crystals of one phase differ in colour or in the direction of their twin
lamellae (a random orientation gives two touching crystals the same colour now and then; those
stay merged); other edges inside a crystal (cleavage, dust) are weaker than the boundaries.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import sobel, threshold_otsu
from skimage.morphology import h_minima
from skimage.segmentation import relabel_sequential, watershed

from .._validate import check_array, check_int, check_number
from ._colour import (
    SAME_COLOUR,
    SPLIT_AREA,
    join_same_colour,
    join_twinned,
    merge_similar,
    split_two_colours,
    split_two_orientations,
    thin,
)


def check_boundary_image(image, shape):
    """The image as (H, W, C) float64 of ``shape``, stretched from its minimum (0) to its 99.5th
    percentile (1): colour thresholds then hold for dim and bright images alike."""
    img = check_array(image, "boundary_image", kind="biuf")
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[:2] != tuple(shape):
        raise ValueError(f"`boundary_image` must be an (H, W) or (H, W, C) image of the map's shape "
                         f"{tuple(shape)}, got {img.shape}.")
    img = img.astype(np.float64)
    lo = float(img.min())
    hi = float(np.quantile(img, 0.995))
    hi = hi if hi > lo else max(float(img.max()), lo + 1e-12)
    return np.clip((img - lo) / (hi - lo), 0, 1)


#: Smoothing (pixels) that averages twin lamellae 2-4.5 px wide.
TWIN_SIGMA = 3.5
#: Weight of the two lamella-orientation channels against colours in [0, 1].
TWIN_WEIGHT = 0.3
#: A phase whose inner pixels are mostly under this (stretched image) is black: not split.
DARK = 0.1
#: A phase that shows no twin lamellae (mean :func:`lamellar_index` over its pixels under :data:`LAMELLAR_PHASE`) is
#: split on colours smoothed at this share of ``sigma`` (session 60: 2.5 px merged crystals under ~8 px across, e.g.
#: a marble's calcite, into their neighbours; the smoothing is there for the lamellae, which such a phase lacks).
FINE_SHARE = 0.4
#: Mean lamellar index of a phase above which it keeps the full ``sigma``.
LAMELLAR_PHASE = 0.15
#: Noise (:func:`noise_sigma` of the stretched image's mean channel) from which every phase keeps the full ``sigma``
#: (bench_xp_grains' noisiest set, noise 0.05: ~0.018; two flat colours with noise 0.02 stretched: 0.02-0.06, cut
#: into noise pieces at the finer smoothing).
FINE_NOISE = 0.02


_LAPLACE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], float)


def noise_sigma(grey):
    """Standard deviation of white noise in an image, from the 10 % quantile of its response to
    Immerkaer's (1996) Laplacian pair (the response of noise alone: 6 sigma; a low quantile, so
    that edges and stripes over most of the image do not count)."""
    return float(np.quantile(np.abs(ndi.convolve(grey, _LAPLACE)), 0.1)) / (0.12566 * 6)


def structure_tensor(grey, scale=3.0):
    """The structure tensor ``(Jxx, Jxy, Jyy)`` of an image: products of its gradients, smoothed at ``scale``."""
    gy, gx = np.gradient(grey)
    return tuple(ndi.gaussian_filter(a, scale) for a in (gx * gx, gx * gy, gy * gy))


def lamellar_index(grey, *, window=4.0, noise_k=5.0):
    """(H, W) in [0, 1]: where the image holds parallel stripes finer than :data:`TWIN_SIGMA`.

    Fine share: the local variance (Gaussian window ``window``) of the image minus that of the
    image smoothed at ``0.6 * TWIN_SIGMA``, over the former. Stripes lose most of their variance
    (index 1 from 80 %), a single edge little (0 under 50 %). Noise loses all of it too: fine
    variance under ``noise_k`` times the noise (:func:`noise_sigma`) squared counts as none. The
    noise is read from the flattest 10 % of the image: in an image of sharp stripes alone it is
    overestimated and no stripes are found (the smoothing is then ``sigma`` everywhere). Last, the
    profile across the stripes must hold several of them (:func:`_several_stripes`): one dark line, a
    crack, has as high a fine share beside it as a field of lamellae.
    """
    g = lambda a: ndi.gaussian_filter(a, window)  # noqa: E731
    coarse = ndi.gaussian_filter(grey, 0.6 * TWIN_SIGMA)
    v_all = np.maximum(g(grey ** 2) - g(grey) ** 2, 0)
    fine = np.maximum(v_all - np.maximum(g(coarse ** 2) - g(coarse) ** 2, 0), 0)
    share = np.where(fine > (noise_k * noise_sigma(grey)) ** 2, fine / np.maximum(v_all, 1e-12), 0)
    index = np.clip((share - 0.5) / 0.3, 0, 1)
    if STRIPES_REACH:
        index *= ndi.gaussian_filter(_several_stripes(grey - coarse, index > 0).astype(float), 2.0)
    return index


#: Half-length (px) of the profile across the stripes on which several of them must show (0: not asked).
STRIPES_REACH = 10


def _several_stripes(fine, where, batch=200_000):
    """(H, W) bool: pixels of ``where`` whose profile of ``fine`` (the image less its smoothing) across the
    local stripe direction, :data:`STRIPES_REACH` px each way, holds two dark and two bright stripes or more
    (extremes beyond half its largest swing). One dark line (a crack) holds one dark extreme and no bright one
    as strong; twin lamellae (a period of 4-9 px) hold several of both."""
    out = np.zeros(fine.shape, bool)
    rows, cols = np.nonzero(where)
    if not rows.size:
        return out
    jxx, jxy, jyy = structure_tensor(fine)
    phi = 0.5 * np.arctan2(2 * jxy, jxx - jyy)  # the gradient's direction: across the stripes
    t = np.arange(-STRIPES_REACH, STRIPES_REACH + 1, dtype=float)
    for i in range(0, rows.size, batch):
        r, c = rows[i:i + batch], cols[i:i + batch]
        a = phi[r, c]
        yy = r[:, None] + t[None, :] * np.sin(a)[:, None]
        xx = c[:, None] + t[None, :] * np.cos(a)[:, None]
        p = ndi.map_coordinates(fine, [yy.ravel(), xx.ravel()], order=1, mode="reflect").reshape(yy.shape)
        swing = 0.5 * np.abs(p).max(1, keepdims=True)
        mid = p[:, 1:-1]
        low = (mid < p[:, :-2]) & (mid <= p[:, 2:]) & (mid < -swing)
        high = (mid > p[:, :-2]) & (mid >= p[:, 2:]) & (mid > swing)
        out[r, c] = (low.sum(1) >= 2) & (high.sum(1) >= 2)
    return out


def edge_landscape(image, sigma=2.5, lam=None):
    """Edges of an (H, W, C) image in [0, 1], twin lamellae averaged (see the module's notes).

    ``lam``: the image's :func:`lamellar_index`, if already computed.

    Returns
    -------
    edges : (H, W) ndarray
        Sobel gradient magnitude of the features, every channel (root sum of squares).
    features : (H, W, C + 2) ndarray
        The smoothed colours (``sigma``, or :data:`TWIN_SIGMA` where lamellar) and the
        lamellae's orientation ``(cos 2a, sin 2a)`` scaled by their strength and
        :data:`TWIN_WEIGHT`.
    lamellar : (H, W) ndarray
        :func:`lamellar_index` of the image's mean channel.
    """
    grey = image.mean(-1)
    jxx, jxy, jyy = structure_tensor(grey)
    lam = lamellar_index(grey) if lam is None else lam
    small = ndi.gaussian_filter(image, (sigma, sigma, 0)) if sigma > 0 else image
    big = ndi.gaussian_filter(image, (TWIN_SIGMA, TWIN_SIGMA, 0))
    colour = small + lam[..., None] * (big - small)
    energy = np.maximum(jxx + jyy, 1e-12)
    orient = np.stack([(jxx - jyy) / energy, 2 * jxy / energy], -1) * lam[..., None]
    orient = TWIN_WEIGHT * ndi.gaussian_filter(orient, (1.5, 1.5, 0))
    feats = np.concatenate([colour, orient], -1)
    edges = np.sqrt(sum(sobel(feats[..., c]) ** 2 for c in range(feats.shape[-1])))
    return edges, feats, lam


class Landscape(NamedTuple):
    """An image prepared once for the splits of every phase (:func:`prepare`)."""

    edges: np.ndarray  #: (H, W) edge strength (:func:`edge_landscape`)
    features: np.ndarray  #: (H, W, C + 2) smoothed colours and lamella orientation
    lamellar: np.ndarray  #: (H, W) :func:`lamellar_index`
    sharp: np.ndarray  #: (H, W, C + 2) the image barely smoothed (0.5 px) and the orientation channels
    sigma: float
    fine: tuple = None  #: ``(edges, features)`` at ``FINE_SHARE * sigma``, for phases without lamellae


def prepare(image, shape, sigma=2.5):
    """Check an image (:func:`check_boundary_image`) and compute its :class:`Landscape`."""
    sigma = check_number(sigma, "sigma", low=0, high=50)
    img = check_boundary_image(image, shape)
    edges, features, lamellar = edge_landscape(img, sigma)
    sharp = np.concatenate([ndi.gaussian_filter(img, (0.5, 0.5, 0)), features[..., img.shape[-1]:]], -1)
    fine = None
    if FINE_SHARE < 1 and sigma > 0 and noise_sigma(img.mean(-1)) < FINE_NOISE:
        fine = edge_landscape(_close_lines(img), FINE_SHARE * sigma, lamellar)[:2]
    return Landscape(edges, features, lamellar, sharp, sigma, fine)


#: A pixel darker than the image's 3 x 3 closing by this much (any channel, stretched image) lies on a dark line
#: (a crack) and takes the closing's colour before the finer smoothing (at 2.5 px cracks faded; at 1 px they cut
#: crystals: the cracked quartz set 0.936 -> 0.927 matched without this, 0.930 with the closing everywhere, which
#: also filled small dark crystals).
LINE_DEPTH = 0.2


def _close_lines(img):
    """The image with its dark lines 1-2 px wide (:data:`LINE_DEPTH`) filled by its grey closing."""
    closed = ndi.grey_closing(img, size=(3, 3, 1))
    return np.where(((closed - img).max(-1) > LINE_DEPTH)[..., None], closed, img)


def phase_landscape(land, mask):
    """The landscape a phase is split on: the finer one (:data:`FINE_SHARE`) where the phase shows no twin
    lamellae (its mean lamellar index under :data:`LAMELLAR_PHASE`), else ``land`` itself."""
    if land.fine is None or not mask.any() or float(land.lamellar[mask].mean()) >= LAMELLAR_PHASE:
        return land
    return land._replace(edges=land.fine[0], features=land.fine[1], sigma=FINE_SHARE * land.sigma, fine=None)


#: Depth of a crystal's core basin in the edge landscape, as a share of the Otsu threshold of the phase's
#: edges (session 52; before, one core per maximum of the distance to the edges above that threshold, 4 px
#: apart). bench_xp_grains' ten sets 0.913 -> 0.915 (40 px plagioclase 0.865 -> 0.889); fresh sets (seeds never
#: run) 0.915 -> 0.921; 0.2-0.35 gave the same within 0.002, 0.6 and more fewer crystals (weak boundaries missed).
CORE_DEPTH = 0.3


def core_markers(edges, mask, depth):
    """(H, W) int32: the cores of the crystals of a phase, numbered: the regional minima of the edge
    landscape (smoothed 1 px) inside ``mask`` that are ``depth`` times the Otsu threshold of its edges there
    deep or deeper (``skimage.morphology.h_minima``). A weak boundary between two crystals of close colours
    still parts two basins, where a threshold of the edges joins their cores."""
    inside = edges[mask]
    if inside.size == 0 or np.ptp(inside) == 0:
        return np.zeros(mask.shape, np.int32)
    smooth = ndi.gaussian_filter(edges, 1.0)
    basins = h_minima(np.where(mask, smooth, smooth.max()), depth * threshold_otsu(inside)) & mask
    return ndi.label(basins)[0].astype(np.int32)


def image_grains(mask, image, *, sigma=2.5, depth=None, merge=0.06, min_area=0, mask_grains=None):
    """Grains of one phase split along the edges of a co-registered image.

    Parameters
    ----------
    mask : (H, W) array of bool
        Pixels of the phase.
    image : (H, W) or (H, W, C) array, or Landscape
        XP (or BSE) image of the same pixels (any integer or float type; stretched by
        :func:`check_boundary_image`), or its :func:`prepare`-d landscape (then ``sigma`` is
        the landscape's).
    sigma : float
        Smoothing before the gradient, pixels (averages noise; twin lamellae are smoothed at
        :data:`TWIN_SIGMA`; a phase that shows no lamellae at :data:`FINE_SHARE` of it).
    depth : float, optional
        A crystal's core is a basin of the edge landscape (smoothed 1 px) this deep or deeper, as a
        share of the Otsu threshold of the edges inside the phase (default :data:`CORE_DEPTH`).
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
    m = check_array(mask, "mask", ndim=2, kind="biuf") != 0
    merge = check_number(merge, "merge", low=0)
    min_area = check_int(min_area, "min_area", low=0)
    depth = CORE_DEPTH if depth is None else check_number(depth, "depth", low=0, low_open=True)
    land = image if isinstance(image, Landscape) else prepare(image, m.shape, sigma)
    land = phase_landscape(land, m)
    edges = land.edges
    if not m.any():
        return np.zeros(m.shape, np.int32)
    markers = core_markers(edges, m, depth)
    comps, n = ndi.label(m)
    missing = np.setdiff1d(np.arange(1, n + 1), comps[markers > 0])
    for c in missing:  # a piece of the phase without a core gets one marker
        r, q = np.argwhere(comps == c)[0]
        markers[r, q] = markers.max() + 1
    labels = watershed(edges, markers, mask=m)
    labels = merge_similar(labels, land.features, merge)
    if mask_grains is not None:
        g = np.asarray(mask_grains, np.int64)
        regions = labels
        labels = np.where(m, relabel_sequential(labels.astype(np.int64) * (int(g.max()) + 1) + g)[0], 0)
        labels = join_same_colour(labels, regions, land.sharp, SAME_COLOUR)
        labels = join_twinned(labels, regions, land.features, land.lamellar)
    labels = split_two_colours(labels, land.sharp, land.lamellar)
    labels = split_two_orientations(labels, land.sharp[..., -2:], land.lamellar)
    labels = merge_similar(labels, land.sharp, merge, within=mask_grains)  # pieces a split left behind
    if min_area > 1:
        area = np.bincount(labels.ravel())
        small = (area[labels] < min_area) | (thin(labels, mask_grains) & m)
        if small.any() and (~small & m).any():  # small and thin pieces join their nearest neighbour
            idx = ndi.distance_transform_edt(small | ~m, return_distances=False, return_indices=True)
            grown = labels[tuple(idx)]
            labels = np.where(small & m, grown, labels)
            labels[~m] = 0
    return relabel_sequential(labels)[0].astype(np.int32)


def dark_in_image(land, mask):
    """Whether most of the phase's inner pixels (2 px from its outline) are black (:data:`DARK`)."""
    inner = ndi.binary_erosion(mask, iterations=2)
    inner = inner if inner.sum() >= SPLIT_AREA else mask
    if not inner.any():
        return False
    return float(np.median(land.sharp[..., : land.sharp.shape[-1] - 2][inner].max(-1))) < DARK


def split_grains(mask, grains, image, *, min_area=10, **options):
    """Split the grains of a mask (e.g. :func:`separate_grains`) along the edges of an image.

    A phase mostly black in the image (glass and cubic minerals in crossed polars, opaque
    minerals) is left as ``grains`` gives it. Grains removed from ``grains`` (0 inside the mask: too small, on
    the border) stay removed.
    ``image`` as in :func:`image_grains`; ``options`` go to it. Returns (H, W) int32 grain ids ``1..n``.
    """
    m = check_array(mask, "mask", ndim=2, kind="biuf") != 0
    g = check_array(grains, "grains", ndim=2, kind="biu")
    if g.shape != m.shape:
        raise ValueError(f"`grains` must have the mask's shape {m.shape}, got {g.shape}.")
    if g.size and g.min() < 0:
        raise ValueError("`grains` must hold grain ids >= 0 (0: no grain).")
    min_area = check_int(min_area, "min_area", low=0)
    land = image if isinstance(image, Landscape) else prepare(image, m.shape, options.pop("sigma", 2.5))
    if dark_in_image(land, m):  # isotropic (glass) or opaque: the image shows none of its boundaries
        return relabel_sequential(np.where(m, g, 0))[0].astype(np.int32)
    out = image_grains(m, land, mask_grains=g, min_area=min_area, **options)
    out[g == 0] = 0
    if min_area > 1:
        area = np.bincount(out.ravel())
        out[area[out] < min_area] = 0
    return relabel_sequential(out)[0].astype(np.int32)
