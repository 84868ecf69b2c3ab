"""Mixtures: a small grain's phase spectrum that also holds some of the phase around it.

The pixels of small grains (apatite, zircon, oxides) and of grain boundaries mix the grain's
X-rays with those of its neighbours (beam spread, pixel size). In cation fractions, such a
phase is ``f m + (1 - f) x_j`` (``m``: a table mineral, ``f`` its share of the cations,
``x_j``: the measured composition of another phase of the map), scored like a single mineral.
"""

from __future__ import annotations

import numpy as np

#: shares of the mineral tried
NEIGHBOUR_SHARES = np.round(np.arange(0.2, 0.96, 0.05), 2)


def with_neighbours(scores_fn, x, err, o_meas, sig, oxy, neighbours):
    """Each table point's best mixture with another phase of the map.

    ``neighbours``: list of (label, x_j, err_j, o_j). Returns, per point, the score, the
    distance, the neighbour's label and the mineral's share of the cations.
    """
    n = sig.shape[0]
    best_s, best_d = np.full(n, -1.0), np.zeros(n)
    label, share = np.empty(n, object), np.zeros(n)
    for lab, xj, ej, oj in neighbours:
        for f in NEIGHBOUR_SHARES:
            o_ok = o_meas is not None and oj is not None
            s, d = scores_fn(x, err + (1 - f) * ej, o_meas if o_ok else None, f * sig + (1 - f) * xj,
                             f * oxy + (1 - f) * oj if o_ok else oxy)
            better = s > best_s
            best_s[better], best_d[better], label[better], share[better] = s[better], d[better], lab, f
    return best_s, best_d, label, share
