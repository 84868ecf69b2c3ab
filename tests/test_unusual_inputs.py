"""The library and the command line on valid but unusual inputs (found by trying them as a new user would).

Each case failed before it was mended: a result that changed with the labels' integer type, a ToF cube saved
as an X-ray map, a tiny map clustered on a constant feature, a run aborted by a step the user did not ask
about, a misleading message, frames read out of order, a pixel of no data given a phase, a detector that
flagged every pixel.
"""

import json
import warnings

import numpy as np
import pytest
from conftest import P45

import phaselib
from phaselib import SpectrumImage
from phaselib.compare import adjusted_rand
from phaselib.datasets import make_rock, make_spotty_radiograph, make_tof
from phaselib.decompose import pca
from phaselib.morphology import grain_map
from phaselib.pipeline import map_phases
from phaselib.spots import detect_spots


def test_grains_do_not_depend_on_the_labels_integer_type():
    labels = make_rock((90, 120), seed=2).labels
    found = {np.dtype(t).name: grain_map(labels.astype(t)) for t in (np.int64, np.int8, np.uint8, np.uint16)}
    counts = {t: g.n_grains for t, g in found.items()}
    assert len(set(counts.values())) == 1, counts  # uint8: -1 wrapped to 255 and every phase "stood apart"
    for g in found.values():
        np.testing.assert_array_equal(g.labels, found["int64"].labels)


@pytest.mark.parametrize("ext", [".hspy", ".zspy"])
def test_a_tof_cube_saved_and_read_again_keeps_its_axis_and_kind(tmp_path, ext):
    tof = make_tof((24, 30), 120, seed=2)
    back = phaselib.load(phaselib.save(tof.image, tmp_path / f"tof{ext}"))
    assert (back.signal, back.name, back.units, back.is_eds) == ("intensity", "Wavelength", "Å", False)
    assert back.energy_offset == tof.image.energy_offset and back.energy_scale == tof.image.energy_scale
    assert adjusted_rand(map_phases(back).labels, tof.labels) > 0.95  # read as X-ray counts: 2 phases of "Zn"
    uneven = tof.image.replace(axis_values=np.linspace(1.0, 5.0, 120) ** 1.1)
    back = phaselib.load(phaselib.save(uneven, tmp_path / f"uneven{ext}"))
    np.testing.assert_allclose(back.axis, uneven.axis)
    rock = phaselib.load(phaselib.save(make_rock((10, 12), seed=1).image, tmp_path / f"rock{ext}"))
    assert rock.is_eds and rock.beam_energy == 20.0


def test_a_plain_hyperspy_signal_in_kev_is_an_eds_map():
    import hyperspy.api as hs

    from phaselib._hyperspy import from_hyperspy

    rock = make_rock((12, 16), seed=1).image
    s = hs.signals.Signal1D(rock.data)  # no signal type, an unnamed axis: only its calibration in keV
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset = "keV", rock.energy_scale, rock.energy_offset
    assert from_hyperspy(s).is_eds


def _tiny_map():
    """The 3 x 3 corner of a rock at 200 counts/px: five pixels of magnetite, four of albite."""
    rock = make_rock((40, 50), counts_per_pixel=200, seed=1)
    return rock.image.replace(data=np.asarray(rock.image.data)[:3, :3].copy()), rock.labels[:3, :3]


@pytest.mark.parametrize("kw", [{}, {"n_phases": 2}])
def test_a_tiny_map_is_clustered_on_scores_that_vary(kw):
    image, truth = _tiny_map()
    pm = map_phases(image, **kw)
    assert adjusted_rand(pm.labels, truth) == 1.0  # on one score (constant once normalised) 2 of 5 were lost


def test_few_channels_and_an_empty_window_are_said_plainly(tmp_path):
    rock = make_rock((30, 40), seed=4).image
    data = np.asarray(rock.data)
    for n in (5, 3):  # under 8 channels: no minerals named, no abort; 3 channels: the window rounded inwards
        width = rock.n_channels // n
        few = SpectrumImage(data[..., : n * width].reshape(30, 40, n, width).sum(-1), beam_energy=20.0,
                            energy_offset=rock.energy_offset, energy_scale=rock.energy_scale * width)
        pm = map_phases(few)
        assert pm.n_phases >= 2 and not pm.minerals
    wrong = rock.replace(energy_offset=-200.0, energy_scale=10.0)  # a calibration in eV by mistake
    with pytest.raises(ValueError, match=r"no counts in channels 21 to 22 of 2048 \(its energy window\)"):
        map_phases(wrong)


def test_a_fits_cube_with_its_energy_axis_in_ev_is_an_eds_map(tmp_path):
    from astropy.io import fits

    rock = make_rock((20, 24), seed=5).image
    header = fits.Header()
    header.update(CTYPE3="ENERGY", CUNIT3="eV", CRPIX3=1, CRVAL3=1e3 * rock.energy_offset,
                  CDELT3=1e3 * rock.energy_scale)
    fits.writeto(tmp_path / "eds.fits", np.moveaxis(np.asarray(rock.data), -1, 0).astype(np.int32), header)
    image = phaselib.load(tmp_path / "eds.fits")
    assert image.is_eds and image.energy_scale == pytest.approx(rock.energy_scale)


def test_small_maps_arrays_and_unpadded_frames(tmp_path):
    image, _ = _tiny_map()
    assert pca(image).n_components == 9  # the default 24, capped to the map's pixels
    with pytest.raises(TypeError, match=r"phaselib.SpectrumImage\(array"):
        phaselib.load(np.zeros((4, 4, 8)))
    tifffile = pytest.importorskip("tifffile")
    cube = make_tof((8, 10), 24, seed=1).image.data.astype(np.float32)
    (tmp_path / "frames").mkdir()
    for i in range(cube.shape[-1]):  # f_0 ... f_23: read f_0, f_1, f_10 ... before
        tifffile.imwrite(tmp_path / "frames" / f"f_{i}.tif", cube[..., i])
    np.testing.assert_array_equal(np.asarray(phaselib.load(tmp_path / "frames").data), cube)


def test_a_pixel_of_no_data_in_a_cube_is_left_out(tmp_path):
    tof = make_tof((20, 24), 100, seed=1)
    data = tof.image.data.copy()
    data[2, 3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pm = map_phases(tof.image.replace(data=data))
    assert pm.labels[2, 3] == -1 and pm.blank is not None and pm.blank.sum() == 1
    pm.save(tmp_path / "out")
    assert (tmp_path / "out" / "blank.npy").exists()
    assert adjusted_rand(pm.labels[~pm.blank], tof.labels[~pm.blank]) > 0.95


def test_spot_detectors_trained_on_a_handful_of_pixels():
    rad = make_spotty_radiograph((64, 80), seed=1)
    mask = np.full(rad.spots.shape, -1, np.int8)
    spot, background = np.argwhere(rad.spots), np.argwhere(~rad.spots)
    mask[tuple(spot[0])], mask[tuple(background[:4].T)] = 1, 0  # five labelled pixels: k was 7
    assert detect_spots(rad.image, mask, method="knn").spots.any()
    flat = np.full((64, 80), 1000.0)
    flat[10, 10] = 5000.0
    mask = np.full(flat.shape, -1, np.int8)
    mask[10, 10], mask[20:30, 20:30] = 1, 0  # one spot: leaves of two outvoted it, every pixel was flagged
    found = detect_spots(flat, mask, method="rf").spots
    assert found[10, 10] and found.sum() == 1


def test_a_crop_and_a_binning_keep_the_maps_position(tmp_path):
    import hyperspy.api as hs

    from phaselib import preprocess
    from phaselib._cli import main as cli
    from phaselib._hyperspy import navigation_axes

    rock = make_rock((40, 50), seed=1).image
    s = hs.signals.Signal1D(np.asarray(rock.data))
    s.set_signal_type("EDS_SEM")
    for ax, off, scale in zip(s.axes_manager.navigation_axes, (100.0, 200.0), (0.5, 0.25)):
        ax.offset, ax.scale, ax.units = off, scale, "µm"
    s.axes_manager.signal_axes[0].scale, s.axes_manager.signal_axes[0].units = rock.energy_scale, "keV"
    image = phaselib.load(s)
    cropped = preprocess.crop(image, rows=(10, 30), cols=(20, 50))
    theirs = s.inav[20:50, 10:30].axes_manager.navigation_axes
    assert [a["offset"] for a in navigation_axes(cropped)] == [a.offset for a in theirs]  # were 0
    binned = preprocess.bin_spatial(cropped, 2)
    assert [(a["scale"], a["size"]) for a in navigation_axes(binned)] == [(1.0, 15), (0.5, 10)]
    path = phaselib.save(rock, tmp_path / "rock.hspy")
    assert cli(["map", str(path), "--out", str(tmp_path / "out"), "--crop", "10:30,20:50", "--bin", "2",
                "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["crop"] == [[10, 30], [20, 50]] and summary["bin"] == 2


def test_a_folder_of_fits_and_tiff_frames_is_refused_plainly(tmp_path):
    from astropy.io import fits

    tifffile = pytest.importorskip("tifffile")
    frame = np.ones((6, 8), np.float32)
    fits.PrimaryHDU(frame).writeto(tmp_path / "f_0.fits")
    tifffile.imwrite(tmp_path / "f_1.tif", frame)
    with pytest.raises(ValueError, match="holds both FITS and TIFF frames"):
        phaselib.load(tmp_path)


def test_a_results_file_missing_an_array_says_so(tmp_path):
    from phaselib.results import load_results, precompute

    good = precompute(make_rock((24, 32), seed=1).image, tmp_path / "p.npz", methods=("pca-kmeans",))
    arrays = dict(np.load(good, allow_pickle=False))
    arrays.pop("sum_spectrum")
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"damaged phaselib results file \(an array or an entry is missing\)"):
        load_results(tmp_path / "bad.npz")  # "(KeyError)" before


def test_an_hspy_file_keeps_its_navigation_offsets(tmp_path):
    """A map opened by path lost its navigation offsets and names (only a signal passed in kept them): the label map
    of `to_hyperspy` started at 0 where the file's stage position was 100 / 250 µm."""
    hs = pytest.importorskip("hyperspy.api")
    rock = make_rock((20, 30), counts_per_pixel=50, seed=1)
    s = hs.signals.Signal1D(np.asarray(rock.image.data))
    s.set_signal_type("EDS_SEM")
    e = s.axes_manager.signal_axes[0]
    e.offset, e.scale, e.units = rock.image.energy_offset, rock.image.energy_scale, "keV"
    for ax, (name, off) in zip(s.axes_manager.navigation_axes, (("stage x", 100.0), ("stage y", 250.0))):
        ax.name, ax.offset, ax.scale, ax.units = name, off, 0.5, "µm"
    s.save(tmp_path / "nav.hspy")
    image = phaselib.load(tmp_path / "nav.hspy")
    labels = map_phases(image, n_phases=4, n_components=4).to_hyperspy()[0]
    axes = {ax.name: (ax.offset, ax.scale, ax.units) for ax in labels.axes_manager.signal_axes}
    assert axes == {"stage x": (100.0, 0.5, "µm"), "stage y": (250.0, 0.5, "µm")}
    cropped = map_phases(phaselib.preprocess.crop(image, rows=(4, 20), cols=(10, 30)), n_phases=4,
                         n_components=4).to_hyperspy()[0]
    axes = {ax.name: (ax.offset, ax.size) for ax in cropped.axes_manager.signal_axes}
    assert axes == {"stage x": (105.0, 20), "stage y": (252.0, 16)}


def test_a_channels_first_npy_is_said(tmp_path):
    """A (C, H, W) .npy was read without a word as a 2048 x 40 map of 50 channels; now a warning says how it was
    read and how to turn it. Ordinary maps, strips of many channels included, read as before, without a word."""
    cube = np.asarray(make_rock((40, 50), counts_per_pixel=20, seed=1).image.data)
    np.save(tmp_path / "first.npy", np.moveaxis(cube, -1, 0))
    with pytest.warns(UserWarning, match=r"read as a 2048 x 40 map of 50 channels.*moveaxis"):
        phaselib.load(tmp_path / "first.npy", energy_offset=-0.2, energy_scale=0.01)
    np.save(tmp_path / "map.npy", cube)
    np.save(tmp_path / "strip.npy", np.zeros((600, 20, 2048), np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("map.npy", "strip.npy"):
            phaselib.load(tmp_path / name, energy_offset=-0.2, energy_scale=0.01)


def test_the_list_hyperspy_gives_for_a_bcf_is_taken_and_map_phases_is_at_the_top():
    """`hs.load("map.bcf")` returns [BSE, SE, spectrum image]: `phaselib.load` refused the list and
    `map_phases(list)` pointed to it; `phaselib.map_phases` did not exist."""
    hs = pytest.importorskip("hyperspy.api")
    signals = hs.load(P45)
    assert len(signals) == 3
    image = phaselib.load(signals)
    assert image.shape == (75, 100, 2048) and image.is_eds
    assert phaselib.map_phases is map_phases
    with pytest.raises(ValueError, match=r"no spectrum images \(\[0\] Signal2D \(75, 100\).*signals\[i\]"):
        phaselib.load(signals[:2])


def test_bin_says_the_rows_and_columns_it_leaves_out(tmp_path, capsys):
    from phaselib._cli import main

    rock = make_rock((20, 25), counts_per_pixel=100, seed=2)
    np.save(tmp_path / "m.npy", np.asarray(rock.image.data))
    argv = ["map", str(tmp_path / "m.npy"), "--energy-offset", str(rock.image.energy_offset), "--energy-scale",
            str(rock.image.energy_scale), "--quiet", "--n-phases", "3"]
    assert main([*argv, "--bin", "3", "--out", str(tmp_path / "b3")]) == 0
    assert "--bin 3 leaves out the last 2 row(s) and 1 column(s) of the 20 x 25 map" in capsys.readouterr().err
    assert np.load(tmp_path / "b3" / "labels.npy").shape == (6, 8)
    assert main([*argv, "--bin", "5", "--out", str(tmp_path / "b5")]) == 0
    assert "leaves out" not in capsys.readouterr().err


@pytest.mark.parametrize("counts", [False, True])
def test_a_cube_on_another_axis_without_signal_is_mapped_by_its_shapes(tmp_path, capsys, counts):
    """`map tof.npy --axis-units Å` without --signal mapped a transmission cube as X-ray counts (values / 0.0054,
    then phases merged by "same major elements (V ...)" on a wavelength axis): ARI 0.40; a cube of whole neutron
    counts 0.71. The axis says it is no X-ray map: its shapes are mapped, as --signal intensity does."""
    from phaselib._cli import main

    tof = make_tof((48, 48), 331, seed=1)
    data = np.asarray(tof.image.data)
    if counts:
        data = np.random.default_rng(0).poisson(data * 300).astype(np.uint16)
    np.save(tmp_path / "tof.npy", data)
    assert main(["map", str(tmp_path / "tof.npy"), "--axis-offset", "1", "--axis-scale", "0.0121212", "--axis-units",
                 "Å", "--axis-name", "Wavelength", "--quiet", "--out", str(tmp_path / "o")]) == 0
    assert "an axis in Å: mapped as intensities" in capsys.readouterr().err
    assert adjusted_rand(tof.labels, np.load(tmp_path / "o" / "labels.npy")) >= 0.95
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["image"]["signal"] != "counts" and not any(summary["lines"])


def test_spots_with_one_labelled_spot_report_no_scores(tmp_path, capsys):
    """One spot and one other pixel labelled: precision, recall and F1 were 1.0 (scored on the two pixels that set
    the threshold) while 791 of 16 384 pixels were called spots; now no scores, and a note says why."""
    from phaselib._cli import main

    rad = make_spotty_radiograph((64, 80), seed=1)
    mask = np.full(rad.spots.shape, -1, np.int8)
    mask[tuple(np.argwhere(rad.spots)[0])], mask[0, 0] = 1, 0
    d = detect_spots(rad.image, mask, method="rf")
    assert np.isnan(d.f1) and "label 2 of each" in d.params["scores_note"]
    np.save(tmp_path / "img.npy", rad.image)
    np.save(tmp_path / "mask.npy", mask)
    assert main(["spots", str(tmp_path / "img.npy"), "--train", str(tmp_path / "mask.npy"), "--out",
                 str(tmp_path / "o"), "--method", "median"]) == 0
    assert "no scores: 1 spot(s) and 1 other pixel(s) labelled" in capsys.readouterr().out
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["labelled"]["f1"] is None


def test_a_window_on_an_uneven_axis_takes_the_axis_values():
    """`--energy-range 2 4` on a cube with log-spaced wavelengths took channels of 1.63-5.0 Å (the straight-line fit
    of the axis); a window outside a cube in Å was said in keV."""
    from phaselib.preprocess import energy_channels

    lam = np.geomspace(1, 5, 120)
    cube = SpectrumImage(np.ones((4, 5, 120), np.float32), signal="intensity", axis_name="Wavelength",
                         axis_units="Å", axis_values=lam)
    sl = energy_channels(cube, (2, 4))
    inside = np.flatnonzero((lam >= 2) & (lam <= 4))
    assert (sl.start, sl.stop) == (inside[0], inside[-1] + 1)
    with pytest.raises(ValueError, match=r"window 6-8 Å holds 0 channel\(s\) of the cube \(1-5 Å\)"):
        energy_channels(cube, (6, 8))
    even = SpectrumImage(np.ones((4, 5, 100), np.float32), energy_offset=1.0, energy_scale=0.04,
                         signal="intensity", axis_name="Wavelength", axis_units="Å")
    with pytest.raises(ValueError, match=r"window 6-8 Å holds 0 channel\(s\) of the map \(1-4.96 Å\)"):
        energy_channels(even, (6, 8))


def test_classify_leaves_a_cubes_pixels_of_no_data_unclassified():
    """`map` leaves a cube's pixels with no finite value unassigned; `classify` (rf) gave them a class, p 0.93."""
    from phaselib.classify import classify, sample_labels

    tof = make_tof((24, 28), 80, seed=2)
    data = np.array(tof.image.data, np.float32)
    data[3, 4] = np.nan
    data[10, :3] = np.inf
    result = classify(tof.image.replace(data=data), sample_labels(tof.labels, 15, random_state=1))
    dead = ~np.isfinite(data).any(-1)
    assert (result.labels[dead] == -1).all() and (result.labels[~dead] >= 0).all()
    assert result.params["blank_pixels"] == 4 and np.all(result.probabilities[dead] == 0)


def test_a_map_of_a_few_counts_per_pixel_is_warned_of(tmp_path, capsys):
    """The real P45 map thinned to 1.2 counts/px gave two "phases" of noise, named with confidence, and 6 counts/px
    lost its 14 % plagioclase, without a word; now a warning (printed, and kept in summary.json)."""
    from phaselib._cli import main

    rock = make_rock((40, 50), counts_per_pixel=4, seed=2)
    with pytest.warns(UserWarning, match=r"holds 4.* counts per pixel: below 10.*--bin 2"):
        map_phases(rock.image)
    np.save(tmp_path / "m.npy", np.asarray(rock.image.data))
    cal = ["--energy-offset", str(rock.image.energy_offset), "--energy-scale", str(rock.image.energy_scale)]
    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        assert main(["map", str(tmp_path / "m.npy"), "--out", str(tmp_path / "o"), "--quiet", *cal]) == 0
    assert "phaselib: warning: The map holds 4" in capsys.readouterr().err
    said = json.loads((tmp_path / "o" / "summary.json").read_text())["warnings"]
    assert len(said) == 1 and "counts per pixel" in said[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        map_phases(make_rock((40, 50), counts_per_pixel=20, seed=2).image)  # 20 counts/px: no word


def test_a_wrong_energy_axis_or_beam_energy_is_warned_of(p45):
    """P45 given an axis 20 eV off or 1 % off in scale, or 10 kV for its 20 kV: phases merged away and minerals
    misnamed ("no mineral of the table fits"), with no word. The summed spectrum tells: its lines sit off their
    energies, counts lie above the beam energy. The file's own axis and beam energy (and other maps) say nothing."""
    from phaselib.quantify import axis_warnings

    total = np.asarray(p45.data).sum((0, 1)).astype(float)
    ch = np.arange(p45.n_channels)
    off, scale = p45.energy_offset, p45.energy_scale
    assert axis_warnings(total, off + scale * ch, 20.0) == []
    # 20 eV and 1 %; and 0.1-0.27 keV, where the lines named look right (P45's -0.47 keV offset typed for a map
    # whose axis starts at -0.2: Si Ka read as Al Ka), or none is named
    for axis in (off + 0.02 + scale * ch, off - 0.02 + scale * ch, off + 1.01 * scale * ch, off + 0.1 + scale * ch,
                 off - 0.1 + scale * ch, off - 0.27 + scale * ch, off + 0.2 + scale * ch):
        said = axis_warnings(total, axis, 20.0)
        assert len(said) == 1 and "check the energy calibration" in said[0]
    said = axis_warnings(total, off + scale * ch, 10.0)
    assert len(said) == 1 and said[0].startswith("1.2 % of the counts lie above the beam energy given (10 kV)")
    for seed in range(3):  # rocks of other minerals and detectors, at their own settings: no word
        rock = make_rock((40, 50), counts_per_pixel=60, seed=seed, beam_energy=(10, 15, 25)[seed], zoning=0.8,
                         detector_artefacts=True)
        assert axis_warnings(np.asarray(rock.image.data).sum((0, 1)), rock.image.energy_keV,
                             rock.image.beam_energy) == []
    with pytest.warns(UserWarning, match="above the beam energy given"):
        map_phases(p45.replace(beam_energy=10.0), n_phases=3, n_components=3)
    from phaselib.preprocess import bin_energy

    for b in (8, 32, 128):  # channels of 80-1280 eV: peaks placed to a channel said "-5 eV" and "107 eV" before
        coarse = bin_energy(p45, b)
        assert axis_warnings(np.asarray(coarse.data).sum((0, 1)), coarse.energy_keV, 20.0) == []


def test_grain_map_reads_a_mask_as_the_command_does_and_refuses_huge_ids():
    """A boolean mask: `grains` read True as phase 0 and False as unassigned; `grain_map` made the background a
    phase 0 "grain" and the mask phase 1. A phase id of 2**40 raised MemoryError (8 TiB tables)."""
    mask = np.zeros((40, 40), bool)
    mask[5:15, 5:15], mask[20:30, 20:35] = True, True
    g = grain_map(mask)
    assert g.n_grains == 2 and g.phases.tolist() == [0, 0]
    assert np.array_equal(g.labels > 0, mask)
    huge = np.full((20, 20), -1, np.int64)
    huge[2:8, 2:8] = 2**40
    with pytest.raises(ValueError, match="to 9999, got -1 to 1099511627776"):
        grain_map(huge)


def test_a_cube_of_few_channels_maps_as_many_regions_as_asked_and_make_tof_reads_one_material(tmp_path):
    """`--n-phases 5` on a 5-channel ToF cube: "`n_components` must be in [1, 4], got 5", an option never given
    (K regions need K - 1 directions of their shapes); make_tof(materials="Ni") read the materials N and i."""
    tof = make_tof((16, 16), 5, seed=1)
    pm = map_phases(tof.image, n_phases=5)
    assert pm.n_phases == 5
    one = make_tof((8, 8), 40, materials="Ni")
    assert one.names == ("open beam", "Ni")
    with pytest.raises(ValueError, match="twice"):
        make_tof((8, 8), 40, materials=("Ni", "Ni"))
    with pytest.raises(ValueError, match=r"shape must be \(rows, columns\)"):
        make_tof(16)


def test_a_fits_cube_whose_axis_decreases_is_read_in_increasing_order(tmp_path):
    """CDELT3 < 0 (wavelengths stored from long to short) was refused: "The axis scale (energy_scale) must be a
    positive number", a setting the user never gave."""
    from astropy.io import fits

    tof = make_tof((12, 14), 50, seed=3)
    cube = np.moveaxis(np.asarray(tof.image.data, np.float32), -1, 0)[::-1]  # bins from the longest wavelength
    hdu = fits.PrimaryHDU(cube)
    axis = tof.image.axis
    hdu.header.update(CRVAL3=float(axis[-1]), CDELT3=-float(tof.image.energy_scale), CRPIX3=1.0, CUNIT3="Angstrom",
                      CTYPE3="WAVE")
    hdu.writeto(tmp_path / "down.fits")
    image = phaselib.load(tmp_path / "down.fits")
    np.testing.assert_allclose(image.axis, axis, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(image.data), np.asarray(tof.image.data, np.float32))
    assert image.units == "Å"
    assert SpectrumImage(np.ones((2, 2, 5)), 1.0, 0.1, signal="intensity", axis_name="Wavelength",
                         axis_units="Angstrom").units == "Å"  # one spelling: the dashboards mark Bragg edges on "Å"


def test_spots_take_a_painted_mask_an_rgb_tiff_and_say_where_an_image_is_not_finite(tmp_path, capsys):
    """The lecture paints its spot mask as a picture: `--train mask.png` was refused (.npy only); an RGB TIFF was
    refused where an RGB PNG was read; an image with NaN got "holds NaN or infinite values" with no count, place
    or remedy."""
    import tifffile
    from PIL import Image

    from phaselib._cli import main

    rad = make_spotty_radiograph((48, 64), seed=2)
    mask = np.full(rad.spots.shape, -1, np.int8)
    mask[:, :32] = rad.spots[:, :32]
    rgba = np.zeros(rad.spots.shape + (4,), np.uint8)
    rgba[:, :32, 3] = 255
    rgba[:, :32, :3] = np.where(rad.spots[:, :32, None], 255, 0)
    Image.fromarray(rgba).save(tmp_path / "mask.png")
    np.save(tmp_path / "mask.npy", mask)
    np.save(tmp_path / "img.npy", rad.image)
    grey = np.clip(rad.image / rad.image.max() * 255, 0, 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "img.tif", np.repeat(grey[..., None], 3, -1))
    for image, train in (("img.npy", "mask.npy"), ("img.npy", "mask.png"), ("img.tif", "mask.npy")):
        out = tmp_path / f"{image}-{train}"
        assert main(["spots", str(tmp_path / image), "--train", str(tmp_path / train), "--out", str(out)]) == 0
    assert np.array_equal(np.load(tmp_path / "img.npy-mask.png" / "spots.npy"),
                          np.load(tmp_path / "img.npy-mask.npy" / "spots.npy"))
    assert np.load(tmp_path / "img.tif-mask.npy" / "spots.npy").shape == (48, 64)
    bad = rad.image.astype(np.float32)
    bad[5, 7] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    capsys.readouterr()
    assert main(["spots", str(tmp_path / "nan.npy"), "--train", str(tmp_path / "mask.npy"), "--out",
                 str(tmp_path / "n")]) == 2
    assert "holds 1 NaN or infinite values (the first at (5, 7)); replace them" in capsys.readouterr().err


def test_grains_refuse_a_blank_mask_that_covers_assigned_pixels(tmp_path, capsys):
    """A map folder whose blank.npy marks pixels that labels.npy gives a phase (two files of different maps):
    the CSD was skipped as "`area` must be a positive number, got 0.0", a library parameter's words."""
    from phaselib._cli import main

    labels = make_rock((40, 50), seed=1).labels
    (tmp_path / "m").mkdir()
    np.save(tmp_path / "m" / "labels.npy", labels)
    np.save(tmp_path / "m" / "blank.npy", np.ones(labels.shape, bool))
    assert main(["grains", str(tmp_path / "m"), "--out", str(tmp_path / "g")]) == 2
    assert "blank.npy' marks 2000 pixels that labels.npy gives a phase" in capsys.readouterr().err


def test_map_says_why_a_npy_gets_no_mineral_names(tmp_path, capsys):
    from phaselib._cli import main

    rock = make_rock((20, 25), counts_per_pixel=100, seed=2)
    np.save(tmp_path / "m.npy", np.asarray(rock.image.data))
    cal = ["--energy-offset", str(rock.image.energy_offset), "--energy-scale", str(rock.image.energy_scale)]
    assert main(["map", str(tmp_path / "m.npy"), "--out", str(tmp_path / "a"), "--quiet", *cal]) == 0
    assert "no mineral names: the beam energy is not known (give --beam-energy KV)" in capsys.readouterr().err
    assert main(["map", str(tmp_path / "m.npy"), "--out", str(tmp_path / "b"), "--quiet", *cal,
                 "--beam-energy", "20"]) == 0
    assert "no mineral names" not in capsys.readouterr().err
