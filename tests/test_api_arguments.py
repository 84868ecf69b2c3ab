"""Bad arguments to the public Python API (found by a fuzzing pass of session 28): each is refused with a
ValueError or TypeError naming the argument, never garbage, a write outside the folder given, or a numpy
MemoryError from an index used as a size."""

import numpy as np
import pytest

from phaselib import SpectrumImage
from phaselib.classify import classify, sample_labels
from phaselib.cluster import canonical_order, relabel
from phaselib.datasets import make_rock
from phaselib.preprocess import energy_channels
from phaselib.quantify import modal_fractions, phase_spectra, save_msa
from phaselib.spots import clean_spots


@pytest.fixture(scope="module")
def rock():
    return make_rock((24, 32), counts_per_pixel=50, seed=1)


@pytest.mark.parametrize("names", [["../escaped", "b"], ["a", "a"], ["sub/a", "b"], ["", "b"]])
def test_msa_names_are_plain_distinct_file_names(tmp_path, names):
    with pytest.raises(ValueError, match="names"):
        save_msa(np.ones((2, 16)), 0.0, 0.01, tmp_path / "out", names=names)
    assert not (tmp_path / "escaped.msa").exists() and not (tmp_path / "out").exists()


def test_relabel_takes_a_permutation_and_labels_it_covers():
    with pytest.raises(ValueError, match="permutation"):
        relabel(np.array([0, 1, 1, 2]), np.array([0, 0, 0]))  # returned uninitialised values before
    with pytest.raises(ValueError, match="labels"):
        relabel(np.array([0, 1, 5]), np.array([2, 0, 1]))
    with pytest.raises(ValueError, match="centers"):
        canonical_order(np.array([0, 5]), np.zeros((3, 2)))
    assert relabel(np.array([0, 1, -1, 2]), np.array([2, 0, 1])).tolist() == [1, 2, -1, 0]


def test_phase_labels_past_n_phases_or_huge_are_refused(rock):
    lab = rock.labels
    with pytest.raises(ValueError, match="n_phases"):
        modal_fractions(lab, n_phases=2)  # the fractions of phases 2.. were dropped, summing to 0.71
    with pytest.raises(ValueError, match="n_phases"):
        phase_spectra(rock.image, lab, n_phases=2)
    huge = lab.astype(np.int64)
    huge[0, 0] = 10**9
    for call in (lambda: modal_fractions(huge), lambda: phase_spectra(rock.image, huge),
                 lambda: classify(rock.image, np.where(sample_labels(lab, 5) == 1, 10**9, sample_labels(lab, 5)))):
        with pytest.raises(ValueError, match="labels"):  # (a MemoryError of 7 GiB to 15 TiB before)
            call()
    with pytest.raises(ValueError, match="empty"):
        modal_fractions(np.zeros((0, 4), int))
    fractions, unassigned = modal_fractions(lab)
    assert abs(fractions.sum() + unassigned - 1) < 1e-12


def test_a_spectrum_image_has_positive_sizes_or_none():
    d = np.ones((3, 3, 8))
    for kw in (dict(pixel_size=-1), dict(beam_energy=-5), dict(pixel_size=float("nan")), dict(pixel_size_y=0)):
        with pytest.raises(ValueError, match=next(iter(kw))):
            SpectrumImage(d, **kw)
    assert SpectrumImage(d, pixel_size=2.0, beam_energy=15).pixel_size == 2.0


def test_spots_of_another_shape_and_a_malformed_energy_range_are_refused(rock):
    with pytest.raises(ValueError, match="spots"):
        clean_spots(np.random.default_rng(0).poisson(20, (40, 40)).astype(float), np.zeros((5, 40), bool))
    for bad in ((1,), "abc", 3.0):
        with pytest.raises(ValueError, match="energy_range"):
            energy_channels(rock.image, bad)


def test_tiles_and_grain_tables_refuse_sizes_that_are_not_of_the_image():
    from phaselib.morphology import grain_table
    from phaselib.tiles import tile_positions, tiles

    with pytest.raises(ValueError, match="size"):
        tiles(np.zeros((10, 10)), 10**6)  # a 7 TiB MemoryError before
    with pytest.raises(ValueError, match="shape"):
        tile_positions((10,), 4)
    with pytest.raises(ValueError, match="shape"):
        tile_positions((-10, 10), 4)  # three tiles of a negative image before
    assert tiles(np.zeros((10, 10)), 256).shape == (1, 256, 256)  # a tile larger than the image: padded
    g = np.zeros((8, 8), np.int64)
    g[2:4, 2:4] = 10**9
    with pytest.raises(ValueError, match="grain_labels"):
        grain_table(g)


def test_formulas_diameters_and_element_counts_that_mean_nothing_are_refused():
    from phaselib.identify import parse_formula
    from phaselib.morphology import equivalent_diameter
    from phaselib.quantify import main_elements

    with pytest.raises(ValueError, match="absurd"):
        parse_formula("H" + "9" * 400)  # {'H': inf} before
    assert parse_formula("Ca5(PO4)3F") == {"Ca": 5, "P": 3, "O": 12, "F": 1}
    with pytest.raises(ValueError, match="correct_diameter"):
        equivalent_diameter(np.array([1.0, 4.0]), correct_diameter=-5)  # negative diameters before
    with pytest.raises(ValueError, match="`n`"):
        main_elements([{"element": "Si"}, {"element": "O"}, {"element": "Al"}], n=-1)  # returned 2 of 3 before
