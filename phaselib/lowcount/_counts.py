"""The mean counts per pixel of a map, and whether they are low enough for the spatial prior."""

from __future__ import annotations

import math

import numpy as np

from .._image import SpectrumImage
from .._stream import NOT_FINITE, block_rows_for, iter_row_blocks, sample_ranges
from .._validate import check_image, check_int, check_number
from ..preprocess import energy_channels

#: below this mean number of counts per pixel, the spatial prior is used by default
LOW_COUNTS = 150.0


def mean_counts(image, *, energy_range=None, sample_pixels=None, nonempty=False) -> float:
    """Mean total counts per pixel of a SpectrumImage.

    Parameters
    ----------
    image : SpectrumImage
    energy_range : (float, float or None), optional
        Count only the channels of this window (keV, as :func:`phaselib.preprocess.energy_channels`);
        default: all channels.
    sample_pixels : int, optional
        On bigger maps, read only row blocks spread evenly over the map holding about this many
        pixels (a cheap estimate); default: every row.
    nonempty : bool
        The mean of the pixels that hold counts (an empty edge or gaps not counted).

    Returns
    -------
    float
    """
    check_image(image)
    check_int(sample_pixels, "sample_pixels", allow_none=True)
    h, w, _ = image.shape
    channels = slice(None) if energy_range is None else energy_channels(image, energy_range)
    fraction = 1.0 if not sample_pixels or h * w <= sample_pixels else sample_pixels / (h * w)
    ranges = sample_ranges(h, block_rows_for(image.data), fraction)
    total, n = 0.0, 0
    for _, _, b in iter_row_blocks(image.data, ranges=ranges):
        sums = np.asarray(b[..., channels].sum(axis=-1, dtype=np.float64))
        total, n = total + float(sums.sum()), n + (np.count_nonzero(sums) if nonempty else sums.size)
    if not math.isfinite(total) or total < 0:
        raise ValueError(NOT_FINITE if not math.isfinite(total) else "The map holds negative values: counts are >= 0.")
    return total / max(n, 1)


#: below this mean number of counts per pixel a map is said to be too thin to map reliably (:func:`few_counts_note`)
FEW_COUNTS = 10.0


def few_counts_note(mean, window=None) -> str:
    """A warning for a map under :data:`FEW_COUNTS` counts per pixel (the real P45 dacite thinned to 6 counts/px
    lost its 14 % plagioclase on two seeds of three; at 1.2 counts/px its two "phases" were noise, ARI 0.02), or "".
    ``window``: the energy range the counts were counted in, said unless it is the default ``(0.1, None)``."""
    mean = float(mean)
    if not 0 < mean < FEW_COUNTS:  # none at all: an empty window or map, refused with its own message
        return ""
    where = "" if window is None or tuple(window) == (0.1, None) else \
        f" in the energy window {window[0]}-{'top' if window[1] is None else window[1]} keV"
    return (f"The map holds {mean:.3g} counts per pixel{where}: below {FEW_COUNTS:g}, phases of a few % or of close "
            "compositions are lost and noise can pass for phases (at a few counts per pixel the map says little). "
            "Sum pixels in blocks (binned by 2, --bin 2 or phaselib.preprocess.bin_spatial, a map holds 4 times the "
            "counts per pixel) or acquire longer.")


def needs_spatial_prior(image_or_mean_counts, threshold=LOW_COUNTS) -> bool:
    """Whether a map's counts are low enough for :func:`map_lowcount` to be the default.

    Parameters
    ----------
    image_or_mean_counts : SpectrumImage or float
        A map, or its mean counts per pixel.
    threshold : float
        Counts per pixel below which the prior is used. Per-pixel PCA + k-means reaches
        an adjusted Rand index of ~0.4 at 20, ~0.85 at 50 and ~0.99 at 100 counts/pixel on
        synthetic rocks, but real phases are closer: the P45 dacite (122 counts/pixel)
        is still speckled per pixel. The prior costs little above (it fades as counts grow).

    Returns
    -------
    bool
    """
    if isinstance(image_or_mean_counts, SpectrumImage):
        value = mean_counts(image_or_mean_counts)
    else:
        value = check_number(image_or_mean_counts, "image_or_mean_counts", low=0)
    return value < check_number(threshold, "threshold")
