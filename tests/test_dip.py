"""Two phases of one chemistry (olivine and orthopyroxene: Mg, Fe, Si in both) are two populations of pixels, not
pieces of one: the dip test (``phaselib.refine._dip``) keeps them apart where the chemistry test merged them."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from phaselib.datasets import make_rock
from phaselib.datasets._minerals import weight_fractions
from phaselib.pipeline import map_phases
from phaselib.refine._dip import DIP_SHARE, dip_ratio

PERIDOTITE = {"olivine Fo90": weight_fractions("Mg1.8Fe0.2SiO4"),
              "orthopyroxene En85": weight_fractions("Mg1.7Fe0.3Si2O6"),
              "augite": weight_fractions("Ca0.9Mg0.8Fe0.3Si2O6"), "magnetite": weight_fractions("Fe3O4")}


def _peridotite(counts, seed=1):
    return make_rock((150, 200), counts_per_pixel=counts, minerals=PERIDOTITE, fractions=[0.55, 0.25, 0.15, 0.05],
                     matrix_fraction=0.0, beam_spread=0.7, seed=seed)


@pytest.mark.parametrize("counts", [200, 60])  # the high-count path and the low-count (spatial prior) one
def test_olivine_and_orthopyroxene_are_two_phases(counts):
    # their major elements' shares differ by under a factor of 3 (Mg 51 % vs 33 % of the line counts): merged as
    # "pieces of one chemistry" before, 3 phases and ARI 0.48 at both count levels
    rock = _peridotite(counts)
    res = map_phases(rock.image, name_minerals=False)
    assert res.n_phases == 4
    assert adjusted_rand_score(rock.labels.ravel(), np.asarray(res.labels).ravel()) >= 0.93


def test_the_dip_between_two_populations_and_none_between_pieces_of_one():
    rock = _peridotite(200)
    data, lab = np.asarray(rock.image.data), rock.labels
    sums = [data[lab == p].sum(0) for p in range(2)]
    assert dip_ratio(data, lab, 0, 1, *sums) < DIP_SHARE / 2  # olivine, orthopyroxene
    # one phase in two pieces, left and right (a groundmass a clustering cut): no dip
    pieces = np.where(lab == 0, np.where(np.arange(lab.shape[1])[None] < lab.shape[1] // 2, 0, 9), -1)
    halves = [data[pieces == p].sum(0) for p in (0, 9)]
    assert dip_ratio(data, pieces, 0, 9, *halves) > DIP_SHARE
    assert dip_ratio(data, lab, 0, 3, sums[0], data[lab == 3].sum(0)) is not None
    tiny = np.where(lab == 1, 1, np.where(lab == 0, 0, -1))
    tiny[tiny == 1] = -1
    tiny[0, :5] = 1  # five pixels: no density of their own
    assert dip_ratio(data, tiny, 0, 1, sums[0], sums[1]) is None


BASALT = {"labradorite An60": weight_fractions("Na0.4Ca0.6Al1.6Si2.4O8"),
          "andesine An35": weight_fractions("Na0.65Ca0.35Al1.35Si2.65O8"),
          "augite": weight_fractions("Ca0.9Mg0.8Fe0.3Si2O6"), "olivine Fo80": weight_fractions("Mg1.6Fe0.4SiO4"),
          "magnetite": weight_fractions("Fe3O4")}


@pytest.mark.parametrize("n_phases", [5, "auto"])
def test_two_plagioclases_at_60_counts_per_pixel(n_phases):
    # the low-count path: its full-resolution split test cut the plagioclase phase in two on 5 x 5 sums and asked
    # only whether the halves' chemistries differ by a factor of 3 (An60 / An35 do not), and its merge test scored
    # the dip on 3 x 3 sums (0.62 between the true An60 and An35 at 60 counts/px, 0.33 on 5 x 5): 4 phases, ARI 0.62
    rock = make_rock((150, 200), counts_per_pixel=60, minerals=BASALT, fractions=[0.45, 0.2, 0.2, 0.1, 0.05],
                     matrix_fraction=0.0, beam_spread=0.7, seed=2)
    res = map_phases(rock.image, n_phases=n_phases, name_minerals=False)
    assert res.params.get("spatial_prior")
    assert res.n_phases == 5
    assert adjusted_rand_score(rock.labels.ravel(), np.asarray(res.labels).ravel()) >= 0.9


def test_two_close_plagioclases_asked_for_are_two_at_200_counts():
    """Labradorite and andesine at 200 counts/px dip to 0.60 (3 x 3, true labels): one chemistry under ``auto``
    (threshold 0.5). Asked for the 6 phases there are, the per-pixel path kept 5 (ARI 0.64): its split test cut the
    merged plagioclase on per-pixel features, into halves that do not follow the two populations (dip 0.79). With
    a number asked for it now cuts on 3 x 3 means and keeps populations apart under a dip of 0.8."""
    rock = make_rock((200, 300), counts_per_pixel=200, beam_spread=0.7, seed=1,
                     minerals=["labradorite", "andesine", "augite", "olivine", "magnetite", "ilmenite"],
                     fractions=[0.4, 0.2, 0.2, 0.12, 0.05, 0.03])
    pm = map_phases(rock.image, n_phases=6)
    assert not pm.params["spatial_prior"] and pm.n_phases == 6, pm.params["refinement"]
    assert any(c["action"] == "split" for c in pm.params["refinement"])
    assert adjusted_rand_score(rock.labels.ravel(), pm.labels.ravel()) >= 0.8


def test_the_valley_cut_follows_the_two_populations_where_2_means_halves_did_not():
    """2-means halves of a large andesine phase holding labradorite grains part the andesine in two, one half with
    the labradorite: a dip shows (0.52) but the half's spectrum mixes both, and the merge then saw one population.
    ``valley_cut`` cuts the pair again where the density of its pixels' scores is lowest."""
    from phaselib.refine._dip import valley_cut

    rock = make_rock((150, 200), counts_per_pixel=200, minerals=["andesine", "augite", "labradorite"],
                     fractions=[0.55, 0.25, 0.2], matrix_fraction=0.0, beam_spread=0.0, seed=3)
    data, lab = np.asarray(rock.image.data), rock.labels
    plag = (lab == 0) | (lab == 2)
    left = np.arange(lab.shape[1])[None] < lab.shape[1] // 2
    bad = np.where(plag, np.where((lab == 0) & left, 0, 1), -1)  # andesine's left | andesine's right + labradorite
    to_b, sum_a, sum_b, ratio = valley_cut(data, bad, 0, 1, data[bad == 0].sum(0), data[bad == 1].sum(0))
    assert to_b is not None and ratio < DIP_SHARE
    truth = lab[plag] == 2
    assert np.mean(to_b[plag] == truth) >= 0.95  # the labradorite's side is the labradorite
    assert not to_b[~plag].any()
    # one population cut in two: the valley cut shows no dip
    pieces = np.where(lab == 0, np.where(left, 0, 9), -1)
    one = valley_cut(data, pieces, 0, 9, data[pieces == 0].sum(0), data[pieces == 9].sum(0))
    assert one[0] is None or one[3] > DIP_SHARE


@pytest.mark.parametrize("n_phases", [7, "auto"])
def test_a_large_andesine_holding_labradorite_is_two_phases(n_phases):
    """A random rock of ``benchmarks/bench_random_rocks.py`` (seed 182, options frozen here): andesine 35 % and
    labradorite 12 % at 10 kV were one phase (6 for 7, ARI 0.78) with K = 7 and with ``auto``: the split's
    2-means halves did not follow them (see above)."""
    rock = make_rock((150, 200), counts_per_pixel=200, seed=182, grain_size=18.03, beam_energy=10.0, zoning=0.0,
                     beam_spread=0.0, detector_artefacts=True, matrix_fraction=0.3818,
                     minerals=["andesine", "augite", "almandine", "labradorite", "K-feldspar", "chlorite",
                               "basaltic glass"],
                     fractions=[0.35949, 0.21662, 0.12141, 0.11540, 0.09219, 0.09083, 0.00406])
    pm = map_phases(rock.image, n_phases=n_phases, name_minerals=False)
    t = rock.labels
    for p in (0, 3):  # andesine and labradorite each mostly in a phase of its own
        q = np.bincount(pm.labels[t == p][pm.labels[t == p] >= 0]).argmax()
        assert np.mean(t[pm.labels == q] == p) >= 0.9, pm.params["refinement"]
    assert adjusted_rand_score(t.ravel(), pm.labels.ravel()) >= 0.95
