"""Scores of found grains against known ones (synthetic maps with true grain ids)."""

from __future__ import annotations

import numpy as np

from .._validate import check_array, check_int, check_number


def _ids(x, name):
    """Grain ids as int64 (negatives as background, 0), and the original id of each id (None: unchanged).

    Ids beyond the pixel count are renumbered compactly: every per-grain table below is sized by the
    largest id (10**9 would be a MemoryError)."""
    g = check_array(x, name, kind="biu").astype(np.int64)
    g[g < 0] = 0
    if not g.size or g.max() <= g.size:
        return g, None
    u, inv = np.unique(g, return_inverse=True)
    if u[0] != 0:
        u, inv = np.r_[0, u], inv + 1
    return inv.reshape(g.shape), u


def match_grains(labels, true_labels, *, min_iou=0.5):
    """Match found grains to true grains one-to-one by overlap (intersection over union).

    Parameters
    ----------
    labels, true_labels : (H, W) array_like of int
        Found and true grain ids (0: background).
    min_iou : float
        Smallest IoU of a match, in (0, 1]; from 0.5 up a grain can match at most one other.

    Returns
    -------
    pairs : (n, 2) ndarray of int64
        ``(found id, true id)`` of each match.
    iou : (n,) ndarray of float64
        Their intersection over union.
    """
    (a, a_ids), (b, b_ids) = _ids(labels, "labels"), _ids(true_labels, "true_labels")
    if a.shape != b.shape:
        raise ValueError(f"`labels` (shape {a.shape}) must have the same shape as `true_labels` "
                         f"(shape {b.shape}).")
    min_iou = check_number(min_iou, "min_iou", low=0, high=1, low_open=True)
    a, b = a.ravel().astype(np.int64), b.ravel().astype(np.int64)
    both = (a > 0) & (b > 0)
    base = int(b.max()) + 1
    pair, inter = np.unique(a[both] * base + b[both], return_counts=True)
    fa, tb = pair // base, pair % base
    iou = inter / (np.bincount(a)[fa] + np.bincount(b)[tb] - inter)
    order = np.argsort(-iou, kind="stable")
    seen_a, seen_b, keep = set(), set(), []
    for i in order[iou[order] >= min_iou]:  # greedy, best first (unique when min_iou >= 0.5)
        if fa[i] not in seen_a and tb[i] not in seen_b:
            seen_a.add(fa[i])
            seen_b.add(tb[i])
            keep.append(i)
    keep = np.asarray(keep, np.intp)
    fa, tb = fa[keep], tb[keep]
    fa, tb = (fa if a_ids is None else a_ids[fa]), (tb if b_ids is None else b_ids[tb])
    return np.column_stack([fa, tb]).astype(np.int64), iou[keep]


def score_grains(labels, true_labels, *, min_area=0, min_iou=0.5):
    """How well found grains reproduce known ones (synthetic maps with true grain ids).

    Grains smaller than ``min_area`` are left out on both sides.

    Parameters
    ----------
    labels, true_labels : (H, W) array_like of int
        Found and true grain ids (0: background), e.g. ``separate_grains(mask)`` and
        ``np.where(mask, rock.grain_ids, 0)``.
    min_area : int
        Smallest grain counted, pixels.
    min_iou : float
        Smallest intersection over union of a one-to-one match (:func:`match_grains`).

    Returns
    -------
    dict
        ``matched``: share of the true grains matched one-to-one; ``diameter_error``: median
        relative error of the equivalent diameter of the matched grains; ``count_error``:
        (found - true) / true grain count; ``n_true``, ``n_found``.

    Examples
    --------
    >>> from phaselib.datasets import make_discs
    >>> mask, ids = make_discs((120, 160), n_discs=12, overlap=0.2, seed=1)
    >>> from phaselib.morphology import separate_grains
    >>> s = score_grains(separate_grains(mask), ids, min_area=10)
    >>> bool(s["matched"] >= 0.9), bool(abs(s["count_error"]) <= 0.1)
    (True, True)
    """
    found, truth = _ids(labels, "labels")[0], _ids(true_labels, "true_labels")[0]
    min_area = check_int(min_area, "min_area", low=0)
    if found.shape != truth.shape or found.ndim != 2:
        raise ValueError(f"`labels` and `true_labels` must be two (H, W) maps of one shape, got "
                         f"{found.shape} and {truth.shape}.")
    for g in (found, truth):
        area = np.bincount(g.ravel())
        g[area[g] < min_area] = 0
    n_true, n_found = (np.count_nonzero(np.unique(g)) for g in (truth, found))
    if n_true == 0:
        raise ValueError("`true_labels` has no grain (of at least min_area pixels) to compare with.")
    pairs, _ = match_grains(found, truth, min_iou=min_iou)
    fa, ta = np.bincount(found.ravel()), np.bincount(truth.ravel())
    err = np.abs(np.sqrt(fa[pairs[:, 0]] / ta[pairs[:, 1]]) - 1)
    return dict(matched=len(pairs) / n_true, diameter_error=float(np.median(err)) if len(err) else np.nan,
                count_error=(n_found - n_true) / n_true, n_true=int(n_true), n_found=int(n_found))
