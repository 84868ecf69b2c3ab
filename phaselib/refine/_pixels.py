"""Pixels of a label map by where they lie in their phase: inside it, or thin phases with none deep inside.
Below :mod:`._merge`, :mod:`._split` and :mod:`._mixed`, which all use them."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .._validate import check_int, check_labels, check_number

#: pixels more than this many px from another phase (or an unassigned pixel) are deep inside their phase
INSIDE = 2.0
#: :func:`is_thin`: at most this share of a phase's pixels deep inside (also the looser share for a phase dropped
#: as mixed pixels to reach a number of phases asked for)
THIN_SHARE = 0.1
#: :func:`is_thin`: holes of at most this many pixels in a phase (another phase's noise specks, at 10 kV a glass riddled
#: with pixels called plagioclase or quartz) are its own pixels when depth is measured
SPECK_HOLE = 4


def inside_pixels(labels, size=3):
    """(H, W) bool: pixels whose ``size`` x ``size`` neighbourhood is all of their phase."""
    from scipy.ndimage import uniform_filter

    size = check_int(size, "size", high=99)
    lab = check_labels(labels, "labels", ndim=2)
    out = np.zeros(lab.shape, bool)
    for p in np.unique(lab[lab >= 0]):
        own = lab == p
        out |= own & (uniform_filter(own.astype(np.float32), size=size, mode="constant") > 1 - 0.5 / size ** 2)
    return out


def is_thin(labels, phase, share=THIN_SHARE):
    """Whether at most ``share`` of a phase's pixels lie more than ``INSIDE`` px from another phase (or an
    unassigned pixel): a line or band along boundaries, not grains with insides.

    Measured: the mixed-pixel phases of phenocrysts at 50 counts/px with a 1.5 px beam, 0-1.7 % of their
    pixels deeper; the rich basalt's glass (interstitial pools), 25 %."""
    lab = check_labels(labels, "labels", ndim=2)
    share = check_number(share, "share", low=0, high=1)
    own = lab == phase
    n = np.count_nonzero(own)
    if n == 0:
        return False
    holes, m = ndi.label(~own)  # 4-connected: a speck's pixels touch by a side
    small = np.flatnonzero(np.bincount(holes.ravel(), minlength=m + 1)[1:] <= SPECK_HOLE) + 1
    filled = own | np.isin(holes, small)
    return np.count_nonzero((ndi.distance_transform_edt(filled) > INSIDE) & own) <= share * n
