"""Bad input through the newer readers: TIFF stacks, FITS cubes and frames, PNG labels and
radiographs, segmentation models and netCDF outputs (found by a fuzzing pass, session 15).

Each case runs the command line in a forked child (``_badfiles.guarded``: a hang or a crash is a
failed test). A damaged file gives exit status 2 and one line naming the file, never its folder,
never the libraries' own complaints (tifffile's log, astropy's warnings); it is never read with
the missing part as zeros; an output never replaces an input.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from _badfiles import cli_main, digest, guarded, make_fifo

from phaselib.datasets import make_spotty_radiograph, make_tof

MODEL = Path(__file__).resolve().parents[1] / "dashboards" / "data" / "deep_model.onnx"
AXIS = ["--axis-offset", "1", "--axis-scale", "0.05"]


def _cli(argv):
    """(exit status, stderr) of ``python -m phaselib argv`` run in a forked child."""
    kind, value, _ = guarded(cli_main, argv, timeout=90)
    assert kind == "ok", (kind, value)
    return value


def _refused(argv, name, folder):
    code, err = _cli(argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("phaselib: error:"), err
    assert name in lines[0] and str(folder) not in err, err
    assert "tifffile" not in err and "WARNING" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def cubes(tmp_path_factory):
    """A small ToF cube as a TIFF stack, a FITS cube and a folder of FITS frames."""
    import tifffile
    from astropy.io import fits

    d = tmp_path_factory.mktemp("cubes")
    cube = make_tof((16, 20), n_channels=40, seed=3).image.data.astype(np.float32)  # (H, W, C)
    stack = np.ascontiguousarray(np.moveaxis(cube, -1, 0))  # (C, H, W): one page per bin
    tifffile.imwrite(d / "cube.tif", stack)
    with tifffile.TiffWriter(d / "plain.tif") as tif:  # pages without tifffile's shape metadata (other writers)
        for frame in stack:
            tif.write(frame, metadata=None, contiguous=False)
    fits.PrimaryHDU(stack).writeto(d / "cube.fits")
    (d / "frames").mkdir()
    for i, frame in enumerate(stack):
        fits.PrimaryHDU(frame).writeto(d / "frames" / f"f{i:03d}.fits")
    return d


def test_the_valid_cubes_are_read(cubes, tmp_path):
    for name in ("cube.tif", "plain.tif", "cube.fits", "frames"):
        code, err = _cli(["map", str(cubes / name), "--signal", "intensity", "--n-phases", "3", "--quiet", *AXIS,
                          "--out", str(tmp_path / name.replace(".", "_"))])
        assert code == 0, err


@pytest.mark.parametrize("name", ["cube.tif", "plain.tif"])
def test_a_truncated_tiff_stack_is_refused(cubes, tmp_path, name):
    import tifffile

    data = (cubes / name).read_bytes()
    with tifffile.TiffFile(cubes / name) as tif:
        last = tif.pages[-1]
        pixels, directory = int(last.dataoffsets[0]) + 8, last.offset + 4
    # the last page's directory cut: tifffile logs it and reads the other pages (one bin fewer);
    # half the file; pixels cut short
    for cut in (directory, len(data) // 2, pixels):
        path = tmp_path / f"cut{cut}.tif"
        path.write_bytes(data[:cut])
        _refused(["map", str(path), "--signal", "intensity", "--quiet", *AXIS, "--out", str(tmp_path / "o")],
                 path.name, tmp_path)
        assert not (tmp_path / "o").exists()


def test_a_truncated_fits_cube_is_refused_not_padded_with_zeros(cubes, tmp_path):
    data = (cubes / "cube.fits").read_bytes()
    for cut in (len(data) - 100, len(data) // 2):  # astropy warns, pads with zeros and reads the rest
        path = tmp_path / f"cut{cut}.fits"
        path.write_bytes(data[:cut])
        _refused(["map", str(path), "--signal", "intensity", "--quiet", *AXIS, "--out", str(tmp_path / "o")],
                 path.name, tmp_path)


def test_a_fifo_among_fits_frames_does_not_hang(cubes, tmp_path):
    import shutil

    frames = tmp_path / "frames"
    shutil.copytree(cubes / "frames", frames)
    os.remove(frames / "f010.fits")
    make_fifo(frames / "f010.fits")
    line = _refused(["map", str(frames), "--signal", "intensity", "--quiet", *AXIS, "--out", str(tmp_path / "o")],
                    "f010.fits", tmp_path)
    assert "FIFO" in line


@pytest.fixture(scope="module")
def radiograph(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("radio")
    s = make_spotty_radiograph((48, 64), seed=2)
    Image.fromarray(np.clip(s.image, 0, 65535).astype(np.uint16)).save(d / "radio.png")
    mask = s.spots.astype(np.int8)
    mask[:, 32:] = -1
    np.save(d / "mask.npy", mask)
    return d


def test_a_png_cut_by_one_byte_is_refused(radiograph, tmp_path):
    data = (radiograph / "radio.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[:-1])  # the end chunk's checksum: Pillow decodes the pixels all the same
    _refused(["spots", str(path), "--train", str(radiograph / "mask.npy"), "--out", str(tmp_path / "o")],
             "cut.png", tmp_path)
    code, err = _cli(["spots", str(radiograph / "radio.png"), "--train", str(radiograph / "mask.npy"),
                      "--out", str(tmp_path / "whole")])
    assert code == 0, err


def test_a_uint8_mask_of_255_is_not_taken_as_unlabelled(radiograph, tmp_path):
    mask = np.load(radiograph / "mask.npy").astype(np.uint8)  # -1 wraps to 255
    np.save(tmp_path / "mask255.npy", mask)
    line = _refused(["spots", str(radiograph / "radio.png"), "--train", str(tmp_path / "mask255.npy"),
                     "--out", str(tmp_path / "o")], "", tmp_path)
    assert "1 (spot), 0" in line


def test_absurd_counts_and_prior_are_refused_in_words(tmp_path):
    huge = np.full((6, 8, 30), 1e30, np.float32)
    np.save(tmp_path / "huge.npy", huge)
    line = _refused(["map", str(tmp_path / "huge.npy"), "--quiet", *AXIS, "--out", str(tmp_path / "o")], "", tmp_path)
    assert "--signal intensity" in line
    from phaselib.datasets import make_rock

    rock = make_rock((12, 16), counts_per_pixel=50, seed=1)
    np.save(tmp_path / "rock.npy", rock.image.data)
    np.save(tmp_path / "labels.npy", np.where(np.arange(12 * 16).reshape(12, 16) % 7 == 0, rock.labels, -1))
    line = _refused(["classify", str(tmp_path / "rock.npy"), "--energy-offset", "0", "--energy-scale", "0.01",
                     "--labels", str(tmp_path / "labels.npy"), "--beta", "1e308", "--out", str(tmp_path / "c")],
                    "", tmp_path)
    assert "beta" in line


def test_classes_outside_the_crop_are_left_out_with_a_note(tmp_path):
    from phaselib.datasets import make_rock

    rock = make_rock((40, 60), counts_per_pixel=60, seed=2)
    np.save(tmp_path / "rock.npy", rock.image.data)
    labels = np.full(rock.labels.shape, -1, np.int16)
    labels[:20, :30] = np.where(rock.labels[:20, :30] < 3, rock.labels[:20, :30], -1)[:20, :30]
    labels[30:, 50:] = 3  # a class painted only outside the crop
    np.save(tmp_path / "labels.npy", labels)
    code, err = _cli(["classify", str(tmp_path / "rock.npy"), "--energy-offset", "0", "--energy-scale", "0.01",
                      "--labels", str(tmp_path / "labels.npy"), "--crop", "0:20,0:30", "--quiet",
                      "--out", str(tmp_path / "c")])
    assert code == 0 and "no labelled pixel of class 3" in err, err
    assert set(np.unique(np.load(tmp_path / "c" / "labels.npy"))) <= {0, 1, 2}


def test_warnings_reach_the_user_without_paths(tmp_path):
    cube = make_tof((16, 24), n_channels=30, seed=1).image.data.astype(np.float32)[:1]  # one row
    np.save(tmp_path / "row.npy", cube)
    code, err = _cli(["map", str(tmp_path / "row.npy"), "--signal", "intensity", "--n-phases", "2", "--quiet",
                      *AXIS, "--out", str(tmp_path / "o")])
    assert code == 0, err
    assert "/" not in err and "Warning:" not in err, err


@pytest.fixture(scope="module")
def segment_inputs(tmp_path_factory):
    from phaselib.datasets import make_thin_section, write_training_folder

    d = tmp_path_factory.mktemp("seg")
    write_training_folder(d, [make_thin_section((64, 72), rock="granite", seed=7)])
    return d


def test_a_segmentation_never_replaces_its_input_even_with_overwrite(segment_inputs, tmp_path):
    pp = next(segment_inputs.glob("*_pp.png"))
    first = tmp_path / "first.nc"
    code, err = _cli(["segment", "--input_model", str(MODEL), "--input_path", str(pp), "--output_path", str(first)])
    assert code == 0, err
    before = digest(first)
    line = _refused(["segment", "--input_model", str(MODEL), "--input_path", str(first), "--output_path", str(first),
                     "--overwrite"], "first.nc", tmp_path)
    assert "input" in line and digest(first) == before
    _refused(["segment", "--input_model", str(MODEL), "--input_path", str(pp), "--output_path", str(first),
              "--mm_per_pixel", "inf"], "mm_per_pixel", tmp_path)


@pytest.mark.parametrize("field,value", [("std", 0.0), ("classes", []), ("mm_per_pixel", -1.0), ("channels", 0)])
def test_a_model_with_damaged_metadata_is_refused(segment_inputs, tmp_path, field, value):
    import json

    import onnx

    proto = onnx.load(str(MODEL))
    entry = next(p for p in proto.metadata_props if p.key == "phaselib")
    meta = json.loads(entry.value)
    meta[field] = [value] * len(meta[field]) if field in ("std", "channels") else value
    entry.value = json.dumps(meta)
    onnx.save(proto, str(tmp_path / "bad.onnx"))
    pp = next(segment_inputs.glob("*_pp.png"))
    line = _refused(["segment", "--input_model", str(tmp_path / "bad.onnx"), "--input_path", str(pp),
                     "--output_path", str(tmp_path / "out.nc")], "bad.onnx", tmp_path)
    assert f"'{field}'" in line and not (tmp_path / "out.nc").exists()


@pytest.mark.parametrize("option", [["--threads", "100000"], ["--max-shift", "100000"], ["--max-minutes", "0"],
                                    ["--mm-per-pixel", "nan"], ["--pp-pattern", "_pp", "--xp-pattern", "_pp"]])
def test_training_options_that_crashed_or_hung_are_refused(segment_inputs, tmp_path, option):
    """--threads 100000 ended in a segmentation fault (OpenBLAS), --max-shift 100000 ran for ever,
    --max-minutes 0 divided by zero, --mm-per-pixel nan made a model no prediction would open."""
    _refused(["segment", "train", "--images", str(segment_inputs), "--out", str(tmp_path / "m.pt"), *option],
             option[0].lstrip("-") if option[0] != "--pp-pattern" else "_pp", tmp_path)
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("target", ["section_000_pp.png", "section_000_labels.npy", "classes.csv"])
def test_a_model_is_never_written_over_its_training_images(segment_inputs, tmp_path, target):
    import shutil

    folder = tmp_path / "train"
    shutil.copytree(segment_inputs, folder)
    before = digest(folder / target)
    _refused(["segment", "train", "--images", str(folder), "--out", str(folder / target), "--epochs", "1"],
             target, tmp_path)
    assert digest(folder / target) == before


def test_a_class_list_longer_than_the_label_maps_trains(segment_inputs, tmp_path):
    """classes.csv may name a class no label map holds any more (a speck refined away): the network
    then has an output for it, as the metadata has a name (a size mismatch stopped the training)."""
    import shutil

    folder = tmp_path / "train"
    shutil.copytree(segment_inputs, folder)
    with open(folder / "classes.csv", "a", encoding="utf-8") as fh:
        fh.write("unseen mineral,99,#123456\n")
    code, err = _cli(["segment", "train", "--images", str(folder), "--out", str(tmp_path / "m.pt"), "--epochs", "1",
                      "--tile", "32", "--max-minutes", "0.3"])
    assert code == 0, err
    from phaselib.deep import load_model

    assert load_model(tmp_path / "m.pt").classes[-1] == "unseen mineral"


def test_label_maps_that_would_wrap_or_mean_unlabelled_otherwise_are_refused(tmp_path):
    """A class id past 32767 was cast to int16 and merged into another class; a uint8 map with
    255 for "unlabelled" made 255 a class and 249 empty ones; a PNG of 65536 colours overflowed."""
    from PIL import Image

    from phaselib.datasets import make_rock

    rock = make_rock((16, 20), counts_per_pixel=50, seed=4)
    np.save(tmp_path / "rock.npy", rock.image.data)
    sparse = np.where(np.arange(16 * 20).reshape(16, 20) % 5 == 0, rock.labels, -1)
    wrap = sparse.astype(np.int64)
    wrap[0, 0] = 65536
    cases = {"wrap.npy": wrap,
             "u8.npy": np.where(sparse < 0, 255, sparse).astype(np.uint8)}
    for name, lab in cases.items():
        np.save(tmp_path / name, lab)
    photo = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)  # ~1600 colours, not a painting
    Image.fromarray(photo).save(tmp_path / "photo.png")
    for name, words in (("wrap.npy", "65536"), ("u8.npy", "255"), ("photo.png", "colours")):
        line = _refused(["classify", str(tmp_path / "rock.npy"), "--energy-offset", "0", "--energy-scale", "0.01",
                         "--labels", str(tmp_path / name), "--out", str(tmp_path / "o")], name, tmp_path)
        assert words in line, line


def test_a_netcdf_without_a_usable_scale_takes_the_given_one(segment_inputs, tmp_path):
    import xarray as xr

    pp = next(segment_inputs.glob("*_pp.png"))
    first = tmp_path / "first.nc"
    assert _cli(["segment", "--input_model", str(MODEL), "--input_path", str(pp), "--output_path", str(first)])[0] == 0
    with xr.open_dataset(first, engine="h5netcdf") as ds:
        bad = ds.load().assign_coords(x=np.full(ds.sizes["x"], np.nan))
    bad.to_netcdf(tmp_path / "nan_x.nc", engine="h5netcdf")
    code, err = _cli(["segment", "--input_model", str(MODEL), "--input_path", str(tmp_path / "nan_x.nc"),
                      "--output_path", str(tmp_path / "out.nc"), "--mm_per_pixel", "0.004"])
    assert code == 0, err
    with xr.open_dataset(tmp_path / "out.nc", engine="h5netcdf") as ds:
        assert np.allclose(np.diff(ds["x"].values), 0.004)


def test_a_palette_png_with_transparency_is_read(tmp_path):
    """Pillow warns when such a valid image is converted: the warning must not refuse it."""
    import warnings

    from PIL import Image

    from phaselib.io._images import read_picture

    im = Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), mode="P")
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    im.save(tmp_path / "painted.png", transparency=b"\x00\x80\xff")  # partial alpha: kept as bytes
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = read_picture(tmp_path / "painted.png", lambda im: im.convert("RGB"))  # Pillow warns here
    assert rgb.shape == (2, 2, 3) and tuple(rgb[0, 0]) == (255, 0, 0) and tuple(rgb[0, 1]) == (0, 255, 0)


# ----------------------------------------------------------------- found by the fuzzing pass of session 28
def test_a_png_whose_data_stop_early_is_refused_not_read_as_black_rows(radiograph, tmp_path):
    """Its data stream ends cleanly after half the rows, every checksum right: Pillow fills the rest with zeros."""
    import struct
    import zlib

    data = (radiograph / "radio.png").read_bytes()
    i = data.index(b"IDAT") - 4
    n = struct.unpack(">I", data[i:i + 4])[0]
    rows = zlib.decompress(data[i + 8:i + 8 + n])
    half = zlib.compress(rows[: len(rows) // 2])  # a valid stream of half the rows
    chunk = struct.pack(">I", len(half)) + b"IDAT" + half + struct.pack(">I", zlib.crc32(b"IDAT" + half))
    path = tmp_path / "short.png"
    path.write_bytes(data[:i] + chunk + data[i + 12 + n:])
    _refused(["spots", str(path), "--train", str(radiograph / "mask.npy"), "--out", str(tmp_path / "o")],
             "short.png", tmp_path)


def test_a_tiff_stack_with_a_page_of_another_shape_is_refused(cubes, tmp_path):
    """tifffile reads the pages of the first shape only: every bin after the odd page would move down one."""
    import tifffile

    stack = tifffile.imread(cubes / "cube.tif")
    path = tmp_path / "mixed.tif"
    with tifffile.TiffWriter(path) as tif:
        for k, frame in enumerate(stack):
            tif.write(frame[:-1] if k == 7 else frame, metadata=None, contiguous=False)
    line = _refused(["map", str(path), "--signal", "intensity", "--quiet", *AXIS, "--out", str(tmp_path / "o")],
                    "mixed.tif", tmp_path)
    assert "shapes" in line


def test_fits_with_a_zero_scale_or_text_axis_keywords_is_refused(radiograph, tmp_path):
    """BSCALE = 0 makes every pixel 0 (3072 'spots' of 3072 pixels before); a text CDELT3 was quoted in the message."""
    from astropy.io import fits

    img = np.load(radiograph / "mask.npy").astype(np.int16) + 100
    hdu = fits.PrimaryHDU(img)
    hdu.header["BSCALE"] = 0.0
    raw = hdu.header.tostring().encode() + img.astype(">i2").tobytes()
    (tmp_path / "zero.fits").write_bytes(raw + b"\0" * (-len(raw) % 2880))
    _refused(["spots", str(tmp_path / "zero.fits"), "--train", str(radiograph / "mask.npy"), "--out",
              str(tmp_path / "o1")], "zero.fits", tmp_path)
    cube = np.random.default_rng(0).random((40, 16, 20)).astype(np.float32)
    hdu = fits.PrimaryHDU(cube)
    hdu.header["CDELT3"] = "root:x:0:0:SECRET-LINE:/root"
    hdu.writeto(tmp_path / "text.fits")
    line = _refused(["map", str(tmp_path / "text.fits"), "--signal", "intensity", "--quiet", "--out",
                     str(tmp_path / "o2")], "text.fits", tmp_path)
    assert "SECRET" not in line


def test_a_constant_image_has_no_spots_to_find(radiograph, tmp_path):
    np.save(tmp_path / "flat.npy", np.full((48, 64), 7.0))
    _refused(["spots", str(tmp_path / "flat.npy"), "--train", str(radiograph / "mask.npy"), "--out",
              str(tmp_path / "o")], "constant", tmp_path)


def test_grains_does_not_hang_on_a_summary_that_is_a_fifo_or_a_device(tmp_path):
    labels = np.zeros((40, 50), np.int16)
    labels[5:20, 5:25] = 1
    for name, make in (("fifo", make_fifo), ("device", lambda p: p.symlink_to("/dev/zero"))):
        folder = tmp_path / name
        folder.mkdir()
        np.save(folder / "labels.npy", labels)
        make(folder / "summary.json")
        code, err = _cli(["grains", str(folder), "--out", str(tmp_path / f"out_{name}")])
        assert code == 0 and "pixel size unknown" in err, err  # summary.json left out, nothing read from it


def test_a_text_where_an_axis_number_is_expected_is_not_quoted(tmp_path):
    import h5py

    import phaselib
    from phaselib.datasets import make_rock

    path = phaselib.save(make_rock((24, 32), counts_per_pixel=50, seed=3).image, tmp_path / "m.hspy")
    with h5py.File(path, "a") as f:
        f["Experiments/EDS map/axis-2"].attrs["scale"] = "root:x:0:0:SECRET-LINE:/root"
    line = _refused(["map", str(path), "--quiet", "--out", str(tmp_path / "o")], "m.hspy", tmp_path)
    assert "SECRET" not in line and "a text where a number was expected" in line


def test_training_never_replaces_a_model_file_without_overwrite(segment_inputs, tmp_path):
    """`segment train --out FILE` wrote the model over an existing file (inference asks for --overwrite)."""
    for name in ("m.pt", "m.onnx"):  # the model, or its ONNX twin beside it
        (tmp_path / name).write_text("an earlier model")
        _refused(["segment", "train", "--images", str(segment_inputs), "--out", str(tmp_path / "m.pt"), "--epochs",
                  "1"], name, tmp_path)
        assert (tmp_path / name).read_text() == "an earlier model"
        (tmp_path / name).unlink()


@pytest.mark.parametrize("option", [["--bin-size", "evil"], ["--csd-bins", "evil"], ["--bandwidth", "auto"]])
def test_grains_refuses_an_unknown_bin_rule(tmp_path, option):
    """An unknown rule ended with exit 0, the size statistics left out and the error only inside size_stats.json."""
    from phaselib.datasets import make_rock

    np.save(tmp_path / "phase.npy", make_rock((40, 60), counts_per_pixel=20, seed=1).labels)
    _refused(["grains", str(tmp_path / "phase.npy"), "--out", str(tmp_path / "g"), *option], option[0], tmp_path)
    assert not (tmp_path / "g").exists()


def test_evaluate_refuses_to_merge_classes_the_model_does_not_have(segment_inputs, tmp_path):
    """--merge with a misspelt class ran with exit 0: the "merged" table was the plain one."""
    _refused(["segment", "evaluate", "--input_model", str(MODEL), "--input_path", str(segment_inputs), "--no_baseline",
              "--output_path", str(tmp_path / "e"), "--merge", "felsic=quartz,nosuchclass"], "nosuchclass", tmp_path)
