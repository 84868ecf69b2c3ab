"""Hostile arguments to the public library API: one plain message naming the argument, never numpy's,
scipy's or scikit-learn's own text, a MemoryError from an absurd size, a hang, or NaN returned in silence.

The cases are those of a fuzzing pass (session 30: 2302 calls of 107 public functions, one argument
changed at a time) that failed; each failed before its fix.
"""

import numpy as np
import pytest

from phaselib import (
    classify,
    cluster,
    compare,
    datasets,
    decompose,
    identify,
    lowcount,
    morphology,
    preprocess,
    quantify,
    refine,
    segment,
    spots,
    tiles,
)


@pytest.fixture(scope="module")
def rock():
    return datasets.make_rock((20, 30), counts_per_pixel=50, seed=1)


@pytest.fixture(scope="module")
def sums(rock):
    return quantify.phase_spectra(rock.image, rock.labels)


def _huge(labels):
    out = np.array(labels, np.int64)
    out.flat[0] = 10**9
    return out


def _energy(rock):
    img = rock.image
    return img.energy_offset + img.energy_scale * np.arange(img.n_channels)


CASES = {
    # labels of absurd value: every per-label table was sized by the largest label
    "match_labels huge label": (lambda r, s: compare.match_labels(_huge(r.labels), r.labels),
                                ValueError, "`labels` must hold labels from .* to 9999, got"),
    "confusion_scores huge label": (lambda r, s: classify.confusion_scores(_huge(r.labels).ravel(),
                                                                           r.labels.ravel(), 6),
                                    ValueError, "`truth` must hold labels from 0 to 5"),
    "confusion_scores n_classes": (lambda r, s: classify.confusion_scores(r.labels.ravel(), r.labels.ravel(), 10**9),
                                   ValueError, "`n_classes` must be an integer in \\[1, 1000\\]"),
    "confusion_scores lengths": (lambda r, s: classify.confusion_scores(r.labels.ravel()[:5], r.labels.ravel(), 6),
                                 ValueError, "`pred` must have the shape \\(5,\\)"),
    "gaussian_potts huge label": (lambda r, s: lowcount.gaussian_potts(np.ones((20, 30, 2)), _huge(r.labels)),
                                  ValueError, "`labels` must hold labels from 0 to 9999"),
    "clean_labels huge label": (lambda r, s: segment.clean_labels(_huge(r.labels), 3), ValueError,
                                "`labels` must hold labels"),
    # iteration counts: a pass over the map each, 10**9 of them is days
    "gaussian_potts n_iter": (lambda r, s: lowcount.gaussian_potts(np.ones((20, 30, 2)), r.labels, n_iter=10**9),
                              ValueError, "`n_iter` must be an integer in \\[1, 10000\\]"),
    "potts NaN unary": (lambda r, s: lowcount.potts_mean_field(np.full((4, 5, 2), np.nan), 2.0), ValueError,
                        "unary holds NaN"),
    "poisson_log_likelihood NaN spectra": (lambda r, s: lowcount.poisson_log_likelihood(
        r.image, np.where(np.arange(s.sums.size).reshape(s.sums.shape) == 0, np.nan, s.sums)), ValueError,
        "`spectra` holds NaN"),
    # sizes beyond the data
    "csd bins": (lambda r, s: morphology.crystal_size_distribution(np.linspace(1, 9, 50), 100.0, bins=10**9),
                 ValueError, "`bins` must be an integer in \\[1, 100000\\]"),
    "csd max_size": (lambda r, s: morphology.crystal_size_distribution(np.linspace(1, 9, 50), 100.0, max_size=0.0),
                     ValueError, "`max_size` must be a number > 0"),
    "image_grains min_distance": (lambda r, s: morphology.image_grains(r.labels == 0, np.ones((20, 30)),
                                                                       min_distance=-1),
                                  ValueError, "`min_distance` must be an integer >= 1"),
    "separate_grains smoothing": (lambda r, s: morphology.separate_grains(r.labels == 0, smoothing=1e300),
                                  ValueError, "`smoothing` must be a number in \\[0, 100\\]"),
    "clean_spots size": (lambda r, s: spots.clean_spots(np.arange(600.0).reshape(20, 30), np.eye(20, 30, dtype=bool),
                                                        size=10**9),
                         ValueError, "`size` must be an integer in \\[3, 61\\]"),
    "tile_positions huge": (lambda r, s: tiles.tile_positions((10**9, 10**9), 16), ValueError,
                            "makes .* tiles, more than 10000000"),
    "untile shape": (lambda r, s: tiles.untile(tiles.tiles(np.ones((20, 30)), 8, 2), 20, overlap=2), ValueError,
                     "`shape` must be \\(H, W, ...\\)"),
    # options of the decompositions and clusterings
    "pca block_rows": (lambda r, s: decompose.pca(r.image, n_components=4, block_rows=2.5), TypeError,
                       "`block_rows` must be an integer"),
    "pca sample_pixels": (lambda r, s: decompose.pca(r.image, n_components=4, sample_pixels=float("nan")),
                          TypeError, "`sample_pixels` must be an integer"),
    "ica no decomposition": (lambda r, s: decompose.ica(None), TypeError, "`decomposition` must be a Decomposition"),
    "kmeans max_fit_pixels": (lambda r, s: cluster.kmeans(np.random.default_rng(0).random((50, 2)), 3,
                                                          max_fit_pixels=-1),
                              ValueError, "`max_fit_pixels` must be an integer >= 2"),
    "kmeans seed": (lambda r, s: cluster.kmeans(np.random.default_rng(0).random((50, 2)), 3, random_state=-1),
                    ValueError, "`random_state` must be an integer in \\[0, "),
    "gmm covariance": (lambda r, s: cluster.gmm(np.random.default_rng(0).random((50, 2)), 3, covariance_type="bogus"),
                       ValueError, "`covariance_type` must be one of .full., .tied."),
    "fuzzy tol": (lambda r, s: cluster.fuzzy_cmeans(np.random.default_rng(0).random((50, 2)), 3, tol=float("nan")),
                  ValueError, "`tol` must be a number > 0"),
    "estimate constant features": (lambda r, s: cluster.estimate_n_clusters(np.zeros((50, 2))), ValueError,
                                   "features are the same for every pixel"),
    "memberships threshold": (lambda r, s: segment.labels_from_memberships(np.ones((4, 5, 2)) / 2, threshold="abc"),
                              TypeError, "`threshold` must be a number"),
    # spectra, lines, tables
    "identify_lines width": (lambda r, s: quantify.identify_lines(s.sums[0], _energy(r), fwhm_keV=-1.0),
                             ValueError, "`fwhm_keV` must be a number in \\(0, 10\\]"),
    "identify_lines NaN": (lambda r, s: quantify.identify_lines(np.where(np.arange(s.sums.shape[1]) == 5, np.nan,
                                                                         s.sums[0]), _energy(r)),
                           ValueError, "`spectrum` holds NaN"),
    "fwhm_at huge": (lambda r, s: quantify.fwhm_at(5.0, 1e300), ValueError, "`fwhm_MnKa_keV` must be a number"),
    "phase_table NaN": (lambda r, s: quantify.phase_table([np.nan, 0.5], [3, 4], [[], []]), ValueError,
                        "`fractions` holds NaN"),
    "composition beam": (lambda r, s: identify.composition(s.sums[0], _energy(r), beam_energy=1e300), ValueError,
                         "`beam_energy` must be a number in \\(0, 1000\\]"),
    "composition window": (lambda r, s: identify.composition(s.sums[0], _energy(r), beam_energy=20.0,
                                                             energy_range=(100.0, None)),
                           ValueError, "holds no channel of the spectrum"),
    "window beam NaN": (lambda r, s: preprocess.energy_window_slice(0.0, 0.01, 2048, 0.5, 5.0, beam_energy=np.nan),
                        ValueError, "`beam_energy` must be"),
    # the refinement's building blocks: NaN rules merged every pair, absurd windows sized arrays by them
    "merge_phases NaN rule": (lambda r, s: refine.merge_phases(s, r.labels, major=float("nan")), ValueError,
                              "`major` must be a number in \\(0, 1\\]"),
    "merge_phases spectra": (lambda r, s: refine.merge_phases(None, r.labels), TypeError,
                             "`spectra` must be a PhaseSpectra"),
    "distinct_phases NaN shares": (lambda r, s: refine.distinct_phases([np.nan, 0.5], [1, 1], [0.5, 0.5], [1, 1],
                                                                       ["Si", "Al"]),
                                   ValueError, "`shares_a` holds NaN"),
    "inside_pixels size": (lambda r, s: refine.inside_pixels(r.labels, size=10**9), ValueError,
                           "`size` must be an integer in \\[1, 99\\]"),
    "assign_mixed_pixels window": (lambda r, s: refine.assign_mixed_pixels(r.image, r.labels, s.sums, window=0),
                                   ValueError, "`window` must be an integer in \\[3, 99\\]"),
    "mixed_margin NaN": (lambda r, s: refine.mixed_margin(float("nan")), ValueError, "`mean_counts` must be a number"),
    "spots confusion shapes": (lambda r, s: spots.confusion(np.ones((6, 6), bool), np.ones((5, 6), bool)),
                               ValueError, "must have one shape"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_arguments_are_plain_messages(name, rock, sums):
    call, error, says = CASES[name]
    with pytest.raises(error, match=says):
        call(rock, sums)


def test_absurd_grain_ids_are_renumbered_not_refused():
    """Grain ids are names, not sizes: ids of 10**9 are matched like any others (a MemoryError before)."""
    a = np.array([[1, 1, 0, 2], [1, 1, 0, 2]])
    pairs, iou = morphology.match_grains(a * 10**9, a)
    assert pairs.tolist() == [[10**9, 1], [2 * 10**9, 2]] and np.allclose(iou, 1)
    assert morphology.score_grains(a * 10**9, a)["matched"] == 1.0


def test_a_map_of_unassigned_pixels_cleans_to_itself():
    labels = np.full((6, 7), -1)
    assert (segment.clean_labels(labels, 3) == -1).all()  # "need at least one array to stack" before


def test_a_nan_confusion_matrix_writes_no_file(tmp_path):
    with pytest.raises(ValueError, match="`confusion` holds NaN"):
        classify.write_confusion(np.array([[1.0, np.nan], [0, 2]]), ["a", "b"], tmp_path / "c.csv")
    assert not (tmp_path / "c.csv").exists()  # a half-written table before
