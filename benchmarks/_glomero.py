"""Porphyritic textures from a third generator, written apart from ``phaselib.datasets`` and ``_impinged``:
glomerocrysts and sieve-textured laths in a glass.

Phases: 0 glass (the matrix, and the melt inclusions), 1 olivine (equant hexagons), 2 pyroxene (octagonal
prisms), 3 plagioclase (laths 2.5-5 times as long as wide), 4 spinel (inclusions). Crystal sizes are
log-normal (medians 34, 30 and 45 px). A share ``cluster`` of the crystals is placed against an earlier
crystal of its own phase (glomerocrysts); such a crystal may overlap others, whose pixels it leaves, so it is
bitten by them. Each crystal holds 0-4 inclusions: spinel discs (1.2-2.5 px radius) in olivine and half of
the pyroxenes, melt discs or (in laths) melt ellipses along the lath (1.5-4 x 3.3-8.8 px); a share
``open_share`` of those crossing the outline are kept as open inclusions. Grain ids: 4-connected pieces of
each crystal and inclusion; the glass outside the crystals is one grain.
"""

from __future__ import annotations

import numpy as np
from skimage.draw import disk, ellipse, polygon
from skimage.measure import label as _label

_KINDS = (("olivine", 1, 34.0), ("pyroxene", 2, 30.0), ("lath", 3, 45.0))


def _outline(kind, size, rng):
    """Vertices (x, y) of a crystal of ``kind`` and its angle."""
    angle = rng.uniform(0, np.pi)
    a = size / 2
    if kind == "olivine":
        t = np.linspace(0, 2 * np.pi, 6, endpoint=False) + rng.uniform(0, 1)
        x, y = a * np.cos(t), a * rng.uniform(0.65, 0.95) * np.sin(t)
    elif kind == "pyroxene":
        b, c = a * rng.uniform(0.5, 0.8), 0.35
        x = np.array([a, a, a * (1 - c), -a * (1 - c), -a, -a, -a * (1 - c), a * (1 - c)])
        y = np.array([-b * (1 - c), b * (1 - c), b, b, b * (1 - c), -b * (1 - c), -b, -b])
    else:
        b = a / rng.uniform(2.5, 5)
        x, y = np.array([a, -a, -a, a]), np.array([b, b, -b, -b])
    ca, sa = np.cos(angle), np.sin(angle)
    return x * ca - y * sa, x * sa + y * ca, angle


def make_glomerocrysts(seed, shape=(300, 400), fraction=0.32, cluster=0.35, inclusions=(0, 4), open_share=0.2):
    """``(labels, grain_ids)``, both (H, W): phases 0-4 and 4-connected grain ids (see the module docstring)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    labels = np.zeros(shape, np.int16)
    ids = np.zeros(shape, np.int32)
    crystals = []
    for _ in range(5000):
        if (labels > 0).mean() >= fraction:
            break
        kind, phase, median = _KINDS[rng.integers(3)]
        size = float(np.clip(rng.lognormal(np.log(median), 0.35), 14, 90))
        if crystals and rng.random() < cluster:  # against a crystal of its phase
            same = [c for c in crystals if c[1] == phase]
            if not same:
                continue
            cy, cx, cs = same[rng.integers(len(same))][2:5]
            d, t = 0.5 * (cs + size) * rng.uniform(0.55, 0.8), rng.uniform(0, 2 * np.pi)
            cy, cx = cy + d * np.sin(t), cx + d * np.cos(t)
        else:
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        x, y, angle = _outline(kind, size, rng)
        rr, cc = polygon(cy + y, cx + x, shape)
        if rr.size < 40:
            continue
        free = labels[rr, cc] == 0
        if free.mean() < 0.75 or (rng.random() > cluster and not free.all()):
            continue
        rr, cc = rr[free], cc[free]
        labels[rr, cc] = phase
        ids[rr, cc] = len(crystals) + 1
        crystals.append((len(crystals) + 1, phase, cy, cx, size, angle))
    n = len(crystals)
    for cid, phase, _, _, _, angle in crystals:
        host = ids == cid
        ys, xs = np.nonzero(host)
        if ys.size < 150:
            continue
        for _ in range(rng.integers(inclusions[0], inclusions[1] + 1)):
            spinel = phase == 1 or (phase == 2 and rng.random() < 0.5)
            r = rng.uniform(1.2, 2.5) if spinel else rng.uniform(1.5, 4.0)
            j = rng.integers(ys.size)
            if not spinel and phase == 3:
                rr, cc = ellipse(ys[j], xs[j], r, 2.2 * r, shape, rotation=-angle)
            else:
                rr, cc = disk((ys[j], xs[j]), r, shape=shape)
            inside = host[rr, cc]
            if not inside.all() and rng.random() > open_share:
                continue
            n += 1
            labels[rr[inside], cc[inside]] = 4 if spinel else 0
            ids[rr[inside], cc[inside]] = n
    out = np.zeros_like(ids)
    for g in np.unique(ids[ids > 0]):  # 4-connected pieces
        pieces = _label(ids == g, connectivity=1)
        out[pieces > 0] = pieces[pieces > 0] + out.max()
    out[(labels == 0) & (out == 0)] = out.max() + 1
    return labels, out
