"""`grains` on masks made elsewhere (session 59): an ImageJ mask (PNG / TIFF, 0 and 255, or inverted), a class map
whose 0 is the background, a 16-bit label TIFF of grains already separated, a boolean .npy; the units of the files
when the pixel size is unknown; grains cut by the border and pixels left in no grain said."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from skimage.draw import disk, line
from skimage.measure import regionprops

from phaselib import _cli as cli

#: touching and apart discs of known radii (centre row, centre col, radius); the first two touch, the last two are
#: cut by the border
DISCS = ((40, 40, 15), (40, 70, 15), (95, 50, 20), (60, 140, 12), (0, 100, 10), (70, 179, 14))


def _truth(shape=(120, 180)):
    ids = np.zeros(shape, np.uint16)
    for i, (r, c, rad) in enumerate(DISCS, 1):
        rr, cc = disk((r, c), rad, shape=shape)
        free = ids[rr, cc] == 0
        ids[rr[free], cc[free]] = i
    return ids


def _run(capsys, *argv):
    code = cli.main(["grains", *map(str, argv)])
    return code, capsys.readouterr()


def _rows(folder, name="grains.csv"):
    with open(folder / name, newline="") as fh:
        return list(csv.DictReader(fh))


def _assert_discs(rows, ids, px=1.0, unit="px"):
    """The grains found are the discs drawn: count and each equivalent diameter (regionprops) within 1 %."""
    true = sorted(r.equivalent_diameter_area * px for r in regionprops(ids))
    found = sorted(float(r[f"equivalent_diameter_{unit}"]) for r in rows)
    assert len(found) == len(true)
    assert np.allclose(found, true, rtol=0.01)


@pytest.mark.parametrize("name", ["mask.png", "mask.tif", "inverted.png"])
def test_an_imagej_mask_picture_is_read(tmp_path, capsys, name):
    """A 0 / 255 mask as ImageJ saves it (PNG, TIFF) was refused ('not a .npy file'); black grains on white with
    --background 255."""
    import tifffile
    from PIL import Image

    ids = _truth()
    mask = (ids > 0).astype(np.uint8) * 255
    extra = []
    if name == "inverted.png":
        mask, extra = 255 - mask, ["--background", 255]
    if name.endswith(".tif"):
        tifffile.imwrite(tmp_path / name, mask)
    else:
        Image.fromarray(mask).save(tmp_path / name)
    code, out = _run(capsys, tmp_path / name, "--out", tmp_path / "g", *extra)
    assert code == 0, out.err
    assert "is a mask" in out.err and "phase 0" in out.err
    _assert_discs(_rows(tmp_path / "g"), ids)


def test_a_label_tiff_of_grains_is_measured_as_it_is(tmp_path, capsys):
    """A 16-bit label TIFF (0 background): refused before; with --grain-ids its grains are regionprops' own, the
    touching pair included (they are not merged or split), at the pixel size given."""
    import tifffile

    ids = _truth()
    tifffile.imwrite(tmp_path / "ids.tif", ids)
    code, out = _run(capsys, tmp_path / "ids.tif", "--out", tmp_path / "g", "--grain-ids", "--pixel-size", 2.5)
    assert code == 0, out.err
    rows = _rows(tmp_path / "g")
    props = sorted(regionprops(ids), key=lambda r: r.centroid)
    rows = sorted(rows, key=lambda r: (float(r["centroid_row"]), float(r["centroid_col"])))
    assert len(rows) == len(props) and {r["phase"] for r in rows} == {"0"}
    for r, p in zip(rows, props):
        assert int(r["area_px"]) == p.area
        assert float(r["equivalent_diameter_um"]) == pytest.approx(2.5 * p.equivalent_diameter_area)
        assert float(r["perimeter_um"]) == pytest.approx(2.5 * p.perimeter)
        assert float(r["centroid_row"]) == pytest.approx(p.centroid[0])
    # without --grain-ids every level is a phase: said, with the option's name
    code, out = _run(capsys, tmp_path / "ids.tif", "--out", tmp_path / "h")
    assert code == 0 and "--grain-ids" in out.err


def test_a_class_map_whose_zero_is_the_background(tmp_path, capsys):
    """A QEMSCAN-like class map (0 background, 1 and 2 minerals) as .npy: with --background 0 its phases are 1 and
    2 (level 0 was a phase: one grain across the map)."""
    ids = _truth()
    classes = np.where(ids == 0, 0, np.where(ids % 2 == 1, 1, 2)).astype(np.int16)
    np.save(tmp_path / "classes.npy", classes)
    code, out = _run(capsys, tmp_path / "classes.npy", "--out", tmp_path / "g", "--background", 0)
    assert code == 0, out.err
    rows = _rows(tmp_path / "g")
    assert {r["phase"] for r in rows} == {"1", "2"}
    _assert_discs(rows, ids)
    code, out = _run(capsys, tmp_path / "classes.npy", "--out", tmp_path / "h", "--background", 7)
    assert code == 2 and "--background 7" in out.err and "Traceback" not in out.err
    from PIL import Image

    Image.fromarray(classes.astype(np.uint8)).save(tmp_path / "classes.png")  # a picture: a slip said as well
    code, out = _run(capsys, tmp_path / "classes.png", "--out", tmp_path / "h", "--background", 7)
    assert code == 2 and "--background 7" in out.err


def test_units_are_pixels_when_the_pixel_size_is_unknown(tmp_path, capsys):
    """A boolean mask has no pixel size: grains.csv, csd.csv and size_stats.json said um (1 um per pixel) while the
    console said px, and --growth-rate gave a residence time from pixels read as um."""
    ids = _truth()
    np.save(tmp_path / "mask.npy", ids > 0)
    code, out = _run(capsys, tmp_path / "mask.npy", "--out", tmp_path / "px", "--growth-rate", 1e-5, "--csd-bins", 3)
    assert code == 0, out.err
    rows = _rows(tmp_path / "px")
    assert not any(k.endswith(("_um", "_um2")) for k in rows[0])
    _assert_discs(rows, ids)
    with open(tmp_path / "px" / "csd.csv", newline="") as fh:
        assert next(csv.reader(fh))[1:4] == ["size_min_px", "size_max_px", "size_px"]
    stats = json.loads((tmp_path / "px" / "size_stats.json").read_text())
    assert stats["units"] == "px" and stats["diameters"].endswith("px") and "section_area_um2" not in stats
    assert stats["phases"]["0"]["csd"]["residence_time"] is None and "no pixel size" in out.err
    code, out = _run(capsys, tmp_path / "mask.npy", "--out", tmp_path / "um", "--pixel-size", 2)
    assert code == 0
    _assert_discs(_rows(tmp_path / "um"), ids, px=2.0, unit="um")
    assert json.loads((tmp_path / "um" / "size_stats.json").read_text())["section_area_um2"] == ids.size * 4


def test_border_grains_and_pixels_in_no_grain_are_said(tmp_path, capsys):
    """Two discs cut by the border are counted in the statistics: said, with their number; a diagonal 1-px line
    (8-connected) falls apart into 4-connected specks under --min-area: the pixels left out are said."""
    ids = _truth()
    mask = ids > 0
    rr, cc = line(100, 100, 115, 130)
    mask[rr, cc] = True
    np.save(tmp_path / "mask.npy", mask)
    code, out = _run(capsys, tmp_path / "mask.npy", "--out", tmp_path / "g")
    assert code == 0, out.err
    entry = json.loads((tmp_path / "g" / "size_stats.json").read_text())["phases"]["0"]
    rows = _rows(tmp_path / "g")
    assert entry["n_touching_border"] == sum(r["touches_border"] == "True" for r in rows) == 2
    assert "2 of its 6 grains touch the map's border" in out.err
    assert entry["pixels_in_no_grain"] == len(rr)  # 1 % of the phase: in the file only
    lone = np.zeros((60, 60), bool)
    lone[20:30, 20:30], lone[45, 45] = True, True
    np.save(tmp_path / "lone.npy", lone[:, ::-1])
    code, out = _run(capsys, tmp_path / "lone.npy", "--out", tmp_path / "h", "--min-area", 101)
    assert code == 0 and "101 of its 101 pixels (100 %) are in no grain (pieces under --min-area 101 px)" in out.err


def test_an_empty_mask_is_refused_in_words(tmp_path, capsys):
    np.save(tmp_path / "empty.npy", np.zeros((20, 30), bool))
    code, out = _run(capsys, tmp_path / "empty.npy", "--out", tmp_path / "g")
    assert code == 2 and "no True pixel" in out.err and "negative" not in out.err
    from PIL import Image

    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "black.png")
    code, out = _run(capsys, tmp_path / "black.png", "--out", tmp_path / "g")
    assert code == 2 and "background level 0 only" in out.err
    Image.fromarray(np.dstack([np.zeros((20, 30), np.uint8), np.full((20, 30), 200, np.uint8),
                               np.zeros((20, 30), np.uint8)])).save(tmp_path / "green.png")
    code, out = _run(capsys, tmp_path / "green.png", "--out", tmp_path / "g")
    assert code == 2 and "colour picture" in out.err
