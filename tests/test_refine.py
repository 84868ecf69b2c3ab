"""phaselib.refine: phases a clustering missed are added, phases that are chemically one are merged."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from phaselib import cluster, datasets, decompose, quantify, refine
from phaselib.datasets._minerals import weight_fractions
from phaselib.pipeline import map_phases

#: a dominant phase (64 %) beside an accessory of 0.18 % (zircon): k-means with the true K splits the first and
#: loses the second (the case a user met on a full map)
MINERALS = ["K-feldspar", "quartz", "albite", "biotite", "zircon"]
FRACTIONS = [0.64, 0.2, 0.12, 0.0382, 0.0018]


def ari(a, b):
    return adjusted_rand_score(np.ravel(a), np.ravel(b))


@pytest.fixture(scope="module")
def skewed():
    return datasets.make_rock((300, 400), counts_per_pixel=200, seed=1, minerals=MINERALS, fractions=FRACTIONS,
                              exact_fractions=True)


def _kmeans_labels(image, k, n=None):
    dec = decompose.pca(image)
    n = n or dec.suggested_n_components
    return dec, n, cluster.kmeans(dec.features(n), k).labels.reshape(image.shape[:2]).astype(np.int16)


def test_a_missed_accessory_is_seeded_and_a_split_phase_merged(skewed):
    dec, n, labels = _kmeans_labels(skewed.image, 5)
    assert ari(skewed.labels, labels) < 0.9  # the clustering alone fails here
    for k in (None, 5):
        ref = refine.refine_phases(skewed.image, labels, dec.features(n + 8), dec.pixel_sums, n_phases=k)
        assert ref.n_phases == 5 and ari(skewed.labels, ref.labels) >= 0.97
        actions = [c["action"] for c in ref.changes]
        assert "added" in actions and "merged" in actions
        small = np.flatnonzero(np.isclose(skewed.fractions, 0.0018, atol=0.001))[0]
        found = np.bincount(ref.labels[skewed.labels == small]).argmax()
        assert np.mean(ref.labels == found) == pytest.approx(skewed.fractions[small], rel=0.3)


def test_pipeline_reports_what_changed(skewed):
    res = map_phases(skewed.image, n_phases=5)
    assert res.n_phases == 5 and ari(skewed.labels, res.labels) >= 0.97
    assert {c["action"] for c in res.params["refinement"]} == {"added", "merged"}
    off = map_phases(skewed.image, n_phases=5, refine_phases=False)
    assert "refinement" not in off.params and ari(skewed.labels, off.labels) < 0.9


def test_too_many_clusters_are_merged_back(rock):
    dec, n, labels = _kmeans_labels(rock.image, rock.n_phases + 3, n=rock.n_phases)
    ref = refine.refine_phases(rock.image, labels, seed=False)
    assert ref.n_phases == rock.n_phases and ari(rock.labels, ref.labels) >= 0.97
    assert sum(c["action"] == "merged" for c in ref.changes) == 3
    assert all("same major elements" in c["reason"] for c in ref.changes)


def test_nothing_changes_on_a_clean_map(rock):
    dec, n, labels = _kmeans_labels(rock.image, rock.n_phases)
    ref = refine.refine_phases(rock.image, labels, dec.features(n + 8), dec.pixel_sums)
    assert not [c for c in ref.changes if c["action"] != "rejected"] and np.array_equal(ref.labels, labels)
    assert ref.n_phases == rock.n_phases == len(ref.spectra.n_pixels)


def _shares(names, counts=2e6, beam=20.0):
    rng = np.random.default_rng(0)
    e = -0.2 + 0.01 * np.arange(2048)
    spectra = datasets.phase_spectra(names, energy_keV=e, beam_energy=beam)
    sums = rng.poisson(spectra * counts).astype(float)
    elements = ("Na", "Mg", "Al", "Si", "P", "K", "Ca", "Ti", "Fe")
    return [refine._merge._shares(s[None], e, elements, beam) for s in sums], elements


@pytest.mark.parametrize("a, b, distinct", [
    ("albite", "K-feldspar", True), ("quartz", "albite", True), ("augite", "hornblende", True),
    ({"Fo90": weight_fractions("Mg1.8Fe0.2SiO4")}, {"Fo75": weight_fractions("Mg1.5Fe0.5SiO4")}, False),
    ("magnetite", "ilmenite", True), ("olivine", "diopside", True),
    ({"An60": {"Na": 0.03, "Ca": 0.086, "Al": 0.16, "Si": 0.25, "O": 0.474}},
     {"An30": {"Na": 0.059, "Ca": 0.043, "Al": 0.135, "Si": 0.29, "O": 0.473}}, False),
])
def test_distinct_phases(a, b, distinct):
    names = [a, b] if isinstance(a, str) else {**a, **b}
    (sa, va), (sb, vb) = _shares(names)[0]
    verdict, reason = refine.distinct_phases(sa[0], va[0], sb[0], vb[0], _shares(names)[1])
    assert verdict is distinct, reason


#: an andesitic glass (oxide weight %, Smithsonian-like) and an An60 plagioclase (element weight fractions)
ANDESITE = {"glass": {"Si": 0.271, "Al": 0.090, "Fe": 0.054, "Mg": 0.018, "Ca": 0.050, "Na": 0.026, "K": 0.012,
                      "Ti": 0.006, "O": 0.473}}
AN60 = {"An60": {"Na": 0.03, "Ca": 0.086, "Al": 0.16, "Si": 0.25, "O": 0.474}}


def test_minor_elements_that_one_phase_lacks_make_two_phases_together():
    """At 10 kV Fe K is barely excited: no one element of an andesitic glass holds 5 % of its line counts and is
    missing from its plagioclase, but its K, Mg, Fe and Ti together do (the rule of one element alone merged the
    glass into the plagioclase of a basalt at 10 kV: 6 phases for 7, ARI 0.69)."""
    (sa, va), (sb, vb) = _shares({**AN60, **ANDESITE}, beam=10.0)[0]
    elements = _shares({**AN60, **ANDESITE}, beam=10.0)[1]
    lacks = (sa[0] * 3 <= sb[0])
    assert sb[0][lacks].max() < 0.05 <= sb[0][lacks].sum()  # each minor alone, together major
    verdict, reason = refine.distinct_phases(sa[0], va[0], sb[0], vb[0], elements)
    assert verdict and "together" in reason, reason
    # a phase holding a trace of them (under a third of the other's) and too few counts to tell: one phase
    verdict, _ = refine.distinct_phases(sa[0], va[0] * 1e6, sb[0], vb[0] * 1e6, elements)
    assert not verdict


@pytest.mark.parametrize("a, b, distinct", [
    ({"Fo90": weight_fractions("Mg1.8Fe0.2SiO4")}, {"Fo75": weight_fractions("Mg1.5Fe0.5SiO4")}, False),
    (AN60, {"An30": {"Na": 0.059, "Ca": 0.043, "Al": 0.135, "Si": 0.29, "O": 0.473}}, False),
])
def test_chemistries_far_apart_in_all_elements_at_10_kv(a, b, distinct):
    """Zoning (Fo90 / Fo75, An60 / An30) moves under a fifth of the line counts to other elements: one mineral."""
    names = [a, b] if isinstance(a, str) else {**a, **b}
    (sa, va), (sb, vb) = _shares(names, beam=10.0)[0]
    verdict, reason = refine.distinct_phases(sa[0], va[0], sb[0], vb[0], _shares(names, beam=10.0)[1])
    assert verdict is distinct, reason


def test_a_glass_far_from_its_plagioclase_at_10_kv_is_kept():
    """The rich dacite at 10 kV, 60 counts/px: its rhyolitic glass (30 % of the map) and its plagioclase differ by 20
    points of Si's share of the line counts, Al, Na, Ca and K, no element by a factor of 3 nor minor ones enough:
    `auto` merged them (6 of 8 phases, ARI 0.52)."""
    from sklearn.metrics import adjusted_rand_score

    from phaselib.pipeline import map_phases

    rock = datasets.make_rich_rock((150, 200), kind="dacite", counts_per_pixel=60, seed=1, beam_energy=10.0)
    result = map_phases(rock.image, name_minerals=False)
    assert result.n_phases >= 7
    assert adjusted_rand_score(rock.labels.ravel(), result.labels.ravel()) > 0.8


def test_refine_errors(rock):
    with pytest.raises(ValueError, match="`labels` must be a 2-D array"):
        refine.refine_phases(rock.image, rock.labels.ravel())
    with pytest.raises(TypeError, match="`labels` must hold integer"):
        refine.refine_phases(rock.image, rock.labels.astype(float))
    with pytest.raises(ValueError, match="`p_value` must be a number in"):
        refine.seed_phases(np.zeros((10, 2)), np.ones(10), np.zeros(10, int), p_value=2)
    with pytest.raises(ValueError, match="`refine_phases` must be one of True, False"):
        map_phases(rock.image, refine_phases="yes")
    assert isinstance(quantify.line_intensities(np.ones(100), np.linspace(0, 10, 100), ["Si"])[0], np.ndarray)


def test_own_distance_by_row_chunks_is_the_whole_computation():
    from phaselib.refine import _seed

    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 4)).astype(np.float32)
    lab = rng.integers(-1, 3, 1000)
    centres = [x[lab == p].mean(0, dtype=np.float64) for p in range(3)] + [None]
    dist = np.array([np.linalg.norm(x - c, axis=1) if c is not None else np.full(len(x), np.inf)
                     for c in centres]).T
    expected = np.where(lab >= 0, dist[np.arange(len(x)), np.maximum(lab, 0)], dist.min(1))
    np.testing.assert_array_equal(_seed._own_distance(x, lab, centres), expected)
    np.testing.assert_array_equal(_seed._distance(x, centres[1], rows=7), dist[:, 1])


def test_a_pool_riddled_with_specks_is_no_thin_phase():
    """A phase's depth ignores holes of a few pixels (another phase's noise specks): a glass pool whose every
    third pixel was called plagioclase is a phase with insides; a band along a boundary and a rim around a
    2 x 2 grain stay thin, specks or not."""
    lab = np.zeros((60, 60), np.int16)
    lab[10:40, 10:40] = 1
    assert not refine.is_thin(lab, 1)
    riddled = lab.copy()
    riddled[11:40:3, 11:40:3] = 0  # single pixels
    riddled[21:23, 30:32] = 2  # a 2 x 2 speck
    assert not refine.is_thin(riddled, 1)
    riddled[12:40:3, 10:40] = 0  # lines, no holes: the pool cut into strips 2 px wide
    assert refine.is_thin(riddled, 1)
    band = np.zeros((60, 60), np.int16)
    band[:, 30:] = 2
    band[:, 29:31] = 1
    band[::5, 29] = 0
    assert refine.is_thin(band, 1)
    rim = np.zeros((60, 60), np.int16)
    rim[20:26, 20:26] = 1
    rim[22:24, 22:24] = 3
    assert refine.is_thin(rim, 1)


def test_a_glass_riddled_with_specks_at_10_kv_keeps_its_own_phase():
    """At 10 kV a rich dacite's rhyolitic glass (24 % of the map, interstitial pools) differs from its andesine by
    Si 74 % vs 54 % of the line counts: no element a factor of 3 apart, a fifth of the counts apart. The pools'
    pixels called andesine or quartz riddled the glass phase with holes, so it looked thin (9 % of its pixels over
    2 px deep, 26 % in truth) and the merge test took it for a band of mixed pixels (one element at a time):
    merged into the andesine, 7 of 8 phases, ARI 0.53. Holes of a few pixels do not make a phase thin."""
    rock = datasets.make_rich_rock((200, 300), kind="dacite", counts_per_pixel=200, seed=2, beam_energy=10.0)
    result = map_phases(rock.image)
    assert result.n_phases == 8
    assert ari(rock.labels, result.labels) >= 0.9
    assert not any(c["action"] == "merged" for c in result.params["refinement"])


def test_a_phase_holding_what_no_mixture_of_the_others_makes_is_no_band():
    """A band of mixed pixels is a mixture of two phases; a thin biotite is not, though its spectrum lies within the
    band test's tolerance of K-feldspar and magnetite mixed: 7 % of its line counts are Mg, which no non-negative
    mixture of the others holds. Poisson draws of 2e5 counts per phase."""
    rng = np.random.default_rng(0)
    e = np.arange(2048) * 0.01 - 0.2
    pure = datasets.phase_spectra(["K-feldspar", "quartz", "magnetite", "biotite", "apatite"], energy_keV=e)
    band = 0.6 * pure[0] + 0.4 * pure[2]  # K-feldspar and magnetite along their boundary
    sums = rng.poisson(2e5 * np.vstack([pure, band])).astype(float)
    own = refine.own_element_phases(sums, e, 20.0)
    assert 3 in own and 5 not in own
    assert {0, 1, 2, 4} <= own  # each holds an element (or a share of one) the others lack
    mixed = rng.poisson(2e5 * (0.5 * pure[3] + 0.5 * pure[2])).astype(float)  # biotite's own band with magnetite
    assert 5 not in refine.own_element_phases(np.vstack([sums[:5], mixed]), e, 20.0)
    # ilmenite specks with no pure pixel, seen through two hosts: each phase holds Ti that no mixture of the others
    # makes, but what is left of both is one chemistry: one mineral, which the merge joins, not two
    ilm = datasets.phase_spectra(["ilmenite"], energy_keV=e)[0]
    twins = rng.poisson(2e5 * np.vstack([0.3 * ilm + 0.7 * pure[1], 0.4 * ilm + 0.6 * pure[3]])).astype(float)
    own = refine.own_element_phases(np.vstack([sums[:4], twins]), e, 20.0)
    assert 4 not in own and 5 not in own and 3 in own


def test_a_number_of_phases_asked_for_is_a_most_on_a_coarse_granite():
    """With the true K = 7 asked for on a coarse granite (30 px grains, 200 counts/px), k-means cut its K-feldspar
    (52 %) in two and lost the zircon (0.2 %); seeding found no zircon, and the two halves stayed (ARI 0.711).
    Halves of one chemistry are merged below the number asked for: 6 phases, ARI 0.99."""
    rock = datasets.make_rich_rock((200, 300), kind="granite", counts_per_pixel=200, seed=1, grain_size=30)
    result = map_phases(rock.image, n_phases=7)
    assert result.n_phases <= 7
    assert ari(rock.labels, result.labels) >= 0.97
    assert any(c["action"] == "merged" for c in result.params["refinement"])


@pytest.mark.parametrize("counts, least", [(200, 0.95), (60, 0.9)])
def test_a_fine_grained_biotite_is_no_band_of_mixed_pixels(counts, least):
    """A granite of 5 px grains, K = 7 asked for: at 200 counts/px its biotite (6 %, 79 % of its pixels on an
    edge) was dissolved as a band between K-feldspar and magnetite (6 phases, ARI 0.874); at 60 counts/px (the
    low-count path) as a rim "a mixture of theirs" (5 phases, 0.816). Its Mg keeps it (0.974, 0.913)."""
    rock = datasets.make_rich_rock((200, 300), kind="granite", counts_per_pixel=counts, seed=1, grain_size=5)
    result = map_phases(rock.image, n_phases=7)
    assert ari(rock.labels, result.labels) >= least
    biotite = rock.labels == rock.phase_names.index("biotite")
    found = np.bincount(result.labels[biotite][result.labels[biotite] >= 0]).argmax()
    assert np.mean(result.labels[biotite] == found) >= 0.8 and np.mean(biotite[result.labels == found]) >= 0.8
