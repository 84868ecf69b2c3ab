"""The number of phases `auto` finds does not grow with the area mapped (issue 11).

The real P45 map mapped twice side by side (the same pixels, so the same rock) starts from more clusters (the
components above the noise grow with the pixels: 5 alone, 11 side by side), which cut P45's plagioclase into cores
and sodic rims and its apatite specks into their purest pixels and their pixels mixed with the glass: 7 phases
against 5 alone. Pieces of one zoned phase and of one speck are merged now (``phaselib.refine._pieces``).
"""

import numpy as np
from sklearn.metrics import adjusted_rand_score

from phaselib.pipeline import map_phases
from phaselib.refine._pieces import one_speck


def test_p45_side_by_side_has_the_phases_of_p45_alone(p45):
    alone = map_phases(p45, name_minerals=False)
    twice = map_phases(p45.replace(data=np.tile(np.asarray(p45.data), (1, 2, 1))), name_minerals=False)
    assert twice.n_phases == alone.n_phases == 5  # 7 before (plagioclase rims, an apatite core of 5 px a phase)
    w = p45.shape[1]
    for half in (twice.labels[:, :w], twice.labels[:, w:]):
        assert adjusted_rand_score(alone.labels.ravel(), half.ravel()) >= 0.97  # 0.97 before


# line-count shares (Na, Al, Si, P, K, Ca, Fe): P45's glass, an apatite speck's purest pixels, a magnetite speck
GLASS = np.array([0.025, 0.134, 0.766, 0.0, 0.062, 0.007, 0.005])
APATITE = np.array([0.001, 0.005, 0.016, 0.358, 0.002, 0.597, 0.005])
MAGNETITE = np.array([0.001, 0.034, 0.150, 0.020, 0.015, 0.031, 0.725])


def test_a_speck_mixed_with_its_host_is_the_speck():
    rng = np.random.default_rng(0)
    for t in (0.3, 0.5, 0.8):
        mixed = np.clip(t * APATITE + (1 - t) * GLASS + rng.normal(0, 0.005, GLASS.size), 0, None)
        assert one_speck(mixed, APATITE, GLASS[None])
        assert one_speck(APATITE, mixed, GLASS[None])  # either order
    # another mineral, or the speck mixed with no host given, or mostly host: not one speck
    assert not one_speck(MAGNETITE, APATITE, GLASS[None])
    assert not one_speck(0.5 * MAGNETITE + 0.5 * GLASS, APATITE, GLASS[None])
    assert not one_speck(0.5 * APATITE + 0.5 * GLASS, APATITE, MAGNETITE[None])
    assert not one_speck(0.1 * APATITE + 0.9 * GLASS, APATITE, GLASS[None])
