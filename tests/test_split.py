"""The split test (phaselib.refine): a phase holding two chemistries is split, after a clustering
and after the low-count path's EM; there, pieces of one chemistry are merged even with a number
of phases asked for."""

import numpy as np
import pytest
from scipy.ndimage import uniform_filter
from sklearn.metrics import adjusted_rand_score as ari

from phaselib import cluster, decompose, refine
from phaselib.datasets import make_rich_rock, make_rock
from phaselib.lowcount import _grow, map_lowcount
from phaselib.pipeline import map_phases


def _cut(rock, labels):
    """Halves and split decisions of :mod:`phaselib.lowcount._split` for ``labels`` on ``rock``."""
    img = rock.image
    h, w, c = img.shape
    flat = np.asarray(img.data, np.float64).reshape(h * w, c)
    bands = _grow.band_matrix(c, slice(None), round(_grow.BAND_KEV / img.energy_scale))
    counts = np.asarray((bands.T @ flat.T).T, np.float32).reshape(h, w, -1)
    k = labels.max() + 1
    inside = refine.inside_pixels(labels, size=5).ravel()
    pooled = uniform_filter(counts, size=(5, 5, 1), mode="nearest").reshape(h * w, -1)
    half = refine.halves(np.sqrt(pooled / pooled.sum(1, keepdims=True)), labels.ravel(), inside)
    cut = np.where(inside, half, -1)
    half_sums = np.array([flat[cut == j].sum(0) for j in range(2 * k)])
    phase_sums = np.array([flat[labels.ravel() == p].sum(0) for p in range(k)])
    splits, notes = refine.split_phases(half_sums, np.bincount(cut[cut >= 0], minlength=2 * k), phase_sums,
                                        img.energy_keV, beam_energy=img.beam_energy)
    return cut, splits, notes


def test_two_minerals_given_one_label_are_split_and_one_mineral_is_not():
    rock = make_rock((120, 160), counts_per_pixel=20, seed=3)
    truth = rock.labels
    big = np.argsort(-np.bincount(truth.ravel()))[:2]
    labels = np.where(truth == big[1], big[0], truth)  # the two largest minerals as one phase
    labels = np.unique(labels, return_inverse=True)[1].reshape(truth.shape)
    joined = labels[truth == big[0]][0]
    half, splits, notes = _cut(rock, labels)
    assert [p for p, _, _ in splits] == [joined], notes
    assert "two chemistries" in notes[0]["reason"]
    cut = half >= 0
    # the cut follows the two minerals on the pixels it was made on (their grains' insides; 5 x 5
    # neighbourhoods blur it along the minerals' shared boundaries: it starts EM, which places
    # the boundary pixel by pixel)
    assert ari(truth.ravel()[cut & (labels.ravel() == joined)], half[cut & (labels.ravel() == joined)]) >= 0.75
    # the true phases are left whole
    _, splits, notes = _cut(rock, truth)
    assert splits == [], notes


@pytest.fixture(scope="module")
def p45_maps(p45):
    """The real P45 map (122 counts/px) as mapped with K = 5, and three binomial thinnings of it to
    22 counts/px (each statistically the same area measured 5.5x faster)."""
    full = map_phases(p45, n_phases=5).labels.ravel()
    mean = float(p45.data.sum(-1).mean())
    thin = [p45.replace(data=np.random.default_rng(s).binomial(p45.data.astype(np.int64), 22 / mean)
                        .astype(np.uint16)) for s in range(3)]
    return full, thin


def test_real_map_at_22_counts_keeps_its_phases_whole(p45_maps):
    """The issue's bar, 0.85, against the full-count map (measured 0.88-0.90 on thinnings 0-4, auto and
    K = 5). Before: with K = 5 the groundmass was cut in three pieces of one chemistry (ARI 0.20-0.40),
    and one thinning in five lost the plagioclase under `auto` (ARI 0.34)."""
    full, thin = p45_maps
    for low in thin:
        auto = map_lowcount(low)
        five = map_lowcount(low, n_phases=5)
        assert ari(full, auto.labels.ravel()) >= 0.85
        assert ari(full, five.labels.ravel()) >= 0.85
        assert five.n_phases <= 5
        if five.n_phases < 5:
            notes = [c for c in five.params["refinement"] if c["action"] == "fewer"]
            assert notes and "chemically distinct" in notes[0]["reason"]


def test_real_map_at_full_counts_splits_nothing(p45):
    m = map_lowcount(p45)
    assert m.n_phases == 5
    assert not [c for c in m.params["refinement"] if c["action"] == "split"]


@pytest.mark.parametrize("seed", [2, 3])
def test_a_basalts_augite_and_glass_in_one_cluster_are_split(seed, monkeypatch):
    """k-means on the PCA scores of these basalts (200 counts/px) puts augite and the basaltic glass
    in one cluster, and seeding cannot find the augite: its pixels are explained by a phase fitted
    to both. The split test finds it (ARI 0.79 -> 0.88 on both seeds). (Since session 62 the beam step's speck
    sweep, and since session 63 its swaps, give some augite pixels their phase too, and seeding then finds it without
    the split: both are off here, to test the split.)"""
    import phaselib.refine._blur as blur

    icm = blur._icm
    monkeypatch.setattr(blur, "_icm", lambda *a, **kw: icm(*a, **{**kw, "specks": False, "swaps": 0}))
    rock = make_rich_rock((120, 180), kind="basalt", counts_per_pixel=200, seed=seed)
    truth = rock.labels.ravel()
    augite = rock.phase_names.index("augite")

    def has_augite(labels):
        p = np.bincount(labels[truth == augite]).argmax()
        return np.mean(labels[truth == augite] == p) >= 0.5 and np.mean(truth[labels == p] == augite) >= 0.5

    plain = map_phases(rock.image, refine_phases=False)
    dec = plain.decomposition
    feats = dec.features(min(dec.n_components, plain.params["n_components"] + 8))
    without = refine.refine_phases(rock.image, plain.labels, feats, dec.pixel_sums, split=False)
    assert not has_augite(without.labels.ravel())
    full = map_phases(rock.image)
    assert has_augite(full.labels.ravel())
    assert [c for c in full.params["refinement"] if c["action"] == "split" and "Al" in c["reason"]]
    assert ari(truth, full.labels.ravel()) >= ari(truth, without.labels.ravel()) + 0.05


def test_a_rim_of_mixed_pixels_is_dissolved_and_minerals_are_not():
    """Pixels straddling the magnetite grains' boundaries (the beam spreads 0.7 px) gathered in a phase
    of their own: a mixture of magnetite and its neighbours, nearly all on an edge. The true phases,
    the 0.2-0.4 % apatite and zircon specks included, are kept."""
    rock = make_rich_rock((120, 180), kind="granite", counts_per_pixel=200, seed=1)
    truth = rock.labels
    img = rock.image
    h, w, c = img.shape
    flat = np.asarray(img.data, np.float64).reshape(h * w, c)
    mag = truth == rock.phase_names.index("magnetite")
    from scipy import ndimage as ndi

    rim = ndi.binary_dilation(mag) & ~mag  # the ring of pixels round each magnetite grain
    labels = np.where(rim, truth.max() + 1, truth)
    sums = np.array([flat[labels.ravel() == p].sum(0) for p in range(labels.max() + 1)])
    gone = refine.boundary_phases(labels, sums)
    assert [g["phase"] for g in gone] == [truth.max() + 1] and gone[0]["action"] == "dissolved"
    true_sums = np.array([flat[truth.ravel() == p].sum(0) for p in range(truth.max() + 1)])
    assert refine.boundary_phases(truth, true_sums) == []
    back = refine.give_to_neighbours(labels, {truth.max() + 1})
    print("rim pixels given back to their true phase:", np.mean(back[rim] == truth[rim]))
    assert (back >= 0).all() and np.mean(back[rim] == truth[rim]) >= 0.6  # a rim pixel goes to a side it touches


def test_granite_at_120_counts_has_no_rim_phases():
    """End to end: the rich granite at 120 counts/px had two extra phases, rims round magnetite and zircon
    grains (9 phases for 7, ARI 0.952); now 7 (0.956)."""
    rock = make_rich_rock((200, 300), kind="granite", counts_per_pixel=120, seed=1)
    m = map_phases(rock.image)
    assert m.n_phases == 7
    assert [c for c in m.params["refinement"] if c["action"] == "dissolved"]
    assert ari(rock.labels.ravel(), m.labels.ravel()) >= 0.95


def test_a_band_of_mixed_pixels_round_small_grains_is_dissolved_before_the_merge():
    """The beam spreads 1.5 px: round the magnetite inclusions of phenocrysts the mixed pixels make a
    band 2-3 px wide (78 % of its pixels on an edge: it passed the edge test), a mixture of magnetite and
    the hosts, which took a phase of its own. Dissolved: `auto` gives the five true phases (six before),
    and with K = 5 the band no longer takes the place of the anorthite laths. Since session 44 the pipeline starts
    from `auto`'s five clusters, where no band forms; k-means with six clusters still makes it, and it is dissolved."""
    from phaselib.datasets import make_phenocrysts

    labels, ids = make_phenocrysts((300, 400), seed=1, embayed=0.0, skeletal=0.0, unassigned=0.0)
    names = ["albite", "olivine", "augite", "anorthite", "magnetite"]
    rock = make_rock(labels.shape, counts_per_pixel=200, minerals=names, texture=(labels, np.maximum(ids, 1)),
                     beam_spread=1.5, seed=1)
    dec = decompose.pca(rock.image, n_components=24)
    n = dec.suggested_n_components
    six = cluster.kmeans(dec.features(n), 6).labels.reshape(labels.shape).astype(np.int16)
    for asked in (None, 5):
        r = refine.refine_phases(rock.image, six, dec.features(n + 8), dec.pixel_sums, n_phases=asked)
        assert r.n_phases == 5 and [c for c in r.changes if c["action"] == "dissolved"]
    for k in ("auto", 5):
        m = map_phases(rock.image, n_phases=k)
        assert m.n_phases == 5, k
        anorthite = np.bincount(m.labels[labels == 3]).argmax()
        assert np.mean(labels[m.labels == anorthite] == 3) >= 0.4  # the laths' phase (shared with augite before)
        magnetite = np.bincount(m.labels[labels == 4]).argmax()
        # with the beam-spread step (session 32, K = 5) precision 0.996 -> 0.94, recall 0.655 -> 0.81
        assert np.mean(labels[m.labels == magnetite] == 4) >= 0.9
        assert np.mean(m.labels[labels == 4] == magnetite) >= 0.6


def test_the_low_count_start_keeps_its_thin_phases():
    """The band test is left out of the low-count path: on the rich dacite at 20 counts/px it dissolved a
    phase the start had just split off (thin, on edges, a mixture), and the map lost a phase (ARI 0.80 ->
    0.63)."""
    rock = make_rich_rock((200, 300), kind="dacite", counts_per_pixel=20, seed=1)
    m = map_phases(rock.image)
    assert m.n_phases >= 7 and ari(rock.labels.ravel(), m.labels.ravel()) >= 0.75


def test_a_crop_of_p45_keeps_its_plagioclase_without_the_spatial_prior(p45):
    """P45 cropped to rows 7:45, columns 10:50 (a student's rectangle): per-pixel clusters (the page's default at 122
    counts/px, `--spatial-prior off`) gave 2 phases, the andesine (9 %) in the glass, where the prior gives 3. The
    split test cut the glass phase on 10 features (those above the noise and 8 more, for seeding) along noise: halves
    of 175 glass + 128 andesine and 1196 + 9, no split. It now also cuts on the components above the noise."""
    import warnings

    crop = p45.replace(data=np.asarray(p45.data)[7:45, 10:50])
    with warnings.catch_warnings():
        warnings.simplefilter("default", UserWarning)
        off, on = map_phases(crop, spatial_prior=False), map_phases(crop)
    assert off.n_phases == on.n_phases == 3, [c["reason"] for c in off.params["refinement"]]
    assert ari(on.labels.ravel(), off.labels.ravel()) > 0.8
    shares = sorted(off.fractions, reverse=True)
    assert 0.05 < shares[1] < 0.15  # the andesine, ~9 %
