"""Deep segmentation's readers on valid but unusual inputs (each case was read wrongly, without a word, before)."""

from pathlib import Path

import numpy as np
import pytest

from phaselib.datasets import make_thin_section
from phaselib.deep._data import read_image, read_labels, upsample_labels
from phaselib.deep._netcdf import label_rows, parse_label_rows, read_netcdf, write_netcdf


def test_a_16_bit_grey_image_is_scaled_to_8_bits(tmp_path):
    from PIL import Image

    bse = make_thin_section((48, 64), rock="granite", seed=5).bse
    Image.fromarray(bse).save(tmp_path / "bse8.png")
    Image.fromarray(bse.astype(np.uint16) * 257).save(tmp_path / "bse16.png")  # a 16-bit detector's levels
    Image.fromarray(bse.astype(np.float32) / 255).save(tmp_path / "bse.tif")  # floats from 0 to 1
    eight = read_image(tmp_path / "bse8.png")
    for name in ("bse16.png", "bse.tif"):  # convert("L") clipped every 16-bit level to 255 before
        np.testing.assert_allclose(read_image(tmp_path / name).astype(int), eight.astype(int), atol=1)


def test_a_label_map_painted_in_colours_is_refused(tmp_path):
    from PIL import Image

    labels = np.zeros((20, 30, 3), np.uint8)
    labels[:10] = (230, 159, 0)  # two classes painted in classes.csv colours: the red channel was read as classes
    labels[10:] = (0, 114, 178)
    Image.fromarray(labels).save(tmp_path / "colour.png")
    with pytest.raises(ValueError, match="colour image: save the class indices"):
        read_labels(tmp_path / "colour.png")
    grey = np.repeat(np.arange(20, dtype=np.uint8)[:, None, None] % 3, 30, 1).repeat(3, 2)  # grey saved as RGB
    Image.fromarray(grey).save(tmp_path / "grey_rgb.png")
    np.testing.assert_array_equal(read_labels(tmp_path / "grey_rgb.png"), grey[..., 0])



def test_label_pictures_are_read_as_ids_not_as_an_image(tmp_path):
    """A 16-bit label PNG (as skimage, ImageJ and QuPath save them) went through the BSE rule (levels / 257): ids 0-3
    all 0, ids 100-400 three classes. A palette PNG (annotation tools) gave its colours, refused or 181 "classes".
    255, the usual ignore value, was class 255 of a 256-class model."""
    from PIL import Image

    ids = np.repeat(np.arange(4, dtype=np.int64), 6).reshape(4, 6)
    Image.fromarray(ids.astype(np.uint16)).save(tmp_path / "small16.png")
    Image.fromarray((ids * 100 + 100).astype(np.uint16)).save(tmp_path / "sparse16.png")
    pal = Image.fromarray(ids.astype(np.uint8), mode="P")
    pal.putpalette([230, 159, 0, 0, 114, 178, 0, 158, 115, 240, 228, 66] + [0] * 756)
    pal.save(tmp_path / "palette.png")
    grey = Image.fromarray((ids * 60).astype(np.uint8), mode="P")
    grey.putpalette([v for i in range(256) for v in (i, i, i)])
    grey.save(tmp_path / "grey_palette.png")
    holes = ids.astype(np.uint8)
    holes[0] = 255
    Image.fromarray(holes).save(tmp_path / "ignore.png")
    np.testing.assert_array_equal(read_labels(tmp_path / "small16.png"), ids)
    np.testing.assert_array_equal(read_labels(tmp_path / "sparse16.png"), ids * 100 + 100)
    np.testing.assert_array_equal(read_labels(tmp_path / "palette.png"), ids)
    np.testing.assert_array_equal(read_labels(tmp_path / "grey_palette.png"), ids * 60)
    np.testing.assert_array_equal(read_labels(tmp_path / "ignore.png"), np.where(np.arange(4)[:, None] == 0, -1, ids))

def test_label_maps_of_another_shape_than_their_images_are_refused():
    lab = np.arange(86 * 86).reshape(86, 86) % 5
    assert upsample_labels(lab, (256, 256)).shape == (256, 256)  # 3 px label pixels: 2.98 times coarser
    for shape in ((64, 32), (128, 128), (93, 64)):  # another aspect, larger, transposed: stretched before
        with pytest.raises(ValueError, match="coarser by one factor both ways"):
            upsample_labels(np.zeros(shape, np.int16), (64, 64))


def test_netcdf_keeps_a_names_comma_and_the_inputs_coordinates(tmp_path):
    xr = pytest.importorskip("xarray")
    names, colours = ["K-feldspar", "quartz, clear", "biotite"], ["#0072B2", "#E69F00", "#009E73"]
    assert parse_label_rows(label_rows(names, colours)) == (names, colours)  # the names after it shifted
    s = make_thin_section((32, 1), rock="granite", seed=3)
    for shape, origin in (((32, 1), (0.0, 0.0)), ((32, 1), (3.0, 12.5))):
        h, w = shape
        ds = xr.Dataset({"s_pp": (("y", "x", "c"), s.pp[:h, :w])},
                        coords={"y": ("y", origin[0] + 0.01 * np.arange(h), {"units": "mm"}),
                                "x": ("x", origin[1] + 0.01 * np.arange(w), {"units": "mm"})})
        ds.to_netcdf(tmp_path / "in.nc", engine="h5netcdf")
        images, mm, base, _ = read_netcdf(tmp_path / "in.nc", {"pp": "_pp"})
        assert mm == 0.01  # a one-column image: the scale from y (the caller's 0.5 was used)
        out = tmp_path / f"out{origin[0]}.nc"
        write_netcdf(out, "s", np.zeros(shape, np.int16), names, colours, images, mm, base=base)
        back = xr.load_dataset(out, engine="h5netcdf")
        np.testing.assert_allclose(back["y"].values, ds["y"].values)  # the origin kept (it restarted at 0)
        np.testing.assert_allclose(back["x"].values, ds["x"].values)


def test_the_cli_notes_a_small_image_whose_own_means_set_its_gains(tmp_path, capsys):
    from phaselib._cli import main
    from phaselib.datasets import write_training_folder

    model = Path(__file__).resolve().parents[1] / "dashboards" / "data" / "deep_model.onnx"
    write_training_folder(tmp_path / "in", [make_thin_section((40, 40), rock="granite", seed=1),
                                            make_thin_section((160, 160), rock="granite", seed=2)], ["crop", "whole"])
    capsys.readouterr()
    assert main(["segment", "--input_model", str(model), "--input_path", str(tmp_path / "in"), "--output_path",
                 str(tmp_path / "out"), "--views", "1"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "own means" in line]
    assert len(notes) == 1 and notes[0].startswith("phaselib: note: crop: 40 x 40 pixels")
    for tile in ("100", "8"):  # refused once, before any set (said per set, of an overlap margin one cannot set)
        assert main(["segment", "--input_model", str(model), "--input_path", str(tmp_path / "in"), "--output_path",
                     str(tmp_path / f"out{tile}"), "--tile", tile]) == 2
        err = capsys.readouterr().err
        assert err.count("phaselib: error: --tile must be a multiple of 8 of at least 136 px") == 1
        assert not (tmp_path / f"out{tile}").exists()


def test_two_pictures_of_one_role_in_a_set_are_refused(tmp_path):
    from PIL import Image

    from phaselib.deep._data import find_sets

    s = make_thin_section((16, 16), rock="granite", seed=1)
    Image.fromarray(s.pp).save(tmp_path / "a_pp.png")
    Image.fromarray(s.xp).save(tmp_path / "a_xp.png")
    assert list(find_sets(tmp_path, {"pp": "_pp", "xp": "_xp"})) == ["a"]
    Image.fromarray(s.xp).save(tmp_path / "a_pp.jpg")  # another picture under the same name: one was taken silently
    with pytest.raises(ValueError, match="a_pp.jpg and a_pp.png are both the PP image of one set"):
        find_sets(tmp_path, {"pp": "_pp", "xp": "_xp"})
    (tmp_path / "a_pp.jpg").unlink()
    for name in ("S1_2_pp.png", "S1_2_xp.png", "S1_pp_2.png", "S1_xp_2.png"):  # two naming habits, one set name
        Image.fromarray(s.pp).save(tmp_path / name)
    with pytest.raises(ValueError, match="S1_2_pp.png and S1_pp_2.png belong to two sets whose name is S1_2"):
        find_sets(tmp_path, {"pp": "_pp", "xp": "_xp"})


def test_inference_refuses_one_pattern_for_two_inputs(tmp_path, capsys):
    """`--pp_pattern _xp` on a model whose XP pattern is `_xp` read one picture as both PP and XP (training refuses
    equal patterns); now one line, exit status 2, nothing written."""
    from PIL import Image

    from phaselib._cli import main

    model = Path(__file__).resolve().parents[1] / "dashboards" / "data" / "deep_model.onnx"
    s = make_thin_section((40, 40), rock="granite", seed=1)
    Image.fromarray(s.pp).save(tmp_path / "a_pp.png")
    Image.fromarray(s.xp).save(tmp_path / "a_xp.png")
    capsys.readouterr()
    assert main(["segment", "--input_model", str(model), "--input_path", str(tmp_path / "a_xp.png"),
                 "--output_path", str(tmp_path / "out"), "--pp_pattern", "_xp"]) == 2
    assert "the patterns must differ" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_cameras_orientation_tag_is_applied(tmp_path):
    """A camera's picture stored on its side with EXIF Orientation 6 (viewers turn it upright) was read as stored: a
    PP / XP pair refused as of two sizes or, square, segmented misaligned."""
    from PIL import Image

    upright = make_thin_section((40, 64), rock="granite", seed=5).pp
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to show"
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1)))
    stored.save(tmp_path / "side.png", exif=exif)
    stored.save(tmp_path / "side.jpg", exif=exif, quality=98)
    np.testing.assert_array_equal(read_image(tmp_path / "side.png"), upright)
    assert np.abs(read_image(tmp_path / "side.jpg").astype(int) - upright).mean() < 3


@pytest.mark.parametrize("rows, words", [
    (["feldspar,1,#885522", "feldspar,2,#223344"], "names 'feldspar' twice (Index 1 and 2)"),
    ([",2,#885522"], "gives class 2 no name"),
    (["biotite,2,brown"], "must be #RRGGBB, got 'brown'"),
    (["biotite,2,FFFFCC"], "must be #RRGGBB"),
])
def test_a_classes_file_is_checked_before_training(tmp_path, rows, words):
    """A name given twice or empty was refused only after the whole training ("the model is not a usable ... model");
    a colour like ``brown`` was kept, then broke ``evaluate`` and the dashboard page ("invalid literal for int()")."""
    from phaselib.deep._data import read_classes

    (tmp_path / "classes.csv").write_text("Name,Index,Color\nquartz,0,#FFFFCC\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        read_classes(tmp_path, 3)
    (tmp_path / "classes.csv").write_text("Name,Index,Color\nquartz,0,#FFC\nbiotite,1,#223344\n")
    assert read_classes(tmp_path, 2) == (["quartz", "biotite"], ["#FFFFCC", "#223344"])


def test_a_float_or_16_bit_colour_tiff_is_read(tmp_path):
    """A float32 RGB TIFF (tifffile's and scikit-image's default for processed pictures) was "damaged or truncated"."""
    import tifffile

    pp = make_thin_section((40, 64), rock="granite", seed=5).pp
    tifffile.imwrite(tmp_path / "f.tif", pp.astype(np.float32) / 255, photometric="rgb")
    tifffile.imwrite(tmp_path / "s.tif", pp.astype(np.uint16) * 257, photometric="rgb")
    for name in ("f.tif", "s.tif"):
        np.testing.assert_array_equal(read_image(tmp_path / name), pp)
    tifffile.imwrite(tmp_path / "big.tif", pp.astype(np.float32) * 4, photometric="rgb")  # no 0-1 fractions
    with pytest.raises(ValueError, match="levels"):
        read_image(tmp_path / "big.tif")
