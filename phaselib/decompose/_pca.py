"""Poisson-weighted PCA (uncentred SVD) of a spectrum image, in sparse row blocks."""

from __future__ import annotations

from functools import partial

import numpy as np

from .._stream import WeightedBlocks, map_row_blocks
from .._validate import check_image, check_int, check_seed
from ..preprocess import energy_channels
from ..preprocess._window import intensity_window
from ._base import (
    DEFAULT_N_COMPONENTS,
    SAMPLE_PIXELS,
    Decomposition,
    range_keV,
    subspace_iteration,
    suggest_n_components,
)

#: float32 bytes of counts converted at a time when projecting a row block
PIECE_BYTES = 16 * 2**20


def pca(image, *, n_components=None, poisson=True, energy_range=(0.1, None), n_iter=6,
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
    n_components : int, optional
        Components computed (the scree plot's length). Default: 24, or fewer where the map has fewer pixels or
        channels in its window.
    poisson : bool
        Keenan & Kotula noise weighting.
    energy_range : (float, float or None)
        Energy window in keV; channels outside are ignored (factors are zero there). On an intensity cube the
        default ``(0.1, None)`` is the whole axis (its units need not be keV).
    n_iter : int
        Subspace iterations (passes over the data). 6 converge the components well above the noise; those at
        its level (the scree's tail) come out low (P45: the 4th and 5th 4 % and 10 % under HyperSpy's exact SVD);
        25 match HyperSpy's ``decomposition(normalize_poissonian_noise=True)`` (P45: to 4 digits through the 5th,
        within 0.7 % through the 12th; with ``energy_range=(None, None)``: HyperSpy keeps every channel).
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
        For an image of ``signal="intensity"`` (transmission...), :func:`shape_pca` instead (no
        Poisson weighting; `poisson`, `n_iter`, `sample_pixels` do not apply).
    """
    check_image(image)
    if not image.is_counts:  # no Poisson weighting for intensities: the PCA of the spectral shapes
        from ._shape import shape_pca

        return shape_pca(image, n_components=n_components, energy_range=intensity_window(energy_range),
                         block_rows=block_rows, client=client, progress=progress)
    h, w, c = image.shape
    channels = energy_channels(image, energy_range)
    n_ch = channels.stop - channels.start
    most = min(h * w, n_ch)
    n = check_int(min(DEFAULT_N_COMPONENTS, most) if n_components is None else n_components, "n_components", high=most)
    check_int(n_iter, "n_iter")
    sample_pixels = check_int(sample_pixels, "sample_pixels", low=0, allow_none=True)
    random_state = check_seed(random_state)
    fraction = 1.0 if not sample_pixels or h * w <= sample_pixels else sample_pixels / (h * w)
    step = progress or (lambda f, m: None)
    wb = WeightedBlocks(image.data, channels, poisson=poisson, block_rows=block_rows,
                        sample_fraction=fraction, progress=lambda f, m: step(0.3 * f, m))
    try:
        vals, vecs, scores = subspace_iteration(wb, n, n_iter, random_state, step)
        sq_norm = wb.sq_norm
        if fraction == 1.0:
            pixel_sums = wb.pixel_sums
    finally:
        wb.close()
    if fraction < 1.0:
        vw = (wb.col_w[:, None] * vecs).astype(np.float32)
        parts = map_row_blocks(image, partial(_project_block, channels=channels, vw=vw, poisson=poisson),
                               block_rows=block_rows, client=client,
                               progress=lambda f, m: step(0.95 + 0.05 * f, m), message="projecting")
        pixel_sums = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        del parts
    n_pix = wb.n_pixels
    explained = vals / n_pix
    ratio = explained / (sq_norm / n_pix)
    suggested, noise = (None, None)
    if poisson:
        suggested, noise = suggest_n_components(explained, n_pix, n_ch, wb.total)
    factors = np.zeros((n, c), np.float32)
    factors[:, channels] = (vecs / wb.col_w[:, None]).T
    row_w = 1.0 / np.sqrt(np.where(pixel_sums > 0, pixel_sums, 1.0)) if poisson else np.ones_like(pixel_sums)
    scores /= row_w[:, None].astype(np.float32)  # in place: the loadings (the map's size times n)
    loadings = scores
    step(1.0, "done")
    return Decomposition(
        "pca", factors, loadings.reshape(h, w, n), explained, ratio,
        pixel_sums.reshape(h, w), channels, suggested, noise,
        dict(n_components=n, poisson=poisson, energy_range=range_keV(image, channels),
             n_iter=n_iter, random_state=random_state, sample_fraction=round(fraction, 6)),
        weight_total=wb.total,
    )


def _project_block(r0, r1, block, *, channels, vw, poisson):
    """Pixel sums and weighted scores of one row block (dense float32 products, converted
    :data:`PIECE_BYTES` at a time: a row block of a wide map is 100 MB of counts and would be
    twice that as float32)."""
    raw = np.asarray(block).reshape(-1, block.shape[-1])[:, channels]
    n, m = raw.shape
    g = np.empty(n, np.float64)
    out = np.empty((n, vw.shape[1]), np.float32)
    step = max(1, PIECE_BYTES // (4 * max(m, 1)))
    for i in range(0, n, step):
        piece = raw[i:i + step].astype(np.float32)
        g[i:i + step] = piece.sum(1, dtype=np.float64)
        np.matmul(piece, vw, out=out[i:i + step])
    if poisson:
        out *= (1.0 / np.sqrt(np.where(g > 0, g, 1.0))).astype(np.float32)[:, None]
    return g, out
