"""Decompositions of a spectrum image: Poisson-weighted PCA/SVD, NMF and ICA.

All three return a :class:`Decomposition`; the input is never modified and
nothing is stored on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._image import SpectrumImage
from ._weighted import WeightedBlocks


@dataclass(frozen=True, eq=False)
class Decomposition:
    """Result of a decomposition ``X ~ loadings @ factors``.

    Attributes
    ----------
    algorithm : str
    factors : (n, C) ndarray
        Component spectra on the input's channels (zero outside the energy window),
        rescaled to counts as HyperSpy does after Poisson weighting.
    loadings : (H, W, n) ndarray
        Component maps.
    explained_variance : (m,) ndarray
        Variance of each computed component (PCA: ``m >= n``, for scree plots).
    explained_variance_ratio : (m,) ndarray
        The same as a fraction of the total variance of the (weighted) data.
    suggested_n_components : int or None
        Components above the noise level (PCA only).
    noise_variance : float or None
        Largest variance expected from Poisson noise alone (Marchenko-Pastur edge
        of the weighted data), the line to draw on a scree plot.
    pixel_sums : (H, W) ndarray
        Total counts of each pixel in the energy window.
    channels : slice
        Channels of the input used (the energy window).
    params : dict
        Parameters actually used.
    """

    algorithm: str
    factors: np.ndarray
    loadings: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    pixel_sums: np.ndarray
    channels: slice
    suggested_n_components: int | None = None
    noise_variance: float | None = None
    params: dict = field(default_factory=dict)
    weight_total: float | None = None

    @property
    def n_components(self) -> int:
        return self.factors.shape[0]

    def features(self, n_components=None) -> np.ndarray:
        """(H*W, n) per-pixel scores normalised by the pixel's counts.

        For a pure pixel of a phase these do not depend on its brightness, and
        their Poisson noise is about ``1 / sqrt(counts)`` in every direction: the
        space where clustering separates phases by composition.
        """
        n = self.n_components if n_components is None else int(n_components)
        if not 1 <= n <= self.n_components:
            raise ValueError(f"n_components must be in 1..{self.n_components}, got {n}.")
        g = self.pixel_sums.reshape(-1, 1).astype(np.float64)
        total = float(self.weight_total or g.sum())
        scale = np.sqrt(total) / np.where(g > 0, g, 1.0)
        return (self.loadings.reshape(-1, self.n_components)[:, :n] * scale).astype(np.float32)

    def truncate(self, n_components) -> Decomposition:
        """The first ``n_components`` components (a new result)."""
        n = int(n_components)
        if not 1 <= n <= self.n_components:
            raise ValueError(f"n_components must be in 1..{self.n_components}, got {n}.")
        return Decomposition(
            self.algorithm, self.factors[:n], self.loadings[..., :n], self.explained_variance,
            self.explained_variance_ratio, self.pixel_sums, self.channels,
            self.suggested_n_components, self.noise_variance, {**self.params, "n_components": n},
            self.weight_total,
        )


def _check_image(image):
    if not isinstance(image, SpectrumImage):
        raise TypeError(f"Expected a SpectrumImage, got {type(image).__name__}; use phaselib.load().")


def energy_channels(image: SpectrumImage, energy_range=(0.1, None)) -> slice:
    """Channels inside ``energy_range`` (keV; ``None`` top = beam energy or axis end)."""
    low, high = energy_range if energy_range is not None else (None, None)
    e = image.energy_keV
    if high is None:
        high = image.beam_energy if image.beam_energy else e[-1]
    if low is None:
        low = e[0]
    if high <= low:
        raise ValueError(f"Empty energy window: {low} keV to {high} keV.")
    idx = np.flatnonzero((e >= low) & (e <= high))
    if idx.size < 2:
        raise ValueError(
            f"The energy window {low:g}-{high:g} keV holds {idx.size} channel(s) of the map "
            f"({e[0]:.3f}-{e[-1]:.3f} keV); widen it."
        )
    return slice(int(idx[0]), int(idx[-1]) + 1)


def suggest_n_components(explained_variance, n_pixels, n_channels, total_counts, *, margin=1.25):
    """Number of components above the Poisson noise level, and that level.

    After Keenan & Kotula weighting, pure Poisson noise has variance ``1 / T``
    per entry (``T`` total counts), so the largest noise eigenvalue of
    ``X_w^T X_w / N`` is near the Marchenko-Pastur edge
    ``(sqrt(N) + sqrt(C))**2 / (T N)``. ``margin`` allows for the unequal noise
    of the channels.

    Returns
    -------
    n : int
    noise_variance : float
    """
    edge = (np.sqrt(n_pixels) + np.sqrt(n_channels)) ** 2 / (total_counts * n_pixels)
    ev = np.asarray(explained_variance)
    above = np.flatnonzero(ev <= margin * edge)
    n = int(above[0]) if above.size else int(ev.size)
    return max(n, 1), float(margin * edge)


#: above this many pixels, PCA is fitted on evenly spread row blocks holding about this many
SAMPLE_PIXELS = 500_000
#: the same for NMF, whose fit holds a weighted copy of the sampled rows
NMF_SAMPLE_PIXELS = 250_000


def pca(image, *, n_components=24, poisson=True, energy_range=(0.1, None), n_iter=6,
        random_state=0, block_rows=None, sample_pixels=SAMPLE_PIXELS, client=None,
        progress=None) -> Decomposition:
    """Poisson-weighted PCA (uncentred SVD) of a spectrum image, in row blocks.

    The map is read into sparse row blocks; the leading right singular vectors
    come from block subspace iteration on ``X_w^T X_w`` (one pass over the blocks
    per iteration, memory ``O(C n)`` besides the blocks), as HyperSpy's
    ``decomposition(normalize_poissonian_noise=True)`` without its float64 copies.
    On maps of more than ``sample_pixels`` pixels the components are fitted on
    row blocks spread evenly over the map, and every pixel is then projected in
    one streaming pass (on a Dask cluster if one is active).

    Parameters
    ----------
    image : SpectrumImage
    n_components : int
        Components computed (the scree plot's length).
    poisson : bool
        Keenan & Kotula noise weighting.
    energy_range : (float, float or None)
        Energy window in keV; channels outside are ignored (factors are zero there).
    n_iter : int
        Subspace iterations (passes over the data).
    random_state : int
    block_rows : int, optional
    sample_pixels : int or None
        Fit on about this many pixels at most (None: all pixels).
    client : distributed.Client, optional
        For the projection pass (default: the active client, else local threads).
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    Decomposition
    """
    _check_image(image)
    h, w, c = image.shape
    channels = energy_channels(image, energy_range)
    n_ch = channels.stop - channels.start
    if not 1 <= int(n_components) <= min(h * w, n_ch):
        raise ValueError(
            f"n_components must be between 1 and {min(h * w, n_ch)} for a map of "
            f"{h * w} pixels x {n_ch} channels, got {n_components}."
        )
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}.")
    n = int(n_components)
    fraction = 1.0 if not sample_pixels or h * w <= sample_pixels else sample_pixels / (h * w)
    step = progress or (lambda f, m: None)
    wb = WeightedBlocks(image.data, channels, poisson=poisson, block_rows=block_rows,
                        sample_fraction=fraction, progress=lambda f, m: step(0.3 * f, m))
    try:
        vals, vecs, scores = _subspace_iteration(wb, n, n_iter, random_state, step)
        sq_norm = wb.sq_norm
        if fraction == 1.0:
            pixel_sums = wb.pixel_sums
    finally:
        wb.close()
    if fraction < 1.0:
        from functools import partial

        from ._passes import map_row_blocks

        vw = (wb.col_w[:, None] * vecs).astype(np.float32)
        parts = map_row_blocks(image, partial(_project_block, channels=channels, vw=vw, poisson=poisson),
                               block_rows=block_rows, client=client,
                               progress=lambda f, m: step(0.95 + 0.05 * f, m), message="projecting")
        pixel_sums = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
    n_pix = wb.n_pixels
    explained = vals / n_pix
    ratio = explained / (sq_norm / n_pix)
    suggested, noise = (None, None)
    if poisson:
        suggested, noise = suggest_n_components(explained, n_pix, n_ch, wb.total)
    factors = np.zeros((n, c), np.float32)
    factors[:, channels] = (vecs / wb.col_w[:, None]).T
    row_w = 1.0 / np.sqrt(np.where(pixel_sums > 0, pixel_sums, 1.0)) if poisson else np.ones_like(pixel_sums)
    loadings = scores / row_w[:, None].astype(np.float32)
    step(1.0, "done")
    return Decomposition(
        "pca", factors, loadings.reshape(h, w, n), explained, ratio,
        pixel_sums.reshape(h, w), channels, suggested, noise,
        dict(n_components=n, poisson=poisson, energy_range=_range_keV(image, channels),
             n_iter=n_iter, random_state=random_state, sample_fraction=round(fraction, 6)),
        weight_total=wb.total,
    )


def _project_block(r0, r1, block, *, channels, vw, poisson):
    """Pixel sums and weighted scores of one row block (dense float32 products)."""
    flat = block[..., channels].reshape(-1, vw.shape[0]).astype(np.float32)
    g = flat.sum(1, dtype=np.float64)
    rw = (1.0 / np.sqrt(np.where(g > 0, g, 1.0))).astype(np.float32) if poisson else np.float32(1)
    return g, (flat @ vw) * (rw[:, None] if poisson else rw)


def _range_keV(image, channels):
    e = image.energy_keV
    return (round(float(e[channels.start]), 4), round(float(e[channels.stop - 1]), 4))


def _subspace_iteration(wb, n, n_iter, random_state, step):
    """Leading eigenpairs of ``X_w^T X_w`` by block subspace iteration.

    ``n_iter - 1`` passes multiply by ``X_w^T X_w``; the last pass only projects
    (``Y = X_w Z``) for the Rayleigh-Ritz step, and its ``Y`` gives the scores.

    Returns
    -------
    vals : (n,) ndarray
    vecs : (C', n) ndarray
    scores : (n_pixels, n) float32 ndarray
    """
    rng = np.random.default_rng(random_state)
    n_ch = wb.n_channels
    k = min(n_ch, n + max(8, n // 4))  # oversampling
    z = np.linalg.qr(rng.standard_normal((n_ch, k)))[0]
    for i in range(n_iter - 1):
        z = np.linalg.qr(wb.gram_times(z))[0]
        step(0.3 + 0.6 * (i + 1) / n_iter, f"PCA pass {i + 1}/{n_iter}")
    y = wb.project(z)
    g = y.T.astype(np.float64) @ y
    step(0.95, f"PCA pass {n_iter}/{n_iter}")
    # Rayleigh-Ritz on the final subspace: eigen-decomposition of z^T A z
    vals, w = np.linalg.eigh((g + g.T) / 2)
    order = np.argsort(vals)[::-1][:n]
    vals = np.clip(vals[order], 0, None)
    w = w[:, order]
    vecs = z @ w
    # deterministic signs: largest absolute entry positive
    signs = np.sign(vecs[np.abs(vecs).argmax(axis=0), np.arange(vecs.shape[1])])
    signs = np.where(signs == 0, 1, signs)
    return vals, vecs * signs, y @ (w * signs).astype(np.float32)


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

    _check_image(image)
    h, w, c = image.shape
    k = int(n_components)
    channels = energy_channels(image, energy_range)
    if not 1 <= k <= min(h * w, channels.stop - channels.start):
        raise ValueError(f"n_components must be at least 1 and at most the map's size, got {n_components}.")
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
            from functools import partial

            from ._passes import map_row_blocks

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
             n_iter_=int(model.n_iter_), energy_range=_range_keV(image, channels),
             random_state=random_state, sample_fraction=round(fraction, 6)),
    )


def _nmf_block(r0, r1, block, *, channels, col_w, model, poisson):
    """Pixel sums and NMF weights of one row block."""
    from ._weighted import csr_from_counts

    csr = csr_from_counts(block.reshape(-1, block.shape[-1]), channels)
    g = np.asarray(csr.sum(axis=1)).ravel().astype(np.float64)
    if poisson:
        rw = 1.0 / np.sqrt(np.where(g > 0, g, 1.0))
        rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        csr.data *= (rw[rows] * col_w[csr.indices]).astype(np.float32)
    return g, model.transform(csr)


def _cluster_sample(wb, k, random_state):
    """k-means labels of the sampled pixels on their PCA scores (same blocks, no re-read)."""
    from .cluster import kmeans

    n = max(k, 2)
    _, _, scores = _subspace_iteration(wb, n, 4, random_state, lambda f, m: None)
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

    n = n_components or decomposition.suggested_n_components or decomposition.n_components
    if not 2 <= n <= decomposition.n_components:
        raise ValueError(f"ICA needs 2..{decomposition.n_components} components, got {n}.")
    h, w = decomposition.pixel_sums.shape
    scores = decomposition.loadings.reshape(h * w, -1)[:, :n].astype(np.float64)
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
