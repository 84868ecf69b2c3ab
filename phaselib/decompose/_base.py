"""What every decomposition shares: the :class:`Decomposition` result, the noise level of a
Poisson-weighted scree, and block subspace iteration on the weighted map."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validate import check_array, check_int, check_number

#: above this many pixels, PCA is fitted on evenly spread row blocks holding about this many
SAMPLE_PIXELS = 500_000
#: the same for NMF, whose fit holds a weighted copy of the sampled rows
NMF_SAMPLE_PIXELS = 250_000


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

    def __repr__(self) -> str:
        h, w = self.loadings.shape[:2]
        hint = "" if self.suggested_n_components is None else f", {self.suggested_n_components} above the noise"
        return (f"<Decomposition {self.algorithm}: {self.n_components} components, loadings {h} x {w} pixels, "
                f"{self.factors.shape[1]} channels{hint}>")

    @property
    def n_components(self) -> int:
        return self.factors.shape[0]

    def features(self, n_components=None) -> np.ndarray:
        """(H*W, n) per-pixel scores normalised by the pixel's counts.

        For a pure pixel of a phase these do not depend on its brightness, and
        their Poisson noise is about ``1 / sqrt(counts)`` in every direction: the
        space where clustering separates phases by composition.
        For an intensity cube (:func:`~phaselib.decompose.shape_pca`) the scores of the pixels'
        spectral shapes, as they are.
        """
        n = self.n_components if n_components is None else check_int(n_components, "n_components",
                                                                      high=self.n_components)
        if self.params.get("signal") == "intensity":  # shape scores (shape_pca): used as they are
            return self.loadings.reshape(-1, self.n_components)[:, :n].astype(np.float32)
        g = self.pixel_sums.reshape(-1, 1).astype(np.float64)
        total = float(self.weight_total or g.sum())
        scale = np.sqrt(total) / np.where(g > 0, g, 1.0)
        return (self.loadings.reshape(-1, self.n_components)[:, :n] * scale).astype(np.float32)

    def truncate(self, n_components) -> Decomposition:
        """The first ``n_components`` components (a new result)."""
        n = check_int(n_components, "n_components", high=self.n_components)
        return Decomposition(
            self.algorithm, self.factors[:n], self.loadings[..., :n], self.explained_variance,
            self.explained_variance_ratio, self.pixel_sums, self.channels,
            self.suggested_n_components, self.noise_variance, {**self.params, "n_components": n},
            self.weight_total,
        )


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
    n_pixels, n_channels = check_int(n_pixels, "n_pixels"), check_int(n_channels, "n_channels")
    total_counts = check_number(total_counts, "total_counts", low=0, low_open=True)
    margin = check_number(margin, "margin", low=0, low_open=True)
    ev = check_array(explained_variance, "explained_variance", ndim=1, kind="biuf")
    edge = (np.sqrt(n_pixels) + np.sqrt(n_channels)) ** 2 / (total_counts * n_pixels)
    above = np.flatnonzero(ev <= margin * edge)
    n = int(above[0]) if above.size else int(ev.size)
    return max(n, 1), float(margin * edge)


#: components a PCA computes when none are asked for (fewer on maps of fewer pixels or channels)
DEFAULT_N_COMPONENTS = 24


def range_keV(image, channels):
    """The window of ``channels`` in keV to 4 decimals, the boundary steps' window too. Rounded to nearest, it can
    leave out an edge channel (P45: 0.10765 keV -> 0.1077), kept so (with them the P45 maps thinned to 60 counts/px
    agreed 0.002-0.004 less with the full one, session 56); but where that drops over 1 % of the channels (a map of
    3 channels of 6.83 keV lost both) the window is rounded outwards."""
    e = image.energy_keV
    low, high = float(e[channels.start]), float(e[channels.stop - 1])
    lo, hi = round(low, 4), round(high, 4)
    held = np.count_nonzero((e[channels] >= lo) & (e[channels] <= hi))
    if channels.stop - channels.start - held > 0.01 * (channels.stop - channels.start):
        lo, hi = min(lo, float(np.floor(low * 1e4) / 1e4)), max(hi, float(np.ceil(high * 1e4) / 1e4))
    return lo, hi


def subspace_iteration(wb, n, n_iter, random_state, step):
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
