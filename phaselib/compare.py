"""Comparing phase maps: match the phase numbers of two maps, and measure their agreement.

Phase numbers are arbitrary: two methods (or two runs) that find the same phases may number
them differently. :func:`match_labels` renumbers one map to best overlap another (the
Hungarian assignment on the table of overlaps), so that the same phase gets the same number
and colour; :func:`adjusted_rand` is the agreement, which does not depend on the numbers.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_labels

__all__ = ["adjusted_rand", "match_labels", "phase_matching"]


def _pair(labels, reference):
    a = check_labels(labels, "labels", low=None)  # a phase index of 10**9 would size the tables below
    r = check_labels(reference, "reference", low=None)
    if a.shape != r.shape:
        raise ValueError(f"`labels` (shape {a.shape}) must have the same shape as `reference` (shape {r.shape}).")
    return a, r


def phase_matching(labels, reference) -> dict:
    """Best one-to-one matching of the phases of ``labels`` to those of ``reference``.

    Parameters
    ----------
    labels, reference : (...) array_like of int
        Phase index of each pixel, ``-1`` (any negative) unassigned; pixels unassigned in
        either map are ignored.

    Returns
    -------
    dict of int -> int
        ``{phase of labels: phase of reference}``, maximising the pixels in common; phases
        left over on either side (the maps have different numbers of phases) are absent.
    """
    from scipy.optimize import linear_sum_assignment

    a, r = (x.ravel().astype(np.int64) for x in _pair(labels, reference))
    ka, kr = max(int(a.max()) + 1, 1), max(int(r.max()) + 1, 1)
    ok = (a >= 0) & (r >= 0)
    overlap = np.zeros((ka, kr))
    np.add.at(overlap, (a[ok], r[ok]), 1)
    rows, cols = linear_sum_assignment(-overlap)
    return dict(zip(rows.tolist(), cols.tolist()))


def match_labels(labels, reference) -> np.ndarray:
    """``labels`` renumbered so that each phase takes the number of the reference phase it overlaps best.

    Parameters
    ----------
    labels, reference : (...) array_like of int
        Phase maps of one shape, negative for unassigned.

    Returns
    -------
    ndarray of int64
        The same shape as ``labels``; unassigned pixels stay ``-1``; phases with no partner in
        ``reference`` are numbered after the reference's phases.

    Examples
    --------
    >>> match_labels([0, 0, 1, 2, -1], [1, 1, 0, 2, 2]).tolist()
    [1, 1, 0, 2, -1]
    """
    a, r = _pair(labels, reference)
    flat = a.ravel().astype(np.int64)
    ka, kr = max(int(flat.max()) + 1, 1), max(int(r.max()) + 1, 1)
    table = np.arange(ka) + kr  # unmatched phases get new numbers
    for found, ref in phase_matching(a, r).items():
        table[found] = ref
    return np.where(flat >= 0, table[np.maximum(flat, 0)], -1).reshape(a.shape)


def adjusted_rand(labels, reference) -> float:
    """Adjusted Rand index of two phase maps (scikit-learn's; 1: the same partition of the pixels).

    Unassigned pixels (``-1``) count as one more class, as in the maps themselves.
    """
    from sklearn.metrics import adjusted_rand_score

    a, r = _pair(labels, reference)
    return float(adjusted_rand_score(r.ravel(), a.ravel()))
