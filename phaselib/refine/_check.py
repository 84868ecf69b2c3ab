"""Checks of the arrays the refinement's building blocks take (features, labels, masks, spectra).

Each raises :class:`TypeError` or :class:`ValueError` naming the argument, before numpy, scipy or
scikit-learn meet an array of another shape or holding NaN.
"""

from __future__ import annotations

import numpy as np

from .._validate import check_array, check_int, check_labels


def feature_map(features, labels, *, finite=True):
    """``(features, labels)``: ``(H, W, D)`` numeric scores (float64) and ``(H, W)`` labels, -1 unassigned."""
    labels = check_labels(labels, "labels", ndim=2)
    f = check_array(features, "features", ndim=3, kind="iuf", finite=finite)
    if f.shape[:2] != labels.shape or f.shape[2] == 0:
        raise ValueError(f"`features` (shape {f.shape}) must be (H, W, D) scores of the map of `labels` "
                         f"{labels.shape}.")
    return f.astype(np.float64, copy=False), labels


def pixel_features(features, labels):
    """``(features, labels)``: ``(N, m)`` numeric features (not read: a memory-mapped array stays on disk) and the
    labels of the ``N`` pixels, flattened."""
    labels = check_labels(labels, "labels").ravel()
    f = features if hasattr(features, "shape") and hasattr(features, "dtype") else np.asarray(features)
    if f.dtype.kind not in "iuf" or len(f.shape) != 2 or f.shape[0] != labels.size or f.shape[1] == 0:
        raise ValueError(f"`features` (shape {tuple(f.shape)}, {f.dtype}) must be numeric features (N, m) of the "
                         f"{labels.size} pixels of `labels`.")
    return f, labels


def finite_rows(x, name="features"):
    """``x`` (rows read from features), or :class:`ValueError` when they hold NaN or infinity."""
    if not np.isfinite(x).all():
        raise ValueError(f"`{name}` holds NaN or infinite values.")
    return x


def mask(value, name, shape):
    """A boolean array of ``shape``."""
    m = check_array(value, name, kind="b")
    if m.shape != tuple(shape):
        raise ValueError(f"`{name}` must be a boolean mask of shape {tuple(shape)}, got {m.shape}.")
    return m


def region(value, name):
    """``value``, a region number (an integer >= 0; a region with no pixel is tested as too small)."""
    return check_int(value, name, low=0)


def spectra(spectrum, phases, *, spectrum_name="spectrum", phases_name="phases"):
    """``(spectrum, phases)``: a ``(C,)`` spectrum and ``(K, C)`` phase spectra, finite, float64."""
    s = check_array(spectrum, spectrum_name, ndim=1, kind="iuf").astype(np.float64)
    p = check_array(phases, phases_name, ndim=2, kind="iuf").astype(np.float64)
    if s.size == 0 or p.shape[0] == 0 or p.shape[1] != s.size:
        raise ValueError(f"`{phases_name}` (shape {p.shape}) must be spectra of the {s.size} channels of "
                         f"`{spectrum_name}`, one or more.")
    return s, p


def phase_sums(value, name="sums", *, rows=None, channels=None):
    """``(K, C)`` finite, non-negative sums (float64); ``rows``/``channels``: the sizes they must have."""
    s = check_array(value, name, ndim=2, kind="iuf").astype(np.float64)
    if (rows is not None and s.shape[0] != rows) or (channels is not None and s.shape[1] != channels):
        want = f"({'K' if rows is None else rows}, {'C' if channels is None else channels})"
        raise ValueError(f"`{name}` must have the shape {want}, got {s.shape}.")
    if s.size and s.min() < 0:
        raise ValueError(f"`{name}` holds negative values; summed counts are >= 0.")
    return s
