"""Rocks from a generator written apart from ``phaselib.datasets`` (``benchmarks/_othergen.py``: its own line
intensities, continuum, detector and textures): ``map_phases`` with its defaults finds their phases."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from benchmarks._othergen import make_other_rock
from phaselib.pipeline import map_phases


@pytest.mark.parametrize("kind, counts, least", [("granite", 60, 0.96), ("marble", 60, 0.96), ("schist", 200, 0.97),
                                                 ("basalt", 200, 0.96)])
def test_the_number_of_phases_and_the_map_on_another_generators_rocks(kind, counts, least):
    rock = make_other_rock((150, 200), kind=kind, counts_per_pixel=counts, seed=3)
    result = map_phases(rock.image, name_minerals=False)
    assert result.n_phases == len(np.unique(rock.labels))
    assert adjusted_rand_score(rock.labels.ravel(), result.labels.ravel()) > least


def test_a_glass_beside_its_plagioclase_at_10_kv():
    """At 10 kV the glass of a basalt differs from its labradorite by Al and Ca within a factor of 2 and by minor
    K, Mg, Fe, Ti: it was merged into the labradorite (6 phases for 7, ARI 0.69); it is kept now."""
    rock = make_other_rock((150, 200), kind="basalt", counts_per_pixel=60, seed=2, beam_kv=10.0)
    result = map_phases(rock.image, name_minerals=False)
    assert result.n_phases == len(np.unique(rock.labels))
    assert adjusted_rand_score(rock.labels.ravel(), result.labels.ravel()) > 0.9


def test_iron_minerals_of_a_basalt_at_10_kv_are_named_on_iron_k():
    """At 10 kV iron was read on its L line (K shell overvoltage 1.41, under the 1.5 then asked): under this
    generator's physics that read iron low, and its ilmenite was named rutile, its augite diopside, its magnetite
    titanomagnetite (2 of 7 named). The K line is read from an overvoltage of 1.3."""
    from phaselib import quantify
    from phaselib.identify import name_phases

    rock = make_other_rock((120, 160), kind="basalt", counts_per_pixel=100, seed=1, beam_kv=10.0)
    sums = quantify.phase_spectra(rock.image, rock.labels, len(rock.names)).sums
    names = {t: n.best for n, t in zip(name_phases(sums, rock.image.energy_keV, beam_energy=10.0), rock.names)}
    assert names["ilmenite"] == "ilmenite" and names["magnetite"] == "magnetite", names
    assert sum(names[t] == t for t in rock.names) >= 4, names
