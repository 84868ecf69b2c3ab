"""The dip tests on the regions of an intensity cube (phaselib.refine._regions, phaselib._intensity.test_regions)."""

import numpy as np
from sklearn.metrics import adjusted_rand_score

from phaselib import refine
from phaselib.datasets import bragg_edges, make_tof
from phaselib.datasets._tof import cross_section
from phaselib.pipeline import map_phases


def _scores(means, layout, rng, sd=1.0):
    """(H, W, 3) scores: ``means[layout]`` plus Gaussian noise of ``sd``."""
    return np.asarray(means, float)[layout] + rng.normal(0, sd, layout.shape + (3,))


def _same(a, b):
    """Two splits ``(ratio, region, part)`` (or None) alike."""
    return (a is None and b is None) or (a is not None and b is not None and a[:2] == b[:2]
                                          and np.array_equal(a[2], b[2]))


def _layout():
    """Material 0 on the left of the top, 1 on its right, 2 along the bottom (60 x 90 pixels)."""
    layout = np.zeros((60, 90), int)
    layout[:40, 45:] = 1
    layout[40:] = 2
    return layout


def test_a_region_holding_two_close_materials_is_split():
    # two materials 0.8 noise s.d. apart: pixel by pixel 66 % are told apart, but a 5 x 5 mean has a fifth of the
    # noise, and the region's two halves leave a dip between them
    rng = np.random.default_rng(1)
    layout = _layout()
    f = _scores([[0, 0, 0], [0.8, 0, 0], [6, 0, 0]], layout, rng)
    labels = np.where(layout == 2, 1, 0)  # materials 0 and 1 in one region
    merge, split = refine.region_tests(f, labels)
    assert merge is None
    assert split is not None and split[1] == 0 and split[0] < refine._regions.DIP_SHARE
    part = split[2]
    side = layout[part]
    assert max(np.mean(side == 0), np.mean(side == 1)) > 0.95  # the part is one of the two materials
    new = refine.split_region(f, labels, 0, part)
    assert adjusted_rand_score(layout.ravel(), new.ravel()) > 0.8
    # a caller that needs one half only gets it alone, the same
    alone = refine.region_tests(f, labels, merges=False)
    assert alone[0] is None and _same(alone[1], split)


def test_each_half_of_the_tests_alone_gives_what_both_give():
    """``merges=False`` / ``splits=False`` (the number of regions given: a round uses one of them) leave out the
    other half, and change nothing in the one kept."""
    rng = np.random.default_rng(1)
    layout = _layout()
    f = _scores([[0, 0, 0], [0.8, 0, 0], [6, 0, 0]], layout, rng)
    labels = np.where(layout == 2, np.where(f[..., 0] > 6, 1, 2), 0)  # two materials in 0, one cut by its noise
    both = refine.region_tests(f, labels, tiny=False)
    assert both[0][1:] == (1, 2) and both[1][1] == 0
    merge, split = refine.region_tests(f, labels, tiny=False, splits=False)
    assert merge == both[0] and split is None
    merge, split = refine.region_tests(f, labels, tiny=False, merges=False)
    assert merge is None and _same(split, both[1])
    assert refine.region_tests(f, labels, merges=False, splits=False) == (None, None)


def test_a_material_cut_along_its_noise_is_merged():
    # one material cut in two by the sign of its noise (what k-means does to a broad region): no dip
    rng = np.random.default_rng(2)
    layout = np.where(_layout() == 2, 1, 0)
    f = _scores([[0, 0, 0], [6, 0, 0]], layout, rng)
    labels = np.where(layout == 1, 2, (f[..., 0] > 0).astype(int))
    merge, split = refine.region_tests(f, labels)
    assert merge is not None and sorted(merge[1:]) == [0, 1] and merge[0] >= refine._regions.DIP_SHARE
    assert split is None
    ratio, shift = refine.pair_dip(f, labels, 0, 1)
    assert shift < 0.2  # the two pieces' 5 x 5 means lie together: their pixels' expected scores are the same
    # two materials keep their dip, and lie apart
    ratio, shift = refine.pair_dip(f, layout, 0, 1)
    assert ratio < refine._regions.DIP_SHARE and shift > 0.8


def test_two_materials_too_noisy_for_a_dip_are_not_merged():
    # 0.3 noise s.d. apart: no dip even in 5 x 5 means, but their means lie apart (shift ~0.9): kept
    rng = np.random.default_rng(4)
    layout = _layout()
    f = _scores([[0, 0, 0], [0.3, 0, 0], [6, 0, 0]], layout, rng)
    ratio, shift = refine.pair_dip(f, layout, 0, 1)
    assert ratio >= refine._regions.DIP_SHARE and shift > 0.6
    assert refine.region_tests(f, layout)[0] is None


def test_a_region_of_a_few_pixels_joins_the_nearest():
    rng = np.random.default_rng(3)
    layout = _layout()
    f = _scores([[0, 0, 0], [6, 0, 0], [0, 6, 0]], layout, rng, sd=0.3)
    labels = layout.copy()
    labels[5, 50:60] = 3  # ten pixels of material 1
    merge, _ = refine.region_tests(f, labels)
    assert merge is not None and np.isinf(merge[0]) and merge[1:] == (1, 3)


def test_vanadium_and_polyethylene_are_told_apart():
    # two materials without Bragg edges whose cross sections are straight lines of close slopes, at 300 neutrons
    # per bin: k-means put both in one region and cut another in two, or the prior emptied a region (ARI 0.905,
    # auto 4 of 5 before the dip tests)
    tof = make_tof(materials=("V", "PE", "Al", "Cu"), open_beam_counts=300, seed=1)
    fixed = map_phases(tof.image, n_phases=tof.n_regions)
    assert adjusted_rand_score(tof.labels.ravel(), fixed.labels.ravel()) > 0.98
    assert any(c["action"] == "split" for c in fixed.params["refinement"])
    auto = map_phases(tof.image)
    assert auto.labels.max() + 1 == tof.n_regions
    assert adjusted_rand_score(tof.labels.ravel(), auto.labels.ravel()) > 0.98


def test_auto_finds_every_region_at_30_neutrons_per_bin():
    # the scree keeps 2 components, so auto clustered 3 regions of 5 (ARI 0.82 before the dip tests)
    tof = make_tof(open_beam_counts=30, seed=1)
    auto = map_phases(tof.image)
    assert auto.labels.max() + 1 == tof.n_regions
    assert adjusted_rand_score(tof.labels.ravel(), auto.labels.ravel()) > 0.98


def test_amorphous_and_edgeless_materials():
    lam = np.linspace(1.0, 5.0, 401)
    pe = cross_section("PE", lam)
    assert np.allclose(pe, np.polyval(np.polyfit(lam, pe, 1), lam))  # a straight line: no edges
    assert bragg_edges("amorphous", 2.934) == []
    v = cross_section("V", lam)
    assert np.abs(np.diff(v)).max() < 0.01 * v.mean()  # vanadium's edges are nearly nil
    fe = cross_section("Fe-bcc", lam)
    assert np.abs(np.diff(fe)).max() > 0.1 * fe.mean()  # iron's are not


def test_a_rim_along_a_piece_is_not_split_off_but_a_piece_apart_is():
    # a detector's blur gives a piece's edge a shape of its own (mixed with the open beam): a band lying along the
    # piece, not a material; the same difference in a piece of its own, apart, is one
    from scipy import ndimage as ndi

    rng = np.random.default_rng(5)
    layout = np.zeros((70, 90), int)
    layout[5:45, 5:65] = 1
    rim = (layout == 1) & ~ndi.binary_erosion(layout == 1, np.ones((5, 5), bool))  # 2 px wide (a 1 px blur's)
    f = _scores([[6, 6, 0], [0, 0, 0]], layout, rng, sd=0.5)
    f[rim] += np.array([3.0, 0, 0])
    assert refine.split_dip(f, layout, 1) is None
    apart = layout.copy()
    apart[52:66, 70:86] = 1  # a piece of region 1 elsewhere ...
    g = _scores([[6, 6, 0], [0, 0, 0]], apart, rng, sd=0.5)
    g[52:66, 70:86] += np.array([3.0, 0, 0])  # ... of another material
    test = refine.split_dip(g, apart, 1)
    assert test is not None and test[0] < refine._regions.DIP_SHARE
    assert np.all(test[1] <= (np.arange(70)[:, None] >= 52) & (np.arange(90)[None, :] >= 70))
