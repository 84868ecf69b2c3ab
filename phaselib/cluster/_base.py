"""What every clustering shares: the :class:`Clustering` result, checks, canonical label order."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validate import check_array, check_int, check_seed

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

    def __repr__(self) -> str:
        share = f", {100 * self.unassigned_fraction:.1f} % unassigned" if self.unassigned_fraction else ""
        return f"<Clustering {self.method}: {self.labels.size} pixels in {self.n_clusters} clusters{share}>"

    @property
    def n_clusters(self) -> int:
        return self.centers.shape[0]

    @property
    def unassigned_fraction(self) -> float:
        return float(np.mean(self.labels < 0))


def _check_features(x, n_clusters):
    x = check_array(x, "features", ndim=2, kind="biuf")
    k = check_int(n_clusters, "n_clusters", high=x.shape[0])
    return x, k


def canonical_order(labels, centers):
    """Order clusters by decreasing size, then by centre coordinates.

    Returns
    -------
    order : (K,) ndarray
        ``order[new] = old``.
    """
    centers = check_array(centers, "centers", ndim=2)
    labels = check_array(labels, "labels", kind="iu")
    k = centers.shape[0]
    if labels.size and labels.max() >= k:
        raise ValueError(f"`labels` holds cluster {int(labels.max())}, but `centers` holds {k} clusters.")
    counts = np.bincount(labels[labels >= 0], minlength=k)
    keys = [tuple(np.round(c, 6)) for c in centers]
    return np.array(sorted(range(k), key=lambda i: (-counts[i], keys[i])))


def relabel(labels, order):
    """``labels`` renumbered so that cluster ``order[new]`` becomes ``new`` (-1 stays -1)."""
    order = check_array(order, "order", ndim=1, kind="iu")
    labels = check_array(labels, "labels", kind="iu")
    if sorted(order.tolist()) != list(range(len(order))):
        raise ValueError(f"`order` must be a permutation of 0..{len(order) - 1}, got {order.tolist()[:10]}.")
    if labels.size and (labels.max() >= len(order) or labels.min() < -1):
        raise ValueError(f"`labels` must be -1 or 0..{len(order) - 1}, got {int(labels.min())} to {int(labels.max())}.")
    lut = np.empty(len(order) + 1, np.int32)
    lut[np.asarray(order)] = np.arange(len(order))
    lut[-1] = -1
    return lut[np.where(labels < 0, len(order), labels)]


#: above this many pixels, models are fitted on a random subset and applied to all
MAX_FIT_PIXELS = 200_000


def _fit_subset(x, random_state, max_fit):
    random_state = check_seed(random_state)
    max_fit = check_int(max_fit, "max_fit_pixels", low=2, allow_none=True)
    if max_fit is None or x.shape[0] <= max_fit:
        return x
    rng = np.random.default_rng(random_state)
    return x[np.sort(rng.choice(x.shape[0], max_fit, replace=False))]
