"""Tests of phaselib.morphology: grain separation, grain table, size statistics, CSD, CLI."""

import argparse
import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy import stats
from skimage import draw
from skimage.measure import regionprops_table
from skimage.morphology import remove_small_holes

from phaselib._cli import _grains as _grains_cli
from phaselib.datasets import make_discs, make_phenocrysts, make_rock, make_texture
from phaselib.morphology import (
    GrainMap,
    GrainSizeWarning,
    crystal_size_distribution,
    equivalent_diameter,
    grain_map,
    grain_table,
    match_grains,
    plot_csd,
    plot_size_distribution,
    score_grains,
    separate_grains,
    size_statistics,
    spans_map,
)
from phaselib.morphology._split import merge_convex


def _disc(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 < radius**2


def _scores(found, true_ids, mask, min_area=10):
    """Matched fraction (IoU >= 0.5), median relative diameter error, relative count error."""
    s = score_grains(found, np.where(mask, true_ids, 0), min_area=min_area)
    return s["matched"], s["diameter_error"], s["count_error"]


CLASSIC = dict(split_concave=False, merge_convex=False)


@pytest.fixture(scope="module")
def texture():
    """Voronoi grains only (no groundmass): phase 0 has many touching grains."""
    return make_texture((300, 400), matrix_fraction=0.0, seed=21)


# ----------------------------------------------------------------- separation
def test_touching_discs_and_squares_are_split():
    discs = _disc((40, 60), (20, 18), 10) | _disc((40, 60), (20, 38), 11)
    labels = separate_grains(discs)
    assert labels.dtype == np.int32 and labels.max() == 2
    assert sorted(np.bincount(labels.ravel())[1:]) == [_disc((40, 60), (20, 18), 10).sum(),
                                                      _disc((40, 60), (20, 38), 11).sum()]
    squares = np.zeros((30, 40), bool)
    squares[5:15, 3:13] = squares[9:19, 13:23] = True  # a straight boundary, no neck
    labels = separate_grains(squares)
    assert labels.max() == 2
    assert np.all(np.abs(np.bincount(labels.ravel())[1:] - 100) <= 3)


def test_voronoi_grains_are_split(texture):
    labels, ids = texture
    mask = labels == 0
    found = separate_grains(mask, min_area=10)
    matched, diameter_err, count_err = _scores(found, ids, mask)
    classic, _, classic_count = _scores(separate_grains(mask, min_area=10, **CLASSIC), ids, mask)
    assert matched >= 0.72  # 0.75-0.82 over seeds 1-5 and 11-15 at 400 x 500 (benchmarks/bench_grains.py)
    assert matched >= classic + 0.15  # the classic watershed matches ~0.5 and under-counts by ~40 %
    assert diameter_err <= 0.05
    # -0.097 before corners had to persist at 1.5 px (session 31): -0.117, shallow corners between edges of
    # 2-4 px that the coarser outline loses, the price of not cutting classified maps' ragged outlines
    assert abs(count_err) <= 0.12 and classic_count < -0.25


def test_grains_of_a_phase_of_a_default_rock():
    labels, ids = make_texture((300, 400), seed=5)  # = make_rock((300, 400), seed=5).labels / .grain_ids
    mask = labels == 3  # biotite: coarse grains, some touching
    matched, diameter_err, count_err = _scores(separate_grains(mask, min_area=10), ids, mask)
    assert matched >= 0.9 and diameter_err <= 0.05 and abs(count_err) <= 0.15


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_overlapping_discs_are_split(seed):
    mask, ids = make_discs((300, 400), overlap=0.2, seed=seed)  # touching and overlapping discs
    matched, diameter_err, count_err = _scores(separate_grains(mask), ids, mask)
    assert matched >= 0.95 and diameter_err <= 0.02 and abs(count_err) <= 0.1
    mask, ids = make_discs((300, 400), overlap=0.4, seed=seed)  # much overlap: 92 % of discs touch
    matched, diameter_err, count_err = _scores(separate_grains(mask), ids, mask)
    classic, _, _ = _scores(separate_grains(mask, **CLASSIC), ids, mask)
    assert matched >= 0.86 and matched >= classic + 0.04 and diameter_err <= 0.02 and abs(count_err) <= 0.1


def test_coarse_grains_are_not_over_split():
    """Grains of ~30 px: an elongated grain has two distance maxima; merging convex unions mends it."""
    counts, counts_unmerged = [], []
    for seed in (1, 2, 3):
        labels, ids = make_texture((600, 750), seed=seed, matrix_fraction=0.0, grain_size=30)
        mask = labels == 1  # 25 % of the map, 3 grains in 4 touch another
        matched, diameter_err, count_err = _scores(separate_grains(mask), ids, mask)
        assert matched >= 0.9 and diameter_err <= 0.05 and abs(count_err) <= 0.1
        counts.append(count_err)
        counts_unmerged.append(_scores(separate_grains(mask, merge_convex=False), ids, mask)[2])
    assert np.median(counts_unmerged) >= np.median(counts) + 0.05  # +13..+26 % without merging


def test_merge_convex():
    lab = np.zeros((20, 40), np.int32)
    lab[2:12, 2:10], lab[2:12, 10:20] = 1, 2  # two halves of a rectangle: one grain
    lab[12:18, 2:8] = 3  # an L with grain 1: kept apart
    lab[2:6, 25:30], lab[2:12, 30:35] = 4, 5  # a step: kept apart
    out = merge_convex(lab)
    assert out[5, 5] == out[5, 15] and len({out[5, 5], out[14, 4], out[3, 27], out[3, 32]}) == 4
    assert np.array_equal(out > 0, lab > 0)
    assert np.array_equal(merge_convex(np.zeros((4, 4), int)), np.zeros((4, 4)))
    disc = _disc((40, 60), (20, 18), 10) | _disc((40, 60), (20, 38), 11)
    two = separate_grains(disc, merge_convex=False)
    assert np.unique(merge_convex(two)).size == 3  # two touching discs: a concave union


def test_merge_convex_sees_through_a_ragged_watershed_line():
    """Three bands of one lath whose watershed lines are ragged by a pixel: no two of them make
    a convex union (a row of the third pokes into their hull), the three do."""
    labels = np.zeros((30, 60), np.int32)
    labels[:, :20], labels[:, 20:40], labels[:, 40:] = 1, 2, 3
    labels[10:18, 20] = 1  # band 1 pokes into band 2
    labels[5:13, 39] = 3  # band 3 pokes into band 2
    merged = merge_convex(labels)
    assert len(np.unique(merged)) == 1
    ell = np.zeros((30, 60), np.int32)  # band 3 half as long: the three are not one convex grain
    ell[:, :20], ell[:, 20:40], ell[15:, 40:] = 1, 2, 3
    ell[16:24, 39] = 3
    assert len(np.unique(merge_convex(ell)[ell > 0])) == 3


def test_merge_convex_joins_a_lath_cut_in_four_ragged_bands():
    """A slanted lath cut across into four bands by ragged watershed lines: every pair and every
    triple lacks pixels of the next band, the four together are convex (it stayed in four before).
    The same bands with the fourth stepped sideways (two crystals) keep the fourth apart."""
    yy, xx = np.mgrid[:90, :120].astype(float)
    ang = np.radians(35)
    u = (xx - 60) * np.cos(ang) + (yy - 45) * np.sin(ang)
    v = -(xx - 60) * np.sin(ang) + (yy - 45) * np.cos(ang)
    lath = (np.abs(u) <= 48) & (np.abs(v) <= 9)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        wiggle = rng.integers(-1, 2, size=lath.shape) * (rng.random(lath.shape) < 0.5)
        band = np.clip(((u + 48 + 1.5 * wiggle) // 24).astype(int), 0, 3) + 1
        merged = merge_convex(np.where(lath, band, 0).astype(np.int32))
        assert len(np.unique(merged[lath])) == 1
        stepped = (lath & (band < 4)) | ((np.abs(u) <= 48) & (np.abs(v - 6) <= 9) & (band == 4))
        merged = merge_convex(np.where(stepped, band, 0).astype(np.int32))
        assert not np.isin(merged[stepped & (band == 4)], merged[stepped & (band == 1)]).any()


def test_score_grains():
    truth = np.zeros((10, 20), int)
    truth[:, :10], truth[:, 10:] = 1, 2
    found = truth.copy()
    found[:, 8:10] = 2  # grain 1 loses 20 %, grain 2 gains 20 %
    s = score_grains(found, truth)
    assert s["matched"] == 1 and s["count_error"] == 0 and s["n_true"] == s["n_found"] == 2
    assert np.isclose(s["diameter_error"], np.median([1 - np.sqrt(0.8), np.sqrt(1.2) - 1]))
    s = score_grains(np.where(truth > 0, 1, 0), truth)  # one found grain for two: IoU 0.5 with each
    assert s["matched"] == 0.5 and s["count_error"] == -0.5
    with pytest.raises(ValueError, match="no grain"):
        score_grains(found, truth, min_area=101)
    with pytest.raises(ValueError, match="one shape"):
        score_grains(found, truth.T)


def test_options_min_area_border_holes_and_markers():
    mask = _disc((60, 60), (30, 30), 12) | _disc((60, 60), (3, 3), 6) | _disc((60, 60), (55, 55), 2)
    labels = separate_grains(mask)
    assert labels.max() == 3
    big = separate_grains(mask, min_area=20)
    assert big.max() == 2 and np.bincount(big.ravel())[1:].min() >= 20
    inner = separate_grains(mask, exclude_border=True)
    assert inner.max() == 2 and not np.any(inner[[0, -1]]) and not np.any(inner[:, [0, -1]])
    holed = _disc((60, 60), (30, 30), 12)
    holed[29:32, 29:32] = False  # an inclusion
    assert separate_grains(holed).max() == 1
    assert separate_grains(holed, fill_holes=0, smoothing=0, **CLASSIC).max() >= 1
    pair = _disc((40, 60), (20, 18), 10) | _disc((40, 60), (20, 38), 11)
    for kw in (dict(h=2.0), dict(footprint=np.ones((9, 9), bool)), dict(compactness=0.1), dict(smoothing=0)):
        assert separate_grains(pair, **kw).max() == 2, kw
    assert separate_grains(pair, h=30.0, **CLASSIC).max() == 1  # no maximum that high: one grain


@pytest.mark.parametrize("mask, kw, error, match", [
    (np.zeros((5, 5), bool), {}, ValueError, "empty"),
    (np.ones((2, 3, 4), bool), {}, ValueError, "`mask` must be a 2-D array"),
    (np.full((4, 4), np.nan), {}, ValueError, "`mask` holds [0-9]+ NaN"),
    (np.full((4, 4), "a"), {}, TypeError, "`mask` must hold boolean or numeric values"),
    (np.ones((9, 9), bool), dict(min_distance=0), ValueError, "`min_distance` must be an integer >= 1"),
    (np.ones((9, 9), bool), dict(min_area=-1), ValueError, "`min_area` must be an integer >= 0"),
    (np.ones((9, 9), bool), dict(fill_holes=1.5), TypeError, "`fill_holes` must be an integer"),
    (np.ones((9, 9), bool), dict(smoothing=-1), ValueError, "`smoothing` must be a number in \\[0, 100\\]"),
    (np.ones((9, 9), bool), dict(h=0), ValueError, "`h` must be a number > 0"),
    (np.ones((9, 9), bool), dict(footprint=np.zeros((3, 3))), ValueError, "footprint"),
])
def test_separate_grains_errors(mask, kw, error, match):
    with pytest.raises(error, match=match):
        separate_grains(mask, **kw)


def test_grain_map_of_every_phase(texture):
    labels = np.where(texture[0] == 5, -1, texture[0]).astype(np.int16)  # some pixels unassigned
    g = grain_map(labels, pixel_size=0.5, min_area=5)
    assert isinstance(g, GrainMap) and g.labels.shape == labels.shape and g.n_grains == g.labels.max()
    assert np.all(g.labels[labels < 0] == 0)
    phase_of_pixel = g.phases[g.labels[g.labels > 0] - 1]
    assert np.array_equal(phase_of_pixel, labels[g.labels > 0])  # a grain lies in its phase
    one = grain_map(labels, phases=2)
    assert set(one.phases.tolist()) == {2} and "GrainMap" in repr(one)
    with pytest.raises(ValueError, match=r"phase\(s\) \[7\] not in the map"):
        grain_map(labels, phases=7)
    with pytest.raises(ValueError, match="no assigned pixel"):
        grain_map(np.full((4, 4), -1))
    with pytest.raises(TypeError, match="`labels` must hold integer or boolean values"):
        grain_map(labels.astype(float))
    with pytest.raises(ValueError, match="pixel_size"):
        grain_map(labels, pixel_size=0)


def test_spans_map_flags_a_groundmass():
    lab = np.zeros((60, 80), np.int16)  # phase 0: a groundmass around crystals of phases 1 and 2
    for i, (r, c) in enumerate([(15, 15), (15, 45), (40, 30), (45, 65)]):
        lab[_disc(lab.shape, (r, c), 8)] = 1 + i % 2
    g = grain_map(lab)
    assert g.spanning_phases == (0,)
    assert spans_map(lab == 0) and not spans_map(lab == 1)
    band = np.zeros((60, 80), bool)
    band[20:40, :70] = True  # one cluster, but it does not reach the right side
    assert not spans_map(band)
    band[20:40, 70:] = True
    assert spans_map(band)
    thin = np.zeros((60, 80), bool)
    thin[30, :] = True  # crosses the map...
    thin[5:25, 10:50] = True  # ...but the biggest cluster is this block, which does not
    assert not spans_map(thin) and not spans_map(np.zeros((5, 5), bool))


def test_match_grains():
    a = np.array([[1, 1, 0, 2], [1, 1, 0, 2]])
    pairs, iou = match_grains(a, a * 10)
    assert pairs.tolist() == [[1, 10], [2, 20]] and np.allclose(iou, 1)
    with pytest.raises(ValueError, match=r"shape \(2, 4\).*shape \(4, 2\)"):
        match_grains(a, a.T)
    with pytest.raises(ValueError, match="min_iou"):
        match_grains(a, a, min_iou=1.5)


# ----------------------------------------------------------------- inclusions and bays
@pytest.mark.parametrize("radius", [5, 8])
def test_an_inclusion_stays_inside_its_crystal(radius):
    yy, xx = np.mgrid[:60, :90]
    pair = _disc((60, 90), (30, 30), 22) | _disc((60, 90), (30, 66), 18)
    inclusion = (yy - 28) ** 2 + (xx - 27) ** 2 < radius**2  # 69 and 193 px: over fill_holes=30
    mask = pair & ~inclusion
    labels = separate_grains(mask)
    assert labels.max() == 2 and np.all(labels[inclusion] == 0)
    assert len(np.unique(labels[_disc((60, 90), (30, 30), 21) & mask])) == 1  # the host in one piece
    assert separate_grains(mask, inclusions=False).max() >= 6  # before: cut like a pizza from the hole
    table = grain_table(labels, pixel_size=2.0)
    host = table["grain_id"] == labels[30, 10]
    assert table["n_inclusions"][host].tolist() == [1] and table["n_inclusions"][~host].tolist() == [0]
    assert table["inclusion_area_px"][host][0] == inclusion.sum()
    assert table["inclusion_area_um2"][host][0] == pytest.approx(4.0 * inclusion.sum())


def test_bays_and_pockets():
    yy, xx = np.mgrid[:100, :140]
    octagon = (np.abs(yy - 50) + np.abs(xx - 60) < 55) & (np.abs(yy - 50) < 40) & (np.abs(xx - 60) < 40)
    bays = ((yy - 12) ** 2 + (xx - 60) ** 2 < 81) | ((yy - 55) ** 2 + (xx - 100) ** 2 < 64)
    assert separate_grains(octagon & ~bays).max() == 1  # a resorbed crystal: not cut at its bays
    assert separate_grains(octagon & ~bays, inclusions=False).max() >= 3
    shallow = (yy - 50) ** 2 + (xx - 5) ** 2 < 23**2  # a shallow bay (8 px deep, 30 px wide)
    inclusion = (np.abs(yy - 60) < 6) & (np.abs(xx - 55) < 6)
    assert separate_grains(octagon & ~bays & ~shallow & ~inclusion).max() == 1  # it cut from all three
    hopper = np.zeros((60, 60), bool)  # a 10-px-thick hopper crystal, its cavity open by a channel
    hopper[10:50, 10:50], hopper[20:40, 20:40], hopper[10:20, 27:33] = True, False, False
    assert separate_grains(hopper).max() == 1
    yy, xx = np.mgrid[:100, :160]  # two touching crystals, one with a bay behind a neck
    pair = ((yy >= 20) & (yy < 80) & (xx >= 10) & (xx < 80)) | ((yy >= 30) & (yy < 70) & (xx >= 80) & (xx < 140))
    bottle = ((yy - 50) ** 2 + (xx - 40) ** 2 < 144) | ((np.abs(yy - 50) < 4) & (xx < 40))
    assert separate_grains(pair & ~bottle).max() == 2
    assert separate_grains(pair).max() == 2  # their shallow notches are not bays
    for centre, radius in ((20, 12), (24, 12), (22, 14)):  # a rounded bay, no neck: its edge is an arc
        rounded = (yy - centre) ** 2 + (xx - 42) ** 2 < radius**2
        assert separate_grains(pair & ~rounded).max() == 2  # 6 pieces before
    ring = np.zeros((70, 70), int)  # four grains around a pocket, with notches outside: not an inclusion
    ring[10:25, 8:35], ring[3:35, 35:50], ring[35:50, 25:60], ring[25:62, 10:25] = 1, 2, 3, 4
    assert separate_grains(ring > 0).max() >= 4


def test_a_lone_embayed_crystal_is_not_cut_from_the_corner_left_by_its_bays_fill():
    """A crystal standing alone with two rounded bays: once they are filled, a few shallow pixels
    of its hull remain where a bay met the outline, and their corner started a cut through the
    crystal (3 grains before); now the whole hull of such a crystal is filled."""
    labels, ids = make_phenocrysts((300, 400), seed=4)
    mask = labels == 1
    comp, _ = ndi.label(ndi.binary_fill_holes(mask))
    one = mask & (comp == np.bincount(comp[ids == 72]).argmax())
    assert np.unique(ids[one & (ids > 0)]).tolist() == [72]  # it stands alone
    assert separate_grains(one).max() == 1


def _t_junction(angle, width=16):
    """A horizontal lath (id 1) and a lath of ``width`` columns leaning at ``angle`` degrees
    whose end stands on it (id 2): their boundary runs along the first one's top edge."""
    from skimage.draw import polygon

    ids = np.zeros((70, 110), np.int32)
    run = 40 / np.tan(np.radians(angle))
    rr, cc = polygon([40, 40, 0, 0], [30, 30 + width, 30 + width + run, 30 + run], ids.shape)
    ids[rr, cc] = 2
    ids[40:52, 5:100] = 1
    return ids


@pytest.mark.parametrize("angle", [60, 90, 120])
def test_a_lath_standing_on_another_is_cut_along_its_edge(angle):
    """The cut between the contact's corners continues the long lath's edge: at the very edge of
    the cone of convex cuts, which used to leave the pair to two rays and a third piece."""
    ids = _t_junction(angle)
    labels = separate_grains(ids > 0)
    assert labels.max() == 2
    for g in (1, 2):  # each lath is one grain, to the pixels along the cut
        assert np.bincount(labels[ids == g]).max() >= (ids == g).sum() - 15


PHENOCRYSTS = dict(shape=(500, 700), embayed=0.0, skeletal=0.0)  # inclusions, no bays


def _crossing(a, b):
    """Points where the outlines of the convex polygons ``a`` and ``b`` cross."""
    out = []
    for p, r in zip(a, np.roll(a, -1, 0) - a):
        for q, e in zip(b, np.roll(b, -1, 0) - b):
            den = r[0] * e[1] - r[1] * e[0]
            if abs(den) > 1e-12:
                t, u = (np.array([(q - p)[0] * e[1] - (q - p)[1] * e[0], (q - p)[0] * r[1] - (q - p)[1] * r[0]]) / den)
                if 0 <= t <= 1 and 0 <= u <= 1:
                    out.append(p + t * r)
    return np.array(out)


def _two_laths(rng, shape=(120, 160)):
    """Two laths of random sizes, the second across one end of the first at 20-70 degrees; their
    overlap is parted by the line through the crossings of their outlines (as make_phenocrysts
    does), so both stay convex. Grain ids 1, 2; None when a lath keeps under 200 px."""
    from skimage.draw import polygon

    def lath(centre, length, width, angle):
        u = np.array([np.cos(angle), np.sin(angle)])
        v = np.array([-u[1], u[0]])
        corners = ((1, 1), (-1, 1), (-1, -1), (1, -1))
        return np.array([centre + s * length / 2 * u + t * width / 2 * v for s, t in corners])

    a = lath(np.array([60.0, 70.0]), rng.uniform(50, 80), rng.uniform(14, 24), rng.uniform(0, np.pi))
    turn = rng.uniform(0.35, 1.2) * rng.choice([-1, 1])
    b = lath((a[0] + a[3]) / 2 + rng.uniform(-5, 5, 2), rng.uniform(40, 70), rng.uniform(14, 24),
             np.arctan2(*(a[0] - a[1])[::-1]) + turn)
    x = _crossing(a, b)
    if len(x) != 2:
        return None
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    side = np.sign((rr - x[0][0]) * (x[0][1] - x[1][1]) + (cc - x[0][1]) * (x[1][0] - x[0][0]))
    ma, mb = np.zeros(shape, bool), np.zeros(shape, bool)
    ma[polygon(a[:, 0], a[:, 1], shape)] = True
    mb[polygon(b[:, 0], b[:, 1], shape)] = True
    own = np.sign(side[ma & ~mb].mean())
    ids = np.where(ma & (side == own), 1, np.where(mb & (side != own), 2, 0))
    return ids if min((ids == 1).sum(), (ids == 2).sum()) >= 200 else None


def test_two_laths_across_each_other_are_two_grains():
    """Two laths, one across the end of the other at random: the cut joins the contact's two sharp
    corners (the only concave ones: no margin inside their narrow cones, else a ray from each left
    a wedge), and a lath parted by the watershed alone (two maxima of the distance) is one grain
    again though a few pixels of its neighbour lie on its side of the cut. 12 of 60 before, 36 now."""
    rng = np.random.default_rng(0)
    pairs = []
    while len(pairs) < 60:
        ids = _two_laths(rng)
        if ids is not None:
            pairs.append(ids)
    found = [separate_grains(ids > 0) for ids in pairs]
    right = [f.max() == 2 and score_grains(f, ids)["matched"] == 1 for f, ids in zip(found, pairs)]
    assert np.mean(right) >= 0.5, np.mean(right)


def test_two_crystals_touching_at_two_sharp_corners_leave_no_wedge():
    """Two phenocrysts whose contact meets the outline at sharp corners (132 and 80 degrees): the cut
    joining them lies outside the narrowed cones of convex cuts, and two rays cut a 54 px wedge."""
    labels, ids = make_phenocrysts(seed=2, **PHENOCRYSTS)
    mask = labels == 1
    comp, _ = ndi.label(ndi.binary_fill_holes(mask))
    pair = mask & (comp == np.bincount(comp[ids == 135]).argmax())
    assert np.unique(ids[pair]).size == 2  # crystal 135 and its neighbour
    found = separate_grains(pair, min_area=10)
    assert found.max() == 2
    assert score_grains(found, np.where(pair, ids, 0), min_area=10)["matched"] == 1




def test_phenocrysts_with_inclusions_meet_the_bars():
    """The issue's bars on crystals holding inclusions (median of three seeds, as in
    benchmarks/bench_grains.py); with their holes cut from (the behaviour before) they fail."""
    for phase in (1, 2, 3):  # olivine- and pyroxene-like sections, plagioclase-like laths
        new, old = [], []
        for seed in (1, 2, 3):
            labels, ids = make_phenocrysts(seed=seed, **PHENOCRYSTS)
            mask = labels == phase
            new.append(_scores(separate_grains(mask, min_area=10), ids, mask))
            old.append(_scores(separate_grains(mask, min_area=10, inclusions=False), ids, mask))
        matched, diameter_err, count_err = np.median(new, axis=0)
        assert matched >= 0.9 and diameter_err <= 0.05 and abs(count_err) <= 0.1, (phase, new)
        assert min(m for m, _, _ in new) >= 0.9  # every seed
        assert max(c for _, _, c in new) <= 0.15, (phase, new)  # laths, seed 2: +0.53 when pockets' corners cut,
        # +0.20 before two sharp corners were joined and pieces parted by the watershed alone merged (session 25)
        if phase < 3:  # equant sections: +0.048-0.069 on seeds 1-3 before session 25
            assert max(abs(c) for _, _, c in new) <= 0.05, (phase, new)
        assert all(m < 0.9 and c > 1.0 for m, _, c in old)  # 3-6 pieces per crystal


def test_embayed_phenocrysts_are_split_better_than_before():
    labels, ids = make_phenocrysts((400, 500), seed=3)
    new, old = [], []
    for phase in (1, 2, 3):
        mask = labels == phase
        new.append(_scores(separate_grains(mask, min_area=10), ids, mask))
        old.append(_scores(separate_grains(mask, min_area=10, inclusions=False), ids, mask))
    assert min(m for m, _, _ in new) >= 0.85 and max(c for _, _, c in new) <= 1.0
    assert all(m > o + 0.3 and c < oc - 2 for (m, _, c), (o, _, oc) in zip(new, old))


def test_make_phenocrysts():
    labels, ids = make_phenocrysts((200, 300), crystal_size=30, seed=4)
    assert labels.shape == ids.shape == (200, 300) and labels.dtype == np.int16 and ids.dtype == np.int32
    assert set(np.unique(labels).tolist()) <= {-1, 0, 1, 2, 3, 4} and {0, 1, 2, 3} <= set(labels.ravel().tolist())
    again = make_phenocrysts((200, 300), crystal_size=30, seed=4)
    assert np.array_equal(labels, again[0]) and np.array_equal(ids, again[1])
    assert ids.min() == 1 and np.unique(ids).size == ids.max()
    for g in range(1, ids.max() + 1):  # a grain is one phase; the grain ids are 4-connected
        assert np.unique(labels[ids == g]).size == 1
    from scipy import ndimage

    assert all(ndimage.label(ids == g)[1] == 1 for g in range(1, ids.max() + 1))
    table = grain_table(np.where(labels > 0, ids, 0))  # hosts do not cover their inclusions
    assert table["n_inclusions"].max() >= 2 and table["inclusion_area_px"].max() > 30
    assert not make_phenocrysts((100, 100), inclusions=(0, 0), seed=1)[0].min() < 0
    for kw, error, match in [
        (dict(n_phases=4), ValueError, "`n_phases` must be an integer"),
        (dict(crystal_size=4.0), ValueError, "`crystal_size` must be a number >= 8"),
        (dict(inclusions=3), TypeError, "`inclusions` must be a pair"),
        (dict(inclusion_load=(0.3, 0.1)), ValueError, "smallest <= largest"),
        (dict(embayed=0.8, skeletal=0.5), ValueError, "at most 1"),
        (dict(touching="a"), TypeError, "`touching` must be a number"),
    ]:
        with pytest.raises(error, match=match):
            make_phenocrysts((50, 50), **kw)


# ----------------------------------------------------------------- grain table
def test_grain_table_agrees_with_regionprops(texture):
    ids = texture[1]
    t = grain_table(ids, pixel_size=1.0)
    ref = regionprops_table(ids, properties=("label", "area", "centroid", "axis_major_length",
                                             "axis_minor_length", "orientation", "perimeter", "solidity"))
    assert np.array_equal(t["grain_id"], ref["label"]) and np.array_equal(t["area_px"], ref["area"])
    for ours, theirs in (("centroid_row", "centroid-0"), ("centroid_col", "centroid-1"),
                         ("major_axis_um", "axis_major_length"), ("minor_axis_um", "axis_minor_length"),
                         ("perimeter_um", "perimeter")):
        np.testing.assert_allclose(t[ours], ref[theirs], atol=1e-9)
    # orientation: from the horizontal axis, counter-clockwise as displayed, modulo 180 degrees
    expected = (np.degrees(ref["orientation"]) + 180) % 180 - 90
    assert np.all(np.isclose(t["orientation_deg"], expected) | np.isclose(np.abs(t["orientation_deg"] - expected), 180))
    big = ref["area"] >= 100  # solidity: hull of pixel squares, a little below skimage's pixel-count hull
    assert np.median(t["solidity"][big] / ref["solidity"][big]) == pytest.approx(0.97, abs=0.03)
    assert np.all((t["solidity"] > 0) & (t["solidity"] <= 1))


def test_grain_table_units_and_columns():
    lab = np.zeros((40, 50), np.int32)
    lab[10:20, 5:35] = 1  # 10 x 30 rectangle
    lab[0:3, 45:50] = 2  # touches the border
    lab[30:32, 30:32] = 3
    lab[31, 31] = 0  # an L of 3 pixels: hull of its squares 3.5
    t = grain_table(lab, phases=[4, 5, 6], pixel_size=0.5)
    assert len(t) == 3 and t["phase"].tolist() == [4, 5, 6]
    assert t["area_px"].tolist() == [300, 15, 3] and t["area_um2"][0] == pytest.approx(75.0)
    np.testing.assert_allclose(t["equivalent_diameter_um"], 2 * np.sqrt(t["area_um2"] / np.pi))
    np.testing.assert_allclose(t["equivalent_diameter_um"], equivalent_diameter(t["area_px"]) * 0.5)
    assert t["solidity"][0] == pytest.approx(1.0) and t["solidity"][2] == pytest.approx(3 / 3.5)
    assert t["orientation_deg"][0] == pytest.approx(0.0) and t["aspect_ratio"][0] > 2.5
    assert t["touches_border"].tolist() == [False, True, False]
    assert grain_table(lab, phases=1)["phase"].tolist() == [1, 1, 1]
    assert grain_table(lab)["phase"].tolist() == [-1, -1, -1]
    yy, xx = np.mgrid[:60, :60]  # an ellipse rising to the right at 30 degrees
    cos, sin = np.cos(np.pi / 6), np.sin(np.pi / 6)
    u, v = (xx - 30) * cos - (yy - 30) * sin, (xx - 30) * sin + (yy - 30) * cos
    ellipse = ((u / 20) ** 2 + (v / 6) ** 2 <= 1).astype(np.int32)
    assert grain_table(ellipse)["orientation_deg"][0] == pytest.approx(30, abs=1)
    assert len(grain_table(np.zeros((3, 3), int))) == 0
    with pytest.raises(ValueError, match="phase of every grain id"):
        grain_table(lab, phases=[1])
    with pytest.raises(ValueError, match="pixel_size"):
        grain_table(lab, pixel_size=-1)
    with pytest.raises(ValueError, match="2-D"):
        grain_table(lab[None])


def test_grain_table_csv_and_pandas(tmp_path, texture):
    t = grain_map(texture[0], phases=[0, 1], pixel_size=2.0).table()
    t.to_csv(tmp_path / "g.csv")
    with open(tmp_path / "g.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(t) and rows[0].keys() == t.keys()
    assert [int(r["grain_id"]) for r in rows] == t["grain_id"].tolist()
    np.testing.assert_allclose([float(r["area_um2"]) for r in rows], t["area_um2"], rtol=1e-7)
    assert t.rows()[0]["grain_id"] == 1 and len(t.select(t["phase"] == 1)) == int(np.sum(t["phase"] == 1))
    import pandas as pd

    assert pd.DataFrame(t.columns).shape == (len(t), 17) and t.to_pandas()["touches_border"].dtype == bool


# ----------------------------------------------------------------- size statistics
def test_size_statistics_agree_with_numpy_and_scipy():
    d = np.random.default_rng(3).lognormal(2.0, 0.4, 800)
    s = size_statistics(d, binsize="fd", bandwidth="silverman", precision=0.01)
    assert s.n == 800 and not s.few_grains
    assert s.mean == pytest.approx(d.mean()) and s.median == pytest.approx(np.median(d))
    assert s.geometric_mean == pytest.approx(stats.gmean(d)) and s.rms_mean == pytest.approx(np.sqrt(np.mean(d**2)))
    assert s.std == pytest.approx(d.std(ddof=1))
    assert s.iqr == pytest.approx(np.percentile(d, 75) - np.percentile(d, 25))
    assert s.multiplicative_std == pytest.approx(np.exp(np.log(d).std(ddof=1)))
    kde = stats.gaussian_kde(d, bw_method="silverman")
    assert s.kde_bandwidth == pytest.approx(kde.covariance_factor() * d.std(ddof=1))
    grid = np.linspace(d.min(), d.max(), 20001)
    assert s.kde_peak == pytest.approx(grid[np.argmax(kde(grid))], abs=0.02)
    np.testing.assert_allclose(s.bin_edges, np.histogram_bin_edges(d, "fd", range=(d.min(), d.max())))
    i = np.argmax(s.counts)
    assert s.modal_interval == pytest.approx((s.bin_edges[i], s.bin_edges[i + 1]))
    fixed = size_statistics(d, binsize=0.5, bandwidth=1.0)
    assert np.allclose(np.diff(fixed.bin_edges), 0.5) and fixed.bin_edges[0] == d.min() and fixed.counts.sum() == 800
    assert fixed.kde_bandwidth == 1.0 and fixed.bin_method == "fixed" and fixed.bandwidth_method == "fixed"
    assert np.sqrt(stats.gaussian_kde(d, bw_method=1.0 / d.std(ddof=1)).covariance[0, 0]) == pytest.approx(1.0)
    assert json.loads(json.dumps(s.to_dict()))["n"] == 800 and size_statistics(d, ddof=0).std == pytest.approx(d.std())
    normal = np.random.default_rng(4).normal(50, 5, 5000)
    assert size_statistics(normal).kde_peak == pytest.approx(50, abs=1.0)


def test_few_grains_warning():
    d = np.random.default_rng(0).lognormal(1, 0.3, 100)
    with pytest.warns(GrainSizeWarning, match="433"):
        s = size_statistics(d)
    assert s.few_grains and "433" in s.to_dict()["warning"]
    assert size_statistics(d, warn=False).few_grains  # no warning raised (warnings are errors here)


@pytest.mark.parametrize("d, kw, match", [
    ([1.0], {}, "at least 2"),
    ([1.0, 1.0, 1.0], {}, "all diameters are equal"),
    ([1.0, -2.0], {}, "positive"),
    ([1.0, np.nan], {}, "positive, finite"),
    (np.ones((2, 2)), {}, "1-D"),
    ([1.0, 2.0, 3.0], dict(bandwidth="wide"), "bandwidth"),
    ([1.0, 2.0, 3.0], dict(bandwidth=0), "bandwidth"),
    ([1.0, 2.0, 3.0], dict(binsize="best"), "binsize"),
    ([1.0, 2.0, 3.0], dict(binsize=-1), "binsize"),
])
def test_size_statistics_errors(d, kw, match):
    with pytest.raises(ValueError, match=match):
        size_statistics(d, warn=False, **kw)


# ----------------------------------------------------------------- CSD
def _exponential_discs(n, l_min, l_char, seed=0, size=1100):
    """A mask of separate discs whose diameters are l_min + Exp(l_char) pixels, and their number."""
    rng = np.random.default_rng(seed)
    diameters = np.sort(l_min + rng.exponential(l_char, n))[::-1]
    mask = np.zeros((size, size), bool)
    taken = np.zeros_like(mask)
    placed = 0
    yy, xx = np.mgrid[-40:41, -40:41]
    for d in diameters:
        r = d / 2
        disc = yy**2 + xx**2 < r * r
        halo = yy**2 + xx**2 < (r + 2) ** 2
        for _ in range(200):
            y, x = rng.integers(41, size - 41, 2)
            win = (slice(y - 40, y + 41), slice(x - 40, x + 41))
            if not np.any(taken[win] & halo):
                mask[win] |= disc
                taken[win] |= halo
                placed += 1
                break
    return mask, placed


def test_csd_recovers_an_exponential_size_distribution():
    l_char, px = 5.0, 0.5  # characteristic size 5 px = 2.5 um: slope -0.4 /um
    mask, n = _exponential_discs(2500, 8.0, l_char)
    labels = separate_grains(mask)
    table = grain_table(labels, pixel_size=px)
    assert n > 2400 and labels.max() == n
    csd = crystal_size_distribution(table["equivalent_diameter_um"], mask.size * px * px,
                                    bins=np.arange(4.0, 25.0, 1.0), growth_rate=1e-7)
    true_slope = -1 / (l_char * px)
    assert csd.slope == pytest.approx(true_slope, rel=0.1)
    assert abs(csd.slope - true_slope) < 3 * csd.slope_err + 0.02
    assert csd.residence_time == pytest.approx(-1 / (1e-7 * csd.slope))
    assert csd.residence_time_err == pytest.approx(csd.residence_time * csd.slope_err / -csd.slope)
    assert csd.characteristic_size == pytest.approx(-1 / csd.slope) and "2-D" in csd.note


def test_csd_numbers():
    sizes = 1.0 + np.random.default_rng(1).exponential(2.0, 20000)
    csd = crystal_size_distribution(sizes, 1e6, bins=np.arange(1.0, 15.0, 0.5), growth_rate=2.0)
    np.testing.assert_allclose(csd.population_density, csd.counts / (0.5 * 1e6))
    assert csd.slope == pytest.approx(-0.5, rel=0.05) and csd.r2 > 0.95
    assert np.all(np.isnan(csd.ln_density[csd.counts == 0])) and not np.any(csd.used & (csd.counts == 0))
    assert csd.residence_time == pytest.approx(1 / (2.0 * 0.5), rel=0.05)
    part = crystal_size_distribution(sizes, 1e6, bins=20, min_size=3, max_size=8)
    assert np.all(part.sizes[part.used] >= 3) and np.all(part.sizes[part.used] <= 8)
    rows = csd.rows()
    assert len(rows) == len(csd.counts) and rows[0]["count"] == csd.counts[0]
    assert json.dumps(csd.to_dict()) and csd.to_dict()["growth_rate"] == 2.0
    growing = crystal_size_distribution(np.linspace(1, 10, 50) ** 0.5, 100, bins=5, min_size=0, growth_rate=1)
    assert growing.slope > 0 and growing.residence_time is None and "not negative" in growing.note
    two = crystal_size_distribution([1.0, 2.0], 100, growth_rate=1)
    assert np.isnan(two.slope) and two.residence_time is None and "No fit" in two.note


@pytest.mark.parametrize("args, kw, match", [
    (([1.0, 2.0], 0), {}, "area"),
    (([1.0, 2.0], 10), dict(growth_rate=0), "growth_rate"),
    (([1.0, 2.0], 10), dict(growth_rate=-1e-9), "growth_rate"),
    (([], 10), {}, "at least 2"),
    (([1.0, 2.0], 10), dict(bins=[3.0, 1.0]), "bins"),
])
def test_csd_errors(args, kw, match):
    with pytest.raises(ValueError, match=match):
        crystal_size_distribution(*args, **kw)


# ----------------------------------------------------------------- plots
def test_plot_helpers_and_matplotlib_kept_out_of_the_import(monkeypatch):
    code = "import sys, phaselib.morphology; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    d = np.random.default_rng(2).lognormal(1, 0.3, 500)
    s, c = size_statistics(d), crystal_size_distribution(d, 1e4)
    ax = plot_size_distribution(s)
    assert len(ax.patches) == len(s.counts) and ax.get_legend() is not None
    assert len(plot_csd(c).lines) >= 2
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="need matplotlib"):
        plot_csd(c)


# ----------------------------------------------------------------- command line
def _cli(argv):
    parser = argparse.ArgumentParser(prog="python -m phaselib")
    _grains_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return _grains_cli.run(parser.parse_args(["grains", *map(str, argv)]))


@pytest.fixture(scope="module")
def map_dir(tmp_path_factory, texture):
    folder = tmp_path_factory.mktemp("map")
    labels = texture[0][:150, :200].astype(np.int16)
    np.save(folder / "labels.npy", labels)
    (folder / "summary.json").write_text(json.dumps({"method": "test", "image": {"pixel_size": 0.25}}))
    return folder


def test_cli_writes_the_results(map_dir, tmp_path, capsys):
    out = _cli([map_dir, "--out", tmp_path / "g", "--min-area", 5, "--growth-rate", 1e-7])
    files = {p.name for p in out.iterdir()}
    assert {"grains.csv", "grain_labels.npy", "size_stats.json", "csd.csv", "size_distribution.png"} <= files
    grains = np.load(out / "grain_labels.npy")
    with open(out / "grains.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == grains.max() and sorted(int(r["grain_id"]) for r in rows) == list(range(1, grains.max() + 1))
    summary = json.loads((out / "size_stats.json").read_text())
    assert summary["pixel_size_um"] == 0.25 and summary["pixel_size_source"].endswith("summary.json")
    assert "not 3-D" in summary["note"] and summary["n_grains"] == grains.max()
    assert all(isinstance(e["spans_map"], bool) for e in summary["phases"].values())
    phase0 = summary["phases"]["0"]
    assert phase0["size_statistics"]["n"] == phase0["n_grains"] and phase0["csd"]["residence_time"] > 0
    with open(out / "csd.csv", newline="") as fh:
        assert next(csv.reader(fh))[:4] == ["phase", "size_min_um", "size_max_um", "size_um"]
    from PIL import Image

    with Image.open(out / "size_distribution.png") as im:
        assert im.size[0] > 100
    assert "grains in" in capsys.readouterr().out


def test_cli_one_phase_file_input_and_pillow_figure(map_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # the figure falls back to Pillow
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    out = _cli([map_dir / "labels.npy", "--out", tmp_path / "one", "--phase", 1, "--pixel-size", 2,
                "--exclude-border", "--min-distance", 4, "--bin-size", 1.5, "--no-merge"])
    summary = json.loads((out / "size_stats.json").read_text())
    assert list(summary["phases"]) == ["1"] and summary["pixel_size_um"] == 2.0
    assert summary["params"]["merge_convex"] is False and summary["params"]["split_concave"] is True
    assert summary["params"]["exclude_border"] and summary["params"]["min_distance"] == 4
    assert (out / "size_distribution.png").stat().st_size > 0
    with open(out / "grains.csv", newline="") as fh:
        assert {r["phase"] for r in csv.DictReader(fh)} == {"1"}


def test_cli_errors(map_dir, tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4), np.int16))
    np.save(tmp_path / "frac.npy", np.full((4, 4), 0.5))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    cases = [
        ([tmp_path / "missing.npy"], FileNotFoundError, "does not exist"),
        ([tmp_path / "empty"], FileNotFoundError, "no labels.npy"),
        ([tmp_path / "notes.txt"], ValueError, "not a .npy"),
        ([tmp_path / "cube.npy"], ValueError, r"\(H, W\)"),
        ([tmp_path / "frac.npy"], ValueError, "integer phase"),
        ([map_dir, "--phase", 9], ValueError, "not in the map"),
        ([map_dir, "--pixel-size", 0], ValueError, "pixel-size"),
        ([map_dir, "--growth-rate", -1], ValueError, "growth-rate"),
        ([map_dir, "--min-distance", 0], ValueError, "^--min-distance must be an integer >= 1"),
        ([map_dir, "--min-area", -1], ValueError, "^--min-area must be an integer >= 0"),
    ]
    for argv, error, match in cases:
        with pytest.raises(error, match=match):
            _cli([*argv, "--out", tmp_path / "o"])


def test_cli_through_main(map_dir, tmp_path):
    from phaselib import _cli as cli

    assert cli.main(["grains", str(map_dir), "--out", str(tmp_path / "m")]) == 0
    assert cli.main(["grains", str(tmp_path / "nothing.npy"), "--out", str(tmp_path / "m")]) == 2


def test_a_classified_map_is_separated_with_a_looser_outline():
    """Phenocrysts mapped by `map_phases` at 50 counts/px with the beam spreading 0.7 px: pixels mixing two
    grains make every outline ragged by a pixel or two, whose corners cut crystals (about twice the true
    number at outline_tol=1 while lone corners started rays); within 2 px the count is near the truth. Most
    lone corners of such a map lie on the pixel holes the mixing leaves inside crystals, so they are taken
    for bites and start no ray: at 1 px the count went to +0 / +29 % (was +57 / +59 %). Corners that do not
    persist on the outline simplified to 1.5 px (``_outline._persistent``) cut nothing: +0 / +6 % (one of
    the 17 augite crystals is still cut, and one merged: 15 matched one-to-one, 0.88)."""
    from phaselib.pipeline import map_phases

    labels, ids = make_phenocrysts((300, 400), seed=1, embayed=0.0, skeletal=0.0, unassigned=0.0)
    names = ["albite", "olivine", "augite", "anorthite", "magnetite"]
    rock = make_rock(labels.shape, counts_per_pixel=50, minerals=names,
                     texture=(labels, np.maximum(ids, 1)), beam_spread=0.7, seed=1)
    found = map_phases(rock.image, n_phases=5).labels
    for p in (1, 2):  # olivine- and augite-like crystals
        mask = found == np.bincount(found[labels == p]).argmax()
        truth = np.where(labels == p, ids, 0)
        tight = score_grains(separate_grains(mask, min_area=10), truth, min_area=10)
        loose = score_grains(separate_grains(mask, min_area=10, outline_tol=2.0), truth, min_area=10)
        assert abs(tight["count_error"]) <= 0.1 and abs(loose["count_error"]) <= 0.1, (p, tight, loose)
        assert tight["matched"] >= 0.85 and loose["matched"] >= 0.9


def test_grains_cli_outline_tolerance(tmp_path):
    from phaselib._cli import main

    lab, _ = make_texture((60, 80), seed=2)
    np.save(tmp_path / "labels.npy", lab)
    for out, extra, tol in (("a", [], 1.0), ("b", ["--outline-tol", "2"], 2.0)):
        assert main(["grains", str(tmp_path / "labels.npy"), "--out", str(tmp_path / out), *extra]) == 0
        assert json.loads((tmp_path / out / "size_stats.json").read_text())["params"]["outline_tol"] == tol
    assert main(["grains", str(tmp_path / "labels.npy"), "--out", str(tmp_path / "c"), "--outline-tol", "9"]) == 2


def _bitten_hexagons(n_rows=4, n_cols=6, size=34, seed=0):
    """Hexagons (phase 1) standing apart, each bitten by the corner of a triangle of phase 2 pressed into
    one face (an impinged crystal), and the true crystal ids."""
    from skimage.draw import polygon

    rng = np.random.default_rng(seed)
    labels = np.zeros((n_rows * 2 * size, n_cols * 2 * size), np.int16)
    ids = np.zeros(labels.shape, np.int32)
    for k in range(n_rows * n_cols):
        cy, cx = (2 * (k // n_cols) + 1) * size, (2 * (k % n_cols) + 1) * size
        rot = rng.uniform(0, np.pi / 3)
        a = rot + np.arange(6) * np.pi / 3
        rr, cc = polygon(cy + 0.75 * size * np.sin(a), cx + 0.75 * size * np.cos(a), labels.shape)
        labels[rr, cc], ids[rr, cc] = 1, k + 1
        # a triangle from outside, its tip pressed 4-8 px into the middle of a face
        f = rot + np.pi / 6 + rng.integers(6) * np.pi / 3
        normal = np.array([np.sin(f), np.cos(f)])
        face = np.array([cy, cx]) + 0.75 * size * np.cos(np.pi / 6) * normal
        tip = face - rng.uniform(4, 8) * normal
        side = np.array([-normal[1], normal[0]])
        tri = np.array([tip, face + 14 * normal + 8 * side, face + 14 * normal - 8 * side])
        rr, cc = polygon(tri[:, 0], tri[:, 1], labels.shape)
        labels[rr, cc], ids[rr, cc] = 2, 0
    return labels, ids


def test_crystals_bitten_by_neighbours_of_another_phase_stay_whole():
    """A crystal with a neighbour's corner pressed into it shows one lone concave corner; where a phase's
    crystals stand apart (lone corners only, no pairs) that corner is a bite and starts no ray. Before, a ray
    from it cut every hexagon in two."""
    from phaselib.morphology._separate import lone_rays

    labels, ids = _bitten_hexagons()
    mask = labels == 1
    assert not lone_rays(mask)
    s = score_grains(separate_grains(mask, min_area=10), np.where(mask, ids, 0), min_area=10)
    assert s["matched"] == 1.0 and s["count_error"] == 0.0, s
    # a space-filling texture keeps its rays: there they part grains whose contact's far end is hidden
    tex, _ = make_texture((200, 250), seed=1, matrix_fraction=0.0, grain_size=12)
    assert lone_rays(tex == 0)


def test_crystals_holding_many_inclusions_take_their_lone_corners_for_bites():
    """Crystals riddled with inclusions show many corners across each hole, counted as pair cuts: the ratio
    of lone corners to pairs alone then says "space-filling" and rays cut the crystals. Most of those lone
    corners lie on enclosed holes (in a space-filling texture few do), so they start no ray. Before: 21
    grains for 12 crystals here (0.92 matched)."""
    from skimage.morphology import remove_small_holes

    from phaselib.morphology._fill import LOOSE, enclosed_holes, solidity
    from phaselib.morphology._separate import lone_rays

    x, ids = make_phenocrysts(seed=7, shape=(500, 600), crystal_size=80, inclusion_load=(0.05, 0.3))
    mask = x == 1
    filled = remove_small_holes(mask, max_size=30)
    assert lone_rays(filled)  # the ratio alone
    assert not lone_rays(filled, holes=enclosed_holes(mask) & ~filled)
    s = score_grains(separate_grains(mask, min_area=10), np.where(mask, ids, 0), min_area=10)
    assert s["n_true"] >= 10 and s["matched"] >= 0.9 and abs(s["count_error"]) <= 0.1, s
    # a space-filling texture: few of its lone corners lie on pockets (holes in a network of grains), and
    # they keep their rays
    tex, _ = make_texture((200, 250), seed=1, matrix_fraction=0.0, grain_size=12)
    filled = tex == 0
    holes = enclosed_holes(filled)
    assert lone_rays(filled, holes=holes & (solidity(filled | holes, holes) >= LOOSE))


def test_a_grain_with_a_bay_left_open_still_holds_its_other_bay():
    """A filled bay (or hole) stays filled when the grain holding it is one crystal. A second bay left open
    (a shallow one, or one that a notch elsewhere kept open) makes that grain lack more than 5 % of its hull;
    before, the first bay was then taken for a pocket between crystals, reopened, and its corners cut the
    crystal. Two crystals merged in one grain meet at a notch: a hole in them is still a pocket."""
    from phaselib.morphology._fill import not_in_one_grain

    a = np.arange(8) * np.pi / 4 + np.pi / 8
    octagon = np.zeros((90, 90), bool)
    octagon[draw.polygon(45 + 26 * np.sin(a), 45 + 26 * np.cos(a), octagon.shape)] = True
    apothem = 26 * np.cos(np.pi / 8)
    bay, dent = np.zeros_like(octagon), np.zeros_like(octagon)
    bay[draw.disk((45 - apothem, 45), 9, shape=bay.shape)] = True
    dent[draw.disk((45, 45 + apothem), 9, shape=dent.shape)] = True  # open: the grain lacks 7 % of its hull
    grain = octagon & ~dent
    assert not not_in_one_grain(grain.astype(int), bay & grain).any()
    ell = np.zeros((90, 90), bool)  # two rectangles merged in an L: a notch
    ell[10:80, 10:40] = ell[50:80, 40:85] = True
    hole = np.zeros_like(ell)
    hole[60:70, 60:70] = True
    assert not_in_one_grain(ell.astype(int), hole).sum() == hole.sum()


def _lath_with_a_bay_by_a_neighbour(bay_x, angle=35, r=14):
    """Lath A (grain 1) with lath B (grain 2) standing on its top face at ``angle``; a rounded bay of radius
    ``r`` cut in A's top face at column ``bay_x`` (near B: inside the hull concavity of the notch they make)."""
    ids = np.zeros((200, 320), int)
    rr, cc = draw.polygon([100, 100, 150, 150], [20, 290, 290, 20], ids.shape)
    ids[rr, cc] = 1
    a = np.radians(angle)
    base, d, n = np.array([100.0, 190.0]), np.array([-np.sin(a), np.cos(a)]), np.array([np.cos(a), np.sin(a)])
    pts = np.array([base - n * 17, base + d * 160 - n * 17, base + d * 160 + n * 17, base + n * 17])
    rr, cc = draw.polygon(pts[:, 0], pts[:, 1], ids.shape)
    keep = (ids[rr, cc] == 0) & (rr < 100)
    ids[rr[keep], cc[keep]] = 2
    rr, cc = draw.disk((100, bay_x), r, shape=ids.shape)
    ids[rr, cc] = 0
    return ids


@pytest.mark.parametrize("bay_x", [120, 150, 240])
def test_a_rounded_bay_in_a_crystal_touching_another_does_not_cut_it(bay_x):
    """A bay opening into the notch between two touching laths is part of that notch's hull concavity, so
    the bays of ``_fill`` (judged per concavity) leave it open: its corners cut the lath in 3-4 pieces. Its
    edge between its mouth corners is a circular arc (``_dents.arc_dents``): filled, the laths are two grains."""
    from phaselib.morphology._dents import arc_dents

    ids = _lath_with_a_bay_by_a_neighbour(bay_x)
    mask = ids > 0
    dent = arc_dents(mask)
    assert 250 <= dent.sum() <= 340  # the half disc of radius 14 (308 px)
    s = score_grains(separate_grains(mask), ids, min_area=10)
    assert s["n_found"] == 2 and s["matched"] == 1.0, s


def test_rounded_dents_are_rare_where_grains_meet():
    """Space-filling textures (notches between polygonal grains, slivers along bent boundaries): on 36 phase
    masks one 8.2 px arc of a curved cell boundary passes the test (a wrong fill of ~50 px), none other."""
    from phaselib.morphology._dents import arc_dents

    hits, pixels = 0, 0
    for seed in (1, 2, 3):
        for size in (12, 40):
            tex, _ = make_texture((300, 400), seed=seed, matrix_fraction=0.0, grain_size=size)
            for p in range(int(tex.max()) + 1):
                d = arc_dents(remove_small_holes(tex == p, max_size=30))
                hits += bool(d.any())
                pixels += int(d.sum())
    assert hits <= 1 and pixels <= 80, (hits, pixels)
