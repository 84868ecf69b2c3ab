"""From component maps or memberships to a phase label map.

``-1`` (:data:`UNASSIGNED`) marks pixels claimed by no phase or by several.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_array, check_int, check_labels, check_number

__all__ = ["UNASSIGNED", "abundances", "clean_labels", "clean_mask", "labels_from_abundances", "labels_from_masks",
           "labels_from_memberships", "masks_from_maps", "otsu_thresholds"]

UNASSIGNED = -1


#: more component maps than this, and than the map has rows, is an image laid out (K, H, W) (:func:`_check_stack`)
MAX_MAPS = 64


def _check_stack(maps, name="loadings"):
    """``(H, W, K)`` maps; a HyperSpy signal of K maps (``get_decomposition_loadings()``: the components on its
    navigation axis, data ``(K, H, W)``) is turned so. An array of more than :data:`MAX_MAPS` maps and more maps than
    rows is refused: it is laid out ``(K, H, W)`` (P45's 4 NMF loadings gave 100 "thresholds", one per column)."""
    from ._hyperspy import is_signal

    if is_signal(maps):
        am = maps.axes_manager
        maps = np.asarray(maps.data)
        if am.navigation_dimension == 1 and am.signal_dimension == 2 and maps.ndim == 3:
            maps = np.moveaxis(maps, 0, -1)
    a = check_array(maps, name, ndim=3, kind="biuf")
    if a.shape[-1] > max(MAX_MAPS, a.shape[0]):
        raise ValueError(f"`{name}` of shape {a.shape} would be {a.shape[-1]} maps of {a.shape[0]} x {a.shape[1]} "
                         f"pixels: the maps go last, (H, W, K). HyperSpy's loadings are (K, H, W): pass the signal "
                         f"itself, or np.moveaxis(data, 0, -1).")
    return a


def abundances(loadings, factors=None):
    """Per-pixel share of each component: loadings scaled by their spectra's sums.

    Parameters
    ----------
    loadings : (H, W, K) ndarray or HyperSpy signal (its components on the navigation axis)
        Non-negative component maps (e.g. NMF).
    factors : (K, C) ndarray, optional
        Component spectra; each map is weighted by its spectrum's total.

    Returns
    -------
    (H, W, K) ndarray
        Fractions summing to 1 in every pixel with counts (0 elsewhere), so that
        brightness (topography, total counts) does not move thresholds.
    """
    a = _check_stack(loadings).astype(np.float32).clip(0)
    if factors is not None:
        f = check_array(factors, "factors", ndim=2, kind="biuf")
        if f.shape[0] != a.shape[-1]:
            raise ValueError(f"`factors` must have one row per component ({a.shape[-1]}), got shape {f.shape}.")
        a = a * f.astype(np.float32).clip(0).sum(1)
    total = a.sum(-1, keepdims=True)
    return np.divide(a, total, out=np.zeros_like(a), where=total > 0)


def otsu_thresholds(maps, overrides=None):
    """Otsu threshold of each map (scikit-image), with optional overrides.

    Parameters
    ----------
    maps : (H, W, K) ndarray or HyperSpy signal (its components on the navigation axis)
    overrides : dict of int -> float, optional
        Thresholds to use instead of Otsu's for some components.

    Returns
    -------
    (K,) ndarray
    """
    from skimage.filters import threshold_otsu

    maps = _check_stack(maps, "maps")
    k = maps.shape[-1]
    overrides = dict(overrides or {})
    bad = [i for i in overrides if not 0 <= int(i) < k]
    if bad:
        raise ValueError(f"overrides name components {bad}; the maps have components 0..{k - 1}.")
    out = np.empty(k)
    for i in range(k):
        m = maps[..., i]
        out[i] = overrides[i] if i in overrides else (threshold_otsu(m) if np.ptp(m) > 0 else m.flat[0])
    return out


def clean_mask(mask, min_size=0):
    """Remove objects and fill holes smaller than ``min_size`` pixels."""
    from skimage.morphology import remove_small_holes, remove_small_objects

    mask = check_array(mask, "mask", kind="biuf") != 0
    min_size = check_int(min_size, "min_size", low=0)
    if min_size <= 1:
        return mask
    mask = remove_small_objects(mask, max_size=int(min_size) - 1)
    return remove_small_holes(mask, max_size=int(min_size) - 1)


def clean_labels(labels, min_size=0):
    """A label map with each phase's objects and holes smaller than ``min_size`` pixels removed.

    Each phase's mask is cleaned by :func:`clean_mask`; pixels then claimed by no phase (a
    removed speck) or by two (a filled hole over a neighbour) become unassigned (-1), as in
    :func:`labels_from_masks`.

    Parameters
    ----------
    labels : (H, W) int ndarray
        Phase index of each pixel, -1 unassigned.
    min_size : int
        Objects and holes smaller than this are removed / filled (0 or 1: nothing changes).

    Returns
    -------
    (H, W) int16 ndarray
    """
    labels = check_labels(labels, "labels", ndim=2, low=None)  # one mask per phase index: 10**9 would be hours
    min_size = check_int(min_size, "min_size", low=0)
    if min_size <= 1 or labels.max() < 0:
        return labels.astype(np.int16)
    masks = np.stack([clean_mask(labels == i, min_size) for i in range(max(int(labels.max()) + 1, 0))], -1)
    return labels_from_masks(masks) if masks.size else labels.astype(np.int16)


def masks_from_maps(maps, thresholds=None, *, min_size=0):
    """Binary phase masks: ``map >= threshold`` per component, cleaned.

    Parameters
    ----------
    maps : (H, W, K) ndarray or HyperSpy signal (its components on the navigation axis)
    thresholds : (K,) array-like, optional
        Default: :func:`otsu_thresholds`.
    min_size : int
        Objects and holes smaller than this are removed / filled.

    Returns
    -------
    (H, W, K) bool ndarray
    """
    maps = _check_stack(maps, "maps")
    if thresholds is None:
        thresholds = otsu_thresholds(maps)
    thresholds = np.asarray(thresholds, float)
    if thresholds.shape != (maps.shape[-1],):
        raise ValueError(f"thresholds must have shape ({maps.shape[-1]},), got {thresholds.shape}.")
    masks = maps >= thresholds
    return np.stack([clean_mask(masks[..., i], min_size) for i in range(maps.shape[-1])], axis=-1)


def labels_from_masks(masks):
    """One label map from K masks: the phase where exactly one mask is set, else -1.

    Parameters
    ----------
    masks : (H, W, K) bool ndarray

    Returns
    -------
    (H, W) int16 ndarray
    """
    masks = check_array(masks, "masks", kind="biuf") != 0
    if masks.ndim != 3:
        raise ValueError(f"`masks` must be (H, W, K); got shape {masks.shape}.")
    n = masks.sum(-1)
    return np.where(n == 1, masks.argmax(-1), UNASSIGNED).astype(np.int16)


def labels_from_abundances(abundances, thresholds=None, *, min_size=0):
    """One label map from abundance maps: Otsu masks whose overlaps and gaps go to the largest share.

    Each component's mask is ``abundance >= threshold`` (Otsu's by default), as in
    :func:`masks_from_maps`, but, unlike :func:`labels_from_masks`:

    - a pixel claimed by several masks goes to the claiming component with the largest
      abundance (a dominant phase keeps the pixels where a neighbour's threshold is low);
    - a pixel claimed by none goes to its largest component if that holds at least half of
      the pixel, and stays unassigned (-1) only when no component does (a mix of three or more,
      or noise).

    The assumption is that abundances are shares of one pixel (they sum to 1, as from
    :func:`abundances`), so a share of one half or more is a majority that no other component
    can hold; a threshold only decides where a component is present, never hands a pixel to a
    component with a smaller share than another claimant. Thresholds above one half (e.g.
    overrides) still leave pixels below them unassigned when no other mask claims them.

    Parameters
    ----------
    abundances : (H, W, K) ndarray
        Per-pixel shares of each component (:func:`abundances`).
    thresholds : (K,) array-like, optional
        Default: :func:`otsu_thresholds` of the abundances.
    min_size : int
        Objects and holes smaller than this (pixels) are then removed / filled in each
        phase (:func:`clean_labels`).

    Returns
    -------
    (H, W) int16 ndarray
    """
    a = _check_stack(abundances, "abundances")
    k = a.shape[-1]
    min_size = check_int(min_size, "min_size", low=0)
    if thresholds is None:
        thresholds = otsu_thresholds(a)
    thresholds = check_array(thresholds, "thresholds", kind="iuf")
    if thresholds.shape != (k,):
        raise ValueError(f"`thresholds` must have shape ({k},), got {thresholds.shape}.")
    masks = a >= thresholds
    claimed = np.where(masks, a, -np.inf).argmax(-1)
    largest = a.argmax(-1)
    majority = np.take_along_axis(a, largest[..., None], -1)[..., 0] >= 0.5
    labels = np.where(masks.any(-1), claimed, np.where(majority, largest, UNASSIGNED)).astype(np.int16)
    return clean_labels(labels, min_size)


def labels_from_memberships(memberships, threshold=0.5):
    """Phase of each pixel whose largest membership is >= ``threshold``, else -1.

    Parameters
    ----------
    memberships : (H, W, K) ndarray
    threshold : float in (0, 1]

    Returns
    -------
    labels : (H, W) int16 ndarray
    unassigned_fraction : float
    """
    u = _check_stack(memberships, "memberships")
    threshold = check_number(threshold, "threshold", low=0, high=1, low_open=True)
    labels = np.where(u.max(-1) >= threshold, u.argmax(-1), UNASSIGNED).astype(np.int16)
    return labels, float(np.mean(labels == UNASSIGNED))
