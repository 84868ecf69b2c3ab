"""Crystals standing in a matrix (`separate_grains(..., phase_map=...)`, `grain_map`): lone concave corners,
bites of other crystals, start no ray there; space-filling textures are separated as before."""

import numpy as np
import pytest
from skimage.draw import polygon
from skimage.measure import label as _label

from phaselib.datasets import make_texture
from phaselib.morphology import grain_map, score_grains, separate_grains
from phaselib.morphology._separate import in_matrix


def _polygon(shape, cy, cx, xs, ys, angle):
    ca, sa = np.cos(angle), np.sin(angle)
    return polygon(cy + xs * sa + ys * ca, cx + xs * ca - ys * sa, shape)


def bitten_crystals(seed, n=24, shape=(260, 360)):
    """Hexagons of phase 1 in a matrix (0), a third of them in touching pairs, each group bitten by a lath of
    phase 2 pressed into it: ``(labels, grain ids)``, ids the 4-connected pieces of each hexagon."""
    rng = np.random.default_rng(seed)
    lab = np.zeros(shape, np.int16)
    ids = np.zeros(shape, np.int32)
    k = 0
    t6 = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    for _ in range(2000):
        if k >= n:
            break
        cy, cx, r = rng.uniform(25, shape[0] - 25), rng.uniform(25, shape[1] - 25), rng.uniform(13, 20)
        centres = [(cy, cx)]
        if rng.random() < 0.3:
            a = rng.uniform(0, 6.3)
            centres.append((cy + 1.6 * r * np.sin(a), cx + 1.6 * r * np.cos(a)))
        drawn = [_polygon(shape, y, x, r * np.cos(t6), 0.8 * r * np.sin(t6), rng.uniform(0, np.pi)) for y, x in centres]
        if any((lab[rr, cc] != 0).any() or rr.size < 100 for rr, cc in drawn):
            continue
        for rr, cc in drawn:
            k += 1
            lab[rr, cc], ids[rr, cc] = 1, k
        a = rng.uniform(0, 2 * np.pi)
        rr, cc = _polygon(shape, cy + r * np.sin(a), cx + r * np.cos(a), np.array([14, -14, -14, 14.0]),
                          np.array([3, 3, -3, -3.0]), rng.uniform(0, np.pi))
        lab[rr, cc], ids[rr, cc] = 2, 0
    out = np.zeros_like(ids)
    for g in range(1, k + 1):
        pieces = _label(ids == g, connectivity=1)
        out[pieces > 0] = pieces[pieces > 0] + out.max()
    return lab, out


@pytest.mark.parametrize("seed", range(5))
def test_bitten_crystals_in_a_matrix_are_not_cut(seed):
    # seed 4 without the phase map: 24 crystals found as 36 (rays from the bites' lone corners)
    lab, ids = bitten_crystals(seed)
    mask = lab == 1
    assert in_matrix(mask, lab)
    score = score_grains(separate_grains(mask, min_area=10, phase_map=lab), np.where(mask, ids, 0), min_area=10)
    assert score["matched"] >= 0.95 and abs(score["count_error"]) <= 0.05, score
    g = grain_map(lab, phases=[1], min_area=10)
    assert g.params["in_matrix"] == [1]
    assert score_grains(g.labels, np.where(mask, ids, 0), min_area=10)["matched"] >= 0.95


@pytest.mark.parametrize("phase", [1, 4])
def test_space_filling_texture_keeps_its_rays(phase):
    labels, _ = make_texture((200, 260), seed=2, matrix_fraction=0.0, grain_size=12)
    mask = labels == phase
    assert not in_matrix(mask, labels)
    np.testing.assert_array_equal(separate_grains(mask, phase_map=labels), separate_grains(mask))


def test_in_matrix_counts_the_pixels_around_the_mask():
    lab = np.zeros((20, 20), np.int16)
    lab[5:10, 5:10] = 1
    lab[5:10, 10] = 2  # one side of four: 5 of the 20 pixels around
    assert in_matrix(lab == 1, lab)  # 15 / 20 = 0.75
    lab[4, 5:10] = 3
    assert not in_matrix(lab == 1, lab)  # 10 / 20
    lab[lab == 0] = -1  # unassigned pixels are nobody's matrix
    assert not in_matrix(lab == 1, lab)
    with pytest.raises(ValueError, match="shape"):
        in_matrix(lab == 1, lab[:10])


@pytest.mark.parametrize("radius", [1.5, 2.2])
def test_inclusions_open_to_the_outside_cut_nothing(radius):
    """A crystal with a spinel speck on its rim at each end (inclusions open to the outside, in the phase map) was
    cut in two between them, as between two crystals in contact; two crystals that do touch are still two."""
    yy, xx = np.mgrid[:60, :110]
    lab = np.zeros(yy.shape, np.int16)
    lab[(yy - 30) ** 2 + (xx - 30) ** 2 <= 15 ** 2] = 1  # one crystal, specks on its rim
    for cy in (15.5, 44.5):
        lab[(yy - cy) ** 2 + (xx - 30) ** 2 <= radius ** 2] = 2
    pair = ((yy - 30) ** 2 + (xx - 68) ** 2 <= 12 ** 2) | ((yy - 30) ** 2 + (xx - 90) ** 2 <= 12 ** 2)
    lab[pair] = 1  # two crystals in contact
    assert separate_grains(lab == 1).max() == 4  # the mask alone: the rim's notches look like a contact's
    for found in (grain_map(lab, phases=[1]).labels, separate_grains(lab == 1, phase_map=lab)):
        assert len(np.unique(found[(lab == 1) & (xx < 50)])) == 1
        assert len(np.unique(found[(lab == 1) & (xx >= 50)])) == 2


def test_open_inclusions_are_small_blobs_mostly_in_the_crystal():
    from phaselib.morphology._fill import open_inclusions

    lab = np.zeros((30, 30), np.int16)
    lab[5:25, 5:25] = 1
    lab[4:7, 14:17] = 2  # a speck on the rim: 2 of its 3 rows inside
    lab[14:16, 0:6] = 3  # a lath poking in from outside: most of its ring is matrix
    lab[10:12, 10:12] = 2  # enclosed: an inclusion, not an open one
    out = open_inclusions(lab == 1, lab, 30)
    assert out[4:7, 14:17].all() and not out[14:16, 0:6].any() and not out[10:12, 10:12].any()
    assert not open_inclusions(lab == 1, lab, 5)[4:7, 14:17].any()  # 9 px: too big for 5
