"""Pixel and channel count totals: the Poisson (Keenan & Kotula) weights of a map."""

from __future__ import annotations

import numpy as np

from .._stream import iter_row_blocks
from .._validate import check_image, check_int


def row_block_sums(image, block_rows=None, progress=None):
    """(pixel sums, channel sums, minimum count) of a map, one block of rows at a time."""
    h, w, c = image.shape
    if block_rows is not None:
        check_int(block_rows, "block_rows")
    pixel_sums, channel_sums, minimum = np.zeros((h, w)), np.zeros(c), 0.0
    signed = np.dtype(image.data.dtype).kind not in "ub"  # unsigned counts cannot be < 0
    for r0, r1, blk in iter_row_blocks(image.data, block_rows):  # dask: one block computed
        pixel_sums[r0:r1] = blk.sum(axis=2, dtype=np.float64)
        channel_sums += blk.sum(axis=(0, 1), dtype=np.float64)
        minimum = min(minimum, float(blk.min())) if signed else minimum
        if progress is not None:
            progress(r1, h)
    return pixel_sums, channel_sums, minimum


def poisson_weights(image, *, block_rows=None, progress=None):
    """Pixel and channel count totals for Keenan & Kotula's Poisson-noise scaling.

    HyperSpy's ``normalize_poissonian_noise`` divides the counts by
    ``sqrt(pixel_sums[:, :, None] * channel_sums)``. The totals are accumulated one block of
    rows at a time, so a numpy, memory-mapped or dask map is never loaded or cast whole.

    Parameters
    ----------
    image : SpectrumImage
        Map of shape ``(H, W, C)``.
    block_rows : int or None
        Rows read per step; default about 64 MiB of counts.
    progress : callable or None
        Called as ``progress(rows_done, H)`` after each block.

    Returns
    -------
    pixel_sums : (H, W) ndarray of float64
        Total counts of each pixel.
    channel_sums : (C,) ndarray of float64
        Total counts of each channel (the sum spectrum).

    Raises
    ------
    ValueError
        If `block_rows` is not a positive integer, or a count is NaN, negative or all are zero.
    """
    check_image(image)
    pixel_sums, channel_sums, minimum = row_block_sums(image, block_rows, progress)
    if not np.isfinite(channel_sums).all():
        raise ValueError("The map holds NaN or infinite counts.")
    if minimum < 0:
        raise ValueError("The map holds negative counts; Poisson weights need counts >= 0.")
    if not channel_sums.sum() > 0:
        raise ValueError("The map holds no counts (every pixel is zero).")
    return pixel_sums, channel_sums
