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
        "`spectra` holds [0-9]+ NaN"),
    # sizes beyond the data
    "csd bins": (lambda r, s: morphology.crystal_size_distribution(np.linspace(1, 9, 50), 100.0, bins=10**9),
                 ValueError, "`bins` must be an integer in \\[1, 100000\\]"),
    "csd max_size": (lambda r, s: morphology.crystal_size_distribution(np.linspace(1, 9, 50), 100.0, max_size=0.0),
                     ValueError, "`max_size` must be a number > 0"),
    "image_grains depth": (lambda r, s: morphology.image_grains(r.labels == 0, np.ones((20, 30)), depth=-1),
                           ValueError, "`depth` must be a number > 0"),
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
                           ValueError, "`spectrum` holds [0-9]+ NaN"),
    "fwhm_at huge": (lambda r, s: quantify.fwhm_at(5.0, 1e300), ValueError, "`fwhm_MnKa_keV` must be a number"),
    "phase_table NaN": (lambda r, s: quantify.phase_table([np.nan, 0.5], [3, 4], [[], []]), ValueError,
                        "`fractions` holds [0-9]+ NaN"),
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
                                   ValueError, "`shares_a` holds [0-9]+ NaN"),
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
    with pytest.raises(ValueError, match="`confusion` holds [0-9]+ NaN"):
        classify.write_confusion(np.array([[1.0, np.nan], [0, 2]]), ["a", "b"], tmp_path / "c.csv")
    assert not (tmp_path / "c.csv").exists()  # a half-written table before


def _with(data, value):
    out = np.asarray(data, np.float32).copy()
    out[3, 4, 100] = value
    return out


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_count_map_holding_nan_is_refused_by_name(rock, value):
    """NaN counts gave "`image_or_mean_counts` must be a number >= 0, got nan" (map) or NaN sums (phase_spectra)."""
    from phaselib import SpectrumImage
    from phaselib.pipeline import map_phases

    image = rock.image.replace(data=_with(rock.image.data, value))
    assert isinstance(image, SpectrumImage) and image.is_counts
    for call in (lambda: map_phases(image), lambda: lowcount.mean_counts(image),
                 lambda: quantify.phase_spectra(image, rock.labels)):
        with pytest.raises(ValueError, match="The map holds NaN or infinite values"):
            call()


def test_intensity_phase_spectra_are_means_of_the_finite_values(rock):
    """A transmission cube may miss values (dead pixels): a phase's spectrum is the mean of what was measured."""
    data = rock.image.data.astype(np.float64) / 100 + 0.5
    image = rock.image.replace(data=_with(data, np.nan), signal="transmission")
    got = quantify.phase_spectra(image, rock.labels).means
    labels = rock.labels
    want = np.array([np.nanmean(_with(data, np.nan)[labels == p], 0) for p in range(labels.max() + 1)])
    assert np.isfinite(got).all() and np.allclose(got, want)


@pytest.fixture(scope="module")
def scores(rock):
    return decompose.pca(rock.image, n_components=4).features(4).reshape(20, 30, 4)


def _nan(a):
    out = np.array(a, np.float64)
    out.flat[0] = np.nan
    return out


# the refinement's building blocks: arrays of another shape or holding NaN reached numpy's and scipy's own text
# (or NaN results) in session 30's fuzzing pass
BLOCKS = {
    "region_tests NaN": (lambda f, r, s: refine.region_tests(_nan(f), r.labels), ValueError,
                         "`features` holds [0-9]+ NaN"),
    "region_tests shapes": (lambda f, r, s: refine.region_tests(f, r.labels[:5]), ValueError,
                            "`features` .* must be \\(H, W, D\\) scores of the map of `labels`"),
    "region_tests float labels": (lambda f, r, s: refine.region_tests(f, r.labels.astype(float)), TypeError,
                                  "`labels` must hold integer or boolean values"),
    "region_tests huge label": (lambda f, r, s: refine.region_tests(f, _huge(r.labels).reshape(20, 30)), ValueError,
                                "`labels` must hold labels from 0 to 999"),
    "pair_dip region": (lambda f, r, s: refine.pair_dip(f, r.labels, 0, 2.5), TypeError,
                        "`b` must be an integer"),
    "split_dip exclude shape": (lambda f, r, s: refine.split_dip(f, r.labels, 0, exclude=np.ones((5, 30), bool)),
                                ValueError, "`exclude` must be a boolean mask of shape \\(20, 30\\)"),
    "split_region part shape": (lambda f, r, s: refine.split_region(f, r.labels, 0, np.ones((5, 30), bool)),
                                ValueError, "`part` must be a boolean mask of shape"),
    "split_region part outside": (lambda f, r, s: refine.split_region(f, r.labels, 0, r.labels == 1), ValueError,
                                  "`part` must be some, not all, of the pixels of region `a`"),
    "halves lengths": (lambda f, r, s: refine.halves(f.reshape(600, 4), r.labels.ravel()[:5],
                                                      np.ones(5, bool)), ValueError,
                       "`features` .* must be numeric features \\(N, m\\) of the 5 pixels"),
    "halves inside": (lambda f, r, s: refine.halves(f.reshape(600, 4), r.labels, np.ones(5, bool)), ValueError,
                      "`inside` must be a boolean mask of shape \\(600,\\)"),
    "halves NaN": (lambda f, r, s: refine.halves(_nan(f).reshape(600, 4), np.zeros(600, int), np.ones(600, bool)),
                   ValueError, "`features` holds NaN"),
    "is_mixture NaN": (lambda f, r, s: refine.is_mixture(_nan(s.means[0]), s.means[1:]), ValueError,
                       "`spectrum` holds [0-9]+ NaN"),
    "is_mixture channels": (lambda f, r, s: refine.is_mixture(s.means[0][:5], s.means[1:]), ValueError,
                            "`phases` .* must be spectra of the 5 channels"),
    "mixes_two 3-D": (lambda f, r, s: refine.mixes_two(s.means[0], s.means[None]), ValueError,
                      "`phases` must be a 2-D array"),
    "split_phases halves": (lambda f, r, s: refine.split_phases(s.sums[:0], [], s.sums, s.energy_keV), ValueError,
                            "`half_sums` must have the shape"),
    "boundary_phases 3-D sums": (lambda f, r, s: refine.boundary_phases(r.labels, s.sums[None]), ValueError,
                                 "`sums` must be a 2-D array"),
    "give_to_neighbours 1-D": (lambda f, r, s: refine.give_to_neighbours(r.labels.ravel(), [0]), ValueError,
                               "`labels` must be a 2-D array"),
    "assign_mixed_pixels sums": (lambda f, r, s: refine.assign_mixed_pixels(r.image, r.labels, s.sums[:, :5]),
                                 ValueError, "`sums` must have the shape \\(K, 2048\\)"),
    "assign_mixed_pixels labels": (lambda f, r, s: refine.assign_mixed_pixels(r.image, r.labels.ravel(), s.sums),
                                   ValueError, "`labels` must have the shape \\(20, 30\\)"),
    "seed_phases lengths": (lambda f, r, s: refine.seed_phases(f.reshape(600, 4), s.n_pixels, r.labels.ravel()),
                            ValueError, "must have one value per row of `features` \\(600\\)"),
    "describe_change None": (lambda f, r, s: refine.describe_change(None), TypeError,
                             "`change` must be a change of Refinement.changes"),
    "potts +inf unary": (lambda f, r, s: lowcount.potts_mean_field(np.full((4, 5, 2), np.inf), 2.0), ValueError,
                         "unary holds NaN or \\+inf"),
    "plot_csd None": (lambda f, r, s: morphology.plot_csd(None), TypeError, "`csd` must be a CSD"),
    "plot_size_distribution str": (lambda f, r, s: morphology.plot_size_distribution("x"), TypeError,
                                   "`stats` must be a SizeStatistics"),
    "grain_table pixel size": (lambda f, r, s: morphology.grain_table(r.labels + 1, pixel_size=1e300), ValueError,
                               "`pixel_size` must be a number in \\(0, 1e\\+06\\]"),
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_the_refinements_blocks_check_their_arrays(name, rock, sums, scores):
    call, error, says = BLOCKS[name]
    with pytest.raises(error, match=says):
        call(scores, rock, sums)


def test_the_blocks_still_work_on_their_own_arrays(rock, sums, scores):
    """The checks refuse nothing the pipeline hands them."""
    lab = rock.labels
    merge, split = refine.region_tests(scores, lab)
    assert merge is None or merge[1] != merge[2]
    part = np.zeros(lab.shape, bool)
    part[lab == 0] = np.arange(int((lab == 0).sum())) % 2 == 0
    out = refine.split_region(scores, lab, 0, part)
    assert out.max() == lab.max() + 1 and set(np.unique(out[lab != 0])) == set(np.unique(lab[lab != 0]))
    halves = refine.halves(scores.reshape(600, 4), lab, np.ones(lab.shape, bool))
    assert halves.shape == (600,)
    assert refine.pair_dip(scores, lab, 0, 99) is None  # a region with no pixel is too small to test
