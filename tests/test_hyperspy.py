"""HyperSpy in and out: signals into phaselib.load / map_phases without a copy, phase maps and decompositions back."""

import hyperspy.api as hs  # the `test` extra installs it (phaselib itself does not need it)
import numpy as np
import pytest

from phaselib import io, preprocess
from phaselib.datasets import sample_path
from phaselib.datasets._tof import make_tof
from phaselib.decompose import pca, to_learning_results
from phaselib.pipeline import map_phases


@pytest.fixture(scope="module")
def p45_zspy(tmp_path_factory):
    image = preprocess.crop(io.load(sample_path("P45")), rows=(0, 40))  # the bundled real map, 40 x 100
    path = tmp_path_factory.mktemp("hs") / "p45.zspy"
    io.save(image, path, chunks=(16, image.shape[1], image.shape[2]))
    return path


def test_lazy_eds_signal_maps_like_the_file_and_comes_back_with_its_axes(p45_zspy):
    from_file = map_phases(io.load(p45_zspy))
    signal = hs.load(p45_zspy, lazy=True)
    assert type(signal).__name__ == "LazyEDSSEMSpectrum"
    image = io.load(signal)
    assert image.data is signal.data and image.is_lazy and image.is_eds  # no copy: the same dask array
    res = map_phases(signal)
    assert np.array_equal(res.labels, from_file.labels) and res.n_phases == from_file.n_phases
    labels, spectra = res.to_hyperspy()
    assert np.array_equal(labels.data, res.labels)
    for got, want in zip(labels.axes_manager.signal_axes, signal.axes_manager.navigation_axes):
        assert (got.name, got.size, got.units) == (want.name, want.size, want.units)
        assert got.scale == pytest.approx(want.scale) and got.offset == pytest.approx(want.offset)
    assert type(spectra).__name__ == "EDSSEMSpectrum" and spectra.axes_manager.navigation_shape == (res.n_phases,)
    e_got, e_want = spectra.axes_manager.signal_axes[0], signal.axes_manager.signal_axes[0]
    assert (e_got.units, e_got.size) == ("keV", e_want.size)
    assert e_got.offset == pytest.approx(e_want.offset) and e_got.scale == pytest.approx(e_want.scale)
    assert np.allclose(spectra.data, res.spectra.means)


def test_learning_results_drive_hyperspys_own_plots(p45_zspy):
    import matplotlib

    matplotlib.use("Agg")
    signal = hs.load(p45_zspy)
    dec = pca(io.load(signal), n_components=8)
    lr = to_learning_results(dec, signal)
    assert lr is signal.learning_results and lr.poissonian_noise_normalized is True
    loadings = signal.get_decomposition_loadings()
    assert loadings.data.shape == (8, 40, 100)
    assert np.allclose(loadings.data[0], dec.loadings[..., 0])
    assert np.allclose(signal.get_decomposition_factors().data, dec.factors)
    assert signal.plot_scree_plot(n=8) is not None
    signal.plot_decomposition_results()
    with pytest.raises(ValueError, match="not of this signal"):
        to_learning_results(dec, signal.inav[:10])


def test_intensity_signal_in_and_out():
    tof = make_tof((32, 40), 661, materials=("Fe-bcc", "Al"), seed=2)
    signal = hs.signals.Signal1D(tof.image.data)
    ax = signal.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale = "Wavelength", "Å", 1.0, 4 / 660
    image = io.load(signal)
    assert image.signal == "intensity" and image.units == "Å" and not image.is_eds
    res = map_phases(signal, n_phases=3)
    labels, spectra = res.to_hyperspy()
    assert type(spectra).__name__ == "Signal1D"
    assert spectra.axes_manager.signal_axes[0].units == "Å" and spectra.axes_manager.signal_axes[0].name == "Wavelength"
    assert labels.axes_manager.signal_axes[0].size == 40


def test_hyperspys_loadings_go_to_the_otsu_step_as_their_maps():
    """The seed notebook's step: Otsu per loading of ``s.get_decomposition_loadings()``, a signal whose components are
    its navigation axis, data (K, H, W). Given it (or its data), phaselib took W = 100 maps of 4 x 75 pixels."""
    from skimage.filters import threshold_otsu

    from phaselib import segment

    rng = np.random.default_rng(0)
    data = rng.gamma(2.0, size=(4, 75, 100)).astype(np.float32)
    loadings = hs.signals.Signal2D(data)  # (4 | 100, 75), as get_decomposition_loadings() returns them
    th = segment.otsu_thresholds(loadings)
    assert np.allclose(th, [threshold_otsu(m) for m in data])
    masks = segment.masks_from_maps(loadings)
    assert masks.shape == (75, 100, 4) and np.array_equal(masks[..., 2], data[2] >= th[2])
    with pytest.raises(ValueError, match=r"\(K, H, W\).*np.moveaxis"):
        segment.otsu_thresholds(data)
    assert np.allclose(segment.otsu_thresholds(np.moveaxis(data, 0, -1)), th)
