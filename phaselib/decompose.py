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


from ._nmf import ica, nmf  # noqa: E402, F401  (NMF and ICA return Decompositions too)
