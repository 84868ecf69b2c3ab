"""HyperSpy signals as a notebook user makes them (session 59): axes without names, phase spectra whose lines
HyperSpy can mark, an EDS signal whose energy axis was never calibrated."""

import hyperspy.api as hs  # the `test` extra installs it (phaselib itself does not need it)
import matplotlib
import numpy as np
import pytest
import traits.api as t

import phaselib
from phaselib.datasets import sample_path
from phaselib.pipeline import map_phases

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def p45():
    """The bundled real map, 30 x 40 pixels (its own calibration: -0.472 keV, 10 eV per channel, 20 kV)."""
    image = phaselib.load(sample_path("P45"))
    return np.ascontiguousarray(image.data[:30, :40]), image.energy_offset, image.energy_scale


def _plain(data, offset, scale):
    """``hs.signals.Signal1D(array)`` given only an energy axis in keV: its navigation axes have no name or units."""
    s = hs.signals.Signal1D(data)
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units = offset, scale, "keV"
    s.metadata.set_item("Acquisition_instrument.SEM.beam_energy", 20.0)
    return s


@pytest.fixture(scope="module")
def mapped(p45):
    signal = _plain(*p45)
    return signal, map_phases(signal)


def test_axes_without_names_stay_unnamed_in_the_phase_map(mapped, tmp_path):
    """Their names and units came back as the text "<undefined>": the plot's axes read
    "<undefined> axis (<undefined>)" where HyperSpy says "Unnamed 0th axis"."""
    import matplotlib.pyplot as plt

    signal, result = mapped
    labels, _ = result.to_hyperspy()
    for ax in labels.axes_manager.signal_axes:
        assert ax.name is t.Undefined and ax.units is t.Undefined
    labels.plot()
    titles = [text for a in plt.gcf().axes for text in (a.get_xlabel(), a.get_ylabel())]
    plt.close("all")
    assert "Unnamed 0th axis" in titles and not any("undefined" in text for text in titles)
    labels.save(tmp_path / "labels.hspy")
    back = hs.load(tmp_path / "labels.hspy")
    assert [str(a.name) for a in back.axes_manager.signal_axes] == [str(a.name) for a in signal.axes_manager.
                                                                    navigation_axes]


def test_phase_spectra_carry_their_named_lines_for_hyperspy(mapped):
    """``spectra.plot(True)`` said "No elements defined" and ``get_lines_intensity()`` had no line to measure."""
    _, result = mapped
    _, spectra = result.to_hyperspy()
    named = {f["line"] for phase in result.lines for f in phase}
    assert {"Si_Ka", "Al_Ka", "K_Ka"} <= named  # a dacite's glass and feldspars
    assert spectra.metadata.Sample.xray_lines == sorted(named)
    assert spectra.metadata.Sample.elements == sorted({f["element"] for phase in result.lines for f in phase})
    intensities = spectra.get_lines_intensity()  # HyperSpy's own integration over each named line
    assert len(intensities) == len(named)
    si = next(s for s in intensities if "Si_Ka" in s.metadata.General.title)
    assert si.data.shape == (result.n_phases,) and (si.data > 0).all()


@pytest.mark.parametrize("how", ["EDS_SEM", "counts"])
def test_an_energy_axis_never_calibrated_is_refused_saying_how_to_calibrate(p45, how):
    """An EDS signal (or one of counts) whose axis is channel numbers (0..2047 'keV') failed deep in the phase tests
    with "`energy_keV` runs to 2047: ... an axis in eV? Pass it divided by 1000.", a value the user never passed."""
    data, offset, scale = p45
    signal = hs.signals.Signal1D(data)
    if how == "EDS_SEM":
        signal.set_signal_type("EDS_SEM")
    else:
        signal.metadata.set_item("Signal.quantity", "X-rays (Counts)")
    for call in (phaselib.load, map_phases):
        with pytest.raises(ValueError, match=r"runs without units from 0 to 2047.*Calibrate it in keV"):
            call(signal)
    image = phaselib.load(signal, energy_offset=offset, energy_scale=scale)  # the calibration given: read so
    assert image.energy_keV[0] == pytest.approx(offset) and image.energy_keV[-1] == pytest.approx(offset + 2047 * scale)
    signal.axes_manager.signal_axes[0].units = "keV"  # a calibrated axis in keV is read as it was
    signal.axes_manager.signal_axes[0].offset, signal.axes_manager.signal_axes[0].scale = offset, scale
    assert phaselib.load(signal).is_eds


def test_grains_of_a_hyperspy_phase_map_are_measured_in_its_units(mapped):
    """``grain_map(labels)`` of ``PhaseMap.to_hyperspy()`` (8.74 µm pixels here) measured the grains in pixels and
    called them µm (diameters 8.74 times too small, the CSD's section area 76 times); a PhaseMap itself was
    refused: "`labels` must hold integer or boolean values, got dtype object"."""
    from phaselib import morphology

    _, result = mapped
    px = 8.73678506197786  # the bundled P45's pixel, µm
    labels, _ = result.to_hyperspy()
    for a in labels.axes_manager.signal_axes:
        a.scale, a.units = px, "µm"
    want = morphology.grain_map(result.labels, pixel_size=px)
    in_nm = labels.deepcopy()
    for a in in_nm.axes_manager.signal_axes:
        a.scale, a.units = px * 1000, "nm"
    for given in (labels, in_nm):
        got = morphology.grain_map(given)
        assert got.pixel_size == pytest.approx(px)
        assert np.array_equal(got.labels, want.labels)
        d_got, d_want = got.table()["equivalent_diameter_um"], want.table()["equivalent_diameter_um"]
        assert np.allclose(d_got, d_want) and got.section_area_um2 == pytest.approx(30 * 40 * px ** 2)
    assert morphology.grain_map(labels, pixel_size=2.0).pixel_size == 2.0  # a size given wins
    mask = labels == 1  # a phase mask as a signal (the notebook's Otsu masks): one phase, in µm
    one = morphology.grain_map(mask)
    assert one.pixel_size == pytest.approx(px) and np.array_equal(one.labels > 0, result.labels == 1)
    stretched = labels.deepcopy()
    stretched.axes_manager.signal_axes[1].scale = 2 * px
    with pytest.raises(ValueError, match="not square"):
        morphology.grain_map(stretched)
    image = phaselib.load(mapped[0])
    assert image.pixel_size is None  # the plain signal has no length units: a PhaseMap of it stays in pixels
    assert morphology.grain_map(result).pixel_size == 1.0
    assert np.array_equal(morphology.grain_map(result).labels, morphology.grain_map(result.labels).labels)


def test_save_takes_a_signal_and_keeps_its_map_axes(tmp_path):
    """``phaselib.save(signal, ...)`` failed with "AttributeError: 'EDSSEMSpectrum' object has no attribute
    'source'"; a map read from HyperSpy and cropped was written with its axes renamed "y" / "x" and its offsets at
    0 (the crop's place on the specimen lost)."""
    s = hs.load(sample_path("P45"), select_type="spectrum_image").inav[10:50, 5:35]  # x from 87.4 µm, y from 43.7
    phaselib.save(s, tmp_path / "crop.hspy")
    back = hs.load(tmp_path / "crop.hspy")
    for got, want in zip(back.axes_manager._axes, s.axes_manager._axes):
        assert (got.name, got.units, got.size) == (want.name, want.units, want.size)
        assert got.scale == pytest.approx(want.scale) and got.offset == pytest.approx(want.offset)
    assert np.array_equal(back.data, s.data) and type(back).__name__ == "EDSSEMSpectrum"
    image = phaselib.preprocess.crop(phaselib.load(s), rows=(5, 25), cols=(10, 30))  # cropped again by phaselib
    phaselib.save(image, tmp_path / "again.hspy")
    y, x = hs.load(tmp_path / "again.hspy").axes_manager.navigation_axes[::-1]
    px = s.axes_manager[0].scale
    assert (x.name, y.name) == ("width", "height")
    assert x.offset == pytest.approx(20 * px) and y.offset == pytest.approx(10 * px)
    with pytest.raises(TypeError, match="must be a SpectrumImage"):
        phaselib.save(s.data, tmp_path / "array.npy")


def test_blank_pixels_of_a_whole_map_say_what_they_need(p45):
    """Given the map itself (a signal or its (H, W, C) array) it failed in scipy: "RuntimeError: structure and
    input must have same dimensionality"."""
    data = p45[0]
    for given in (data, hs.signals.Signal1D(data)):
        with pytest.raises(ValueError, match=r"counts of each pixel, \(H, W\), got shape \(30, 40, 2048\)"):
            phaselib.preprocess.blank_pixels(given)
    sums = data.sum(-1)
    assert not phaselib.preprocess.blank_pixels(sums).any()  # P45 holds counts in every pixel
    sums[:3, :3] = 0
    assert phaselib.preprocess.blank_pixels(sums).sum() == 9


def test_the_classic_watershed_is_scikit_images_at_the_notebooks_min_distance():
    """The seed notebook's watershed (distance transform, ``peak_local_max`` with a 3 x 3 footprint and skimage's
    ``min_distance=1``, markers labelled, watershed in the mask): phaselib's classic options labelled a maximum's
    diagonal pixels as two markers and cut 962 grains where scikit-image cut 856."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.measure import label
    from skimage.segmentation import watershed

    from phaselib import datasets, morphology

    mask = datasets.make_rock(shape=(120, 160), seed=1).labels == 0
    distance = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(distance, footprint=np.ones((3, 3)), labels=mask.astype(int), exclude_border=False)
    markers = np.zeros(mask.shape, bool)
    markers[tuple(peaks.T)] = True
    want = watershed(-distance, label(markers), mask=mask)
    got = morphology.separate_grains(mask, min_distance=1, footprint=np.ones((3, 3)), split_concave=False,
                                     merge_convex=False, inclusions=False, smoothing=0, fill_holes=0)
    assert abs(int(got.max()) - int(want.max())) <= 0.02 * want.max()  # pieces without a marker get one here
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(want[mask], got[mask]) > 0.995
