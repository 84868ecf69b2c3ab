"""Crystals that stand apart: where a lone concave corner is a bite, not a contact (private).

Touching crystals of one phase meet the outline of their cluster at two concave corners, one at each end of
their contact. Where a phase's crystals stand apart from each other, a contact shows both its ends, so a concave
corner with no partner across the cluster is a neighbour of another phase biting into one crystal (a lath's
notch in an olivine, an inclusion open to the outside) and must start no cut. Two signs of crystals standing
apart, from the phase map:

* :func:`in_matrix`: one other phase holds most of what lies around the phase (crystals in a glass or a
  groundmass);
* :func:`coarser_than_around`: the phase's crystals are much thicker than the grains around them, whatever
  their phases (phenocrysts or porphyroblasts in a fine mixed groundmass: olivine among plagioclase laths,
  augite and glass; garnet in a schist). In a space-filling texture neighbouring grains are alike in size.

:func:`stands_apart` is either, for a phase that does not itself cross the map as one cluster (a groundmass).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .._validate import check_array
from ._colour import label_depth

#: one other phase holding at least this share of the pixels around a phase makes a matrix (:func:`in_matrix`):
#: lone corners start no ray there. Measured on phase maps, seeds 1-2: space-filling Voronoi textures 0.28-0.51,
#: the default rock 0.33-0.61; phenocrysts in a groundmass 0.59-0.81 (another generator's, crystals clustered in
#: glomerocrysts and bitten by laths: 0.74-0.96; whose lone corners are 26-51 per phase, 3.1-3.6 per pair cut)
MATRIX_SHARE = 0.7

#: A phase is coarser than what lies around it when the median depth of its pixels inside it (distance to a change
#: of label) is at least this many times that of the pixels of the other phases' clusters it touches (session 54;
#: seeds 1-2: Voronoi textures of 12-40 px 0.45-1.37, the default rock 0.5-1.41, the independent generator's
#: granite 0.33-1.79, its schist 0.7-1.41 but its garnet porphyroblasts 1.58-2.0; its basalt's olivine phenocrysts
#: among laths, augite and glass 2.12-2.83, whose lone corners (a lath's notch) cut single hexagons in three)
COARSER = 2.0


def in_matrix(mask, phase_map):
    """Whether one phase of ``phase_map`` (not the mask's) holds at least ``MATRIX_SHARE`` of the assigned pixels
    4-adjacent to ``mask`` (each counted once per adjacent mask pixel): the mask's crystals stand in a matrix."""
    lab = np.asarray(phase_map)
    if lab.shape != mask.shape:
        raise ValueError(f"`phase_map` must have the mask's shape {mask.shape}, got {lab.shape}.")
    lab = np.where(mask, -1, lab.astype(np.int64))  # cast first: -1 in unsigned labels wrapped to 255
    counts = np.zeros(int(lab.max(initial=-1)) + 1, np.int64)
    for a, b in ((np.s_[1:], np.s_[:-1]), (np.s_[:-1], np.s_[1:])):
        for inside, outside in ((mask[a], lab[b]), (mask[:, a], lab[:, b])):
            v = outside[inside]
            counts += np.bincount(v[v >= 0], minlength=counts.size)
    return bool(counts.sum() and counts.max() >= MATRIX_SHARE * counts.sum())


def spans_map(mask) -> bool:
    """Whether one cluster of ``mask`` holds most of it and crosses the map side to side.

    Such a phase is a groundmass or a glass around the crystals, or crystals of one mineral
    packing the area: its pieces are not separable crystals in the usual sense.

    Parameters
    ----------
    mask : (H, W) array_like of bool

    Returns
    -------
    bool
    """
    m = check_array(mask, "mask", ndim=2, kind="biuf") != 0
    lab, n = ndi.label(m)
    if n == 0:
        return False
    size = np.bincount(lab.ravel())
    size[0] = 0
    big = int(size.argmax())
    if size[big] < 0.5 * size.sum():
        return False
    rows = np.any(lab[0] == big) and np.any(lab[-1] == big)
    cols = np.any(lab[:, 0] == big) and np.any(lab[:, -1] == big)
    return bool(rows or cols)


def clusters(phase_map):
    """(H, W) int64: the 4-connected clusters of every phase, numbered ``1..n`` across phases (0: unassigned)."""
    lab = np.asarray(phase_map)
    out = np.zeros(lab.shape, np.int64)
    for p in np.unique(lab[lab >= 0]):
        c, n = ndi.label(lab == p)
        out[c > 0] = c[c > 0] + out.max()
    return out


def coarser_than_around(mask, phase_map, depth=None, cluster_ids=None):
    """Whether the mask's pixels lie :data:`COARSER` times deeper inside their phase than the pixels of the other
    phases' clusters it touches lie inside theirs (medians; ``depth``: :func:`~._colour.label_depth` of the phase
    map, ``cluster_ids``: :func:`clusters`, each computed here when not given)."""
    lab = np.asarray(phase_map)
    ring = ndi.binary_dilation(mask) & ~mask & (lab >= 0)
    if not ring.any():
        return False
    depth = label_depth(lab) if depth is None else depth
    cluster_ids = clusters(lab) if cluster_ids is None else cluster_ids
    around = np.isin(cluster_ids, np.unique(cluster_ids[ring]))
    return bool(np.median(depth[mask]) >= COARSER * max(float(np.median(depth[around])), 0.5))


def stands_apart(mask, phase_map, maps=None):
    """Whether the mask's crystals stand apart (module notes): in a matrix, or coarser than the grains around them
    while not crossing the map as one cluster. ``maps``: a callable returning the phase map's ``(depth,
    cluster_ids)`` (:func:`coarser_than_around`), called only when they are needed (one computation for every
    phase of a map)."""
    if in_matrix(mask, phase_map):
        return True
    if spans_map(mask):
        return False
    return coarser_than_around(mask, phase_map, *(maps() if maps is not None else (None, None)))
