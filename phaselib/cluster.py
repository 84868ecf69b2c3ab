"""Clustering of pixels in a reduced (score) space, with canonical label order.

Labels are renumbered so that cluster 0 is the most abundant, then 1, ... (ties
broken by the centre's coordinates), so the same data give the same numbers and
colours on every run and for every method.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

METHODS = ("kmeans", "gmm", "fcm")


@dataclass(frozen=True, eq=False)
class Clustering:
    """Result of clustering ``N`` pixels into ``K`` clusters.

    Attributes
    ----------
    method : str
    labels : (N,) ndarray of int
        Cluster of each pixel, in canonical order; ``-1`` for pixels left
        unassigned (fuzzy memberships below the threshold).
    centers : (K, n) ndarray
        Cluster centres in the feature space, in the same order.
    memberships : (N, K) ndarray or None
        Fuzzy/posterior memberships (fuzzy c-means, GMM).
    score : dict
        Quality measures (inertia, BIC, fuzzy partition coefficient...).
    params : dict
    """

    method: str
    labels: np.ndarray
    centers: np.ndarray
    memberships: np.ndarray | None = None
    score: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return self.centers.shape[0]

    @property
    def unassigned_fraction(self) -> float:
        return float(np.mean(self.labels < 0))


def _check_features(x, n_clusters):
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"features must be (N, n); got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("features hold NaN or infinite values.")
    k = int(n_clusters)
    if not 1 <= k <= x.shape[0]:
        raise ValueError(f"n_clusters must be between 1 and the number of pixels ({x.shape[0]}), got {n_clusters}.")
    return x, k


def canonical_order(labels, centers):
    """Order clusters by decreasing size, then by centre coordinates.

    Returns
    -------
    order : (K,) ndarray
        ``order[new] = old``.
    """
    k = centers.shape[0]
    counts = np.bincount(labels[labels >= 0], minlength=k)
    keys = [tuple(np.round(c, 6)) for c in centers]
    return np.array(sorted(range(k), key=lambda i: (-counts[i], keys[i])))


def _relabel(labels, order):
    lut = np.empty(len(order) + 1, np.int32)
    lut[np.asarray(order)] = np.arange(len(order))
    lut[-1] = -1
    return lut[np.where(labels < 0, len(order), labels)]


#: above this many pixels, models are fitted on a random subset and applied to all
MAX_FIT_PIXELS = 200_000


def _fit_subset(x, random_state, max_fit):
    if max_fit is None or x.shape[0] <= max_fit:
        return x
    rng = np.random.default_rng(random_state)
    return x[np.sort(rng.choice(x.shape[0], max_fit, replace=False))]


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
    if n_init < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}.")
    fit = _fit_subset(x, random_state, max_fit_pixels).astype(np.float64)
    centers, inertia = _lloyd(fit, k, n_init, random_state)
    labels = _nearest(x, centers)
    order = canonical_order(labels, centers)
    return Clustering("kmeans", _relabel(labels, order), centers[order], None, {"inertia": inertia},
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
    model = GaussianMixture(k, covariance_type=covariance_type, random_state=random_state,
                            n_init=n_init, reg_covar=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(_fit_subset(x, random_state, max_fit_pixels))
    labels = model.predict(x)
    order = canonical_order(labels, model.means_)
    return Clustering("gmm", _relabel(labels, order), model.means_[order],
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
    if not m > 1:
        raise ValueError(f"The fuzzifier m must be > 1, got {m}.")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}.")
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
    return Clustering("fcm", _relabel(labels, order), centers[order], u[:, order].astype(np.float32),
                      {"fpc": fpc}, dict(n_clusters=k, m=m, threshold=threshold, random_state=random_state))


def _memberships(x, centers, m):
    d2 = ((x ** 2).sum(1)[:, None] - 2 * x @ centers.T + (centers ** 2).sum(1)[None]).clip(1e-12)
    inv = d2 ** (-1.0 / (m - 1))
    return inv / inv.sum(1, keepdims=True)


def cluster(features, n_clusters, *, method="kmeans", random_state=0, **kwargs) -> Clustering:
    """Dispatch to :func:`kmeans`, :func:`gmm` or :func:`fuzzy_cmeans`."""
    funcs = {"kmeans": kmeans, "gmm": gmm, "fcm": fuzzy_cmeans}
    if method not in funcs:
        raise ValueError(f"Unknown clustering method {method!r}; choose one of {', '.join(METHODS)}.")
    return funcs[method](features, n_clusters, random_state=random_state, **kwargs)


@dataclass(frozen=True)
class ClusterEstimate:
    """Scores of candidate numbers of clusters.

    Attributes
    ----------
    k : (m,) ndarray
        Candidate numbers of clusters.
    scores : dict of str -> (m,) ndarray
        ``inertia`` (elbow), ``silhouette`` (higher is better), ``bic`` (lower is
        better), ``fpc`` (higher is better).
    best : dict of str -> int
        The number each criterion picks.
    """

    k: np.ndarray
    scores: dict
    best: dict


def estimate_n_clusters(features, k_range=range(2, 11), *, criteria=("silhouette", "bic", "elbow"),
                        random_state=0, sample_size=5000) -> ClusterEstimate:
    """Score candidate numbers of clusters with several criteria.

    Silhouette and BIC are computed on a random subsample of ``sample_size``
    pixels (they cost O(N^2) and O(N n^2 K)).

    Returns
    -------
    ClusterEstimate
    """
    from sklearn.metrics import silhouette_score

    x = np.asarray(features, dtype=np.float64)
    ks = np.array([k for k in k_range if 1 <= k <= x.shape[0]])
    if ks.size == 0:
        raise ValueError("k_range holds no usable number of clusters.")
    rng = np.random.default_rng(random_state)
    sub = x[rng.choice(x.shape[0], min(sample_size, x.shape[0]), replace=False)]
    scores = {c: [] for c in criteria}
    for k in ks:
        km = kmeans(sub, k, random_state=random_state, n_init=2)
        if "elbow" in scores:
            scores["elbow"].append(km.score["inertia"])
        if "silhouette" in scores:
            lab = km.labels
            ok = 1 < len(np.unique(lab)) < sub.shape[0]
            scores["silhouette"].append(silhouette_score(sub, lab) if ok else np.nan)
        if "bic" in scores:
            scores["bic"].append(gmm(sub, k, random_state=random_state).score["bic"])
        if "fpc" in scores:
            scores["fpc"].append(fuzzy_cmeans(sub, k, random_state=random_state).score["fpc"])
    scores = {c: np.asarray(v, dtype=float) for c, v in scores.items()}
    best = {}
    if "silhouette" in scores:
        best["silhouette"] = int(ks[np.nanargmax(scores["silhouette"])])
    if "bic" in scores:
        best["bic"] = int(ks[np.nanargmin(scores["bic"])])
    if "fpc" in scores:
        best["fpc"] = int(ks[np.nanargmax(scores["fpc"])])
    if "elbow" in scores:
        best["elbow"] = int(_elbow(ks, scores["elbow"]))
    return ClusterEstimate(ks, scores, best)


def _elbow(ks, inertia, *, fraction=0.05):
    """Elbow of a decreasing inertia curve: the first k after which adding a cluster
    lowers the inertia by less than ``fraction`` of its whole drop over ``ks``."""
    inertia = np.asarray(inertia, float)
    if len(ks) < 3:
        return ks[0]
    total = inertia[0] - inertia[-1]
    drops = inertia[:-1] - inertia[1:]
    small = np.flatnonzero(drops < fraction * total) if total > 0 else np.array([0])
    return ks[int(small[0])] if small.size else ks[-1]
