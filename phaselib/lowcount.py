"""Spatially coherent phase maps at low counts: a Poisson mixture with a Potts prior.

At 10-30 counts/pixel a pixel's spectrum says little about its phase, and per-pixel
clustering turns into speckle. Phases, however, form grains: neighbours are usually
the same phase. :func:`map_lowcount` uses both facts in one model.

Model
    A pixel ``i`` of phase ``p`` draws its counts from the phase spectrum ``s_p``
    (multinomial given its total), so its exact log-likelihood is
    ``L[i, p] = sum_j x_ij log s_pj``: a sparse product, computed by row blocks of
    CSR counts. No Gaussian or PCA approximation is made, which is what fails at a
    few counts per pixel. Total counts are deliberately not used (topography and
    detector dead time change them), so phases that differ only in brightness are
    not separated. Labels follow a Potts Markov random field on the 4-neighbourhood,
    ``P(z) ~ exp(beta * #{equal neighbour pairs})``, with no per-phase prior (a
    mixing-proportion term double counts with the field and weakens minor phases).
Inference
    EM: the E-step is vectorised mean field (``q_i ~ exp(L_i + beta * sum of the
    neighbours' q)``, damped, a few sweeps on the ``(H, W, K)`` posteriors), giving
    posterior memberships and not only labels; the M-step re-estimates each phase
    spectrum as the posterior-weighted sum of the pixels' counts, smoothed along
    energy by a Gaussian much narrower than the detector resolution (20 eV sigma vs
    ~130 eV FWHM), which removes channel noise but not peaks. Graph cuts (alpha
    expansion with PyMaxflow) would give the MAP labels only, no memberships, and add a
    compiled dependency; mean field is a few numpy operations on the (H, W, K) maps.
Initialisation by binning
    Pixels are summed over ``b x b`` blocks so that a binned pixel holds about
    ``INIT_COUNTS`` counts, where the Poisson-weighted PCA of :mod:`~phaselib.decompose`
    finds the number of phases above the noise and k-means the phases; their mean
    spectra start EM at full resolution. Binning is only the start: mixed blocks at
    grain boundaries do not reach the final map.
beta
    ``beta`` is in nats per neighbour pair, on the same scale as the data term, which
    grows with the counts. With ``beta = 1`` an isolated pixel keeps a phase when its
    spectrum favours it by more than ``4`` nats (odds ~ 55:1), a 3 x 3 grain (12 boundary
    pairs) roughly when its ~180 counts at 20 counts/pixel favour it by 12 nats. So the prior
    fades by itself at high counts and ``beta = 0`` is per-pixel Poisson classification.
    On synthetic rocks at 10-20 counts/pixel, ``beta`` in 0.7-1.5 changes the adjusted
    Rand index by about 0.02; larger values start to erase one-pixel grains.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from . import cluster, preprocess
from ._blocks import iter_row_blocks
from ._image import SpectrumImage
from ._weighted import WeightedBlocks
from .decompose import energy_channels

#: below this mean number of counts per pixel, the spatial prior is used by default
LOW_COUNTS = 150.0
#: counts per binned pixel aimed at by ``bin_factor="auto"`` for the initial clustering
INIT_COUNTS = 400.0
#: default Potts strength, nats per pair of 4-neighbours with equal labels
DEFAULT_BETA = 1.0
#: Gaussian smoothing of the phase spectra along energy in the M-step, keV
SMOOTH_KEV = 0.02


@dataclass(frozen=True, eq=False)
class LowCountMap:
    """A phase map from the Poisson-Potts model.

    Attributes
    ----------
    labels : (H, W) int16 ndarray
        Phase of each pixel (largest posterior), phases in canonical order (most
        abundant first).
    posteriors : (H, W, K) float32 ndarray
        Mean-field posterior probability of each phase.
    spectra : (K, C) float64 ndarray
        Phase spectra on the input's channels, each summing to 1 over the energy
        window (zero outside it): the spectra the posteriors were computed with.
    fractions : (K,) ndarray
        Modal (area) fraction of each phase.
    params : dict
        What was used: ``n_phases`` (and whether found automatically), ``bin_factor``,
        ``beta``, ``n_iter``, ``n_sweeps``, ``mean_counts``, ``energy_range``.
    timings : dict
        Seconds per stage.
    """

    labels: np.ndarray
    posteriors: np.ndarray
    spectra: np.ndarray
    fractions: np.ndarray
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def n_phases(self) -> int:
        return len(self.fractions)


def mean_counts(image) -> float:
    """Mean total counts per pixel of a SpectrumImage (one pass over its row blocks)."""
    _check_image(image)
    return sum(float(b.sum(dtype=np.float64)) for _, _, b in iter_row_blocks(image.data)) / image.n_pixels


def needs_spatial_prior(image_or_mean_counts, threshold=LOW_COUNTS) -> bool:
    """Whether a map's counts are low enough for :func:`map_lowcount` to be the default.

    Parameters
    ----------
    image_or_mean_counts : SpectrumImage or float
        A map, or its mean counts per pixel.
    threshold : float
        Counts per pixel below which the prior is used. Per-pixel PCA + k-means reaches
        an adjusted Rand index of ~0.4 at 20, ~0.85 at 50 and ~0.99 at 100 counts/pixel on
        synthetic rocks, but real phases are closer: the P45 dacite (122 counts/pixel)
        is still speckled per pixel. The prior costs little above (it fades as counts grow).

    Returns
    -------
    bool
    """
    if isinstance(image_or_mean_counts, SpectrumImage):
        value = mean_counts(image_or_mean_counts)
    else:
        value = _number(image_or_mean_counts, "image_or_mean_counts")
        if value < 0:
            raise ValueError(f"Mean counts per pixel must be >= 0, got {value!r}.")
    return value < _number(threshold, "threshold")


def potts_mean_field(unary, beta, *, n_sweeps=10, damping=0.5):
    """Posterior memberships of a Potts field by damped mean field.

    Parameters
    ----------
    unary : (H, W, K) ndarray
        Log-likelihood of each phase at each pixel (nats).
    beta : float
        Strength per pair of 4-neighbours with equal labels (nats), >= 0.
    n_sweeps : int
        Mean-field updates of the whole map.
    damping : float
        Share of the previous memberships kept at each update, in [0, 1).

    Returns
    -------
    (H, W, K) float32 ndarray
        Memberships summing to 1 at each pixel; ``beta = 0`` gives the per-pixel
        posteriors ``softmax(unary)``.
    """
    unary = np.asarray(unary, np.float32)
    if unary.ndim != 3:
        raise ValueError(f"unary must be (H, W, K), got shape {unary.shape}.")
    beta = _check_beta(beta)
    n_sweeps = _positive_int(n_sweeps, "n_sweeps")
    if not 0 <= _number(damping, "damping") < 1:
        raise ValueError(f"damping must be in [0, 1), got {damping!r}.")
    q = _softmax(unary)
    if beta == 0:
        return q
    for _ in range(n_sweeps):
        p = np.pad(q, ((1, 1), (1, 1), (0, 0)))
        field_ = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]
        field_ *= np.float32(beta)
        field_ += unary
        field_ = _softmax(field_, out=field_)  # in place: the map holds few (H, W, K) arrays
        field_ *= np.float32(1 - damping)
        q *= np.float32(damping)
        q += field_
    return q


def poisson_log_likelihood(image, spectra, *, energy_range=(0.1, None), block_rows=None):
    """``L[i, p] = sum_j x_ij log s_pj``: log-likelihood of each pixel under each spectrum.

    Parameters
    ----------
    image : SpectrumImage
    spectra : (K, C) ndarray
        Non-negative phase spectra on the image's channels (normalised inside the
        energy window here, with a floor of ``1e-3 / channels``).

    Returns
    -------
    (H, W, K) float32 ndarray
    """
    _check_image(image)
    spectra = np.asarray(spectra, np.float64)
    if spectra.ndim != 2 or spectra.shape[1] != image.n_channels:
        raise ValueError(f"spectra must be (K, {image.n_channels}), got shape {spectra.shape}.")
    wb = WeightedBlocks(image.data, energy_channels(image, energy_range), poisson=False,
                        block_rows=block_rows)
    try:
        h, w, _ = image.shape
        return _loglik(wb, spectra[:, wb.channels]).reshape(h, w, -1)
    finally:
        wb.close()


def map_lowcount(image, *, n_phases="auto", beta=DEFAULT_BETA, bin_factor="auto", n_iter=3,
                 n_sweeps=10, energy_range=(0.1, None), random_state=0, block_rows=None,
                 progress=None) -> LowCountMap:
    """Phase map of a low-count map: Poisson mixture + Potts prior, fitted by EM.

    Parameters
    ----------
    image : SpectrumImage
    n_phases : int or "auto"
        Default: the number of Poisson-weighted PCA components above the noise of
        the binned map (see :func:`phaselib.pipeline.map_phases`).
    beta : float
        Potts strength, nats per pair of equal 4-neighbours; ``0`` turns the prior
        off (per-pixel Poisson classification).
    bin_factor : int or "auto"
        Binning of the initial clustering (``"auto"``: about ``INIT_COUNTS`` counts per
        binned pixel); ``1`` clusters the full-resolution map.
    n_iter : int
        E-steps; the phase spectra are re-estimated between consecutive ones.
    n_sweeps : int
        Mean-field sweeps per E-step.
    energy_range : (float, float or None)
        Energy window, keV.
    random_state : int
    block_rows : int, optional
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    LowCountMap
    """
    from .pipeline import map_phases  # here: the pipeline may come to import this module

    _check_image(image)
    beta = _check_beta(beta)
    n_iter = _positive_int(n_iter, "n_iter")
    n_sweeps = _positive_int(n_sweeps, "n_sweeps")
    k_req = None if _auto(n_phases) else _positive_int(n_phases, "n_phases", auto=True)
    if k_req == 1:
        raise ValueError("n_phases must be at least 2 (a map of one phase needs no classification).")
    b_req = None if _auto(bin_factor) else _positive_int(bin_factor, "bin_factor", auto=True)
    say = progress or (lambda f, m: None)
    h, w, c = image.shape
    timings, t0 = {}, time.perf_counter()
    channels = energy_channels(image, energy_range)
    wb = WeightedBlocks(image.data, channels, poisson=False, block_rows=block_rows,
                        progress=lambda f, m: say(0.3 * f, m))
    try:
        mean = wb.total / (h * w)
        # smallest b with b * b * mean >= INIT_COUNTS, leaving at least 8 x 8 binned pixels
        b = b_req or max(1, min(math.ceil(math.sqrt(INIT_COUNTS / max(mean, 1e-9))), min(h, w) // 8))
        if b > min(h, w):
            raise ValueError(f"bin_factor {b} is larger than the map ({h} x {w} pixels).")
        say(0.3, "initial clustering")
        start = map_phases(_binned(image, b) if b > 1 else image,
                           n_phases=k_req or "auto", energy_range=energy_range,
                           random_state=random_state, spatial_prior=False)
        spectra = start.spectra.sums[:, channels]
        timings["init"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        background = wb.channel_sums / wb.total  # fills empty phases, never zero where counts are
        sigma = SMOOTH_KEV / image.energy_scale
        q = None
        for it in range(n_iter):
            if it:  # M-step: posterior-weighted sums of the counts
                spectra = _smooth(_weighted_sums(wb, q.reshape(h * w, -1)), sigma)
            spectra = _normalise(spectra, background)
            say(0.4 + 0.6 * it / n_iter, f"EM iteration {it + 1}/{n_iter}")
            q = potts_mean_field(_loglik(wb, spectra).reshape(h, w, -1), beta, n_sweeps=n_sweeps)
        timings["em"] = time.perf_counter() - t0
    finally:
        wb.close()
    labels = q.argmax(-1).ravel()
    # canonical order (most abundant first); phases that lost every pixel go
    order = cluster.canonical_order(labels, spectra)[:np.count_nonzero(np.bincount(labels))]
    q = q[..., order]
    q /= q.sum(-1, keepdims=True)
    full = np.zeros((len(order), c))
    full[:, channels] = spectra[order]
    labels = q.argmax(-1).astype(np.int16)
    fractions = np.bincount(labels.ravel(), minlength=len(order)) / labels.size
    say(1.0, "done")
    params = dict(n_phases=len(order), n_phases_auto=k_req is None, bin_factor=b, beta=beta,
                  n_iter=n_iter, n_sweeps=n_sweeps, mean_counts=round(mean, 3),
                  energy_range=start.params["energy_range"], random_state=random_state)
    return LowCountMap(labels, q, full, fractions, params, timings)


# ------------------------------------------------------------------------------ helpers
def _binned(image, b, *, max_bytes=256 * 2**20):
    """The map binned b x b for the initial clustering. When the binned copy would pass
    ``max_bytes``, only row blocks spread evenly over the map are binned (their rows
    stacked): enough to find the phases and their spectra, in bounded memory."""
    from ._blocks import iter_row_blocks, sample_ranges

    h, w, c = image.shape
    size = (h // b) * (w // b) * c * 4
    if size <= max_bytes:
        return preprocess.bin_spatial(image, b)
    rows_per_block = b * max(1, (16 * 2**20) // max(1, w * c * image.data.dtype.itemsize * b))
    ranges = sample_ranges(h - h % b, rows_per_block, max_bytes / size)
    parts = [preprocess.bin_spatial(image.replace(data=block), b).data
             for _, _, block in iter_row_blocks(image.data, ranges=ranges)]
    return preprocess.bin_spatial(image.replace(data=image.data[:b]), b).replace(data=np.concatenate(parts))



def _loglik(wb, spectra):
    """(H*W, K) float32 ``x @ log(s).T`` over the CSR row blocks of ``wb``."""
    w = wb.shape[1]
    log_s = np.log(_normalise(spectra, None)).T.astype(np.float32)
    out = np.empty((wb.shape[0] * w, log_s.shape[1]), np.float32)

    def one(r0, r1, csr):
        out[r0 * w:r1 * w] = csr @ log_s

    wb.map_blocks(one)
    return out


def _weighted_sums(wb, q):
    """(K, C') posterior-weighted sums of the pixels' counts."""
    w = wb.shape[1]
    parts = wb.map_blocks(lambda r0, r1, csr: csr.T @ q[r0 * w:r1 * w])
    return sum(np.asarray(p, np.float64) for p in parts).T


def _smooth(spectra, sigma):
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(spectra, sigma, axis=1, mode="nearest") if sigma >= 0.3 else spectra


def _normalise(spectra, background):
    """Rows summing to 1 with a floor of ``1e-3 / channels``; empty rows -> background."""
    s = np.clip(np.asarray(spectra, np.float64), 0, None)
    tot = s.sum(1, keepdims=True)
    if background is not None and np.any(tot <= 0):
        s = np.where(tot > 0, s, background[None])
        tot = s.sum(1, keepdims=True)
    s = np.maximum(s / np.where(tot > 0, tot, 1), 1e-3 / s.shape[1])
    return s / s.sum(1, keepdims=True)


def _softmax(a, out=None):
    e = np.subtract(a, a.max(-1, keepdims=True), out=out)
    np.exp(e, out=e)
    e /= e.sum(-1, keepdims=True)
    return e


def _check_image(image):
    if not isinstance(image, SpectrumImage):
        raise TypeError(f"Expected a SpectrumImage, got {type(image).__name__}; use phaselib.load().")


def _auto(value):
    return isinstance(value, str) and value == "auto"


def _number(value, name):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return float(value)


def _check_beta(beta):
    beta = _number(beta, "beta")
    if beta < 0:
        raise ValueError(f"beta (the strength of the spatial prior) must be >= 0; use 0 to turn "
                         f"the prior off, about 1 for low-count maps; got {beta!r}.")
    return beta


def _positive_int(value, name, auto=False):
    what = "a positive integer" + (' or "auto"' if auto else "")
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be {what}, got {value!r}.")
    return int(value)
