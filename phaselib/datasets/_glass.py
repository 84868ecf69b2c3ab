"""Crystals in a glass: the texture of a glassy volcanic rock (``make_rock(glass=...)``).

Private helper of :mod:`phaselib.datasets`. A texture of the crystals alone is made first
(:func:`make_texture` without the glass and without a groundmass); then the glass takes the
margins of the major crystals, where a pixel's distance to the crystal's edge, stretched by
a smooth random field, is smallest, until it has its target area: films of varying
thickness between crystals, pools at their junctions, and here and there crystals still
touching (glomerocrysts). The accessory phases (< 8 %) and the inclusions keep their
pixels, so their fractions stay as asked.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import label as _label

import phaselib.datasets._texture as _texture


def glass_texture(shape, fractions, glass_index, *, grain_size, seed, exact_fractions=False):
    """Labels (H, W) int16 and grain ids (H, W) int32; the glass is phase ``glass_index``."""
    f = np.asarray(fractions, float)
    k = f.size
    others = [p for p in range(k) if p != glass_index]
    minor = _texture.accessory_phases(f[others])
    fc = f[others].copy()
    if not minor.all():  # the major crystals, scaled up by the area the glass will take
        fc[~minor] *= (1.0 - fc[minor].sum()) / fc[~minor].sum()
    if len(others) == 1:
        labels = np.zeros(shape, np.int16)
        ids = np.ones(shape, np.int32)
    else:
        labels, ids = _texture.make_texture(shape, fractions=fc, grain_size=grain_size,
                                            matrix_fraction=0.0, seed=seed,
                                            exact_fractions=exact_fractions)
    labels = np.asarray(others, np.int16)[labels]
    major = np.isin(labels, np.asarray(others)[~minor]) if not minor.all() else np.ones(shape, bool)
    # edges between major crystals only (an inclusion is no edge of its host)
    key = np.where(major, ids, 0)
    edge = np.zeros(shape, bool)
    for axis in (0, 1):
        a, b = [slice(None)] * 2, [slice(None)] * 2
        a[axis], b[axis] = slice(1, None), slice(None, -1)
        d = (key[tuple(a)] != key[tuple(b)]) & (key[tuple(a)] > 0) & (key[tuple(b)] > 0)
        edge[tuple(a)] |= d
        edge[tuple(b)] |= d
    dist = ndimage.distance_transform_edt(~edge) if edge.any() else np.full(shape, np.inf)
    field = _texture.smooth_field(shape, max(2.0 * float(grain_size), 8.0),
                                  np.random.default_rng([seed, 3]))
    score = (dist + 1.0) * np.exp(0.6 * field)
    n_glass = int(round(f[glass_index] * labels.size))
    cand = np.flatnonzero(major.ravel())
    if n_glass > 0 and cand.size:
        take = cand[np.argsort(score.ravel()[cand], kind="stable")[:min(n_glass, cand.size)]]
        labels.ravel()[take] = glass_index
    # grains again: 4-connected pieces of the crystals, each glass pool one grain
    glass = labels == glass_index
    pieces = np.where(glass, 0, ids.astype(np.int64) + 1)
    pools = _label(glass, background=0, connectivity=1)
    pieces = np.where(glass, pools.astype(np.int64) + int(pieces.max()) + 1, pieces)
    return labels, _label(pieces, background=0, connectivity=1).astype(np.int32)
