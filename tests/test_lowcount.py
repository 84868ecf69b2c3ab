"""Low-count phase maps: Poisson mixture + Potts prior (phaselib.lowcount)."""

import numpy as np
import pytest
from conftest import match_phases
from scipy import ndimage
from sklearn.metrics import adjusted_rand_score

from phaselib import quantify
from phaselib.datasets import make_rock
from phaselib.lowcount import (
    DEFAULT_BETA,
    LowCountMap,
    map_lowcount,
    needs_spatial_prior,
    poisson_log_likelihood,
    potts_mean_field,
)
from phaselib.pipeline import map_phases

SHAPE = (128, 160)


def ari(a, b):
    return adjusted_rand_score(np.ravel(a), np.ravel(b))


def coherence(labels):
    """Share of 4-neighbour pairs with equal labels."""
    return np.mean(np.r_[(labels[1:] == labels[:-1]).ravel(), (labels[:, 1:] == labels[:, :-1]).ravel()])


def boundary_pairs(mask):
    """Number of 4-neighbour pairs with one pixel in ``mask`` and one outside (in the map)."""
    return int(np.sum(mask[1:] != mask[:-1]) + np.sum(mask[:, 1:] != mask[:, :-1]))


def mapped(true_labels, labels, n_true, n_found):
    """``labels`` renamed to the true phases they match best (-1: no match)."""
    lut = np.full(n_found + 1, -1)
    for f, t in match_phases(true_labels, labels, n_true, n_found).items():
        lut[f] = t
    return lut[np.where(labels < 0, n_found, labels)]


def small_grain_recall(rock, labels, n_found, max_px=15):
    """Share of true grains of <= max_px pixels whose majority label is their phase."""
    found = mapped(rock.labels, labels, rock.n_phases, n_found).ravel()
    ids = rock.grain_ids.ravel()
    sizes = np.bincount(ids)
    truth = np.zeros(sizes.size, int)
    truth[ids] = rock.labels.ravel()
    votes = np.zeros((sizes.size, rock.n_phases + 1))
    np.add.at(votes, (ids, found + 1), 1)
    small = np.flatnonzero((sizes > 0) & (sizes <= max_px))
    return np.mean(votes[small].argmax(1) - 1 == truth[small])


@pytest.fixture(scope="module")
def rock20():
    return make_rock(SHAPE, counts_per_pixel=20, seed=1)


@pytest.fixture(scope="module")
def low20(rock20):
    return map_lowcount(rock20.image)


@pytest.fixture(scope="module")
def p45_maps(p45):
    return map_phases(p45, spatial_prior=False, mixed_pixels=False, beam_spread=False), map_lowcount(p45)  # raw


def test_recovers_truth_at_20_counts(rock20, low20):
    plain = map_phases(rock20.image, spatial_prior=False, beam_spread=False)
    a_low, a_plain = ari(rock20.labels, low20.labels), ari(rock20.labels, plain.labels)
    print(f"20 counts/pixel: ARI {a_low:.3f} with the Potts prior, {a_plain:.3f} per-pixel PCA + k-means")
    assert a_low >= 0.90  # measured 0.952 at beta 1, 0.964 at beta 2
    assert a_low >= a_plain + 0.15  # measured 0.414 per pixel; 0.772 since session 44 (split on 3 x 3 means)
    assert isinstance(low20, LowCountMap)
    assert low20.n_phases == rock20.n_phases and low20.params["n_phases_auto"]
    assert low20.params["bin_factor"] == 5 and low20.params["beta"] == DEFAULT_BETA == 2.0
    assert low20.labels.shape == SHAPE and low20.labels.dtype == np.int16
    assert low20.posteriors.shape == (*SHAPE, low20.n_phases) and low20.posteriors.dtype == np.float32
    np.testing.assert_allclose(low20.posteriors.sum(-1), 1, atol=1e-4)
    np.testing.assert_array_equal(low20.posteriors.argmax(-1), low20.labels)
    # canonical order: most abundant first
    assert np.all(np.diff(low20.fractions) <= 0) and low20.fractions.sum() == pytest.approx(1)
    for found, true in match_phases(rock20.labels, low20.labels, rock20.n_phases, low20.n_phases).items():
        assert abs(low20.fractions[found] - rock20.fractions[true]) <= 0.02  # measured <= 0.003
        assert np.corrcoef(low20.spectra[found], rock20.phase_spectra[true])[0, 1] > 0.99
    np.testing.assert_allclose(low20.spectra.sum(1), 1)


def test_ten_counts_per_pixel():
    rock = make_rock(SHAPE, counts_per_pixel=10, seed=2)
    low = map_lowcount(rock.image)
    a = ari(rock.labels, low.labels)
    print(f"10 counts/pixel: ARI {a:.3f}, {low.n_phases} phases found (true {rock.n_phases})")
    assert a >= 0.80  # measured 0.82-0.88 on seeds 1-7 (per-pixel PCA + k-means: 0.15)


def test_small_grains_kept(rock20, low20):
    rock200 = make_rock(SHAPE, counts_per_pixel=200, seed=1)  # the same rock, 10x the counts
    ref = map_phases(rock200.image, spatial_prior=False)
    r_ref = small_grain_recall(rock200, ref.labels, ref.n_phases)
    r_low = small_grain_recall(rock20, low20.labels, low20.n_phases)
    r_tiny = small_grain_recall(rock20, low20.labels, low20.n_phases, max_px=4)
    print(f"grains <= 15 px recovered: {r_low:.3f} at 20 counts with the prior, {r_ref:.3f} per pixel at 200; "
          f"grains <= 4 px: {r_tiny:.3f}")
    assert r_low >= r_ref - 0.05  # measured 0.961 vs 1.000 (beta 1: 0.979)
    assert r_tiny >= 0.90  # measured 0.906 (beta 1: 0.948; beta trades one-pixel grains for whole phases)


def test_prior_off_is_per_pixel_poisson_classification(rock20, low20):
    off = map_lowcount(rock20.image, beta=0)
    loglik = poisson_log_likelihood(rock20.image, off.spectra)
    np.testing.assert_array_equal(off.labels, loglik.argmax(-1))
    e = np.exp(loglik - loglik.max(-1, keepdims=True))
    np.testing.assert_allclose(off.posteriors, e / e.sum(-1, keepdims=True), atol=1e-5)
    assert off.params["beta"] == 0
    # the prior is what makes the map coherent
    assert coherence(low20.labels) > coherence(off.labels) + 0.1
    assert ari(rock20.labels, low20.labels) > ari(rock20.labels, off.labels) + 0.1


def test_mean_field_weighs_evidence_against_neighbours():
    k, h, w = 2, 9, 9
    unary = np.zeros((h, w, k), np.float32)
    unary[..., 0] = 3.0  # phase 0 everywhere, by 3 nats...
    unary[4, 4] = [0, 5.0]  # ...but one pixel favours phase 1 by 5 nats
    unary[2, 2] = [0, 3.0]  # and one by 3 nats
    before = unary.copy()
    q = potts_mean_field(unary, 1.0)
    np.testing.assert_array_equal(unary, before)  # the input is not modified
    labels = q.argmax(-1)
    assert labels[4, 4] == 1  # 5 nats beat 4 neighbours at beta = 1
    assert labels[2, 2] == 0  # 3 nats do not
    assert (labels == 1).sum() == 1
    np.testing.assert_array_equal(potts_mean_field(unary, 0).argmax(-1), unary.argmax(-1))


def test_p45_cleaner_without_losing_phases(p45, p45_maps):
    plain, low = p45_maps
    c_plain, c_low = coherence(plain.labels), coherence(low.labels)
    print(f"P45 coherence: {c_plain:.3f} per pixel, {c_low:.3f} with the prior; phases {plain.n_phases} -> "
          f"{low.n_phases}, fractions {np.round(plain.fractions, 4)} -> {np.round(low.fractions, 4)}")
    assert c_low >= c_plain + 0.03  # measured 0.883 -> 0.930
    assert 3 <= low.n_phases <= 8
    elements = [set(quantify.main_elements(
        quantify.identify_lines(1e6 * s, p45.energy_keV, beam_energy=p45.beam_energy), 6)) for s in low.spectra]
    assert any({"K", "Si", "Al"} <= e for e in elements)
    assert any({"Ca", "Na", "Al"} <= e for e in elements)
    assert any({"Mg", "Fe"} <= e for e in elements)
    assert any({"Ca", "P"} <= e for e in elements)
    # no phase of >= 0.3 % area in the per-pixel map disappears
    found = mapped(plain.labels, low.labels, plain.n_phases, low.n_phases)
    for p in np.flatnonzero(plain.fractions >= 0.003):
        assert np.mean(found == p) >= 0.5 * plain.fractions[p]


def test_p45_small_grains_kept(p45, p45_maps):
    """Small grains of the per-pixel map survive when their counts support them.

    A component of the per-pixel map of 2-15 px is checked when its pixels favour its
    phase over every other by more than twice the prior's cost of its boundary (beta per
    boundary pair): weaker clusters are within the noise (groundmass pixels alone
    scatter by about +-4 nats). The minor phases (< 10 % area: mafic, apatite) must keep
    all their small grains.
    """
    plain, low = p45_maps
    found = mapped(plain.labels, low.labels, plain.n_phases, low.n_phases)
    loglik = poisson_log_likelihood(p45, low.spectra)
    # per-pixel phases in the regularised map's numbering
    to_low = {t: f for f, t in match_phases(plain.labels, low.labels, plain.n_phases, low.n_phases).items()}
    supported, kept_supported, minor, kept_minor = 0, 0, 0, 0
    for p in np.flatnonzero(plain.fractions >= 0.003):
        comp, n = ndimage.label(plain.labels == p)
        sizes = np.bincount(comp.ravel())
        others = np.delete(loglik, to_low[p], axis=-1).max(-1)
        margin = loglik[..., to_low[p]] - others
        for i in range(1, n + 1):
            if not 2 <= sizes[i] <= 15:
                continue
            m = comp == i
            boundary = boundary_pairs(m)
            kept = np.mean(found[m] == p) > 0.5
            if margin[m].sum() > 2 * boundary * low.params["beta"]:
                supported += 1
                kept_supported += kept
            if plain.fractions[p] < 0.1:
                minor += 1
                kept_minor += kept
    print(f"P45 small grains kept: {kept_supported}/{supported} supported by the counts, "
          f"{kept_minor}/{minor} of the minor phases")
    assert supported >= 10 and kept_supported >= 0.9 * supported
    assert minor >= 10 and kept_minor >= 0.9 * minor


def test_needs_spatial_prior(rock20, p45):
    assert needs_spatial_prior(20) and needs_spatial_prior(rock20.image)
    assert needs_spatial_prior(p45)  # 122 counts/pixel: still speckled per pixel
    assert not needs_spatial_prior(500.0)
    assert not needs_spatial_prior(20, threshold=10)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(beta=-1), ValueError, "`beta` .* must be >= 0"),
    (dict(beta="strong"), TypeError, "`beta` must be a number, got 'strong'"),
    (dict(beta=float("nan")), ValueError, r"`beta` must be a number in \[0, 100\], got nan"),
    (dict(n_iter=0), ValueError, "`n_iter` must be an integer in \\[1, 10000\\], got 0"),
    (dict(n_iter=2.5), TypeError, "`n_iter` must be an integer in \\[1, 10000\\]"),
    (dict(n_sweeps=0), ValueError, "`n_sweeps` must be an integer in \\[1, 10000\\]"),
    (dict(n_phases="many"), TypeError, "`n_phases` must be an integer >= 1 or \"auto\""),
    (dict(n_phases=1), ValueError, "`n_phases` must be at least 2"),
    (dict(bin_factor=0), ValueError, "`bin_factor` must be an integer >= 1 or \"auto\""),
    (dict(bin_factor=True), TypeError, "`bin_factor` must be an integer"),
])
def test_bad_arguments(rock20, kwargs, error, message):
    with pytest.raises(error, match=message):
        map_lowcount(rock20.image, **kwargs)


def test_bad_inputs():
    with pytest.raises(TypeError, match="`image` must be a SpectrumImage"):
        map_lowcount(np.zeros((4, 4, 8)))
    with pytest.raises(TypeError, match="must be a number"):
        needs_spatial_prior("20")
    with pytest.raises(ValueError, match=">= 0"):
        needs_spatial_prior(-3)
    with pytest.raises(ValueError, match=r"unary must be \(H, W, K\)"):
        potts_mean_field(np.zeros((4, 4)), 1.0)
    with pytest.raises(ValueError, match="damping"):
        potts_mean_field(np.zeros((4, 4, 2)), 1.0, damping=1.0)


def test_pipeline_uses_prior_by_default_at_low_counts(rock20):
    """map_phases switches to the Potts prior below LOW_COUNTS, and can be told not to."""
    auto = map_phases(rock20.image)
    off = map_phases(rock20.image, spatial_prior=False, beam_spread=False)  # the spread step alone: 0.57 -> 0.94
    assert auto.params["spatial_prior"] is True and off.params["spatial_prior"] is False
    assert ari(rock20.labels, auto.labels) >= 0.90 > ari(rock20.labels, off.labels)
    assert auto.clustering.memberships.shape == (rock20.image.n_pixels, auto.n_phases)
    with pytest.raises(ValueError, match="`spatial_prior` must be one of"):
        map_phases(rock20.image, spatial_prior="sometimes")


@pytest.mark.parametrize("seed", [0, 2])
def test_real_map_thinned_to_20_counts(p45, seed):
    """Binomial thinning of the real P45 counts (122 -> 20 counts/pixel) is the same area
    measured 6x faster. The prior keeps far more of the full-count map than per-pixel
    clustering, though on this small map (7 500 px) the result still varies with the draw
    (ARI 0.33-0.82 over seeds 0-4, mostly from the number of phases found): the issue's
    0.85 is not reached here."""
    rng = np.random.default_rng(seed)
    mean = float(p45.data.sum(-1).mean())
    thin = p45.replace(data=rng.binomial(p45.data.astype(np.int64), 20 / mean).astype(np.uint16))
    full = map_phases(p45)
    a_low = ari(full.labels, map_phases(thin).labels)
    a_plain = ari(full.labels, map_phases(thin, spatial_prior=False).labels)
    print(f"P45 at 20 vs 122 counts/pixel: ARI {a_low:.3f} with the prior, {a_plain:.3f} per pixel")
    assert a_low >= a_plain + 0.2


def test_binned_start_samples_rows_of_big_maps(rock20):
    """Past a size limit, only spread row blocks are binned for the initial clustering."""
    from phaselib import preprocess
    from phaselib.lowcount._em import _binned

    full = _binned(rock20.image, 2)
    part = _binned(rock20.image, 2, max_bytes=full.data.nbytes // 4)
    assert part.shape[1:] == full.shape[1:] and part.shape[0] < full.shape[0] // 2
    # each binned row of the sample is a binned row of the whole map
    rows = {tuple(r) for r in np.asarray(full.data).reshape(full.shape[0], -1)[:, :50].tolist()}
    assert all(tuple(r) in rows for r in np.asarray(part.data).reshape(part.shape[0], -1)[:, :50].tolist())
    assert part.pixel_size == preprocess.bin_spatial(rock20.image, 2).pixel_size
