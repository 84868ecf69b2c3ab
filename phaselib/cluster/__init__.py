"""Clustering of pixels in a reduced (score) space, with canonical label order.

Labels are renumbered so that cluster 0 is the most abundant, then 1, ... (ties broken by
the centre's coordinates), so the same data give the same numbers and colours on every run
and for every method. ``_kmeans.py``: k-means; ``_mixture.py``: Gaussian mixture and fuzzy
c-means; ``_estimate.py``: :func:`cluster` (any method) and :func:`estimate_n_clusters`.
"""

from ._base import MAX_FIT_PIXELS, METHODS, Clustering, canonical_order, relabel
from ._estimate import ClusterEstimate, cluster, estimate_n_clusters
from ._kmeans import KMEANS_FIT_PIXELS, kmeans
from ._mixture import fuzzy_cmeans, gmm

__all__ = ["KMEANS_FIT_PIXELS", "MAX_FIT_PIXELS", "METHODS", "ClusterEstimate", "Clustering", "canonical_order",
           "cluster", "estimate_n_clusters", "fuzzy_cmeans", "gmm", "kmeans", "relabel"]
