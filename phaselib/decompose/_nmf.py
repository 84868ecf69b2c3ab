"""NMF of a spectrum image (Frobenius loss on Poisson-weighted counts, or Poisson loss on the raw counts),
started from the mean spectra of pixel clusters."""

from __future__ import annotations

from functools import partial

import numpy as np

import phaselib.decompose._nmf_kl as _kl

from .._stream import WeightedBlocks, csr_from_counts, map_row_blocks
from .._validate import check_choice, check_image, check_int, check_positive, check_seed
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


def nmf(image, n_components, *, loss="frobenius", pixel_components=2, init="phases", labels=None, poisson=True,
        energy_range=(0.1, None), max_iter=None, tol=1e-4, random_state=0, block_rows=None,
        sample_pixels=NMF_SAMPLE_PIXELS, client=None, progress=None) -> Decomposition:
    """Non-negative matrix factorisation of the map, components ordered by their share of the counts.

    ``loss="frobenius"`` (default): scikit-learn's coordinate-descent NMF on the sparse
    Poisson-weighted counts (as HyperSpy's ``decomposition(True, algorithm="NMF")``).
    ``loss="kullback-leibler"``: the Poisson likelihood of the raw counts (no weighting:
    Keenan & Kotula's is a Gaussian approximation of the same noise), fitted by EM /
    multiplicative updates; each pixel's weights use at most ``pixel_components``
    components (see ``_nmf_kl.py``). Factors then sum to 1 and loadings are counts.

    NMF is not unique: started from SVD (``init="nndsvda"``, HyperSpy's way)
    it often returns mixtures of minerals that share elements (feldspars and
    quartz). ``init="phases"`` (default) starts it from the mean spectra of
    pixel clusters, the pure pixels that a rock map always has, as endmember
    extraction does in hyperspectral unmixing; NMF then refines those.

    Parameters
    ----------
    image : SpectrumImage
    n_components : int
    loss : {"frobenius", "kullback-leibler"}
    pixel_components : {2, 1, None}
        Kullback-Leibler only: most components in one pixel's weights. 2 (default): a pure
        phase or a two-phase mix (a grain boundary), which keeps the weights of a phase whose
        spectrum lies between others' (a glass between its minerals) from spreading over
        them; 1: the best component alone; None: all (plain KL NMF).
    init : {"phases", "nndsvda", "nndsvd", "random"}
        Kullback-Leibler: ``"phases"`` only.
    labels : (H, W) int ndarray, optional
        Pixel clusters for ``init="phases"`` (default: k-means on the PCA scores).
    poisson, energy_range, random_state, block_rows, sample_pixels, client, progress
        As in :func:`pca` (``poisson``: Frobenius loss only): on big maps NMF is fitted on
        spread row blocks, then every pixel's weights are found in one pass (non-negative
        least squares; Kullback-Leibler: the same per-pixel step as in the fit).
    max_iter : int, optional
        Frobenius: iterations of :class:`sklearn.decomposition.NMF` (default 20 from
        ``"phases"``, a refinement; 200 otherwise). Kullback-Leibler: rounds of weights and
        spectra (default 50 with ``pixel_components``, 200 without; ``tol`` usually stops it at 4-16).
    tol : float
        Kullback-Leibler: stop when the mean log-likelihood per count changes by less.

    Returns
    -------
    Decomposition
    """
    check_image(image)
    h, w, c = image.shape
    channels = energy_channels(image, energy_range)
    k = check_int(n_components, "n_components", high=min(h * w, channels.stop - channels.start))
    kl = check_choice(loss, "loss", ("frobenius", "kullback-leibler")) == "kullback-leibler"
    check_choice(init, "init", ("phases",) if kl else ("phases", "nndsvda", "nndsvd", "random"))
    if pixel_components is not None:
        pixel_components = check_int(pixel_components, "pixel_components", low=1, high=2)
    max_iter = check_int(max_iter, "max_iter", low=0 if kl else 1, allow_none=True)
    tol = check_positive(tol, "tol", allow_zero=True)
    if max_iter is None:
        max_iter = (50 if pixel_components else 200) if kl else (20 if init == "phases" else 200)
    sample_pixels = check_int(sample_pixels, "sample_pixels", low=0, allow_none=True)
    random_state = check_seed(random_state)
    fraction = 1.0 if not sample_pixels or h * w <= sample_pixels else sample_pixels / (h * w)
    wb = WeightedBlocks(image.data, channels, poisson=poisson or kl, block_rows=block_rows,
                        sample_fraction=fraction, progress=(lambda f, m: progress(0.2 * f, m)) if progress else None)
    try:
        if init == "phases":
            sample_labels = (_cluster_sample(wb, k, random_state) if labels is None
                             else wb.sampled(np.asarray(labels).reshape(-1)))
        x = _kl.stack_counts(wb) if kl else _stack_weighted(wb)
    finally:
        wb.close()
    if progress:
        progress(0.25, "NMF")
    if kl:
        prior = (np.asarray(x.sum(0)).ravel() + 1.0) / max(x.shape[0], 1)  # > 0 in every channel
        wts, spectra, n_iter = _kl.kl_fit(x, _kl.spectra_from_labels(x, sample_labels, k, prior),
                                          pixel_components=pixel_components, max_iter=max_iter, tol=tol,
                                          prior=prior)
        block = partial(_kl.kl_block, channels=channels, h=spectra, pixel_components=pixel_components,
                        max_iter=max_iter)
    else:
        wts, spectra, n_iter, block = _frobenius(x, wb, k, init, sample_labels if init == "phases" else None,
                                                 channels, poisson, max_iter, tol, random_state)
    if fraction < 1.0:
        parts = map_row_blocks(image, block, block_rows=block_rows, client=client, message="NMF weights")
        pixel_sums = np.concatenate([p[0] for p in parts])
        wts = np.concatenate([p[1] for p in parts])
    else:
        pixel_sums = wb.pixel_sums
    if kl:
        loadings = wts.astype(np.float32)
    else:
        row_w = 1.0 / np.sqrt(np.where(pixel_sums > 0, pixel_sums, 1.0)) if poisson else np.ones_like(pixel_sums)
        loadings = (wts / row_w[:, None]).astype(np.float32)
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
        dict(n_components=k, loss=loss, pixel_components=pixel_components if kl else None, init=init,
             poisson=bool(poisson) and not kl, max_iter=max_iter, n_iter_=int(n_iter),
             energy_range=range_keV(image, channels), random_state=random_state,
             sample_fraction=round(fraction, 6)),
    )


def _frobenius(x, wb, k, init, sample_labels, channels, poisson, max_iter, tol, random_state):
    """scikit-learn's NMF of the weighted sample: weights, spectra (counts), iterations, block pass."""
    import warnings

    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    kw = {}
    if init == "phases":
        kw = dict(W=None, H=None)
        kw["W"], kw["H"] = _phase_init(x, sample_labels, k)
    model = NMF(k, init="custom" if init == "phases" else init, solver="cd", max_iter=max_iter, tol=tol,
                random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        wts = model.fit_transform(x, **kw)
    block = partial(_nmf_block, channels=channels, col_w=wb.col_w, model=model, poisson=poisson)
    return wts, model.components_ / wb.col_w[None, :], model.n_iter_, block


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
