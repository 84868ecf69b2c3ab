"""A ToF cube's axis from the command line (session 59): units without the axis they name, and an axis in Å with
no name."""

import json

import numpy as np
import pytest
import tifffile

from phaselib._cli import main
from phaselib._image import SpectrumImage
from phaselib.datasets import make_tof


@pytest.fixture(scope="module")
def cube():
    return np.asarray(make_tof((24, 32), 120, seed=2).image.data, np.float32)


@pytest.mark.parametrize("kind", ["npy", "npy-intensity", "frames"])
def test_units_without_an_offset_and_scale_are_refused_for_a_cube_with_no_axis(tmp_path, capsys, cube, kind):
    """`--axis-units Å` alone mapped a .npy of 661 bins on 0-660 Å ("Channel (Å)"), a wrong axis said nowhere."""
    if kind == "frames":
        from astropy.io import fits

        (tmp_path / "frames").mkdir()
        for i in range(cube.shape[-1]):
            fits.writeto(tmp_path / "frames" / f"f_{i}.fits", cube[..., i])
        src = tmp_path / "frames"
    else:
        np.save(src := tmp_path / "tof.npy", cube)
    extra = ["--signal", "intensity"] if kind == "npy-intensity" else []
    capsys.readouterr()
    assert main(["map", str(src), "--axis-units", "Å", "--out", str(tmp_path / "out"), "--quiet", *extra]) == 2
    err = capsys.readouterr().err
    assert f"--axis-units Å names the units of the signal axis, but '{src.name}' holds no axis" in err
    assert "give --axis-offset (the first bin's value) and --axis-scale (the bin width)" in err
    assert not (tmp_path / "out").exists()


def test_an_axis_in_angstrom_with_no_name_is_a_wavelength(tmp_path, cube):
    """A TIFF stack with `--axis-units Å --axis-offset 1 --axis-scale 0.0336` was "Energy (Å)"."""
    tifffile.imwrite(tmp_path / "stack.tif", np.moveaxis(cube, -1, 0))
    out = tmp_path / "out"
    assert main(["map", str(tmp_path / "stack.tif"), "--axis-units", "Å", "--axis-offset", "1", "--axis-scale",
                 "0.0336", "--out", str(out), "--quiet"]) == 0
    image = json.loads((out / "summary.json").read_text())["image"]
    assert (image["axis_name"], image["axis_units"]) == ("Wavelength", "Å")
    assert main(["map", str(tmp_path / "stack.tif"), "--axis-offset", "1", "--axis-scale", "0.0336", "--out",
                 str(tmp_path / "named"), "--quiet", "--axis-units", "Å", "--axis-name", "lambda"]) == 0
    assert json.loads((tmp_path / "named" / "summary.json").read_text())["image"]["axis_name"] == "lambda"


def test_an_unnamed_axis_is_named_from_its_units():
    def label(units):
        return SpectrumImage(np.ones((2, 2, 5)), 1.0, 0.1, signal="intensity", axis_units=units).axis_label

    assert label("Angstrom") == "Wavelength (Å)" and label("ms") == "Time of flight (ms)"
    assert label(None) == "Energy (keV)" and label("keV") == "Energy (keV)"  # EDS maps as before
    assert label("cm-1") == "Signal axis (cm-1)"


def test_a_glob_of_frames_the_shell_expanded_is_said_in_one_short_line(tmp_path, capsys):
    """`map frames/*.fits` unquoted: the shell hands over every frame; argparse echoed all 661 names."""
    names = [str(tmp_path / f"tof_{i}.fits") for i in range(661)]
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["map", *names, "--out", str(tmp_path / "out")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert len(err) < 500 and "and 657 more; a pattern the shell expanded? quote it" in err
    with pytest.raises(SystemExit):
        main(["map", names[0], "--out", str(tmp_path / "out"), "--bogus", "1"])
    assert "unrecognized arguments: --bogus 1 (see" in capsys.readouterr().err  # a few: said as they are


def test_the_phase_map_legend_of_a_cube_names_its_phases(tmp_path):
    """A cube's phases have no elements: its legend read "0:", "1:"... with nothing after."""
    from PIL import Image

    from phaselib.render import save_phase_map_png

    labels = np.repeat(np.arange(3), 4).reshape(3, 4)
    save_phase_map_png(labels, tmp_path / "cube.png", names=["0: ", "1: ", "2: Fe Ni"])
    save_phase_map_png(labels, tmp_path / "named.png", names=["phase 0", "phase 1", "2: Fe Ni"])
    save_phase_map_png(labels, tmp_path / "bare.png", names=["0:", "1:", "2: Fe Ni"])
    cube = np.asarray(Image.open(tmp_path / "cube.png"))
    assert np.array_equal(cube, np.asarray(Image.open(tmp_path / "named.png")))
    assert np.array_equal(cube, np.asarray(Image.open(tmp_path / "bare.png")))


@pytest.mark.parametrize("units, offset, scale", [("Å", 1.0, 0.05), ("µs", 100.0, 5.0)])
def test_counts_on_an_axis_other_than_kev_are_refused_saying_to_map_them_as_intensities(tmp_path, capsys, units,
                                                                                         offset, scale):
    """Neutron counts on a wavelength axis went through the X-ray path (lines of 1-5 "keV" tested: ARI 0.85 where the
    intensities give 1.0); on a time axis in µs, past 500, map failed with a message about an energy axis in eV."""
    from phaselib.compare import adjusted_rand
    from phaselib.pipeline import map_phases

    tof = make_tof((24, 32), 120, seed=1)
    raw = np.random.default_rng(0).poisson(100 * np.clip(np.asarray(tof.image.data, float), 0, None)).astype(np.int32)
    counts = SpectrumImage(raw, energy_offset=offset, energy_scale=scale, axis_units=units)
    with pytest.raises(ValueError, match="counts on a .* axis .*as intensities"):
        map_phases(counts, n_phases=5)
    k = int(tof.labels.max()) + 1
    ok = map_phases(counts.replace(signal="intensity"), n_phases=k)
    assert adjusted_rand(tof.labels.ravel(), ok.labels.ravel()) > 0.95
    np.save(tmp_path / "raw.npy", raw)
    code = main(["map", str(tmp_path / "raw.npy"), "--out", str(tmp_path / "out"), "--signal", "counts",
                 "--axis-offset", str(offset), "--axis-scale", str(scale), "--axis-units", units])
    err = capsys.readouterr().err
    assert code != 0 and "--signal intensity" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "summary.json").exists()
