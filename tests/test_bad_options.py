"""Absurd options and damaged side files that a fuzzing pass found taken without a word, or refused in
words the user never typed: each is one line on stderr with exit status 2 (or, for a summary.json that
only gives the pixel size, a note), never a result whose statistics are all ``{"error": ...}``.

Every command runs in-process in a forked child (``_badfiles.guarded``): a hang is a failed test.
"""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _badfiles import cli_main, guarded
from conftest import CHEVKINITE

MODEL = Path(__file__).resolve().parents[1] / "dashboards" / "data" / "deep_model.onnx"
NPY = ["--energy-offset", "-0.2", "--energy-scale", "0.01", "--quiet"]
#: words of messages that name what the user never typed, or advise options the command does not have
FOREIGN = ("n_phases", "n_components", "`", "Overflow", "RecursionError", "--lazy", "Maximum allowed")


def _run(argv, timeout=90):
    kind, value, _ = guarded(cli_main, [str(a) for a in argv], timeout=timeout)
    assert kind == "ok", (kind, value)
    return value


def _refused(argv, *words, timeout=90):
    """The one error line of ``argv``, checked: status 2, no traceback, no path, no foreign name."""
    code, err = _run(argv, timeout)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("phaselib: error:"), (code, err)
    assert "/tmp" not in err and not any(w in lines[0] for w in FOREIGN), err
    assert all(w in lines[0] for w in words), (words, err)
    return lines[0]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """rock.npy (a 24 x 30 map), res/ (its labels and a summary.json as `map` writes), SEG/ (a training
    folder), and a copy of the chevkinite .bcf."""
    from phaselib.datasets import make_rock, make_thin_section, write_training_folder

    d = tmp_path_factory.mktemp("bad_options")
    rock = make_rock((24, 30), counts_per_pixel=150, seed=1)
    np.save(d / "rock.npy", rock.image.data)
    (d / "res").mkdir()
    np.save(d / "res" / "labels.npy", rock.labels.astype("i2"))
    (d / "res" / "summary.json").write_text(json.dumps({"image": {"pixel_size": 2.0}}))
    write_training_folder(d / "SEG", [make_thin_section((64, 72), rock="granite", seed=7)])
    shutil.copy(CHEVKINITE, d / "c.bcf")
    return d


def _copy(inputs, tmp_path, name="res"):
    shutil.copytree(inputs / name, tmp_path / name)
    return tmp_path / name


# ----------------------------------------------------------------- grains
def _labels_file(path, how):
    labels = np.load(path)
    np.save(path, labels)
    data = path.read_bytes()
    if how == "twice_the_data":  # the header declares (24, 30), the file holds twice that
        path.write_bytes(data + labels.tobytes())
    elif how == "narrow_dtype":  # an |i1 header over int16 data
        path.write_bytes(data.replace(b"'<i2'", b"'|i1'"))
    else:  # junk after the data
        path.write_bytes(data + b"junkjunk")


@pytest.mark.parametrize("how", ["twice_the_data", "narrow_dtype", "junk_after"])
def test_grains_reads_labels_with_the_npy_size_checks(inputs, tmp_path, how):
    res = _copy(inputs, tmp_path)
    _labels_file(res / "labels.npy", how)
    _refused(["grains", res, "--out", tmp_path / "g"], "'labels.npy'", "declares")
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("value", ["2.5", "0.5", "1e9", "1e300"])
def test_grains_csd_bins_must_be_a_whole_count(inputs, tmp_path, value):
    _refused(["grains", inputs / "res", "--out", tmp_path / "g", "--csd-bins", value], "--csd-bins")
    assert not (tmp_path / "g").exists()


def test_grains_csd_bins_as_a_count_gives_the_csd(inputs, tmp_path):
    """``--csd-bins 10`` was passed on as 10.0, which numpy refused: every CSD was an error."""
    code, err = _run(["grains", inputs / "res", "--out", tmp_path / "g", "--csd-bins", "10"])
    assert code == 0, err
    phases = json.loads((tmp_path / "g" / "size_stats.json").read_text())["phases"]
    measured = [p for p, e in phases.items() if e["n_grains"] >= 2]
    assert measured and all("error" not in phases[p]["csd"] for p in measured), phases
    rows = (tmp_path / "g" / "csd.csv").read_text().splitlines()[1:]
    assert all(sum(r.split(",")[0] == p for r in rows) == 10 for p in measured), rows


@pytest.mark.parametrize("option,value", [("--bin-size", "1e-300"), ("--bin-size", "1e-6"),
                                          ("--bandwidth", "1e-300")])
def test_grains_widths_are_bounded_by_the_map(inputs, tmp_path, option, value):
    """1e-300 wrote statistics that were only errors; 1e-6 ran a minute, then ran out of memory."""
    _refused(["grains", inputs / "res", "--out", tmp_path / "g", option, value], option, "this map", timeout=60)
    assert not (tmp_path / "g").exists()


def test_size_statistics_refuses_a_bin_width_of_millions_of_bins():
    from phaselib.morphology import size_statistics

    with pytest.raises(ValueError, match="bins"):
        size_statistics([1.0, 2.0, 3.5], binsize=1e-12, warn=False)


def test_grains_pixel_size_is_bounded_in_the_option_and_in_summary_json(inputs, tmp_path):
    _refused(["grains", inputs / "res", "--out", tmp_path / "g", "--pixel-size", "1e-300"], "--pixel-size")
    res = _copy(inputs, tmp_path)
    (res / "summary.json").write_text(json.dumps({"image": {"pixel_size": 1e-300}}))
    _refused(["grains", res, "--out", tmp_path / "g"], "summary.json", "--pixel-size")
    assert not (tmp_path / "g").exists()
    code, err = _run(["grains", res, "--out", tmp_path / "g", "--pixel-size", "2"])  # the option overrides it
    assert code == 0, err


def test_grains_takes_a_summary_nested_too_deep_as_unreadable(inputs, tmp_path):
    res = _copy(inputs, tmp_path)
    (res / "summary.json").write_text("[" * 100_000 + "]" * 100_000)
    code, err = _run(["grains", res, "--out", tmp_path / "g"])
    assert code == 0 and "summary.json is not readable: damaged" in err and "Recursion" not in err, err


def test_the_command_line_bounds_agree_with_the_library():
    from phaselib._cli import _grains, _segment
    from phaselib.deep._meta import MAX_MM_PER_PIXEL
    from phaselib.morphology._stats import MAX_BINS
    from phaselib.morphology._table import MAX_PIXEL_UM

    assert _grains.MAX_BINS == MAX_BINS and _grains.PIXEL_UM[1] == MAX_PIXEL_UM
    assert _segment.MAX_MM == MAX_MM_PER_PIXEL


# ----------------------------------------------------------------- map and precompute
@pytest.mark.parametrize("options,words", [
    (["--methods", "pca-kmeans", "--display-bin", "1000000"], ["--display-bin", "24"]),
    (["--crop", "0:1,0:1"], ["too small"]),
    (["--n-phases", "1000"], ["--n-phases", "at most 24"]),
])
def test_precompute_options_beyond_the_map_are_refused(inputs, tmp_path, options, words):
    """The display bin stored empty loadings (exit 0); the others named internal arguments."""
    _refused(["precompute", inputs / "rock.npy", *NPY, "--out", tmp_path / "p.npz", *options], *words)
    assert not (tmp_path / "p.npz").exists()


@pytest.mark.parametrize("options,words", [
    (["--method", "fuzzy-cmeans", "--membership-threshold", "1"], ["membership threshold 1", "lower"]),
    (["--method", "nmf-otsu", "--min-size", str(10**25)], ["--min-size", "720"]),
    (["--n-phases", "1000"], ["--n-phases", "at most 64", "whatever the map"]),
])
def test_map_says_which_option_left_no_phase(inputs, tmp_path, options, words):
    _refused(["map", inputs / "rock.npy", *NPY, "--out", tmp_path / "m", *options], *words)
    assert not (tmp_path / "m").exists()


# ----------------------------------------------------------------- convert
@pytest.mark.parametrize("options,words", [
    (["--downsample", "100000"], ["--downsample", "30"]),
    (["--cutoff-at-kV", "0.001"], ["--cutoff-at-kV"]),
    (["--cutoff-at-kV", "1e300"], ["--cutoff-at-kV"]),
    (["--cutoff-at-kV", "100"], ["--cutoff-at-kV", "empty"]),
])
def test_convert_options_beyond_the_map_are_refused(inputs, tmp_path, options, words):
    """A 1 x 1 map, 47 channels all below 0 keV, "Maximum allowed dimension exceeded", 8000 empty channels."""
    _refused(["convert", inputs / "c.bcf", tmp_path / "c.zspy", "--quiet", *options], *words)
    assert not (tmp_path / "c.zspy").exists()


# ----------------------------------------------------------------- segment
@pytest.mark.parametrize("options,words", [
    (["--seed", str(10**30)], ["--seed"]),
    (["--tile", "800000"], ["--tile"]),
    (["--tile", "4096"], ["tile", "144"]),
    (["--mm-per-pixel", "1e300"], ["--mm-per-pixel"]),
])
def test_segment_train_options_are_bounded(inputs, tmp_path, options, words):
    """--seed 10**30 said "Overflow when unpacking long long", --tile 800000 "out of memory (try --lazy, ...)";
    --mm-per-pixel 1e300 made a model whose netCDF coordinates reached 7e301."""
    _refused(["segment", "train", "--images", inputs / "SEG", "--out", tmp_path / "m.pt", "--max-minutes", "0.05",
              "--threads", "1", *options], *words)
    assert not (tmp_path / "m.pt").exists()


def _model(tmp_path, name, edit):
    import onnx

    proto = onnx.load(str(MODEL))
    entry = next(p for p in proto.metadata_props if p.key == "phaselib")
    entry.value = edit(json.loads(entry.value))
    onnx.save(proto, str(tmp_path / name))
    return tmp_path / name


@pytest.mark.parametrize("case", ["mm_per_pixel", "duplicate_classes", "nested_too_deep"])
def test_a_model_with_absurd_metadata_is_refused_when_opened(inputs, tmp_path, case):
    edits = {"mm_per_pixel": lambda m: json.dumps({**m, "mm_per_pixel": 1e300}),
             "duplicate_classes": lambda m: json.dumps({**m, "classes": [m["classes"][0]] * len(m["classes"])}),
             "nested_too_deep": lambda m: "[" * 100_000 + "]" * 100_000}
    model = _model(tmp_path, "bad.onnx", edits[case])
    pp = next((inputs / "SEG").glob("*_pp.png"))
    words = {"mm_per_pixel": "'mm_per_pixel'", "duplicate_classes": "'classes'", "nested_too_deep": "damaged"}
    _refused(["segment", "--input_model", model, "--input_path", pp, "--output_path", tmp_path / "o.nc"],
             "bad.onnx", words[case])
    assert not (tmp_path / "o.nc").exists()


def test_the_library_says_which_setting_left_no_phase_and_negative_counts_are_named():
    from phaselib.datasets import make_rock
    from phaselib.pipeline import map_phases

    image = make_rock((24, 30), counts_per_pixel=150, seed=1).image
    with pytest.raises(ValueError, match="membership threshold 1 of fuzzy c-means; give a lower"):
        map_phases(image, method="fuzzy-cmeans", membership_threshold=1.0)
    negative = dataclasses.replace(image, data=-2 * np.ones(image.shape, np.int16))
    with pytest.raises(ValueError, match="The map holds negative values"):
        map_phases(negative)


def test_a_phase_with_too_few_grains_says_so_in_words(tmp_path):
    """A single grain has no size distribution: said in the JSON and on stderr, not as a library error."""
    labels = np.zeros((40, 50), np.int16)
    labels[10:20, 10:22] = 1  # one grain of phase 1
    np.save(tmp_path / "one.npy", labels)
    code, err = cli_main(["grains", str(tmp_path / "one.npy"), "--out", str(tmp_path / "g")])
    assert code == 0, err
    stats = json.loads((tmp_path / "g" / "size_stats.json").read_text())
    one = stats["phases"]["1"]
    assert one["n_grains"] == 1
    for key in ("size_statistics", "csd"):
        assert one[key] == {"skipped": "1 grain(s), too few"}, one[key]
    assert "phase 1: no size statistics (1 grain(s), too few)" in err
    assert "`diameters`" not in json.dumps(stats)


def test_numbers_asked_are_bounded_and_far_energy_bounds_are_the_axis(inputs, tmp_path):
    """Fuzz campaign, session 45: ``--n-phases 999`` (or ``--n-components``) with per-pixel clusters ran for hours on a
    40 x 50 map (the merge tests pairs of phases after every merge); the most asked is now 64 (in words, at once),
    and 64 phases end (the linear programs of the one-mineral-through-two-hosts test run below 33 phases). An
    energy window up to 1e308 keV ended in "could not complete (OverflowError)": it is the axis."""
    from phaselib.datasets import make_rock
    from phaselib.pipeline import map_phases

    _refused(["map", inputs / "rock.npy", *NPY, "--out", tmp_path / "a", "--n-components", "999"],
             "--n-components", "at most 64")
    with pytest.raises(ValueError, match="n_phases"):
        map_phases(make_rock((24, 30), counts_per_pixel=50, seed=1).image, n_phases=999)
    code, err = _run(["map", inputs / "rock.npy", *NPY, "--out", tmp_path / "b", "--n-phases", "64",
                      "--spatial-prior", "off"], timeout=240)
    assert code == 0, err
    for cmd in (["map", inputs / "rock.npy", *NPY, "--out", tmp_path / "c"],
                ["precompute", inputs / "rock.npy", *NPY, "--out", tmp_path / "c.npz"]):
        code, err = _run([*cmd, "--energy-range", "0.1", "1e308"])
        assert code == 0 and "Overflow" not in err, err
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["params"]["energy_range"][1] == pytest.approx(20.27, abs=0.02)


def test_grains_prints_sizes_in_the_unit_it_announces(inputs, tmp_path, capsys):
    """With no pixel size known, ``grains`` noted "sizes are in pixels" and then printed them in um."""
    from phaselib._cli import main

    (tmp_path / "nopx").mkdir()
    shutil.copy(inputs / "res" / "labels.npy", tmp_path / "nopx" / "labels.npy")
    for folder, unit in ((tmp_path / "nopx", "px"), (_copy(inputs, tmp_path), "um")):
        assert main(["grains", str(folder), "--out", str(tmp_path / f"g_{unit}")]) == 0
        out = capsys.readouterr()
        sizes = [ln for ln in out.out.splitlines() if "median diameter" in ln]
        assert sizes and all(f" {unit}, KDE peak" in ln for ln in sizes), out.out
        assert ("sizes are in pixels" in out.err) == (unit == "px")


def test_n_components_on_the_spatial_prior_path_is_said_unused(tmp_path):
    """At low counts the spatial prior starts from a binned copy's components: --n-components was taken and
    silently not used (exit 0, summary.json with another number)."""
    from phaselib.datasets import make_rock

    np.save(tmp_path / "low.npy", make_rock((24, 30), counts_per_pixel=20, seed=1).image.data)
    code, err = _run(["map", tmp_path / "low.npy", *NPY, "--out", tmp_path / "o", "--n-components", "3"])
    assert code == 0 and "--n-components 3 is not used at these counts" in err, err
    code, err = _run(["map", tmp_path / "low.npy", *NPY, "--out", tmp_path / "p", "--n-components", "3",
                      "--spatial-prior", "off"])
    assert code == 0 and "not used" not in err, err


@pytest.mark.parametrize("spatial", ["on", "off"])
def test_a_narrow_energy_window_is_decomposed_on_its_channels(inputs, tmp_path, spatial):
    """A window of 6 channels was refused as "`n_components` must be an integer in [1, 6], got 24": the default
    components are held to the window (both paths). Its few counts are warned of, in the window's words."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("default", UserWarning)  # printed, not raised (the command shows warnings)
        code, err = _run(["map", inputs / "rock.npy", *NPY, "--out", tmp_path / "o", "--energy-range", "5", "5.05",
                          "--spatial-prior", spatial])
    assert code == 0 and "n_components" not in err, err
    assert "counts per pixel in the energy window 5.0-5.05 keV" in err
