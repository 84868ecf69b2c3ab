"""Independent components (FastICA) of a PCA's scores."""

from __future__ import annotations

import numpy as np

from .._validate import check_int, check_seed
from ._base import Decomposition


def ica(decomposition: Decomposition, n_components=None, *, random_state=0) -> Decomposition:
    """Independent components (FastICA) of the first PCA components' scores.

    Parameters
    ----------
    decomposition : Decomposition
        A PCA result.
    n_components : int, optional
        Default: its ``suggested_n_components``.

    Returns
    -------
    Decomposition
        Sources as loadings, and the spectra that mix them as factors.
    """
    from sklearn.decomposition import FastICA

    if not isinstance(decomposition, Decomposition):
        raise TypeError(f"`decomposition` must be a Decomposition (from pca or nmf), got "
                        f"{type(decomposition).__name__}.")
    n = decomposition.suggested_n_components or decomposition.n_components
    n = check_int(n if n_components is None else n_components, "n_components", low=2, high=decomposition.n_components)
    random_state = check_seed(random_state)
    h, w = decomposition.pixel_sums.shape
    scores = decomposition.loadings.reshape(h * w, -1)[:, :n].astype(np.float64)
    spread = np.linalg.svd(scores - scores.mean(0), compute_uv=False) if scores.size else np.zeros(1)
    # spreads below a millionth of the scores' size are rounding (a constant map's scores vary by ~1e-14)
    scale = max(float(spread[0]), float(np.linalg.norm(scores)), 1e-300) if np.all(np.isfinite(spread)) else 0.0
    varied = int(np.sum(spread > 1e-6 * scale)) if scale else 0
    if varied < n:  # whitening would divide by a zero spread: NaN sources
        raise ValueError(f"ICA of {n} components needs scores that vary along {n} directions; this map's vary along "
                         f"{varied} (a map of one phase, or without noise): "
                         + (f"ask for {varied} components or fewer, or use PCA." if varied >= 2 else "use PCA."))
    model = FastICA(n, whiten="unit-variance", random_state=random_state, max_iter=500)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sources = model.fit_transform(scores)
    factors = (model.mixing_.T @ decomposition.factors[:n].astype(np.float64))
    # sign: make each source's heavier tail positive
    skew = np.mean(sources ** 3, axis=0)
    sign = np.where(skew < 0, -1.0, 1.0)
    sources, factors = sources * sign, factors * sign[:, None]
    var = sources.var(0) * (factors ** 2).sum(1)
    order = np.argsort(-var, kind="stable")
    return Decomposition(
        "ica", factors[order].astype(np.float32), sources[:, order].reshape(h, w, n).astype(np.float32),
        var[order], var[order] / var.sum(), decomposition.pixel_sums, decomposition.channels,
        None, None, dict(n_components=n, random_state=random_state),
    )
