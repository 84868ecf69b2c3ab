"""True crystal ids of the textures of ``benchmarks/_othergen.py``.

Each painted object (a lath, a polygon, an inclusion) and each cell of the Voronoi-like
background gets an id as it is painted, in a map kept beside the phase labels; a later paint
takes over the pixels it covers. :meth:`Crystals.grains` then numbers the crystals: the pixels
an object still holds at the end, each 8-connected piece a crystal of its own (a lath cut in
two by a later one is two crystals); each connected region of a glass gets one id. Nothing
here draws random numbers, so the phase labels (and the spectra) are those drawn without it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

_EIGHT = np.ones((3, 3), bool)


class Crystals:
    """Id of the painted object holding each pixel, written beside the phase labels."""

    def __init__(self, cells):
        self.ids = np.asarray(cells, np.int64) + 1  # background cells: ids 1..n
        self.next = int(self.ids.max()) + 1

    def paint(self, box, mask):
        """One new object over ``mask`` (a boolean array over ``ids[box]``)."""
        self.ids[box][mask] = self.next
        self.next += 1

    def grains(self, labels, glass=()):
        """(H, W) int64 crystal ids ``1..n``: 8-connected pieces of objects; a glass region: one id."""
        ids = self.ids.copy()
        g = np.isin(labels, glass)
        if g.any():
            lab, _ = ndi.label(g, structure=_EIGHT)
            ids[g] = ids.max() + lab[g]
        out = np.zeros(ids.shape, np.int64)
        n = 0
        for i, box in enumerate(ndi.find_objects(ids), start=1):
            if box is None:
                continue
            m = ids[box] == i
            lab, k = ndi.label(m, structure=_EIGHT)
            out[box][m] = lab[m] + n
            n += k
        return out
