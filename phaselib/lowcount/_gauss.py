"""A Potts prior over Gaussian clusters: spatially coherent regions of an intensity cube.

An intensity cube (transmission, absorbance...) has no Poisson counts, so the multinomial
likelihood of :mod:`phaselib.lowcount` does not apply. Its regions are found by clustering the
pixels' scores on the spectral-shape components (:func:`phaselib.decompose.shape_pca`); where the
noise is comparable to the differences between the materials' shapes (few neutrons per bin,
thin pieces) those labels turn to speckle and clumps, although the regions are pieces of material
many pixels wide.

Model: each cluster ``k`` is a Gaussian in the score space (its mean and full covariance, from its
pixels, plus a ridge of 1e-3 of the mean variance), with the cluster's share as its prior; the
labels follow the same Potts field as the counts path (``beta`` nats per equal pair of
4-neighbours), solved by the same damped mean field (:func:`~phaselib.lowcount.potts_mean_field`);
the Gaussians are re-estimated from the posteriors and the field solved again (``n_iter`` times).
With ``beta = 2`` a pixel whose own likelihood favours its cluster by more than 8 nats keeps it
whatever its neighbours say, so on clean cubes nothing moves; boundaries between regions stay where
the data put them. Assumption: regions are wider than a pixel or two (a one-pixel line of a
material is smoothed away when its shape is not clearly above the noise).
"""

from __future__ import annotations

import numpy as np

from .._validate import MAX_ITER, check_array, check_int, check_labels
from ._potts import check_beta, potts_mean_field

#: ridge added to each cluster's covariance, as a share of the mean variance of the scores
RIDGE = 1e-3


def gaussian_potts(features, labels, *, beta=2.0, n_iter=2, n_sweeps=10):
    """Labels of clustered pixels made spatially coherent under a Potts prior.

    Parameters
    ----------
    features : (H, W, D) or (H * W, D) array_like
        Each pixel's scores (e.g. ``Decomposition.features(n)`` of a shape PCA).
    labels : (H, W) int array_like
        The clustering's labels ``0..K-1`` (every pixel assigned).
    beta : float
        Potts strength, nats per equal pair of 4-neighbours (0: per-pixel Gaussian posteriors).
    n_iter : int
        Rounds of (Gaussians from the posteriors, mean field).
    n_sweeps : int
        Mean-field sweeps per round.

    Returns
    -------
    labels : (H, W) int16 ndarray
        Numbered ``0..K'-1`` in the order of the input's clusters; ``K' < K`` when a cluster
        keeps no pixel.
    moved : int
        Pixels whose label changed.
    """
    lab = check_array(labels, "labels", ndim=2, kind="iu")
    h, w = lab.shape
    x = check_array(features, "features", kind="biuf").astype(np.float64).reshape(h * w, -1)
    if lab.min() < 0:
        raise ValueError("`labels` must assign every pixel (0..K-1).")
    beta = check_beta(beta)
    n_iter = check_int(n_iter, "n_iter", high=MAX_ITER)
    n_sweeps = check_int(n_sweeps, "n_sweeps", high=MAX_ITER)
    lab = check_labels(lab, "labels", low=0)  # a label of 10**9 would size q at 10**9 columns
    k = int(lab.max()) + 1
    q = np.zeros((h * w, k))
    q[np.arange(h * w), lab.ravel()] = 1.0
    ridge = RIDGE * max(float(x.var(0).mean()), 1e-30)
    for _ in range(n_iter):
        unary = _gaussian_loglik(x, q, ridge)
        if not np.isfinite(unary).any(1).all():  # every cluster too small for a covariance (a tiny map)
            break
        q = potts_mean_field(unary.reshape(h, w, k), beta, n_sweeps=n_sweeps).reshape(h * w, k)
    out = q.argmax(1)
    kept = np.unique(out)
    renumber = np.full(k, -1, np.int64)
    renumber[kept] = np.arange(kept.size)
    out = renumber[out].reshape(h, w).astype(np.int16)
    moved = int(np.count_nonzero(kept[out] != lab))
    return out, moved


def _gaussian_loglik(x, q, ridge):
    """(N, K) float32: log of each cluster's share times its Gaussian density at each pixel."""
    n, d = x.shape
    k = q.shape[1]
    out = np.full((n, k), -np.inf, np.float32)
    mass = q.sum(0)
    for c in range(k):
        if mass[c] < d + 1:  # too few pixels for a covariance: the cluster is gone
            continue
        wts = q[:, c]
        mu = wts @ x / mass[c]
        dev = x - mu
        cov = (dev * wts[:, None]).T @ dev / mass[c] + ridge * np.eye(d)
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, dev.T)
        out[:, c] = -0.5 * np.einsum("ij,ij->j", z, z) - np.log(np.diag(chol)).sum() + np.log(mass[c] / n)
    return out
