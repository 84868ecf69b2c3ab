"""k-means (k-means++ starts, Lloyd iterations) in feature space."""

from __future__ import annotations

import numpy as np

from .._validate import check_int
from ._base import Clustering, _check_features, _fit_subset, canonical_order, relabel

#: k-means centres are fitted on at most this many pixels (then every pixel takes its nearest)
KMEANS_FIT_PIXELS = 30_000


def kmeans(features, n_clusters, *, random_state=0, n_init=3, max_fit_pixels=KMEANS_FIT_PIXELS) -> Clustering:
    """k-means (k-means++ starts, Lloyd iterations) in feature space.

    Parameters
    ----------
    features : (N, n) ndarray
    n_clusters : int
    random_state : int
    n_init : int
    max_fit_pixels : int or None
        Fit on a random subset of this many pixels at most, then label all.

    Returns
    -------
    Clustering
    """
    x, k = _check_features(features, n_clusters)
    n_init = check_int(n_init, "n_init", high=1000)
    fit = _fit_subset(x, random_state, max_fit_pixels).astype(np.float64)
    centers, inertia = _lloyd(fit, k, n_init, random_state)
    labels = _nearest(x, centers)
    order = canonical_order(labels, centers)
    return Clustering("kmeans", relabel(labels, order), centers[order], None, {"inertia": inertia},
                      dict(n_clusters=k, random_state=random_state, n_init=n_init,
                           fitted_on=int(fit.shape[0])))


def _nearest(x, centers):
    """Index of the nearest centre of each row of ``x`` (squared Euclidean), in chunks."""
    # column by column rather than a BLAS product: (N, n) @ (n, k) with tiny n and k
    # is dominated by thread start-up in OpenBLAS, badly so on a busy machine
    out = np.empty(x.shape[0], np.int64)
    for s in range(0, x.shape[0], 1 << 16):
        xs = x[s:s + (1 << 16)]
        d = np.zeros((xs.shape[0], centers.shape[0]), np.float64)
        for j in range(x.shape[1]):
            d += (xs[:, j:j + 1] - centers[None, :, j]) ** 2
        out[s:s + d.shape[0]] = d.argmin(axis=1)
    return out


def _kmeans_plus_plus(x, k, rng):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with ``2 + log k`` trials
    per centre as scikit-learn does): each new centre is the best of a few candidates
    drawn with probability proportional to the squared distance to the chosen ones."""
    trials = 2 + int(np.log(k))
    centers = [x[rng.integers(x.shape[0])]]
    d2 = ((x - centers[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        if total <= 0:
            cand = rng.integers(x.shape[0], size=trials)
        else:
            cand = np.minimum(np.searchsorted(np.cumsum(d2), rng.random(trials) * total), x.shape[0] - 1)
        options = [np.minimum(d2, ((x - x[i]) ** 2).sum(1)) for i in cand]
        best = int(np.argmin([o.sum() for o in options]))
        centers.append(x[cand[best]])
        d2 = options[best]
    return np.array(centers, np.float64)


def _lloyd(x, k, n_init, random_state, max_iter=100, tol=1e-4):
    """Best of ``n_init`` k-means runs (greedy k-means++ starts, Lloyd iterations until
    the centres move less than ``tol`` times the data's variance): centres and inertia.

    Written on NumPy rather than imported from scikit-learn, so that the default
    pipeline does not pay scikit-learn's import (about 0.8 s, a third of a
    classroom run); :func:`gmm` and :func:`estimate_n_clusters` use scikit-learn.
    """
    rng = np.random.default_rng(random_state)
    shift_tol = tol * float(np.mean(x.var(axis=0)))
    best = (None, np.inf)
    for _ in range(n_init):
        centers = _kmeans_plus_plus(x, k, rng)
        for _ in range(max_iter):
            labels = _nearest(x, centers)
            counts = np.bincount(labels, minlength=k)
            sums = np.stack([np.bincount(labels, x[:, j], minlength=k) for j in range(x.shape[1])], axis=1)
            new = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centers)
            shift = float(((new - centers) ** 2).sum())
            centers = new
            if shift <= shift_tol:
                break
        labels = _nearest(x, centers)
        inertia = float(((x - centers[labels]) ** 2).sum())
        if inertia < best[1]:
            best = (centers, inertia)
    return best
