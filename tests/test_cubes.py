"""Any spectral cube: a neutron ToF transmission cube (signal="intensity") through decompose, map_phases and the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from phaselib import SpectrumImage
from phaselib.datasets._tof import bragg_edges, cross_section, make_tof
from phaselib.decompose import pca, shape_pca
from phaselib.lowcount import gaussian_potts
from phaselib.pipeline import map_phases


def _best_correlations(means, truth):
    """For each true region with a non-flat spectrum, the best correlation with a phase's mean spectrum."""
    return [max(np.corrcoef(m, t)[0, 1] for m in means) for t in truth if t.std() > 0]


def test_bragg_edges_of_iron_and_the_cross_section_steps_there():
    edges = dict(bragg_edges("bcc", 2.8665, (1.0, 5.0)))
    assert edges["110"] == pytest.approx(2 * 2.8665 / np.sqrt(2), rel=1e-6)
    assert "100" not in edges and "111" not in edges  # forbidden in bcc
    lam = np.array([edges["110"] - 1e-3, edges["110"] + 1e-3])
    below, above = cross_section("Fe-bcc", lam)
    assert below > above + 1.0  # barn: the coherent cross section drops past the last edge


def test_generator_regions_are_equally_dark_and_thickness_varies():
    tof = make_tof((64, 64), 661, seed=1)
    assert tof.image.shape == (64, 64, 661) and tof.image.signal == "intensity"
    assert tof.image.units == "Å" and tof.image.axis[0] == 1.0 and tof.image.axis[-1] == pytest.approx(5.0)
    a = -np.log(tof.transmission)
    means = [a[tof.labels == k].mean() for k in range(1, tof.n_regions)]
    assert max(means) / min(means) < 1.1  # no material is darker than another on average
    for k in range(1, tof.n_regions):
        t = tof.thickness[tof.labels == k]
        assert t.max() / t.min() > 4  # lenses and two base thicknesses


@pytest.mark.parametrize(("counts", "materials"), [(1000.0, ("Fe-bcc", "Ni", "Al", "Cu")),
                                                    (50.0, ("Fe-bcc", "Fe-fcc", "Al"))])
def test_map_phases_finds_regions_by_shape_not_darkness(counts, materials):
    tof = make_tof((128, 128), 661, materials=materials, open_beam_counts=counts, seed=3)
    res = map_phases(tof.image, n_phases=tof.n_regions)
    assert adjusted_rand_score(tof.labels.ravel(), res.labels.ravel()) >= 0.95
    assert min(_best_correlations(res.spectra.means, tof.region_spectra())) >= 0.99
    assert res.lines == [[]] * res.n_phases and res.minerals == ()
    assert res.params["signal"] == "intensity" and "refinement" not in res.params


def test_noisy_cube_regions_come_whole_under_the_gaussian_spatial_prior():
    """30 neutrons per bin at the open beam's peak: clustered pixel by pixel the regions are speckled and
    the scree keeps one direction (ARI 0.75 before session 19); two components and the Potts prior over
    Gaussian regions give the regions whole."""
    tof = make_tof((128, 128), 661, open_beam_counts=30, seed=2)
    truth = tof.labels.ravel()
    plain = map_phases(tof.image, n_phases=tof.n_regions, spatial_prior=False)
    res = map_phases(tof.image, n_phases=tof.n_regions)
    ari = [adjusted_rand_score(truth, r.labels.ravel()) for r in (plain, res)]
    assert ari[1] >= 0.97 and ari[1] > ari[0] + 0.03, ari
    assert res.params["spatial_prior"] == "gaussian" and plain.params["spatial_prior"] is False
    assert res.params["n_components"] >= 2 and any("spatial prior" in n for n in res.params["notes"])
    # at 30 neutrons per bin even the true regions' mean spectra correlate only 0.98-0.99 with the noise-free
    # ones; the found regions' means are as good as theirs
    data = np.asarray(tof.image.data).reshape(truth.size, -1)
    true_means = np.stack([data[truth == k].mean(0) for k in range(tof.n_regions)])
    best = _best_correlations(true_means, tof.region_spectra())
    assert np.all(np.asarray(_best_correlations(res.spectra.means, tof.region_spectra())) >= np.asarray(best) - 0.002)


def test_gaussian_potts_leaves_clean_clusters_and_refuses_unassigned_pixels():
    rng = np.random.default_rng(0)
    labels = np.zeros((20, 30), np.int16)
    labels[:, 15:] = 1
    x = rng.normal(0, 0.1, (20, 30, 2)) + np.where(labels[..., None] == 1, 5.0, 0.0)
    noisy = labels.copy()
    noisy[5, 5] = 1  # a pixel far inside region 0 given to region 1 by a noisy clustering... but its data say 0
    out, moved = gaussian_potts(x, noisy)
    assert np.array_equal(out, labels) and moved == 1
    flipped = x.copy()
    flipped[5, 5] = 5.0  # ...and where its data clearly say 1, it stays 1 (8 nats of prior are not enough)
    out, _ = gaussian_potts(flipped, noisy)
    assert out[5, 5] == 1
    with pytest.raises(ValueError, match="every pixel"):
        gaussian_potts(x, np.full((20, 30), -1, np.int16))


def test_absorbance_cubes_are_not_taken_for_transmissions(tmp_path):
    """-log T handed over as such: with an open beam its noise around 0 gives it away (ARI 0.64 before
    session 19, when it was log-transformed again); without one, `--signal absorbance` says so."""
    tof = make_tof((96, 96), 661, attenuation=0.8, open_beam_counts=1000, seed=1)
    absorbance = -np.log(np.clip(np.asarray(tof.image.data, np.float64), 1e-3, None)).astype(np.float32)
    res = map_phases(tof.image.replace(data=absorbance), n_phases=tof.n_regions)
    assert adjusted_rand_score(tof.labels.ravel(), res.labels.ravel()) >= 0.99
    assert res.decomposition.params["transform"] == "none" and any("absorbances" in n for n in res.params["notes"])
    closed = make_tof((96, 96), 661, attenuation=0.3, background=False, open_beam_counts=1000, seed=1)
    a2 = -np.log(np.clip(np.asarray(closed.image.data, np.float64), 1e-3, None)).astype(np.float32)
    guessed = map_phases(closed.image.replace(data=a2), n_phases=closed.n_regions)
    assert any("taken as transmissions" in n for n in guessed.params["notes"])  # the note tells what was assumed
    np.save(tmp_path / "a.npy", a2)
    run = subprocess.run([sys.executable, "-m", "phaselib", "map", str(tmp_path / "a.npy"), "--signal", "absorbance",
                          "--axis-offset", "1", "--axis-scale", str(4 / 660), "--axis-units", "Å", "--n-phases",
                          str(closed.n_regions), "--out", str(tmp_path / "out"), "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    labels = np.load(tmp_path / "out" / "labels.npy")
    assert adjusted_rand_score(closed.labels.ravel(), labels.ravel()) >= 0.99
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["image"]["signal"] == "absorbance"


def test_thickness_alone_makes_no_region():
    # one material, a thin and a 3x thicker piece, lenses (thickness 0.4..1 of each): the open beam and ONE region,
    # found unasked (a piece so thick that almost nothing is transmitted, T < 1e-3, has no measurable shape)
    tof = make_tof((96, 96), 661, materials=("Fe-bcc",), thickness_ratio=3.0, pieces=2, open_beam_counts=300, seed=4)
    dec = shape_pca(tof.image)
    assert dec.suggested_n_components == 1
    res = map_phases(tof.image, decomposition=dec)
    assert res.n_phases == 2
    assert adjusted_rand_score(tof.labels.ravel(), res.labels.ravel()) >= 0.99


def test_counts_path_is_untouched_and_intensity_refuses_counts_only_steps(tmp_path):
    rng = np.random.default_rng(0)
    counts = SpectrumImage(rng.poisson(5.0, (8, 9, 40)).astype(np.uint16), 0.0, 0.05)
    assert counts.is_eds and counts.axis_label == "Energy (keV)"
    assert pca(counts, n_components=3).params["poisson"] is True
    inten = counts.replace(signal="intensity", axis_name="Wavelength", axis_units="Å")
    assert not inten.is_eds and inten.axis_label == "Wavelength (Å)" and "intensity" in repr(inten)
    with pytest.raises(ValueError, match="assumes counts"):
        map_phases(inten, method="nmf-otsu", n_phases=2)
    with pytest.raises(ValueError, match="signal"):
        counts.replace(signal="photons")
    uneven = SpectrumImage(np.ones((2, 2, 4)), axis_values=[1.0, 2.0, 4.0, 8.0], axis_units="ms", axis_name="ToF")
    assert uneven.channel_of(3.9) == 2 and np.array_equal(uneven.axis, [1, 2, 4, 8])
    even = SpectrumImage(np.ones((2, 2, 3)), axis_values=[1.0, 1.5, 2.0], axis_units="Å")
    assert even.axis_values is None and even.axis_offset == 1.0 and even.axis_scale == pytest.approx(0.5)


def test_cli_maps_a_tof_npy_with_axis_options(tmp_path):
    tof = make_tof((64, 64), 661, materials=("Fe-bcc", "Ni", "Al"), open_beam_counts=500, seed=5)
    np.save(tmp_path / "tof.npy", tof.image.data)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "phaselib", "map", str(tmp_path / "tof.npy"), "--signal", "intensity",
                          "--axis-offset", "1", "--axis-scale", str(4 / 660), "--axis-units", "Å",
                          "--axis-name", "Wavelength", "--n-phases", "4", "--out", str(out), "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    labels = np.load(out / "labels.npy")
    assert adjusted_rand_score(tof.labels.ravel(), labels.ravel()) >= 0.95
    summary = json.loads((out / "summary.json").read_text())
    assert summary["image"]["axis_units"] == "Å" and summary["image"]["signal"] == "intensity"
    binned = subprocess.run([sys.executable, "-m", "phaselib", "map", str(tmp_path / "tof.npy"),
                             "--signal", "intensity", "--axis-offset", "1", "--axis-scale", str(4 / 660),
                             "--bin", "2", "--n-phases", "4", "--out", str(tmp_path / "binned"), "--quiet"],
                            capture_output=True, text=True, timeout=120)
    assert binned.returncode == 0, binned.stderr
    blocks = tof.labels.reshape(32, 2, 32, 2).transpose(0, 2, 1, 3).reshape(32, 32, 4)
    pure = (blocks == blocks[..., :1]).all(-1)  # 2 x 2 blocks inside one region (averaged, not summed)
    labels2 = np.load(tmp_path / "binned" / "labels.npy")
    assert adjusted_rand_score(blocks[..., 0][pure], labels2[pure]) >= 0.95
    bad = subprocess.run([sys.executable, "-m", "phaselib", "map", str(tmp_path / "tof.npy"), "--energy-offset", "0",
                          "--axis-offset", "1", "--axis-scale", "0.01", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "disagree" in bad.stderr


def test_fits_cube_fits_frames_and_tiff_stack_load_as_the_same_cube(tmp_path):
    import tifffile
    from astropy.io import fits

    from phaselib import io

    cube = make_tof((12, 10), 40, materials=("Fe-bcc",), seed=6).image.data  # (H, W, C)
    frames = np.moveaxis(cube, -1, 0)  # (C, H, W): one image per wavelength bin
    hdu = fits.PrimaryHDU(frames)
    hdu.header.update(CRVAL3=1.0, CDELT3=0.1, CRPIX3=1.0, CUNIT3="Angstrom", CTYPE3="Wavelength")
    hdu.writeto(tmp_path / "cube.fits")
    (tmp_path / "frames").mkdir()
    for i, frame in enumerate(frames):
        fits.PrimaryHDU(frame).writeto(tmp_path / "frames" / f"f{i:03d}.fits")
    tifffile.imwrite(tmp_path / "stack.tif", frames)
    a = io.load(tmp_path / "cube.fits")
    assert a.shape == (12, 10, 40) and np.array_equal(a.data, cube)
    assert (a.name, a.units, a.axis_offset) == ("Wavelength", "Å", 1.0) and a.axis_scale == pytest.approx(0.1)
    b = io.load(tmp_path / "frames")
    c = io.load(str(tmp_path / "frames" / "f*.fits"))
    d = io.load(tmp_path / "stack.tif", energy_offset=1.0, energy_scale=0.1)
    for other in (b, c, d):
        assert np.array_equal(other.data, cube)
    assert b.name == "Channel" and d.axis_offset == 1.0
    (tmp_path / "bad.fits").write_bytes(b"not a fits file at all" * 10)
    with pytest.raises(ValueError, match="bad.fits"):
        io.load(tmp_path / "bad.fits")


def test_dashboard_session_maps_the_bundled_tof_example():
    from phasedash.plots import axis_labels
    from phasedash.state import SAMPLES, Session

    assert "synthetic-tof:64x64" in SAMPLES.values()
    s = Session()
    s.load("synthetic-tof:64x64")
    assert s.image.signal == "intensity" and s.total_lines == []  # no X-ray lines on a wavelength axis
    assert axis_labels(s.image) == {"x_label": "Wavelength (Å)", "y_label": "intensity"}
    s.run_pca()
    assert s.n_clusters == len(s.phase_names) == 5  # open beam + Fe, Ni, Al, Cu, found unasked
    s.run_clustering("kmeans")
    labels = s.phase_map("clusters")
    assert adjusted_rand_score(s.truth.ravel(), labels.ravel()) >= 0.95
    assert s.phase_lines == [[]] * 5 and s.refinement == ()
    # more regions asked for than the cube holds: the spatial prior empties some, and the page says so
    from phasedash.texts import refinement_html

    s.run_clustering("kmeans", 8)
    assert s.phase_map("clusters").max() + 1 < 8 and s.refinement[0]["action"] == "fewer"
    assert "8 regions asked for" in refinement_html(s)
    s.run_clustering("kmeans", 5)
    s.phase_map("clusters")
    with pytest.raises(ValueError, match="not EDS"):
        s.image = s.image.replace(beam_energy=20.0)
        s.name_minerals()


def test_the_page_reads_a_npy_of_neutron_counts_on_the_axis_the_student_chooses(tmp_path, monkeypatch):
    # a .npy holds no axis: before, whole numbers were X-ray counts in keV (lines named on a ToF spectrum)
    monkeypatch.setenv("PHASEDASH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PHASEDASH_CACHE_DIR", "off")
    from phasedash.app import App
    from phasedash.state import Session

    tof = make_tof((48, 64), 661, seed=1)
    counts = np.random.default_rng(0).poisson(tof.transmission * 200).astype(np.uint16)  # not divided by the beam
    np.save(tmp_path / "tof_counts.npy", counts)
    a = App(background=False)
    a.data.path.value, a.data.offset.value, a.data.scale.value = "tof_counts.npy", 1.0, 4 / 660
    a.data.axis.value = "wavelength (Å), intensity (ToF, transmission)"
    a.data.load_path.click()
    s = a.session
    assert a.runner.message.value == "" and s.image.signal == "intensity" and not s.image.is_eds
    assert s.total_lines == [] and a.data.offset.description == "offset (Å)" and a.data.bragg.layout.display is None
    s.run_pca()
    s.run_clustering("kmeans", tof.n_regions)
    assert adjusted_rand_score(tof.labels.ravel(), s.phase_map("clusters").ravel()) >= 0.98
    assert s.pca.params["transform"] == "beam"  # divided by the open beam found in the map
    state = s.to_dict()  # the session file keeps the choice
    assert Session().restore(state).image.units == "Å"
    a.data.axis.value = "auto"  # as before: whole numbers are X-ray counts
    a.data.load_path.click()
    assert a.session.image.is_eds
    with pytest.raises(ValueError, match="Choose the map's axis"):
        Session().load("tof_counts.npy", energy_offset=1.0, energy_scale=0.01, axis="/etc/passwd")


def test_bragg_edges_of_an_absurd_range_are_refused_in_words():
    """A ToF calibration of 1e-6 Angstrom per bin asked for every reflection down to 1e-6 Angstrom: NumPy's own
    "array is too big" reached the page's lattice note."""
    with pytest.raises(ValueError, match="too many to list"):
        bragg_edges("bcc", 0.5, (1e-6, 1.0))
