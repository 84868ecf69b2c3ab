"""Tests of phaselib.preprocess on small hand-built maps and the bundled real map."""

from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from phaselib import SpectrumImage
from phaselib.preprocess import (
    EnergyCalibration,
    apply_calibration,
    bin_energy,
    bin_spatial,
    calibrate_energy,
    crop,
    energy_window,
    energy_window_slice,
    poisson_weights,
    tilt_corrected_pixel_size,
    with_pixel_size,
)

pytestmark = pytest.mark.filterwarnings("error")

P45 = Path("/work/shared/data/P45_12bit_packed_8bit.bcf")
LINES = ["Al_Ka", "Si_Ka", "K_Ka", "Ca_Ka", "Fe_Ka"]
LINE_KEV = [1.4865, 1.7397, 3.3138, 3.6917, 6.4039]


@pytest.fixture
def image():
    data = np.random.default_rng(0).integers(0, 256, size=(7, 5, 16), dtype=np.uint8)
    return SpectrumImage(data, energy_offset=-0.1, energy_scale=0.02, beam_energy=0.15,
                         pixel_size=2.0)


def lazy_counting(data, chunks=(3, 5, 16)):
    """A dask copy of ``data`` that counts how often a chunk is computed."""
    calls = []

    def load(block):
        calls.append(1)
        return block

    meta = np.empty((0, 0, 0), data.dtype)
    return da.from_array(data, chunks=chunks).map_blocks(load, meta=meta), calls


# ----------------------------------------------------------------------------- crop
def test_crop_equals_numpy_slicing(image):
    before = image.data.copy()
    out = crop(image, rows=(1, 4), cols=slice(2, None))
    np.testing.assert_array_equal(out.data, image.data[1:4, 2:, :])
    assert out.energy_offset == image.energy_offset and out.pixel_size == image.pixel_size
    np.testing.assert_array_equal(crop(image, rows=(-3, -1)).data, image.data[-3:-1])
    assert crop(image).shape == image.shape
    np.testing.assert_array_equal(image.data, before)


@pytest.mark.parametrize("rows, error, match", [
    ((3, 3), ValueError, r"empty or outside the map of shape \(7, 5\)"),
    ((0, 100), ValueError, r"outside the map of shape \(7, 5\)"),
    (slice(0, 6, 2), ValueError, "step 1"),
    ((1, 2, 3), ValueError, "slice or a"),
    ((0.5, 3), TypeError, "`rows` bounds must be integers"),
])
def test_crop_errors(image, rows, error, match):
    with pytest.raises(error, match=match):
        crop(image, rows=rows)


def test_not_an_image():
    with pytest.raises(TypeError, match="`image` must be a SpectrumImage"):
        crop(np.zeros((2, 2, 2)))


# --------------------------------------------------------------------------- binning
def test_bin_spatial_sums_and_trims(image):
    before = image.data.copy()
    out = bin_spatial(image, 2)
    expected = image.data[:6, :4].astype(np.int64).reshape(3, 2, 2, 2, 16).sum(axis=(1, 3))
    assert out.shape == (3, 2, 16) and out.data.dtype == np.uint32
    np.testing.assert_array_equal(out.data, expected)
    assert out.pixel_size == 4.0 and out.pixel_size_y is None
    rect = bin_spatial(image, (3, 1))
    expected = image.data[:6].astype(np.int64).reshape(2, 3, 5, 16).sum(1)
    np.testing.assert_array_equal(rect.data, expected)
    assert (rect.pixel_size, rect.pixel_size_y) == (2.0, 6.0)
    np.testing.assert_array_equal(image.data, before)


def test_bin_spatial_does_not_overflow():
    full = SpectrumImage(np.full((4, 4, 3), 65535, dtype=np.uint16))
    out = bin_spatial(full, 4)
    assert out.data.dtype == np.uint32 and out.data[0, 0, 0] == 16 * 65535
    assert bin_spatial(SpectrumImage(np.ones((2, 2, 3), np.float32)), 2).data.dtype == np.float32


@pytest.mark.parametrize("factor, error, match", [
    (0, ValueError, "`factor` must be an integer >= 1, got 0"), (1.5, TypeError, "`factor` must be an integer"),
    ((1, 2, 3), ValueError, r"\(fy, fx\) pair"), (8, ValueError, r"larger than the map of shape \(7, 5\)"),
])
def test_bin_spatial_errors(image, factor, error, match):
    with pytest.raises(error, match=match):
        bin_spatial(image, factor)


def test_bin_energy_sums_and_axis(image):
    out = bin_energy(image, 3)
    assert out.shape == (7, 5, 5) and out.data.dtype == np.uint32
    np.testing.assert_array_equal(
        out.data, image.data[:, :, :15].astype(np.int64).reshape(7, 5, 5, 3).sum(-1))
    np.testing.assert_allclose(out.energy_keV, image.energy_keV[:15].reshape(5, 3).mean(1))
    assert out.energy_scale == pytest.approx(0.06)


@pytest.mark.parametrize("factor, match", [(0, "integer >= 1"), (17, "larger than the 16")])
def test_bin_energy_errors(image, factor, match):
    with pytest.raises(ValueError, match=match):
        bin_energy(image, factor)


# ---------------------------------------------------------------------- energy window
def test_energy_window(image):
    out = energy_window(image, low=0.0)  # beam energy 0.15 keV is the default top
    e = image.energy_keV
    keep = (e >= -1e-9) & (e <= 0.15 + 1e-9)
    np.testing.assert_allclose(out.energy_keV, e[keep])
    np.testing.assert_array_equal(out.data, image.data[:, :, keep])
    no_beam = image.replace(beam_energy=None)
    assert energy_window(no_beam, low=None).n_channels == 16
    assert energy_window_slice(0.0, 0.01, 2048, 0.1, 20.0) == slice(10, 2001)
    assert energy_window_slice(-0.472, 0.01, 2048, 0.1, None) == slice(58, 2048)


@pytest.mark.parametrize("low, high, match", [
    (0.2, 0.1, "low < high"), (np.nan, None, "`low` must be a number"), (5.0, 6.0, "no channel lies in it"),
])
def test_energy_window_errors(image, low, high, match):
    with pytest.raises(ValueError, match=match):
        energy_window(image, low, high)


def test_energy_window_slice_errors():
    with pytest.raises(ValueError, match="energy_scale"):
        energy_window_slice(0.0, 0.0, 10, 0.1, 1.0)
    with pytest.raises(ValueError, match="n_channels"):
        energy_window_slice(0.0, 0.01, 0, 0.1, 1.0)
    with pytest.raises(ValueError, match="energy_offset"):
        energy_window_slice(np.inf, 0.01, 10, 0.1, 1.0)


# ------------------------------------------------------------------------------ dask
def test_dask_stays_lazy_and_matches_numpy(image):
    lazy, calls = lazy_counting(image.data)
    limg = image.replace(data=lazy)
    steps = [lambda im: crop(im, rows=(1, 6), cols=(0, 4)), lambda im: bin_spatial(im, 2),
             lambda im: bin_energy(im, 4), lambda im: energy_window(im, low=0.0)]
    for step in steps:
        out = step(limg)
        assert out.is_lazy
        assert not calls, "nothing may be computed"
        np.testing.assert_array_equal(out.data.compute(), step(image).data)
        calls.clear()


# ------------------------------------------------------------------------ poisson weights
def test_poisson_weights_numpy_memmap_dask(image, tmp_path):
    pix, chan = image.data.sum(axis=2), image.data.sum(axis=(0, 1))
    mm = np.memmap(tmp_path / "map.raw", dtype=np.uint8, mode="w+", shape=image.shape)
    mm[:] = image.data
    done = []
    for data in (image.data, mm, lazy_counting(image.data)[0]):
        p, c = poisson_weights(image.replace(data=data), block_rows=2,
                               progress=lambda i, n: done.append((i, n)))
        assert p.dtype == c.dtype == np.float64 and p.shape == (7, 5) and c.shape == (16,)
        np.testing.assert_array_equal(p, pix)
        np.testing.assert_array_equal(c, chan)
    assert done[:4] == [(2, 7), (4, 7), (6, 7), (7, 7)]
    p, c = poisson_weights(image.replace(data=lazy_counting(image.data)[0]))  # dask row chunks
    np.testing.assert_array_equal(p, pix)


@pytest.mark.parametrize("data, kwargs, match", [
    (np.full((2, 2, 3), -1, np.int16), {}, "negative counts"),
    (np.zeros((2, 2, 3), np.uint8), {}, "no counts"),
    (np.full((2, 2, 3), np.nan), {}, "NaN"),
    (np.ones((2, 2, 3), np.uint8), {"block_rows": 0}, "block_rows"),
])
def test_poisson_weights_errors(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        poisson_weights(SpectrumImage(data), **kwargs)


# ------------------------------------------------------------------------- calibration
def synthetic_spectrum(offset=-0.48, scale=0.0101, n=1024, noise=True):
    """Gaussian peaks at the Al/Si/K/Ca/Fe Ka lines on a falling background."""
    energy = offset + scale * np.arange(n)
    spectrum = 300 * np.exp(-np.clip(energy, 0, None) / 3) + 5
    for e, height in zip(LINE_KEV, [3000, 8000, 2000, 1500, 2500]):
        sigma = np.sqrt(0.130**2 + 2.5e-3 * (e - 5.898)) / 2.3548  # detector resolution
        spectrum = spectrum + height * np.exp(-0.5 * ((energy - e) / sigma) ** 2)
    return np.random.default_rng(1).poisson(spectrum) if noise else spectrum


def test_calibration_recovers_shifted_axis():
    cal = calibrate_energy(synthetic_spectrum(), LINES, energy_offset=-0.45, energy_scale=0.01)
    assert isinstance(cal, EnergyCalibration) and cal.lines == tuple(LINES)
    np.testing.assert_allclose(cal.line_energies_keV, LINE_KEV)
    true = -0.48 + 0.0101 * cal.peak_channels
    assert np.abs(cal.offset + cal.scale * cal.peak_channels - true).max() < 0.002
    assert abs(cal.offset + 0.48) < 0.002 and abs(cal.scale - 0.0101) < 2e-6
    assert np.abs(cal.residuals_keV).max() < 0.002


def test_calibration_of_images_numpy_and_dask():
    spec = synthetic_spectrum(noise=False)
    data = np.round(np.stack([spec, spec]).reshape(1, 2, -1) / 2).astype(np.uint16)
    img = SpectrumImage(data, energy_offset=-0.45, energy_scale=0.01)
    cal = calibrate_energy(img, LINES)
    lazy, calls = lazy_counting(data, chunks=(1, 1, 1024))
    cal_lazy = calibrate_energy(img.replace(data=lazy), LINES)
    assert cal_lazy.offset == pytest.approx(cal.offset) and abs(cal.offset + 0.48) < 0.002
    out = apply_calibration(img, cal)
    assert (out.energy_offset, out.energy_scale) == (cal.offset, cal.scale)
    assert img.energy_offset == -0.45  # input unchanged


@pytest.mark.skipif(not P45.exists(), reason="real map not available")
def test_calibration_agrees_with_real_map_header():
    from rsciio.bruker import file_reader

    found = file_reader(str(P45), select_type="spectrum_image")[0]
    axis = found["axes"][2]
    img = SpectrumImage(found["data"], axis["offset"], axis["scale"], beam_energy=20.0)
    cal = calibrate_energy(img, LINES)
    for energy in (1.7397, 6.4039):  # Si Ka, Fe Ka
        channel = (energy - axis["offset"]) / axis["scale"]
        assert abs(cal.offset + cal.scale * channel - energy) < 0.010


@pytest.mark.parametrize("lines, kwargs, match", [
    (["Si_Ka"], {}, "at least two different lines"),
    (["Si_Ka", "Si_Ka"], {}, "at least two different lines"),
    (["Si_Ka", "Xx_Ka"], {}, "Unknown X-ray line 'Xx_Ka'"),
    (["Si_Ka", "Si_Zz"], {}, "Unknown X-ray line"),
    (["Si_Ka", "Pt_Ka"], {}, "outside the energy axis"),
    (LINES, {"energy_offset": None}, "nominal energy axis"),
    (LINES, {"energy_scale": -0.01}, "energy_scale"),
    (LINES, {"search_keV": 0}, "search_keV"),
])
def test_calibration_errors(lines, kwargs, match):
    args = {"energy_offset": -0.45, "energy_scale": 0.01, **kwargs}
    with pytest.raises(ValueError, match=match):
        calibrate_energy(synthetic_spectrum(), lines, **args)


def test_calibration_errors_on_spectra():
    with pytest.raises(ValueError, match="No peak found within 0.3 keV of Al_Ka"):
        calibrate_energy(np.full(1024, 10.0), LINES, energy_offset=-0.45, energy_scale=0.01)
    with pytest.raises(ValueError, match="1-D"):
        calibrate_energy(np.ones((4, 4)), LINES, energy_offset=0.0, energy_scale=0.01)
    with pytest.raises(ValueError, match="NaN"):
        calibrate_energy(np.full(1024, np.nan), LINES, energy_offset=0.0, energy_scale=0.01)
    one_peak = 1000 * np.exp(-0.5 * ((np.arange(1024) * 0.01 - 1.61) / 0.03) ** 2) + 1
    with pytest.raises(ValueError, match="do not increase with energy"):
        calibrate_energy(one_peak, ["Al_Ka", "Si_Ka"], energy_offset=0.0, energy_scale=0.01)
    with pytest.raises(TypeError, match="EnergyCalibration"):
        apply_calibration(SpectrumImage(np.ones((1, 1, 4))), (0.0, 0.01))


# -------------------------------------------------------------------------- pixel size
def test_tilt_corrected_pixel_size():
    px, py = tilt_corrected_pixel_size(17.1875, 52)  # the seed notebook's FIB cross-section
    assert px == 17.1875 and py == pytest.approx(21.81125057, rel=1e-8)
    assert tilt_corrected_pixel_size(2.0, 90) == (2.0, 2.0)
    assert tilt_corrected_pixel_size(2.0, 0, cross_section=False) == (2.0, 2.0)
    assert tilt_corrected_pixel_size(2.0, 60, cross_section=False)[1] == pytest.approx(4.0)


@pytest.mark.parametrize("size, tilt, section, match", [
    (1.0, 0, True, "cross-section is seen edge-on"), (1.0, 90, False, "surface is seen edge-on"),
    (1.0, -5, True, r"`stage_tilt_deg` must be a number in \[0, 90\]"), (1.0, 95, True, r"in \[0, 90\]"),
    (0.0, 52, True, "pixel_size"), (np.nan, 52, True, "pixel_size"),
])
def test_tilt_errors(size, tilt, section, match):
    with pytest.raises(ValueError, match=match):
        tilt_corrected_pixel_size(size, tilt, cross_section=section)


def test_with_pixel_size(image):
    out = with_pixel_size(image, *tilt_corrected_pixel_size(1.0, 52))
    assert out.pixel_size == 1.0 and out.pixel_size_y == pytest.approx(1.26902, rel=1e-5)
    assert image.pixel_size == 2.0 and with_pixel_size(image, 3).pixel_size_y is None
    with pytest.raises(ValueError, match="pixel_size_y"):
        with_pixel_size(image, 1.0, -1.0)
    with pytest.raises(TypeError, match="`pixel_size` must be a positive number, got '1 um'"):
        with_pixel_size(image, "1 um")


@pytest.mark.parametrize("low, high", [(0.1, None), (None, None), (0.5, 10.0), (0.0, 0.1)])
@pytest.mark.parametrize("beam", [20.0, None])
def test_one_rule_from_kev_to_channels(low, high, beam):
    """energy_window (the map), energy_channels (the decompositions) and energy_window_slice
    (a bare axis) keep the same channels, with or without an upper bound or a beam energy."""
    from phaselib.decompose import energy_channels

    img = SpectrumImage(np.ones((2, 2, 2048), np.uint8), energy_offset=-0.2, energy_scale=0.01, beam_energy=beam)
    sl = energy_channels(img, (low, high))
    assert sl == energy_window_slice(-0.2, 0.01, 2048, low, high, beam_energy=beam)
    out = energy_window(img, low, high)
    assert out.n_channels == sl.stop - sl.start
    assert out.energy_offset == pytest.approx(img.energy_keV[sl.start])
    top = high if high is not None else (beam if beam else img.energy_keV[-1])
    assert img.energy_keV[sl.stop - 1] == pytest.approx(min(top, img.energy_keV[-1]), abs=0.005)
