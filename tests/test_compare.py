"""Label matching, agreement, incremental phase sums and the phase table (phaselib.compare, quantify)."""

import numpy as np
import pytest

from phaselib import SpectrumImage, quantify
from phaselib.compare import adjusted_rand, match_labels, phase_matching


def test_match_labels_renumbers_to_the_reference(rock):
    truth = rock.labels
    perm = np.array([3, 0, 5, 1, 4, 2])
    shuffled = perm[truth]
    shuffled[:3, :3] = -1
    matched = match_labels(shuffled, truth)
    assert np.array_equal(matched[3:], truth[3:]) and (matched[:3, :3] == -1).all()
    assert phase_matching(shuffled, truth) == {int(p): i for i, p in enumerate(perm)}
    assert adjusted_rand(shuffled, truth) == pytest.approx(adjusted_rand(matched, truth))


def test_match_labels_extra_phases_get_new_numbers():
    ref = np.array([0, 0, 1, 1])
    labels = np.array([2, 2, 0, 1])  # phase 1 has no partner left
    out = match_labels(labels, ref)
    assert out[:3].tolist() == [0, 0, 1] and out[3] >= 2


def test_compare_errors():
    with pytest.raises(ValueError, match="same shape"):
        match_labels(np.zeros((2, 2), int), np.zeros((2, 3), int))
    with pytest.raises(TypeError, match="`labels` must hold integer"):
        match_labels(np.zeros(3), np.zeros(3, int))


def test_update_phase_spectra_equals_a_full_pass(rock):
    img, labels = rock.image, rock.labels.astype(np.int16)
    k = rock.n_phases
    before = quantify.phase_spectra(img, labels, k)
    new = labels.copy()
    new[10:20, 10:40] = (new[10:20, 10:40] + 1) % k
    new[50:52, :] = -1
    upd = quantify.update_phase_spectra(img, before, labels, new)
    full = quantify.phase_spectra(img, new, k)
    np.testing.assert_array_equal(upd.sums, full.sums)
    np.testing.assert_array_equal(upd.n_pixels, full.n_pixels)
    assert quantify.update_phase_spectra(img, before, labels, (labels + 1) % k) is None  # all changed
    assert quantify.update_phase_spectra(img, before, labels, np.full_like(labels, k)) is None  # new phase


def test_one_phase_table_and_writer(tmp_path):
    lines = [[{"element": "Si"}, {"element": "O"}], [{"element": "Fe"}]]
    rows = quantify.phase_table([0.5, 0.3], [50, 30], lines, unassigned_fraction=0.2, n_unassigned=20)
    assert rows[-1] == dict(phase="unassigned", fraction=0.2, n_pixels=20, main_elements="", mineral="")
    path = quantify.write_phase_table(rows, tmp_path / "phases.csv")
    assert path.read_text().splitlines() == ["phase,fraction,n_pixels,main_elements,mineral", "0,0.5,50,Si O,",
                                             "1,0.3,30,Fe,", "unassigned,0.2,20,,"]
    named = quantify.phase_table([0.5, 0.3], [50, 30], lines, minerals=["quartz", "magnetite"])
    assert [r["mineral"] for r in named] == ["quartz", "magnetite", ""]
    with pytest.raises(ValueError, match="`minerals` must have one entry per phase"):
        quantify.phase_table([0.5, 0.3], [50, 30], lines, minerals=["quartz"])
    with pytest.raises(ValueError, match="one entry per phase"):
        quantify.phase_table([0.5], [50, 30], lines)
    with pytest.raises(TypeError, match="`image` must be a SpectrumImage"):
        quantify.phase_spectra(np.zeros((2, 2, 3)), np.zeros((2, 2), int))
    img = SpectrumImage(np.ones((2, 2, 3), np.uint8))
    with pytest.raises(TypeError, match="`labels` must be integers"):
        quantify.phase_spectra(img, np.zeros((2, 2)))
