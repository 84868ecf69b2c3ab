"""The map binned for the low-count path's initial clustering, in bounded memory."""

from __future__ import annotations

import numpy as np

from .. import preprocess
from .._stream import iter_row_blocks, sample_ranges


def binned(image, b, *, max_bytes=256 * 2**20):
    """The map binned b x b for the initial clustering. When the binned copy would pass
    ``max_bytes``, only row blocks spread evenly over the map are binned (their rows
    stacked): enough to find the phases and their spectra, in bounded memory."""
    h, w, c = image.shape
    size = (h // b) * (w // b) * c * 4
    if size <= max_bytes:
        return preprocess.bin_spatial(image, b)
    rows_per_block = b * max(1, (16 * 2**20) // max(1, w * c * image.data.dtype.itemsize * b))
    ranges = sample_ranges(h - h % b, rows_per_block, max_bytes / size)
    parts = [preprocess.bin_spatial(image.replace(data=block), b).data
             for _, _, block in iter_row_blocks(image.data, ranges=ranges)]
    return preprocess.bin_spatial(image.replace(data=image.data[:b]), b).replace(data=np.concatenate(parts))
