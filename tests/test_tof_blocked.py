"""A neutron ToF cube as a student brings it (session 59): part of the beam blocked (NaN or 0 after the open-beam
division), dead detector pixels (0 in every bin). Those pixels hold no data: unassigned, and the rest mapped as
the whole cube is, spatial prior and region tests included, by the CLI and by the page."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from phaselib.datasets import make_tof
from phaselib.pipeline import map_phases


@pytest.fixture(scope="module")
def noisy():
    # 30 neutrons per bin: the Potts prior is what makes the regions (ARI 0.98-0.99 with it)
    return make_tof((80, 80), 331, open_beam_counts=30, seed=1)


@pytest.mark.parametrize("blocked", [np.nan, 0.0])
def test_a_blocked_beam_is_unassigned_and_the_rest_keeps_its_spatial_prior(noisy, blocked):
    x = np.asarray(noisy.image.data).copy()
    x[:8] = blocked  # the beam blocked over 8 rows (a beam stop, the camera's frame)
    res = map_phases(noisy.image.replace(data=x), n_phases=noisy.n_regions)
    clean = map_phases(noisy.image, n_phases=noisy.n_regions)
    rest = np.ones((80, 80), bool)
    rest[:8] = False
    ari = adjusted_rand_score(noisy.labels[rest], res.labels[rest])
    ari_clean = adjusted_rand_score(noisy.labels[rest], clean.labels[rest])
    # before: the blank pixels' -1 turned the prior and the tests off (NaN: 0.77), zeros were a material (0.88)
    assert ari >= min(0.97, ari_clean - 0.01), (ari, ari_clean)
    assert (res.labels[:8] == -1).all() and res.params["blank_pixels"] == 8 * 80
    assert any("Potts" in n for n in res.params["notes"])
    # the blocked pixels' channels are not "filled" (the note counted every one of them)
    assert not any("filled" in n for n in res.params["notes"])


def test_dead_pixels_of_a_transmission_cube_are_unassigned_not_a_material():
    tof = make_tof((48, 64), 331, seed=3)
    x = np.asarray(tof.image.data).copy()
    dead = np.random.default_rng(0).choice(48 * 64, 12, replace=False)
    x.reshape(-1, x.shape[-1])[dead] = 0.0  # no neutron counted, ever: 0 / open beam
    res = map_phases(tof.image.replace(data=x), n_phases=tof.n_regions)
    assert (res.labels.ravel()[dead] == -1).all()  # before: all 12 in one metal's region
    live = np.ones(48 * 64, bool)
    live[dead] = False
    assert adjusted_rand_score(tof.labels.ravel()[live], res.labels.ravel()[live]) >= 0.99


def test_an_absorbance_cube_s_zeros_are_an_open_beam_not_missing_data():
    tof = make_tof((40, 48), 331, seed=4)
    a = -np.log(np.clip(np.asarray(tof.transmission, np.float64), 1e-3, None)).astype(np.float32)  # no noise
    res = map_phases(tof.image.replace(data=a, signal="absorbance"), n_phases=tof.n_regions)
    assert "blank_pixels" not in res.params and (res.labels >= 0).all()  # the open beam, exactly 0, is a region
    assert adjusted_rand_score(tof.labels.ravel(), res.labels.ravel()) >= 0.99


def test_the_page_leaves_a_blocked_beam_out_of_a_tiff_stack_s_regions(tmp_path, monkeypatch):
    import tifffile
    from phasedash import App

    tof = make_tof((64, 80), 331, seed=1)

    monkeypatch.setenv("PHASEDASH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PHASEDASH_EXPORT_DIR", str(tmp_path))
    monkeypatch.setenv("PHASEDASH_CACHE_DIR", str(tmp_path / "cache"))
    x = np.asarray(tof.image.data).copy()
    x[:8] = np.nan
    tifffile.imwrite(tmp_path / "stack.tif", np.moveaxis(x, -1, 0))  # one frame per bin
    a = App(str(tmp_path / "stack.tif"), background=False)
    s = a.session
    assert a.runner.message.value == "" and not s.image.is_counts
    # before: the blocked rows were the open beam's phase
    assert (s.labels[:8] == -1).all() and int(s.blank().sum()) == 8 * 80
    assert adjusted_rand_score(tof.labels[8:].ravel(), s.labels[8:].ravel()) >= 0.99


def test_the_page_tests_a_noisy_cube_s_regions_as_the_cli_s_auto_does(tmp_path, monkeypatch, noisy):
    """With the cube's own number of clusters the page's regions are split and merged as `map`'s `auto` does; it
    held them to the clusters' number (30 neutrons per bin: 3 of 5 regions, ARI 0.81; the CLI 5, 0.99)."""
    import tifffile
    from phasedash import App

    monkeypatch.setenv("PHASEDASH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PHASEDASH_EXPORT_DIR", str(tmp_path))
    monkeypatch.setenv("PHASEDASH_CACHE_DIR", str(tmp_path / "cache"))
    tifffile.imwrite(tmp_path / "stack.tif", np.moveaxis(np.asarray(noisy.image.data), -1, 0))
    a = App(str(tmp_path / "stack.tif"), background=False)
    s = a.session
    assert s.n_clusters == s.suggested_clusters and s.n_clusters < noisy.n_regions  # the scree keeps few components
    assert len(np.unique(s.labels)) == noisy.n_regions
    cli = map_phases(s.image)
    assert adjusted_rand_score(noisy.labels.ravel(), s.labels.ravel()) >= min(0.97, adjusted_rand_score(
        noisy.labels.ravel(), cli.labels.ravel()) - 0.01)
    s.run_clustering(n_clusters=4)  # a number the student chose is kept, as --n-phases 4
    assert len(np.unique(s.phase_map("clusters"))) == 4


def test_the_page_gives_a_tiff_stack_a_wavelength_axis_and_keeps_it(tmp_path, monkeypatch):
    """A TIFF stack (or FITS frames) holds no axis: its calibration was applied without units ("Channel 1-5", no
    Bragg-edge menu), the page's choice of axis being for a .npy only."""
    import tifffile
    from phasedash import App

    monkeypatch.setenv("PHASEDASH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PHASEDASH_EXPORT_DIR", str(tmp_path))
    monkeypatch.setenv("PHASEDASH_CACHE_DIR", str(tmp_path / "cache"))
    tof = make_tof((24, 32), 121, seed=2)
    tifffile.imwrite(tmp_path / "stack.tif", np.moveaxis(np.asarray(tof.image.data), -1, 0))
    a = App(str(tmp_path / "stack.tif"), background=False)
    assert a.session.image.axis_label == "Channel" and a.data.axis.value == "channel, intensity"
    a.data.axis.value = "wavelength (Å), intensity (ToF, transmission)"
    a.data.offset.value, a.data.scale.value = 1.0, 4 / 120
    a.data.apply_cal.click()
    im = a.session.image
    assert a.runner.message.value == "" and im.axis_label == "Wavelength (Å)" and not im.is_counts
    assert "Wavelength 1-5 Å" in a.data.info.value and a.data.bragg.layout.display is None  # the edges' menu
    saved = a.session.save_session(tmp_path / "s.json")
    b = App(str(tmp_path / "stack.tif"), background=False)
    b.session.restore(__import__("json").loads(saved.read_text()))
    assert b.session.image.axis_label == "Wavelength (Å)" and abs(b.session.image.energy_scale - 4 / 120) < 1e-9
    # an EDS map keeps its keV whatever the choice left on the page
    c = App("synthetic:20x30", background=False)
    c.data.apply_cal.click()
    assert c.session.image.is_eds and c.session.image.axis_label == "Energy (keV)"


def test_classify_says_the_pixels_of_a_blocked_beam_it_left_out(tmp_path, capsys):
    """`classify` gave the blocked pixels no class and said nothing (the shares printed are of the others)."""
    from phaselib._cli import main
    from phaselib.classify import sample_labels

    tof = make_tof((32, 40), 121, seed=5)
    x = np.asarray(tof.image.data).copy()
    x[:4] = np.nan
    np.save(tmp_path / "tof.npy", x)
    labels = sample_labels(tof.labels, 8, random_state=0)
    labels[:4] = -1
    np.save(tmp_path / "labels.npy", labels.astype(np.int64))
    capsys.readouterr()
    assert main(["classify", str(tmp_path / "tof.npy"), "--signal", "intensity", "--labels",
                 str(tmp_path / "labels.npy"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert "160 pixels hold no data (no finite value or 0 throughout): no class" in capsys.readouterr().out
    out = np.load(tmp_path / "out" / "labels.npy")
    assert (out[:4] == -1).all() and (out[4:] >= 0).all()


@pytest.mark.parametrize("counts", [1000, 100])
def test_gamma_hits_in_single_frames_are_left_out_of_the_shapes(counts):
    """A ToF camera's frames catch gamma hits as radiographs do: 1 % of the values raised by 1-20 (in transmission)
    made regions of the hits (96 x 96 x 331, seeds 1-2: ARI 0.78 at 1000 neutrons per bin, 0.88-0.96 at 100)."""
    tof = make_tof((64, 64), 331, open_beam_counts=counts, seed=1)
    x = np.asarray(tof.image.data).copy()
    rng = np.random.default_rng(1)
    hit = rng.random(x.shape) < 0.01
    x[hit] += rng.uniform(1, 20, hit.sum())
    res = map_phases(tof.image.replace(data=x), n_phases=tof.n_regions)
    assert adjusted_rand_score(tof.labels.ravel(), res.labels.ravel()) >= 0.99
    spikes = res.decomposition.params["spikes"]
    assert 0.95 * hit.sum() <= spikes <= 1.05 * hit.sum()  # the hits, hardly anything else
    assert any("gamma hits in single frames" in n for n in res.params["notes"])


def test_no_spike_is_looked_for_at_a_few_neutrons_per_bin():
    """At 30 neutrons per bin Poisson's tail is as high as a hit: nothing is left out (the maps are as before)."""
    tof = make_tof((48, 48), 331, open_beam_counts=30, seed=2)
    assert map_phases(tof.image, n_phases=tof.n_regions).decomposition.params["spikes"] == 0
    clean = map_phases(make_tof((48, 48), 331, seed=2).image, n_phases=5).decomposition.params["spikes"]
    assert clean <= 5  # 1000 neutrons per bin, no hit: 8 noise s.d. above the neighbours' median is rare
