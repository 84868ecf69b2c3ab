"""Per-pixel features of kNN and random forest: Poisson-weighted PCA scores, optionally with
spatially smoothed copies (:func:`skimage.feature.multiscale_basic_features`)."""

from __future__ import annotations

import numpy as np

from .. import decompose
from .._validate import check_int

#: components computed for the features (as many as are above the noise are used, at least K - 1)
MAX_COMPONENTS = 12


def pca_features(image, n_classes, *, n_components="auto", smooth_sigma=(1.0, 4.0), energy_range=(0.1, None),
                 decomposition=None, random_state=0):
    """(H * W, F) float32 features and the decomposition they came from.

    Parameters
    ----------
    image : SpectrumImage
    n_classes : int
    n_components : int or "auto"
        Scores used; ``"auto"``: those above the Poisson noise, at least ``n_classes - 1`` and
        at most :data:`MAX_COMPONENTS`.
    smooth_sigma : (float, float) or None
        Smallest and largest Gaussian sigma (pixels) of the smoothed score maps appended to
        the features (``multiscale_basic_features``, intensity only); None: scores only.
    energy_range : (float, float or None)
    decomposition : Decomposition, optional
        A PCA of this map to reuse.
    random_state : int

    Returns
    -------
    features : (H * W, F) float32 ndarray
    decomposition : Decomposition
    n_used : int
        Scores used.
    """
    h, w, c = image.shape
    if decomposition is None:
        n_max = max(2, min(MAX_COMPONENTS, h * w - 1, c - 1))
        decomposition = decompose.pca(image, n_components=n_max, energy_range=energy_range, n_iter=4,
                                      random_state=random_state)
    if n_components == "auto":
        n = max(decomposition.suggested_n_components or 1, n_classes - 1, 2)
        n = min(n, decomposition.n_components)
    else:
        n = check_int(n_components, "n_components", high=decomposition.n_components)
    x = decomposition.features(n)
    if smooth_sigma is not None:
        from skimage.feature import multiscale_basic_features

        lo, hi = smooth_sigma
        maps = multiscale_basic_features(x.reshape(h, w, n), intensity=True, edges=False, texture=False,
                                         sigma_min=lo, sigma_max=hi, channel_axis=-1)
        x = np.concatenate([x, maps.reshape(h * w, -1).astype(np.float32)], axis=1)
    return x, decomposition, n
