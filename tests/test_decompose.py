import numpy as np
import pytest

from phaselib import SpectrumImage
from phaselib.decompose import energy_channels, ica, nmf, pca, suggest_n_components
from phaselib.preprocess import crop


def _exact_weighted_svd(image, channels):
    x = np.asarray(image.data)[..., channels].reshape(image.n_pixels, -1).astype(np.float64)
    g, h = x.sum(1), x.sum(0)
    xw = x / np.sqrt(np.where(g > 0, g, 1))[:, None] / np.sqrt(np.where(h > 0, h, 1))[None]
    # the exact singular values and right vectors from the Gram matrix (a dense SVD of the 19 200 x 2 000 matrix
    # took 35-60 s of the suite; its left vectors are not used)
    w, v = np.linalg.eigh(xw.T @ xw)
    order = np.argsort(w)[::-1]
    return None, np.sqrt(np.clip(w[order], 0, None)), v[:, order].T


def test_pca_matches_exact_poisson_svd(rock):
    dec = pca(rock.image, n_components=12)
    u, s, vt = _exact_weighted_svd(rock.image, dec.channels)
    n_pix = rock.image.n_pixels
    # the signal components agree with a dense SVD of the weighted data (as HyperSpy computes it)
    k = rock.n_phases
    np.testing.assert_allclose(dec.explained_variance[:k], s[:k] ** 2 / n_pix, rtol=1e-3)
    for i in range(k):
        f = dec.factors[i, dec.channels]
        ref = vt[i] * np.sqrt(np.asarray(rock.image.data)[..., dec.channels].sum(axis=(0, 1)))
        assert abs(np.corrcoef(f, ref)[0, 1]) > 0.9999
    # loadings @ factors reconstructs the map (rank-k model of the counts)
    model = dec.loadings[..., :k].reshape(n_pix, k) @ dec.factors[:k]
    total = np.asarray(rock.image.data).reshape(n_pix, -1).sum(0)
    assert np.corrcoef(model.sum(0), total)[0, 1] > 0.999


def test_pca_finds_number_of_phases(rock):
    dec = pca(rock.image)
    assert dec.suggested_n_components == rock.n_phases
    assert dec.explained_variance[rock.n_phases - 1] > dec.noise_variance > dec.explained_variance[rock.n_phases]
    # ratios are of the total variance, most of which is Poisson noise at 200 counts/pixel
    assert 0 < dec.explained_variance_ratio.sum() < 1
    assert np.all(np.diff(dec.explained_variance) <= 1e-12)


def test_pca_is_pure_and_blockwise(rock):
    before = np.asarray(rock.image.data).copy()
    a = pca(rock.image, n_components=8)
    b = pca(rock.image, n_components=8, block_rows=7)
    np.testing.assert_array_equal(np.asarray(rock.image.data), before)
    np.testing.assert_allclose(a.explained_variance[:6], b.explained_variance[:6], rtol=1e-5)
    np.testing.assert_allclose(a.loadings[..., :6], b.loadings[..., :6], rtol=1e-3,
                               atol=1e-3 * np.abs(a.loadings).max())


def test_pca_lazy_dask_equals_numpy(rock):
    da = pytest.importorskip("dask.array")
    lazy = rock.image.replace(data=da.from_array(np.asarray(rock.image.data), chunks=(16, -1, -1)))
    a = pca(rock.image, n_components=8)
    b = pca(lazy, n_components=8)
    np.testing.assert_allclose(a.explained_variance[:6], b.explained_variance[:6], rtol=1e-5)


def test_suggest_n_components_noise_only():
    rng = np.random.default_rng(0)
    mean = rng.gamma(0.5, 1, 300)
    data = rng.poisson(mean / mean.sum() * 50, size=(60, 70, 300)).astype(np.uint16)
    dec = pca(SpectrumImage(data, energy_offset=0.2, energy_scale=0.01), n_components=10)
    assert dec.suggested_n_components == 1  # only the mean spectrum stands above noise


def test_nmf_recovers_phase_spectra(rock):
    dec = nmf(rock.image, rock.n_phases)
    assert dec.factors.shape == (rock.n_phases, rock.image.n_channels)
    assert (dec.factors >= 0).all() and (dec.loadings >= 0).all()
    corr = np.corrcoef(np.vstack([dec.factors, rock.phase_spectra]))[: rock.n_phases, rock.n_phases:]
    # every true phase spectrum has an NMF component that matches it (biotite, whose
    # elements are those of the others, least well)
    best = corr.max(axis=0)
    assert best.min() > 0.85 and np.median(best) > 0.99


def test_ica_runs(rock):
    dec = ica(pca(rock.image, n_components=8), rock.n_phases)
    assert dec.loadings.shape == (*rock.labels.shape, rock.n_phases)
    # each ICA source correlates with one true phase map
    onehot = np.stack([(rock.labels == p).ravel() for p in range(rock.n_phases)], 1).astype(float)
    src = dec.loadings.reshape(-1, rock.n_phases)
    corr = np.corrcoef(np.hstack([src, onehot]).T)[: rock.n_phases, rock.n_phases:]
    assert np.sort(np.abs(corr).max(axis=1))[-3:].min() > 0.8


def test_energy_window_and_errors(rock):
    img = rock.image
    ch = energy_channels(img, (0.1, None))
    # the channel at 0.1 keV (reached by float steps: 0.09999999999999998) is inside the window
    assert img.energy_keV[ch.start] == pytest.approx(0.1) and img.energy_keV[ch.start - 1] < 0.095
    assert img.energy_keV[ch.stop - 1] <= img.beam_energy + 1e-9 < img.energy_keV[ch.stop]
    dec = pca(img, n_components=4, energy_range=(0.5, 10))
    assert np.all(dec.factors[:, : energy_channels(img, (0.5, 10)).start] == 0)
    with pytest.raises(ValueError, match="needs low < high"):
        pca(img, energy_range=(5, 1))
    with pytest.raises(ValueError, match="holds 1 channel"):
        pca(img, energy_range=(5, 5.005))
    with pytest.raises(ValueError, match="`n_components` must be an integer in \\[1, "):
        pca(img, n_components=0)
    with pytest.raises(TypeError, match="SpectrumImage"):
        pca(np.zeros((3, 3, 3)))
    zero = SpectrumImage(np.zeros((5, 5, 50), np.uint16), energy_offset=0.2, energy_scale=0.01)
    with pytest.raises(ValueError, match="no counts"):
        pca(zero, n_components=2)
    bad = SpectrumImage(np.full((5, 5, 50), np.nan, np.float32), energy_offset=0.2, energy_scale=0.01)
    with pytest.raises(ValueError, match="NaN"):
        pca(bad, n_components=2)
    n, noise = suggest_n_components([1.0, 0.5, 1e-9], 100, 10, 1e6)
    assert n == 2 and noise > 1e-9


def test_nmf_poisson_loss(rock):
    dec = nmf(rock.image, rock.n_phases, loss="kullback-leibler")
    assert dec.params["loss"] == "kullback-leibler" and dec.params["pixel_components"] == 2
    assert not dec.params["poisson"] and 1 <= dec.params["n_iter_"] <= 50
    corr = np.corrcoef(np.vstack([dec.factors, rock.phase_spectra]))[: rock.n_phases, rock.n_phases:]
    assert corr.max(axis=0).min() > 0.99  # every phase, biotite included
    np.testing.assert_allclose(dec.factors.sum(1), 1, rtol=1e-5)
    w = dec.loadings.reshape(-1, rock.n_phases)
    np.testing.assert_allclose(w.sum(1), dec.pixel_sums.ravel(), rtol=1e-4)  # loadings are counts
    assert ((w > 0).sum(1) <= 2).all()
    part = crop(rock.image, rows=(0, 40), cols=(0, 50))
    start = rock.labels[:40, :50] % 3
    one = nmf(part, 3, labels=start, loss="kullback-leibler", pixel_components=1, max_iter=2)
    assert ((one.loadings > 0).sum(-1) <= 1).all()
    plain = nmf(part, 3, labels=start, loss="kullback-leibler", pixel_components=None, max_iter=5, tol=0)
    assert plain.params["n_iter_"] == 5 and (plain.loadings > 0).all()


def test_nmf_argument_errors(rock):
    img = rock.image
    with pytest.raises(ValueError, match="`loss` must be one of 'frobenius', 'kullback-leibler'"):
        nmf(img, 3, loss="poisson")
    with pytest.raises(ValueError, match="`init` must be one of 'phases', got 'nndsvda'"):
        nmf(img, 3, loss="kullback-leibler", init="nndsvda")
    with pytest.raises(ValueError, match="`pixel_components` must be an integer in \\[1, 2\\]"):
        nmf(img, 3, loss="kullback-leibler", pixel_components=3)
    with pytest.raises(TypeError, match="`pixel_components` must be an integer"):
        nmf(img, 3, loss="kullback-leibler", pixel_components=2.0)
    with pytest.raises(ValueError, match="`max_iter` must be an integer >= 1"):
        nmf(img, 3, max_iter=0)
    with pytest.raises(TypeError, match="`tol` must be a non-negative number"):
        nmf(img, 3, tol="small")
