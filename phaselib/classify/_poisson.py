"""The Poisson template classifier: class spectra from the labelled pixels, exact Poisson
log-likelihood per pixel, optionally the Potts prior of :mod:`phaselib.lowcount` and a few
semi-supervised EM steps that re-estimate the templates from every pixel."""

from __future__ import annotations

import numpy as np

from ..lowcount._potts import loglik, normalise, potts_mean_field, smooth, weighted_sums

#: log-likelihood penalty (nats) that keeps a labelled pixel in its class during the E-steps
CLAMP_NATS = 1e4
#: the M-steps re-estimate each template from the pixels whose posterior for it is at least this
#: (soft posteriors of every pixel let a template drift toward a similar, larger phase: on the rich
#: dacite at 20 counts/px, 0 -> 0.5 raises the balanced accuracy 0.874 -> 0.898, the glass 0.32 -> 0.50)
CONFIDENT = 0.5


def one_hot(n_pixels, index, y, k):
    """(n_pixels, K) float32: 1 at ``(index[i], y[i])``, zero elsewhere."""
    q = np.zeros((n_pixels, k), np.float32)
    q[index, y] = 1.0
    return q


def poisson_predict(wb, channels, shape, train_index, train_y, k, *, beta, n_iter, n_sweeps, sigma,
                    intensity):
    """Posteriors of every pixel under the class templates of the training pixels.

    Parameters
    ----------
    wb : WeightedBlocks
        The map's CSR counts (all channels, no Poisson weighting).
    channels : slice
        The energy window.
    shape : (int, int)
        ``(H, W)``.
    train_index, train_y : (n,) int ndarrays
        Flat index and class of the training pixels.
    k : int
        Number of classes.
    beta : float
        Potts strength (0: per-pixel posteriors).
    n_iter : int
        E-steps; the templates are re-estimated from the posteriors between consecutive ones
        (the training pixels stay in their class).
    n_sweeps : int
        Mean-field sweeps of the last E-step (half as many before).
    sigma : float
        Gaussian smoothing of the templates along the channels (channels).
    intensity : bool
        Use the exact Poisson likelihood, whose total-count term
        ``N log M_p - M_p`` (``M_p`` the class's mean counts per pixel) also weighs the pixel's
        brightness; False: the multinomial part only (the spectrum's shape).

    Returns
    -------
    q : (H, W, K) float32 ndarray
        Posterior class probabilities.
    spectra : (K, C') ndarray
        The templates (rows summing to 1) on the window's channels.
    mean_counts : (K,) ndarray
        Mean counts per pixel of each class (of the training pixels, then of the posteriors).
    """
    h, w = shape
    n = h * w
    totals = wb.pixel_sums
    background = wb.channel_sums[channels] / max(float(wb.channel_sums[channels].sum()), 1e-12)
    q = one_hot(n, train_index, train_y, k)
    clamp = np.full((len(train_index), k), -CLAMP_NATS, np.float32)
    clamp[np.arange(len(train_index)), train_y] = 0.0
    for it in range(n_iter):
        # first pass: q is the training pixels' one-hot; then the confident posteriors of every pixel
        if it and CONFIDENT > 0:
            q = np.where(q >= CONFIDENT, q, 0)
        sums = weighted_sums(wb, q)[:, channels]
        spectra = normalise(smooth(sums, sigma), background)
        mass = q.sum(0).astype(np.float64)
        mean_counts = (q.T.astype(np.float64) @ totals) / np.maximum(mass, 1e-9)
        unary = loglik(wb, spectra, channels)
        if intensity:
            m = np.maximum(mean_counts, 1e-3)
            unary += (totals[:, None] * np.log(m)[None] - m[None]).astype(np.float32)
        unary[train_index] += clamp
        # the E-steps before the last only steer the templates: half the sweeps
        sweeps = n_sweeps if it == n_iter - 1 else max(2, n_sweeps // 2)
        q = potts_mean_field(unary.reshape(h, w, k), beta, n_sweeps=sweeps).reshape(n, k)
    return q.reshape(h, w, k), spectra, mean_counts
