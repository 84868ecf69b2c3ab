"""Soft clusterings: Gaussian mixture (scikit-learn) and fuzzy c-means."""

from __future__ import annotations

import warnings

import numpy as np

from .._validate import MAX_ITER, check_choice, check_int, check_number
from ._base import MAX_FIT_PIXELS, Clustering, _check_features, _fit_subset, canonical_order, relabel
from ._kmeans import kmeans


def gmm(features, n_clusters, *, random_state=0, covariance_type="full", n_init=1,
        max_fit_pixels=MAX_FIT_PIXELS) -> Clustering:
    """Gaussian mixture (scikit-learn), initialised from k-means.

    Returns
    -------
    Clustering
        With posterior probabilities as ``memberships`` and ``score["bic"]``.
    """
    from sklearn.mixture import GaussianMixture

    x, k = _check_features(features, n_clusters)
    check_choice(covariance_type, "covariance_type", ("full", "tied", "diag", "spherical"))
    n_init = check_int(n_init, "n_init", high=1000)
    model = GaussianMixture(k, covariance_type=covariance_type, random_state=random_state,
                            n_init=n_init, reg_covar=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(_fit_subset(x, random_state, max_fit_pixels))
    labels = model.predict(x)
    order = canonical_order(labels, model.means_)
    return Clustering("gmm", relabel(labels, order), model.means_[order],
                      model.predict_proba(x)[:, order].astype(np.float32),
                      {"bic": float(model.bic(x))},
                      dict(n_clusters=k, random_state=random_state, covariance_type=covariance_type))


def fuzzy_cmeans(features, n_clusters, *, m=2.0, threshold=0.5, max_iter=300, tol=1e-5,
                 random_state=0, max_fit_pixels=MAX_FIT_PIXELS) -> Clustering:
    """Fuzzy c-means (Bezdek), vectorised, initialised from k-means centres.

    A pixel takes the cluster whose membership is at least ``threshold`` and is
    left unassigned (``-1``) otherwise, as in the seed's >= 50 % rule.

    Parameters
    ----------
    features : (N, n) ndarray
    n_clusters : int
    m : float
        Fuzzifier, > 1.
    threshold : float
        Minimum membership for a hard label, in (0, 1].
    max_iter, tol
        Iteration limit and tolerance on the change of memberships.

    Returns
    -------
    Clustering
        With ``memberships`` (N, K) and ``score["fpc"]`` (fuzzy partition
        coefficient, 1 = crisp).
    """
    x, k = _check_features(features, n_clusters)
    m = check_number(m, "m", low=1, low_open=True, high=100)  # the fuzzifier
    threshold = check_number(threshold, "threshold", low=0, high=1, low_open=True)
    max_iter = check_int(max_iter, "max_iter", high=MAX_ITER)
    tol = check_number(tol, "tol", low=0, low_open=True)
    x = x.astype(np.float64)
    fit = _fit_subset(x, random_state, max_fit_pixels)
    centers = kmeans(fit, k, random_state=random_state, n_init=1).centers
    u = _memberships(fit, centers, m)
    for _ in range(max_iter):
        um = u ** m
        centers = (um.T @ fit) / um.sum(0)[:, None]
        u_new = _memberships(fit, centers, m)
        delta = np.abs(u_new - u).max()
        u = u_new
        if delta < tol:
            break
    if fit is not x:
        u = _memberships(x, centers, m)
    labels = np.where(u.max(1) >= threshold, u.argmax(1), -1)
    order = canonical_order(u.argmax(1), centers)
    fpc = float(np.mean(np.sum(u ** 2, axis=1)))
    return Clustering("fcm", relabel(labels, order), centers[order], u[:, order].astype(np.float32),
                      {"fpc": fpc}, dict(n_clusters=k, m=m, threshold=threshold, random_state=random_state))


def _memberships(x, centers, m):
    d2 = ((x ** 2).sum(1)[:, None] - 2 * x @ centers.T + (centers ** 2).sum(1)[None]).clip(1e-12)
    inv = d2 ** (-1.0 / (m - 1))
    return inv / inv.sum(1, keepdims=True)
