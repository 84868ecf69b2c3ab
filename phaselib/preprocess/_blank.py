"""Pixels that hold no data: no counts where an empty pixel is not a chance of Poisson noise.

A drift-corrected map's edge, a stitched montage's gaps, a masked region or dead pixels hold zero
counts. They carry no information on the phase there: the mapping leaves them unassigned (-1) and
keeps them out of the clustering, where they made a phase of their own or took the place of a real one
(the bundled P45 map with a 20 % empty corner strip: apatite lost, the empty pixels given to three minerals).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: from this median count per pixel every empty pixel is blank: a Poisson pixel expecting 20 counts is
#: empty once in 500 million; below it, only empty pixels in a 3 x 3 block of empty pixels (a chance of
#: exp(-9 x mean): 1e-18 at 5 counts/px) are, and a lone empty pixel keeps the label its neighbours give it
BLANK_MEDIAN = 20.0


def blank_pixels(pixel_sums) -> np.ndarray:
    """Pixels of a count map that hold no data.

    Parameters
    ----------
    pixel_sums : (H, W) array_like
        Counts per pixel (of the energy window used).

    Returns
    -------
    (H, W) bool ndarray
        True where a pixel holds no counts and (median counts per pixel >= :data:`BLANK_MEDIAN`, or the pixel
        lies in a 3 x 3 block of pixels that hold none; the map's edge counts as empty around it).
    """
    sums = np.asarray(pixel_sums)
    if sums.ndim != 2:  # a map itself (H, W, C) failed in scipy: "structure and input must have same dimensionality"
        raise ValueError(f"`pixel_sums` must be the counts of each pixel, (H, W), got shape {sums.shape}: sum the map "
                         "over its channels first (e.g. a Decomposition's pixel_sums).")
    empty = sums <= 0
    if not empty.any() or empty.all() or np.median(sums) >= BLANK_MEDIAN:
        return empty if not empty.all() else np.zeros_like(empty)
    square = np.ones((3, 3), bool)
    cores = ndi.binary_erosion(empty, square, border_value=1)
    return ndi.binary_dilation(cores, square) & empty
