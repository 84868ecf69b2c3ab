"""The seed test: pixels that no phase explains, grouped into candidate phases."""

from __future__ import annotations

import numpy as np

from .._validate import check_array, check_int, check_labels, check_number, check_seed


def _robust_scatter(x):
    """Mean and covariance of the rows of ``x``, again without the 2 % farthest (Mahalanobis)."""
    x = np.asarray(x, np.float64)
    mu, cov = x.mean(0), np.cov(x, rowvar=False) + 1e-9 * np.eye(x.shape[1])
    if x.shape[0] > 50:
        r = x - mu
        d2 = np.einsum("ij,ij->i", r @ np.linalg.pinv(cov), r)
        keep = d2 <= np.quantile(d2, 0.98)
        mu, cov = x[keep].mean(0), np.cov(x[keep], rowvar=False) + 1e-9 * np.eye(x.shape[1])
    return mu, cov


def _mahalanobis(features, scale, mu, cov, rows=1 << 18):
    """Squared Mahalanobis distance of every pixel to a phase (deviations scaled by sqrt(counts)),
    in chunks of rows (a full map's features are millions of rows)."""
    inv = np.linalg.pinv(cov).astype(np.float32)
    out = np.empty(len(features))
    for s in range(0, len(features), rows):
        r = (features[s:s + rows] - mu.astype(np.float32)) * scale[s:s + rows, None].astype(np.float32)
        out[s:s + rows] = np.einsum("ij,ij->i", r @ inv, r)  # a three-operand einsum is ~6x slower
    return out


def _on_a_segment(c, centres, tol):
    """Whether ``c`` lies within ``tol`` of a segment between two centres (a mixture of two phases)."""
    for a in range(len(centres)):
        for b in range(a + 1, len(centres)):
            d = centres[b] - centres[a]
            t = np.clip(np.dot(c - centres[a], d) / max(np.dot(d, d), 1e-12), 0, 1)
            if np.linalg.norm(c - centres[a] - t * d) <= tol:
                return True
    return False


def _distance(x, c, rows=1 << 18):
    """Euclidean distance of every row of ``x`` to ``c``, in chunks of rows (``x - c`` of a
    full map's features would be hundreds of MB)."""
    out = np.empty(len(x))
    for s in range(0, len(x), rows):
        out[s:s + rows] = np.linalg.norm(x[s:s + rows] - c, axis=1)
    return out


def _own_distance(x, lab, centres):
    """Distance of each pixel to its phase's centre (unassigned: to the nearest centre)."""
    own = np.full(len(x), np.inf)
    for p, c in enumerate(centres):
        if c is None:
            continue
        d = _distance(x, c)
        own = np.where(lab == p, d, np.where(lab < 0, np.minimum(own, d), own))
    return own


def seed_phases(features, pixel_sums, labels, *, p_value=1e-5, min_pixels=None, max_new=3, random_state=0):
    """Candidate new phases: clusters of pixels that no phase explains (see the module docstring).

    Parameters
    ----------
    features : (N, m) ndarray
        Count-normalised scores (``Decomposition.features(m)``), ``m`` a few more than used to cluster.
    pixel_sums : (N,) ndarray
        Counts of each pixel.
    labels : (N,) int ndarray
        Phase of each pixel, -1 unassigned.
    p_value : float
        Chance that a pixel of a phase is called unexplained.
    min_pixels : int, optional
        Smallest new phase; default ``max(20, 5e-4 N)`` (a phase of 0.1 % of the map is found
        when half of its pixels stand out).
    max_new : int
        Most candidates.
    random_state : int

    Returns
    -------
    list of dict
        Per candidate: ``members`` (indices of its unexplained pixels) and ``take`` (boolean
        (N,): the unusual pixels nearer its centre than their own phase's, which it would take).
        Candidates whose centre is a mixture of two phases' are left out.
    """
    from scipy.stats import chi2

    from ..cluster import kmeans

    check_number(p_value, "p_value", low=0, high=1, low_open=True, high_open=True)
    min_pixels = check_int(min_pixels, "min_pixels", allow_none=True)
    max_new = check_int(max_new, "max_new", low=0, high=100)
    random_state = check_seed(random_state)
    check_labels(labels, "labels", low=None)
    x = check_array(features, "features", ndim=2, kind="iuf").astype(np.float32, copy=False)
    lab = check_array(labels, "labels", ndim=1, kind="iu").astype(np.int64)
    g = check_array(pixel_sums, "pixel_sums", ndim=1, kind="iuf").astype(np.float64)
    n, m = x.shape
    if lab.size != n or g.size != n:
        raise ValueError(f"`labels` ({lab.size}) and `pixel_sums` ({g.size}) must have one value per row of "
                         f"`features` ({n}).")
    p_value = check_number(p_value, "p_value", low=0, high=1, low_open=True, high_open=True)
    min_pixels = max(20, int(5e-4 * n)) if min_pixels is None else check_int(min_pixels, "min_pixels")
    scale = np.sqrt(np.maximum(g, 1.0))
    k = int(lab.max()) + 1
    counts = np.bincount(lab[lab >= 0], minlength=k)
    centres = [x[lab == p].mean(0, dtype=np.float64) if counts[p] else None for p in range(k)]
    covs = {p: _robust_scatter(x[lab == p] * scale[lab == p, None])[1] for p in range(k) if counts[p] > 2 * m}
    if not covs:
        return []
    pooled = np.median(np.stack(list(covs.values())), axis=0)  # for phases too small to have their own
    d2 = np.full((n, k), np.inf)
    for p, c in enumerate(centres):
        if c is not None:
            d2[:, p] = _mahalanobis(x, scale, c, covs.get(p, pooled))
    worst = d2.min(1)
    unexplained = np.flatnonzero(worst > chi2.ppf(1 - p_value, m))
    unusual = worst > chi2.ppf(0.99, m)
    if unexplained.size < min_pixels:
        return []
    n_groups = int(min(max_new, unexplained.size // min_pixels))
    groups = kmeans(x[unexplained], n_groups, random_state=random_state).labels if n_groups > 1 \
        else np.zeros(unexplained.size, int)
    known = np.array([c for c in centres if c is not None])
    own = _own_distance(x, lab, centres)
    out = []
    for grp in range(n_groups):
        members = unexplained[groups == grp]
        if members.size < min_pixels:
            continue
        c = x[members].mean(0)
        nearest = min(np.linalg.norm(c - k_) for k_ in known)
        if _on_a_segment(c, known, 0.25 * nearest):
            continue
        take = unusual & (_distance(x, c) < own)
        if np.count_nonzero(take) >= min_pixels:
            out.append(dict(members=members, take=take))
    return out
