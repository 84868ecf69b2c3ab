"""NMF of a (Poisson-weighted) spectrum image, started from the mean spectra of pixel clusters."""

from __future__ import annotations

from functools import partial

import numpy as np

from .._stream import WeightedBlocks, csr_from_counts, map_row_blocks
from .._validate import check_image, check_int
from ..cluster import kmeans
from ..preprocess import energy_channels
from ._base import NMF_SAMPLE_PIXELS, Decomposition, range_keV, subspace_iteration


def _stack_weighted(wb):
    """The sampled weighted map as one CSR; the blocks' cache is consumed (weighted in place)."""
    from scipy import sparse

    w = wb.shape[1]
    parts = []
    source = wb._cache if wb.cached else list(wb.blocks())
    wb._cache = []
    while source:
        r0, _, csr = source.pop(0)
        rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        csr.data *= (wb.row_w[r0 * w + rows] * wb.col_w[csr.indices]).astype(np.float32)
        parts.append(csr)
    return sparse.vstack(parts, format="csr")


def nmf(image, n_components, *, init="phases", labels=None, poisson=True, energy_range=(0.1, None),
        max_iter=None, tol=1e-4, random_state=0, block_rows=None, sample_pixels=NMF_SAMPLE_PIXELS,
        client=None, progress=None) -> Decomposition:
    """Non-negative matrix factorisation of the (Poisson-weighted) map.

    scikit-learn's coordinate-descent NMF on the sparse weighted counts (as
    HyperSpy's ``decomposition(True, algorithm="NMF")``), components ordered by
    their share of the counts.

    NMF is not unique: started from SVD (``init="nndsvda"``, HyperSpy's way)
    it often returns mixtures of minerals that share elements (feldspars and
    quartz). ``init="phases"`` (default) starts it from the mean spectra of
    pixel clusters, the pure pixels that a rock map always has, as endmember
    extraction does in hyperspectral unmixing; NMF then refines those.

    Parameters
    ----------
    image : SpectrumImage
    n_components : int
    init : {"phases", "nndsvda", "nndsvd", "random"}
    labels : (H, W) int ndarray, optional
        Pixel clusters for ``init="phases"`` (default: k-means on the PCA scores).
    poisson, energy_range, random_state, block_rows, sample_pixels, client, progress
        As in :func:`pca`: on big maps NMF is fitted on spread row blocks, then
        every pixel's weights are found (non-negative least squares) in one pass.
    max_iter : int, optional
        Iterations of :class:`sklearn.decomposition.NMF` (default 20 from
        ``"phases"``, a refinement; 200 otherwise).
    tol : float

    Returns
    -------
    Decomposition
    """
    import warnings

    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    check_image(image)
    h, w, c = image.shape
    channels = energy_channels(image, energy_range)
    k = check_int(n_components, "n_components", high=min(h * w, channels.stop - channels.start))
    if init not in ("phases", "nndsvda", "nndsvd", "random"):
        raise ValueError(f"Unknown init {init!r}; use 'phases', 'nndsvda', 'nndsvd' or 'random'.")
    if max_iter is None:
        max_iter = 20 if init == "phases" else 200
    fraction = 1.0 if not sample_pixels or h * w <= sample_pixels else sample_pixels / (h * w)
    wb = WeightedBlocks(image.data, channels, poisson=poisson, block_rows=block_rows, sample_fraction=fraction,
                        progress=(lambda f, m: progress(0.2 * f, m)) if progress else None)
    try:
        if init == "phases":
            sample_labels = (_cluster_sample(wb, k, random_state) if labels is None
                             else wb.sampled(np.asarray(labels).reshape(-1)))
        x = _stack_weighted(wb)
    finally:
        wb.close()
    if progress:
        progress(0.25, "NMF")
    kw = {}
    if init == "phases":
        kw = dict(W=None, H=None)
        kw["W"], kw["H"] = _phase_init(x, sample_labels, k)
    model = NMF(k, init="custom" if init == "phases" else init, solver="cd", max_iter=max_iter, tol=tol,
                random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        wts = model.fit_transform(x, **kw)
        if fraction < 1.0:
            parts = map_row_blocks(image, partial(_nmf_block, channels=channels, col_w=wb.col_w, model=model,
                                                  poisson=poisson),
                                   block_rows=block_rows, client=client, message="NMF weights")
            pixel_sums = np.concatenate([p[0] for p in parts])
            wts = np.concatenate([p[1] for p in parts])
        else:
            pixel_sums = wb.pixel_sums
    row_w = 1.0 / np.sqrt(np.where(pixel_sums > 0, pixel_sums, 1.0)) if poisson else np.ones_like(pixel_sums)
    comps = model.components_
    loadings = (wts / row_w[:, None]).astype(np.float32)
    spectra = comps / wb.col_w[None, :]
    share = loadings.sum(0) * spectra.sum(1)
    order = np.argsort(-share, kind="stable")
    factors = np.zeros((len(order), c), np.float32)
    factors[:, channels] = spectra[order]
    share = share[order] / share.sum()
    if progress:
        progress(1.0, "done")
    return Decomposition(
        "nmf", factors, loadings[:, order].reshape(h, w, -1), share, share,
        pixel_sums.reshape(h, w), channels, None, None,
        dict(n_components=k, init=init, poisson=poisson, max_iter=max_iter,
             n_iter_=int(model.n_iter_), energy_range=range_keV(image, channels),
             random_state=random_state, sample_fraction=round(fraction, 6)),
    )


def _nmf_block(r0, r1, block, *, channels, col_w, model, poisson):
    """Pixel sums and NMF weights of one row block."""
    csr = csr_from_counts(block.reshape(-1, block.shape[-1]), channels)
    g = np.asarray(csr.sum(axis=1)).ravel().astype(np.float64)
    if poisson:
        rw = 1.0 / np.sqrt(np.where(g > 0, g, 1.0))
        rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        csr.data *= (rw[rows] * col_w[csr.indices]).astype(np.float32)
    return g, model.transform(csr)


def _cluster_sample(wb, k, random_state):
    """k-means labels of the sampled pixels on their PCA scores (same blocks, no re-read)."""
    n = max(k, 2)
    _, _, scores = subspace_iteration(wb, n, 4, random_state, lambda f, m: None)
    g = wb.sampled(wb.pixel_sums)[:, None]
    feats = scores[:, :k] * np.sqrt(wb.total / np.where(g > 0, g, 1.0)).astype(np.float32)
    return kmeans(feats, k, random_state=random_state).labels


def _phase_init(x, labels, k):
    """NMF start: cluster mean spectra as H, their least-squares weights (clipped) as W."""
    from scipy import sparse

    n = x.shape[0]
    if labels.shape != (n,):
        raise ValueError(f"labels must have one entry per pixel ({n}), got shape {labels.shape}.")
    ok = (labels >= 0) & (labels < k)
    ind = sparse.csr_matrix((np.ones(ok.sum()), (labels[ok], np.flatnonzero(ok))), shape=(k, n))
    counts = np.asarray(ind.sum(1)).ravel()
    h0 = np.asarray((ind @ x).todense()) / np.maximum(counts, 1)[:, None]
    empty = counts == 0
    if empty.any():  # a cluster with no pixel: start it from the mean spectrum
        h0[empty] = np.asarray(x.mean(0)).ravel()
    w0 = np.asarray(x @ np.linalg.pinv(h0))
    return np.clip(w0, 0, None).astype(np.float32), h0.astype(np.float32)
