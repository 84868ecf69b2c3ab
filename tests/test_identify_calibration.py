"""Naming with the map's own calibration: a detector (or a generator) whose sensitivities are not
phaselib's model.

The phases' spectra are phaselib's own, multiplied by a smooth efficiency curve
``(E / 2 keV)^a``: every line and the background then read ``(E / 2)^a`` times what the model
expects, as with a detector window, a crystal or a cross-section law unlike the model's. Without
the calibration an Fe line read 1.8 times too high makes olivine Fo60 of Fo79 and ilmenite an
ulvöspinel; with it the names come back.
"""

import numpy as np
import pytest

from phaselib import datasets
from phaselib.identify import calibration_note, composition, name_phases
from tests.test_identify import BASALT, DACITE, E, sample, weights


def _spectra(rock, a):
    s = datasets.phase_spectra({k: weights(v) for k, v in rock.items()}, energy_keV=E, beam_energy=20)
    s = s * (np.clip(E, 0.05, None) / 2.0) ** a
    return sample(s / s.sum(axis=1, keepdims=True), 2e4, 7)


def _first(names, rock):
    return sum(n.best == true and n.candidates[0].name == true for n, true in zip(names, rock))


@pytest.mark.parametrize("rock", [BASALT, DACITE], ids=["basalt", "dacite"])
@pytest.mark.parametrize("a", [0.6, -0.6])
def test_calibration_recovers_names_under_another_detector(rock, a):
    x = _spectra(rock, a)
    plain = name_phases(x, E, beam_energy=20, calibrate=False)
    fitted = name_phases(x, E, beam_energy=20)
    assert _first(fitted, rock) >= max(5, _first(plain, rock)), [n.text for n in fitted]
    if a > 0:  # the distortion matters without the calibration (Fe read 2.2 times too high)
        assert _first(plain, rock) <= 4, [n.text for n in plain]
    # Fe K (6.4 keV) against Si K (1.74 keV): read (6.4 / 1.74)^a too high; the factor found says so
    comp = next(n.composition for n in fitted if "Fe" in dict(n.composition.sensitivity))
    fe, si = dict(comp.sensitivity)["Fe"], dict(comp.sensitivity).get("Si", 1.0)
    true = (6.40 / 1.74) ** a
    assert abs(np.log(fe / si) - np.log(true)) < 0.45 * abs(np.log(true)), (fe / si, true)
    assert "Fe" in calibration_note(fitted) and calibration_note(plain) == ""
    from phasedash.texts import calibration_html  # what the dashboards show under the minerals table

    assert "Fe" in calibration_html(fitted, len(fitted)) and calibration_html(fitted, len(fitted) + 1) == ""


@pytest.mark.parametrize("rock", [BASALT, DACITE], ids=["basalt", "dacite"])
def test_calibration_stays_put_when_the_model_is_right(rock):
    names = name_phases(_spectra(rock, 0.0), E, beam_energy=20)
    assert _first(names, rock) == 6
    factors = {el: f for n in names for el, f in n.composition.sensitivity}
    assert all(abs(np.log(f)) < 0.1 for f in factors.values()), factors
    assert calibration_note(names) == ""


def test_rescaled_composition():
    s = datasets.phase_spectra({"ilmenite": weights(BASALT["ilmenite"])}, energy_keV=E, beam_energy=20)[0]
    c = composition(s * 1e6, E, beam_energy=20)
    assert c.rescaled({}).atomic_percent == pytest.approx(c.atomic_percent)
    half = c.rescaled({"Fe": 2.0})
    d0, d1 = c.as_dict(), half.as_dict()
    assert d1["Fe"] / d1["Ti"] == pytest.approx(d0["Fe"] / d0["Ti"] / 2, rel=1e-9)
    assert sum(d1.values()) == pytest.approx(100.0)
    # oxygen by stoichiometry follows the cations: FeO + TiO2 with half the Fe holds more O per cation
    assert d1["O"] / (100 - d1["O"]) > d0["O"] / (100 - d0["O"])
    assert dict(half.sensitivity) == {"Fe": 2.0} and c.sensitivity == ()
    summary = name_phases(s[None] * 1e6, E, beam_energy=20)[0].summary()
    assert summary["sensitivity"] == {}  # one phase: nothing to calibrate on


def test_weak_oxygen_line_of_the_detector_is_not_a_sulfide():
    """A detector much weaker at low energies reads olivine's O K under 0.3 of its oxygen, which
    alone would make it an oxygen-poor phase; the map's other phases read as little, so it is not."""
    x = _spectra(BASALT, 1.2)
    assert composition(x[0], E, beam_energy=20).oxygen == "measured"  # alone: taken for oxygen-poor
    names = name_phases(x, E, beam_energy=20)
    assert [n.composition.oxygen for n in names[:3]] == ["stoichiometry"] * 3
    assert _first(names, BASALT) >= 5, [n.text for n in names]
