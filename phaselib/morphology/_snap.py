"""A coarse phase map on a fine image's grid: its staircase outlines snapped to the image's edges.

An EDS map is coarser than the optical or BSE image of the same area; brought to the image's
grid by repeating each pixel (nearest neighbour), its outlines become staircases of blocks, a
block or two away from the true boundaries. Staircases are concave corners all along: the
separation of touching grains cuts them to pieces (on a space-filling texture with 3 px blocks,
4 times too many grains). :func:`block_size` recognises such a map (every change of label falls
on one grid of ``k`` px along rows and along columns); :func:`snap_phases` keeps each phase's
pixels at least ``k`` px inside its outline (the core, surely right) and gives every pixel
nearer a boundary to the phase whose core it reaches first over the image's edge landscape (a
watershed), so the outlines follow the image's boundaries.

Assumptions: the image shows the boundaries between phases (different interference colours,
brightness); a phase region narrower than ``2 k`` keeps one seed pixel (its centre) and may
shrink or grow to the nearest edges.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed


def block_size(labels, max_block=16):
    """Side ``k`` of the square blocks of a map repeated ``k`` times along both axes; 1 if none.

    ``k`` is the greatest common divisor of the gaps between the rows (and columns) where the
    labels change, the same along both axes, from 2 to ``max_block``.
    """
    lab = np.asarray(labels)
    ks = []
    for axis in (0, 1):
        change = np.flatnonzero((np.diff(lab, axis=axis) != 0).any(axis=1 - axis))
        if change.size < 3:
            return 1
        ks.append(int(np.gcd.reduce(np.diff(change))))
    k = int(np.gcd(*ks))
    return k if 2 <= k <= max_block and ks[0] == ks[1] else 1


def snap_phases(labels, edges, block):
    """Labels whose outlines follow ``edges``: pixels within ``block`` px of a boundary are re-assigned.

    Parameters
    ----------
    labels : (H, W) array of int
        Phase map (negative values: unassigned, treated as one more region).
    edges : (H, W) array of float
        Edge strength of the image (e.g. ``Landscape.edges``).
    block : int
        Depth of the uncertain band along each boundary, pixels (the block size).

    Returns
    -------
    (H, W) ndarray of the labels' dtype
    """
    lab = np.asarray(labels)
    values = np.unique(lab)
    markers = np.zeros(lab.shape, np.int32)
    for i, v in enumerate(values, 1):
        region = lab == v
        core = ndi.binary_erosion(region, iterations=int(block), border_value=1)
        comps, n = ndi.label(region)
        lost = np.setdiff1d(np.arange(1, n + 1), comps[core])
        if lost.size:  # regions thinner than 2 * block keep their centre
            dist = ndi.distance_transform_edt(region)
            for pos in ndi.maximum_position(dist, comps, lost):
                core[pos] = True
        markers[core] = i
    return values[watershed(edges, markers) - 1].astype(lab.dtype)
