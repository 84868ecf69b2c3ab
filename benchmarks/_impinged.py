"""Porphyritic textures from a generator written apart from ``phaselib.datasets``: impinged crystals.

Crystals are drawn one after the other as random convex polygons (5-8 vertices on an ellipse, laths for
the third phase), a third of them placed against an earlier one; an earlier crystal keeps its pixels, so a
later one is moulded on it: its outline holds the corners of the crystals pressed into it (bites), of any
phase. Each crystal holds 0-4 elliptical inclusions of another phase (or of unassigned pixels, phase 4),
15 % of those that cross its outline kept as open inclusions. Background 0 is the groundmass. Grain ids:
4-connected pieces of each crystal and inclusion (a crystal cut in two by an earlier one is two grains).

``phaselib.datasets.make_phenocrysts`` instead splits two overlapping crystals along a line, so every
crystal stays convex apart from its bays; these crystals are not.
"""

from __future__ import annotations

import numpy as np
from skimage.draw import ellipse as draw_ellipse
from skimage.draw import polygon as draw_polygon
from skimage.measure import label as _label


def _polygon(rng, diameter, elongation):
    angles = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(5, 9)))
    a, b = diameter / 2 * np.sqrt(elongation), diameter / 2 / np.sqrt(elongation)
    rot = rng.uniform(0, np.pi)
    pts = np.c_[a * np.cos(angles), b * np.sin(angles)]
    return pts @ np.array([[np.cos(rot), np.sin(rot)], [-np.sin(rot), np.cos(rot)]])


def make_impinged(seed, shape=(500, 700), per_phase=45, size=(20, 60), touch=0.35, inclusions=(0, 4),
                  open_share=0.15):
    """(labels, grain ids) of an impinged porphyritic texture (phases 1-3 crystals, 4 unassigned)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    labels = np.zeros(shape, np.int16)
    ids = np.zeros(shape, np.int32)
    centres = []
    next_id = 1
    for k in range(3 * per_phase):
        phase = 1 + k % 3
        d = rng.uniform(*size)
        pts = _polygon(rng, d, rng.uniform(2.5, 5) if phase == 3 else rng.uniform(1, 2.5))
        for _ in range(50):
            if centres and rng.random() < touch:
                step = rng.normal(size=2)
                centre = centres[rng.integers(len(centres))] + step / np.hypot(*step) * rng.uniform(0.5, 0.9) * d
            else:
                centre = rng.uniform([d / 2, d / 2], [h - d / 2, w - d / 2])
            rr, cc = draw_polygon(pts[:, 0] + centre[0], pts[:, 1] + centre[1], shape)
            if len(rr) >= 30 and (ids[rr, cc] > 0).mean() < 0.4:
                break
        region = np.zeros(shape, bool)
        region[rr, cc] = True
        region &= ids == 0  # an earlier crystal keeps its pixels
        if region.sum() < 30:
            continue
        labels[region], ids[region] = phase, next_id
        next_id += 1
        centres.append(centre)
        ys, xs = np.nonzero(region)
        for _ in range(rng.integers(inclusions[0], inclusions[1] + 1)):
            r1, r2 = (rng.uniform(1.5, max(2.0, d / 8)) for _ in range(2))
            i = rng.integers(len(ys))
            er, ec = draw_ellipse(ys[i], xs[i], r1, r2, shape, rotation=rng.uniform(0, np.pi))
            if not region[er, ec].all() and rng.random() > open_share:
                continue
            inside = np.zeros(shape, bool)
            inside[er, ec] = True
            inside &= region
            if inside.sum() < 3:
                continue
            labels[inside] = rng.choice([p for p in (1, 2, 3, 4) if p != phase])
            ids[inside] = next_id
            next_id += 1
    return labels, _label(ids + 1, background=0, connectivity=1).astype(np.int32)
