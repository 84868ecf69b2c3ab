"""Transmission cubes as detectors and normalisations leave them: dead channels, values that are not finite,
a beam normalised a few % off. Each must give the regions of the clean cube."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from phaselib.datasets import make_tof
from phaselib.decompose import shape_pca
from phaselib.decompose._censor import open_beam_levels
from phaselib.pipeline import map_phases


@pytest.fixture(scope="module")
def tof():
    return make_tof((64, 96), 661, seed=2)


def _ari(tof, data):
    res = map_phases(tof.image.replace(data=data.astype(np.float32)), n_phases=tof.n_regions)
    return adjusted_rand_score(tof.labels.ravel(), res.labels.ravel()), res


def test_shutter_gaps_zero_or_nan_are_left_out(tof):
    # a ToF camera counts nothing between its shutters: 0 (or 0/0 = NaN after the open-beam division) in every
    # pixel; -log of those, clipped, made thickness a shape (ARI 0.79-0.91 on 128 x 128 before)
    t = np.asarray(tof.image.data)
    for dead in (0.0, np.nan):
        x = t.copy()
        x[..., 200:212] = dead
        x[..., 400:406] = dead
        ari, res = _ari(tof, x)
        assert ari >= 0.99, (dead, ari)
        assert res.decomposition.params["dead_channels"] == 18
        assert any(n.startswith("18 dead channels") for n in res.params["notes"])  # summary.json says so


def test_values_that_are_not_finite_are_filled_from_the_pixel_s_own_shape(tof):
    rng = np.random.default_rng(0)
    t = np.asarray(tof.image.data)
    x = t.copy()
    x[rng.random(x.shape) < 0.02] = np.nan  # scattered values: a channel group's mean is of its finite values
    assert _ari(tof, x)[0] >= 0.99
    x = t.copy()
    x[rng.random(x.shape[:2]) < 0.3, 300:330] = np.nan  # whole groups, in a third of the pixels: filled
    ari, res = _ari(tof, x)
    assert ari >= 0.99 and res.decomposition.params["missing_values"] > 0
    x = t.copy()
    x[rng.random(x.shape[:2]) < 0.005] = np.inf  # a few pixels with no open beam: 1/0
    ari, _ = _ari(tof, x)
    assert ari >= 0.97  # those pixels have nothing to read; the rest as on the clean cube
    assert np.isfinite(shape_pca(tof.image.replace(data=x.astype(np.float32))).loadings).all()


@pytest.mark.parametrize("gain", [0.95, 0.98, 1.05])
def test_a_beam_normalised_a_few_percent_off_is_found_and_taken_out(tof, gain):
    # -log(g T) = -log T - log g: the open beam gets a mean attenuation -log g, and its shape was its noise divided
    # by it (ARI 0.50 at g = 0.98 on 128 x 128 before)
    ari, res = _ari(tof, np.asarray(tof.image.data) * gain)
    assert ari >= 0.99, ari
    level, low, high = res.decomposition.params["open_beam_level"]
    assert level == pytest.approx(-np.log(gain), abs=0.004) and high - low < 0.01  # one level (+-3 %: 0.06)
    assert any(f"transmissions {100 * (gain - 1):+.1f} % off" in n for n in res.params["notes"])


def test_no_open_beam_level_where_the_map_has_no_open_beam():
    # the thinnest pieces of a sample are not an open beam: their mean spectrum has Bragg edges and absorption
    for kw in ({"background": False}, {"background": False, "attenuation": 0.1}):
        tof = make_tof((64, 96), 661, seed=3, **kw)
        t = np.asarray(tof.image.data, np.float64)
        a = -np.log(np.clip(t[..., :660].reshape(-1, 110, 6).mean(2), 1e-3, None))
        assert open_beam_levels(a, (64, 96)) is None
    clean = make_tof((64, 96), 661, seed=3)
    a = -np.log(np.clip(np.asarray(clean.image.data, np.float64)[..., :660].reshape(-1, 110, 6).mean(2), 1e-3, None))
    assert open_beam_levels(a, (64, 96)) is None  # an open beam at 1: its level (-0.0004) is within its spread, left


@pytest.mark.parametrize("kind", ["gradient", "wave"])
def test_an_uneven_flat_field_is_followed_across_the_map(tof, kind):
    # a gain from 0.97 to 1.03 across the map (or a wave of +-3 %): each pixel's offset differs; one level for the
    # whole map left most of the open beam's pixels with shapes of noise (ARI 0.36-0.49 at +-1-3 % on 128 x 128)
    h, w = tof.labels.shape
    yy, xx = np.mgrid[:h, :w] / np.array([h - 1, w - 1])[:, None, None]
    gain = 1 + 0.03 * ((2 * xx - 1) if kind == "gradient" else np.sin(2 * np.pi * xx) * np.cos(np.pi * yy))
    ari, res = _ari(tof, np.asarray(tof.image.data) * gain[..., None])
    assert ari >= 0.98, ari
    level, low, high = res.decomposition.params["open_beam_level"]
    assert low < -0.02 and high > 0.02  # -log(1.03) .. -log(0.97), followed


def _raw_counts(tof, peak, seed):
    """Neutrons counted through the sample, not divided by an open beam: Poisson(T * incident spectrum)."""
    lam = np.linspace(1.0, 5.0, tof.transmission.shape[-1])
    lam0 = 2.0 * np.sqrt(2.5)
    phi = (lam0 / lam) ** 5 * np.exp(-((lam0 / lam) ** 2))
    return np.random.default_rng(seed).poisson(tof.transmission * peak * phi / phi.max()).astype(np.float32)


def test_counts_not_divided_by_the_open_beam_are_divided_by_the_map_s_own():
    # whole numbers above a few: counts of neutrons; taken as absorbances they made thickness a shape (ARI 0.88)
    tof = make_tof((64, 96), 661, seed=2)
    ari, res = _ari(tof, _raw_counts(tof, 300, 2))
    assert ari >= 0.99, ari
    assert res.decomposition.params["transform"] == "beam"
    assert any("counts of neutrons" in n for n in res.params["notes"])
    # with no open beam in the map, the brightest pixels are the thinnest pieces, not a beam to divide by
    closed = make_tof((64, 96), 661, seed=2, background=False)
    ari, res = _ari(closed, _raw_counts(closed, 300, 2))
    assert res.decomposition.params["counts_without_open_beam"] and res.decomposition.params["transform"] == "none"
    assert any("--signal transmission" in n for n in res.params["notes"])


def test_a_cube_with_no_axis_maps_on_channel_numbers_from_the_command_line(tmp_path, tof):
    # the lecture's tofdata.npy is a bare (128, 128, 661) array: a cube that is not EDS needs no calibration
    np.save(tmp_path / "tof.npy", np.asarray(tof.image.data))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "phaselib", "map", str(tmp_path / "tof.npy"), "--signal", "intensity",
                          "--n-phases", str(tof.n_regions), "--out", str(out), "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert adjusted_rand_score(tof.labels.ravel(), np.load(out / "labels.npy").ravel()) >= 0.99
    image = json.loads((out / "summary.json").read_text())["image"]
    assert image["axis_name"] == "Channel" and image["energy_scale"] == 1.0
    # an EDS map still needs its energy axis, and is told how to give it
    run = subprocess.run([sys.executable, "-m", "phaselib", "map", str(tmp_path / "tof.npy"), "--out",
                          str(tmp_path / "eds"), "--quiet"], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "--energy-scale" in run.stderr and "--signal intensity" in run.stderr


def test_the_page_maps_a_fits_transmission_cube_with_dead_channels(tmp_path, monkeypatch, tof):
    # a FITS cube of transmissions is not X-ray counts: read as counts, the page found 2 regions (ARI 0.43); its
    # NaN channels were refused as "not a map of X-ray counts"
    from astropy.io import fits
    from phasedash.state import Session

    for env in ("PHASEDASH_DATA_DIR", "PHASEDASH_EXPORT_DIR", "PHASEDASH_CACHE_DIR"):
        monkeypatch.setenv(env, str(tmp_path))
    x = np.asarray(tof.image.data) * 0.97
    x[..., 200:212] = np.nan
    fits.PrimaryHDU(np.moveaxis(x, -1, 0)).writeto(tmp_path / "tof.fits")
    s = Session()
    s.load("tof.fits")
    assert s.image.signal == "intensity" and np.isfinite(s.brightness).all() and np.isfinite(s.total).all()
    s.run_pca()
    s.run_clustering("kmeans", n_clusters=tof.n_regions)
    assert adjusted_rand_score(tof.labels.ravel(), s.phase_map("clusters").ravel()) >= 0.99


def test_the_page_reads_a_npy_of_transmissions_as_intensities(tmp_path, monkeypatch, tof):
    # the page asks a .npy for its axis; values that are not whole numbers are then not taken for X-ray counts
    from phasedash.state import Session

    for env in ("PHASEDASH_DATA_DIR", "PHASEDASH_EXPORT_DIR", "PHASEDASH_CACHE_DIR"):
        monkeypatch.setenv(env, str(tmp_path))
    np.save(tmp_path / "tofdata.npy", np.asarray(tof.image.data))
    s = Session()
    s.load("tofdata.npy", energy_offset=1.0, energy_scale=4 / 660)
    assert s.image.signal == "intensity" and s.total_lines == []
    s.run_pca()
    s.run_clustering("kmeans", n_clusters=tof.n_regions)
    assert adjusted_rand_score(tof.labels.ravel(), s.phase_map("clusters").ravel()) >= 0.99


def test_a_detector_s_blur_does_not_make_a_ring_of_the_open_beam_around_each_piece(tof):
    # a 1 px Gaussian blur mixes every piece's edge with the open beam; the scale-free shape gave those mixed
    # pixels the piece's shape, noisier: a ring region of its own and pieces grown by the blur's tail (128 x 128
    # x 661, seeds 1-3: ARI 0.62 before). Now a pixel next to the open beam with under half the attenuation
    # next to it is open beam (the 50 % rule).
    from scipy.ndimage import gaussian_filter

    from phaselib.decompose._shape import _open_beam_halo

    big = make_tof((128, 128), 661, seed=2)  # on 64 x 96 the open beam is narrow strips, far from any clear one
    ari, res = _ari(big, gaussian_filter(np.asarray(big.image.data), (1.0, 1.0, 0.0)))
    assert ari >= 0.97 and res.labels.max() + 1 == big.n_regions
    # the rule itself: a ramp 0 -> 1 away from the open beam; only what is under half of its neighbour goes
    amount = np.array([0.0, 0.0, 0.05, 0.3, 0.7, 1.0, 1.0, 1.0])
    weight = (amount > 0.01).astype(float)
    halo = _open_beam_halo(np.tile(amount, 3), np.tile(weight, 3), np.full(24, 0.001), (3, 8))
    assert halo.reshape(3, 8)[1].tolist() == [False, False, True, True, False, False, False, False]
    # a thin piece beside a thick piece of another material, no open beam in between: nothing taken
    amount = np.array([0.0, 0.0, 0.2, 0.2, 0.2, 1.0, 1.0, 1.0])
    weight = (amount > 0.01).astype(float)
    assert not _open_beam_halo(np.tile(amount, 3), np.tile(weight, 3), np.full(24, 0.001), (3, 8)).any()


def test_regions_emptied_by_the_spatial_prior_are_told():
    # 4 regions asked for, 3 came back, and summary.json said nothing (a cube whose 4th cluster was a few noisy
    # pixels): now a note and a ``refinement`` record, which the CLI and the dashboard print
    from phaselib._intensity import smooth_regions
    from phaselib.decompose import Decomposition

    rng = np.random.default_rng(0)
    h, w = 40, 60
    truth = np.zeros((h, w), np.int16)
    truth[:, 30:] = 1
    features = np.stack([5.0 * truth, np.zeros((h, w))], -1).reshape(-1, 2) + rng.normal(0, 0.3, (h * w, 2))
    dec = Decomposition("pca", np.zeros((2, 8)), features.reshape(h, w, 2), np.ones(2), np.full(2, 0.5),
                        np.ones((h, w)), slice(0, 8), params={"signal": "intensity"})
    labels = truth.copy()
    labels[[5, 20, 33], [10, 40, 50]] = 2  # a "region" of three scattered pixels like their neighbours
    params = {"n_phases": 3}
    out = smooth_regions(dec, 2, labels, "pca-kmeans", "auto", 2.0, params, {})
    assert out.max() + 1 == 2 and (out == truth).all()
    assert params["n_phases"] == 2 and params["refinement"][0]["action"] == "fewer"
    assert any(n.startswith("3 regions asked for, 2 found") for n in params["notes"])
    from phaselib.refine import describe_change

    assert describe_change(params["refinement"][0]).startswith("3 regions asked for, 2 found")
    params = {"n_phases": 2}  # nothing emptied: no note
    smooth_regions(dec, 2, truth, "pca-kmeans", "auto", 2.0, params, {})
    assert "refinement" not in params and not any("asked for" in n for n in params["notes"])
