"""A number of phases asked for starts from the phases ``auto`` finds (:mod:`phaselib.refine._asked`); the split
test cuts on 3 x 3 means and leaves boundary zones whole. Random rocks of ``make_rock`` (drawn for session 44's
sweep of 100 such rocks, 150 x 200 px at 200 counts/px), on which the earlier code failed."""

import numpy as np
import pytest
from conftest import CHEVKINITE
from sklearn.metrics import adjusted_rand_score

from phaselib import datasets
from phaselib.pipeline import map_phases
from phaselib.refine._split import _admixed

#: the random rocks (``make_rock`` options, seed = key)
ROCKS = {
    184: dict(minerals=['titanomagnetite', 'basaltic glass', 'K-feldspar', 'titanite', 'ilmenite'],
         fractions=[0.4843020975095465, 0.40424368395367677, 0.08660537917012055, 0.02204613387411156,
             0.002802705492544577],
         grain_size=12.254392799071017,
         beam_energy=10.0,
         zoning=0.8,
         beam_spread=0.0,
         detector_artefacts=False,
         matrix_fraction=0.2874756046021047),
    149: dict(minerals=['labradorite', 'albite', 'pyrite', 'augite', 'apatite'],
         fractions=[0.34625406624787447, 0.34609533340316373, 0.24577943257476237, 0.05691415967598083,
             0.00495700809821864],
         grain_size=7.70290089534414,
         beam_energy=10.0,
         zoning=0.0,
         beam_spread=1.0,
         detector_artefacts=False,
         matrix_fraction=0.23822574830438278),
    111: dict(minerals=['magnetite', 'andesine', 'rutile', 'calcite', 'hornblende', 'muscovite'],
         fractions=[0.3987445245365846, 0.3035892373391934, 0.13039001985372098, 0.08914104925725722,
             0.07491347181184706, 0.003221697201396756],
         grain_size=20.224108533999225,
         beam_energy=10.0,
         zoning=0.8,
         beam_spread=0.5,
         detector_artefacts=False,
         matrix_fraction=0.20758565934872544),
    150: dict(minerals=['pyrite', 'hornblende', 'K-feldspar', 'biotite', 'anorthite', 'rhyolitic glass'],
         fractions=[0.2954874634271437, 0.28505420815985516, 0.2519116250936597, 0.15220474324458938,
             0.011394218145947507, 0.003947741928804427],
         grain_size=19.47228518797015,
         beam_energy=25.0,
         zoning=0.8,
         beam_spread=0.0,
         detector_artefacts=False,
         matrix_fraction=0.10958572992109117),
    151: dict(minerals=['rhyolitic glass', 'titanomagnetite', 'olivine', 'quartz', 'calcite', 'basaltic glass',
             'muscovite'],
         fractions=[0.3262359614081973, 0.26843256544433186, 0.18613321295153, 0.11474204502968789,
             0.08305177130261997, 0.015416664151334396, 0.00598777971229858],
         grain_size=12.857512584415755,
         beam_energy=10.0,
         zoning=0.0,
         beam_spread=0.0,
         detector_artefacts=True,
         matrix_fraction=0.11620677512440541),
    130: dict(minerals=['olivine', 'biotite', 'albite', 'basaltic glass', 'ilmenite', 'titanite', 'chlorite'],
         fractions=[0.2484665524703362, 0.21939380586080368, 0.2028445767048789, 0.1365636106076889,
             0.1284215394852302, 0.05911453076502026, 0.005195384106041923],
         grain_size=6.086876116883123,
         beam_energy=10.0,
         zoning=0.0,
         beam_spread=0.7,
         detector_artefacts=False,
         matrix_fraction=0.15201404701227095),
    195: dict(minerals=['K-feldspar', 'calcite', 'albite', 'quartz', 'andesine'],
         fractions=[0.3667685302784876, 0.25342505895289713, 0.20273903179568192, 0.17225503402061956,
             0.004812344952313752],
         grain_size=24.739273620374657,
         beam_energy=20.0,
         zoning=0.8,
         beam_spread=1.0,
         detector_artefacts=False,
         matrix_fraction=0.3392204141297668),
    156: dict(minerals=['almandine', 'titanomagnetite', 'albite', 'andesine', 'magnetite', 'rutile', 'diopside',
             'K-feldspar'],
         fractions=[0.35337667967616565, 0.15272172910199616, 0.138018321903445, 0.1195935631021596,
             0.10787349150549815, 0.1039333225588092, 0.02176663292578644, 0.0027162592261398277],
         grain_size=21.71905576729423,
         beam_energy=10.0,
         zoning=0.8,
         beam_spread=1.0,
         detector_artefacts=False,
         matrix_fraction=0.26882834344180245),
    178: dict(minerals=['magnetite', 'andesine', 'albite', 'diopside', 'almandine', 'K-feldspar'],
         fractions=[0.4211619097716158, 0.26561219765805816, 0.24937148990520905, 0.030301210597003723,
             0.030162069201339726, 0.003391122866773566],
         grain_size=28.100177523335617,
         beam_energy=10.0,
         zoning=0.0,
         beam_spread=1.0,
         detector_artefacts=False,
         matrix_fraction=0.1961444126129441),
}


def ari(a, b):
    return adjusted_rand_score(np.ravel(a), np.ravel(b))


def rock(seed):
    return datasets.make_rock((150, 200), counts_per_pixel=200, seed=seed, **ROCKS[seed])


@pytest.mark.parametrize("seed, bar", [(184, 0.99), (149, 0.85), (111, 0.99), (150, 0.98), (151, 0.94)])
def test_the_true_number_of_phases_asked_for_maps_as_well_as_auto(seed, bar):
    """k-means with the true K spent clusters on a dominant phase's mixed rims or noise, and the merge down to K
    then joined two distinct minerals (a K-feldspar with a glass; albite with labradorite, Ca 0.2 % vs 8.5 % of
    the line counts): ARI 0.771 / 0.488 / 0.949 / 0.932 / 0.858 where ``auto`` gave 0.999 / 0.872 / 0.999 /
    0.989 / 0.968. Measured now: 0.999 / 0.877 / 0.999 / 0.993 / 0.957."""
    r = rock(seed)
    k = int(r.labels.max()) + 1
    pm = map_phases(r.image, n_phases=k, name_minerals=False)
    assert pm.n_phases <= k
    assert pm.params["start"] == "auto"
    assert ari(r.labels, pm.labels) >= bar


def test_more_phases_than_asked_for_are_merged_down_after_the_boundary_steps():
    """Seed 156: ``auto`` finds 9 phases before the boundary steps, one of them mixed pixels that those steps
    shrink to a speck (dropped); merging 9 down to the 8 asked for before them joined two real phases (0.800)."""
    r = rock(156)
    pm = map_phases(r.image, n_phases=8, name_minerals=False)
    auto = map_phases(r.image, name_minerals=False)
    assert pm.n_phases == auto.n_phases == 8
    assert np.array_equal(pm.labels, auto.labels)
    assert ari(r.labels, pm.labels) >= 0.86


def test_two_minerals_in_one_cluster_are_split_on_3x3_means():
    """Seed 130 (10 kV, 6 px grains): k-means put a basaltic glass (14 %) with the biotite; per-pixel halves of that
    cluster followed the noise (biotite | biotite + glass, K shares 2.7 times apart: no split at the factor 3) and
    ``auto`` kept them one phase: ARI 0.739. Halves cut on 3 x 3 means follow the two minerals (K 2.0 % vs 12.2 %)."""
    r = rock(130)
    pm = map_phases(r.image, name_minerals=False)
    assert any(c["action"] == "split" and c["reason"].startswith("two chemistries") for c in pm.params["refinement"])
    assert ari(r.labels, pm.labels) >= 0.86


def test_a_boundary_zone_is_not_split_off_as_a_mineral():
    """Seed 195 (1 px beam): on 3 x 3 means a phase's pixels along another's grains make a half of their own, with
    a major element of the neighbour three times the other half's; such a half is the other half with 10-15 % of
    the neighbour mixed in, and is not split off (cut on 3 x 3 means without that test: ARI 0.746; per pixel, as
    before: 0.821; now 0.913)."""
    r = rock(195)
    pm = map_phases(r.image, name_minerals=False)
    assert ari(r.labels, pm.labels) >= 0.89


def test_admixed_halves():
    """The test itself: a half that is the other with a little of a neighbouring phase is admixed; a mineral of
    its own, or a glass that is half one phase and 40 % another, is not."""
    rng = np.random.default_rng(0)
    c = 200
    phases = rng.gamma(0.5, 1.0, (4, c)) * 1000
    a = phases[0] * 2
    zone = 0.85 * phases[0] + 0.15 * phases[2]
    glass = 0.5 * phases[0] + 0.4 * phases[2] + 0.1 * phases[3]
    other = rng.gamma(0.5, 1.0, c) * 1000
    assert _admixed(a, zone, phases[1:])
    assert _admixed(zone, a, phases[1:])  # either half may be the zone
    assert not _admixed(a, glass, phases[1:])
    assert not _admixed(a, other, phases[1:])


def test_merge_cost_is_small_for_a_small_or_an_alike_phase():
    from phaselib.refine._merge import merge_cost

    rng = np.random.default_rng(1)
    a, b = rng.gamma(0.5, 1.0, (2, 300))
    big_a, big_b = 1e5 * a / a.sum(), 1e5 * b / b.sum()
    assert merge_cost(big_a, big_b) > 10 * merge_cost(big_a, big_b / 100)  # a phase of few counts costs little
    assert merge_cost(big_a, big_b) > 10 * merge_cost(big_a, 0.9 * big_a + 0.1 * big_b)  # an alike one too
    assert merge_cost(big_a, 2 * big_a) == pytest.approx(0.0, abs=1e-6)


def test_the_real_chevkinite_map_asked_for_fewer_phases_than_auto_finds():
    """``auto`` finds 7 phases on the real chevkinite map (30 x 30 px, ~20 700 counts/px); asked for 7 it gave 6
    (ARI 0.796 against ``auto``'s map) and now the same 7; asked for 6, the merge down by the likelihood lost joins
    the pair that costs least (0.915; by the most alike chemistries 0.52; the k-means start before: 0.862). Session 60's
    merge of a zoned phase's pieces under ``auto`` (``refine._pieces``) moved 3 % of the pixels between the two
    biotites and the titanite of both maps: 0.891, the six still ``auto``'s seven with its phases 4 and 6 joined."""
    from phaselib import io

    im = io.load(CHEVKINITE)
    auto = map_phases(im, name_minerals=False)
    seven = map_phases(im, n_phases=7, name_minerals=False)
    six = map_phases(im, n_phases=6, name_minerals=False)
    assert auto.n_phases == seven.n_phases == 7 and np.array_equal(seven.labels, auto.labels)
    assert six.n_phases == 6 and ari(auto.labels, six.labels) >= 0.88
