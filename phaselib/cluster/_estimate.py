"""One call for any method, and scores of candidate numbers of clusters."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._validate import check_array, check_int, check_seed
from ._base import METHODS, Clustering
from ._kmeans import kmeans
from ._mixture import fuzzy_cmeans, gmm


def cluster(features, n_clusters, *, method="kmeans", random_state=0, mask=None, **kwargs) -> Clustering:
    """Dispatch to :func:`kmeans`, :func:`gmm` or :func:`fuzzy_cmeans`.

    ``mask`` (N,) bool, optional: cluster only these rows; the others come back ``-1`` (no data), with zero
    memberships.
    """
    funcs = {"kmeans": kmeans, "gmm": gmm, "fcm": fuzzy_cmeans}
    if method not in funcs:
        raise ValueError(f"Unknown clustering method {method!r}; choose one of {', '.join(METHODS)}.")
    if mask is None or np.all(mask):
        return funcs[method](features, n_clusters, random_state=random_state, **kwargs)
    mask = np.asarray(mask, bool)
    if np.count_nonzero(mask) < max(int(n_clusters), 2):
        raise ValueError(f"Only {np.count_nonzero(mask)} pixels hold counts: too few for {n_clusters} clusters.")
    part = funcs[method](np.asarray(features)[mask], n_clusters, random_state=random_state, **kwargs)
    labels = np.full(mask.size, -1, part.labels.dtype)
    labels[mask] = part.labels
    memberships = None
    if part.memberships is not None:
        memberships = np.zeros((mask.size, part.memberships.shape[1]), part.memberships.dtype)
        memberships[mask] = part.memberships
    return replace(part, labels=labels, memberships=memberships)


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

    x = check_array(features, "features", ndim=2, kind="biuf").astype(np.float64)
    sample_size = check_int(sample_size, "sample_size", low=2)
    random_state = check_seed(random_state)
    try:
        ks = np.array([k for k in k_range if 2 <= k <= x.shape[0]], int)  # one cluster has no silhouette
    except TypeError:
        raise TypeError(f"k_range must be a range or list of numbers of clusters, got {k_range!r:.60}.") from None
    if ks.size == 0:
        raise ValueError("k_range holds no usable number of clusters (2 up to the number of pixels).")
    if not np.ptp(x, axis=0).any():
        raise ValueError("features are the same for every pixel: there is nothing to cluster.")
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
