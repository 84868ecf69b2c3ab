"""The two pieces of the model: the Poisson data term and the Potts field's mean field."""

from __future__ import annotations

import numpy as np

from .._stream import WeightedBlocks
from .._validate import MAX_ITER, check_array, check_image, check_int, check_number
from ..preprocess import energy_channels


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
    if np.isnan(unary).any() or np.isposinf(unary).any():  # NaN posteriors everywhere, with no word
        raise ValueError("unary holds NaN or +inf (a log-likelihood of NaN: NaN counts or spectra?).")
    beta = check_beta(beta)
    n_sweeps = check_int(n_sweeps, "n_sweeps", high=MAX_ITER)
    check_number(damping, "damping", low=0, high=1, high_open=True)
    # phase-major (K, H, W) inside: the reductions over the phases are then element-wise passes over
    # whole planes, not strided reductions over a short last axis (3x faster for K = 7)
    u = np.ascontiguousarray(np.moveaxis(unary, -1, 0))
    q = _softmax(u.copy())
    if beta > 0:
        field_ = np.empty_like(q)
        for _ in range(n_sweeps):
            field_[...] = 0
            field_[:, 1:] += q[:, :-1]
            field_[:, :-1] += q[:, 1:]
            field_[:, :, 1:] += q[:, :, :-1]
            field_[:, :, :-1] += q[:, :, 1:]
            field_ *= np.float32(beta)
            field_ += u
            _softmax(field_)  # in place: the map holds few (K, H, W) arrays
            field_ *= np.float32(1 - damping)
            q *= np.float32(damping)
            q += field_
        del field_
    del u  # at most four map-sized arrays at once (the input, its copy, q, the field), as before
    return np.ascontiguousarray(np.moveaxis(q, 0, -1))


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
    check_image(image)
    spectra = check_array(spectra, "spectra", kind="biuf").astype(np.float64)  # NaN spectra: NaN everywhere
    if spectra.ndim != 2 or spectra.shape[1] != image.n_channels:
        raise ValueError(f"spectra must be (K, {image.n_channels}), got shape {spectra.shape}.")
    wb = WeightedBlocks(image.data, energy_channels(image, energy_range), poisson=False,
                        block_rows=block_rows)
    try:
        h, w, _ = image.shape
        return loglik(wb, spectra[:, wb.channels]).reshape(h, w, -1)
    finally:
        wb.close()


def loglik(wb, spectra, channels=None):
    """(H*W, K) float32 ``x @ log(s).T`` over the CSR row blocks of ``wb``.

    ``spectra`` are on the blocks' channels, or on the slice ``channels`` of them: counts in the
    other channels then have weight zero (they do not enter the likelihood).
    """
    w = wb.shape[1]
    log_s = np.log(normalise(spectra, None)).T.astype(np.float32)
    if channels is not None:
        full = np.zeros((wb.n_channels, log_s.shape[1]), np.float32)
        full[channels] = log_s
        log_s = full
    out = np.empty((wb.shape[0] * w, log_s.shape[1]), np.float32)

    def one(r0, r1, csr):
        out[r0 * w:r1 * w] = csr @ log_s

    wb.map_blocks(one)
    return out


def weighted_sums(wb, q):
    """(K, C') posterior-weighted sums of the pixels' counts."""
    w = wb.shape[1]
    return wb.sum_blocks(lambda r0, r1, csr: csr.T @ q[r0 * w:r1 * w]).T


def smooth(spectra, sigma):
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(spectra, sigma, axis=1, mode="nearest") if sigma >= 0.3 else spectra


def normalise(spectra, background):
    """Rows summing to 1 with a floor of ``1e-3 / channels``; empty rows -> background."""
    s = np.clip(np.asarray(spectra, np.float64), 0, None)
    tot = s.sum(1, keepdims=True)
    if background is not None and np.any(tot <= 0):
        s = np.where(tot > 0, s, background[None])
        tot = s.sum(1, keepdims=True)
    s = np.maximum(s / np.where(tot > 0, tot, 1), 1e-3 / s.shape[1])
    return s / s.sum(1, keepdims=True)


def _softmax(a):
    """Softmax over the first axis, in place."""
    a -= a.max(0)
    np.exp(a, out=a)
    a /= a.sum(0)
    return a


#: the strongest prior taken (nats per agreeing neighbour): far beyond it every map is one phase, and
#: the mean field's exponentials overflow
MAX_BETA = 100.0


def check_beta(beta):
    """``beta`` as a float >= 0 (the strength of the spatial prior)."""
    if isinstance(beta, (int, float, np.floating, np.integer)) and not isinstance(beta, bool) and beta < 0:
        raise ValueError(f"`beta` (the strength of the spatial prior) must be >= 0; use 0 to turn "
                         f"the prior off, about 1 for low-count maps; got {beta!r}.")
    return check_number(beta, "beta", low=0, high=MAX_BETA)
