"""Label pictures a user brings: a palette PNG's transparent entries (tRNS) and the 16-bit "unlabelled" level."""

import numpy as np
from PIL import Image

from phaselib.deep._labels import read_labels, unlabelled_level

IDS = np.array([[0, 1, 2, 3], [3, 2, 1, 0], [1, 1, 3, 3]], np.uint8)
I16 = IDS.astype(np.int16)


def _palette(path, transparency):
    im = Image.fromarray(IDS, "P")
    im.putpalette([0, 0, 0, 230, 159, 0, 86, 180, 233, 255, 255, 255])
    im.save(path, **({} if transparency is None else {"transparency": transparency}))
    return path


def test_a_palette_pngs_transparent_entries_are_unlabelled(tmp_path):
    """An annotation tool's palette PNG whose background entry is transparent (tRNS): that entry was read as a class
    (index 3 here, 5 of 12 pixels), trained on and scored as one. Transparent pixels are now unlabelled, as the
    transparent pixels of an RGBA or LA picture already were; an opaque palette is read as before."""
    one = read_labels(_palette(tmp_path / "one.png", 3))  # tRNS of one entry
    assert np.array_equal(one, np.where(IDS == 3, -1, I16))
    alphas = read_labels(_palette(tmp_path / "alphas.png", bytes([0, 255, 255, 255])))  # entry 0 transparent
    assert np.array_equal(alphas, np.where(IDS == 0, -1, I16))
    assert np.array_equal(read_labels(_palette(tmp_path / "opaque.png", None)), I16)
    Image.fromarray(IDS, "L").save(tmp_path / "grey.png", transparency=2)  # a grey level marked transparent
    assert np.array_equal(read_labels(tmp_path / "grey.png"), np.where(IDS == 2, -1, I16))


def test_a_16_bit_png_read_in_mode_I_keeps_65535_unlabelled(tmp_path):
    """Pillow before 11 read a 16-bit grey PNG in mode "I" (now "I;16"), which had no unlabelled level: its 65535
    pixels were class 65535 and the map refused. A PNG holds no 32-bit grey, so an "I" PNG's 65535 is unlabelled; a
    32-bit TIFF has no such level, and a signed one keeps its -1."""
    assert unlabelled_level("I", "PNG") == unlabelled_level("I;16", "PNG") == 65535
    assert unlabelled_level("I", "TIFF") is None and unlabelled_level("L", "PNG") == 255
    lab = np.where(IDS == 3, 65535, IDS.astype(np.uint16)).astype(np.uint16)
    Image.fromarray(lab).save(tmp_path / "l16.png")
    assert np.array_equal(read_labels(tmp_path / "l16.png"), np.where(IDS == 3, -1, I16))
    signed = np.where(IDS == 3, -1, I16).astype(np.int32)
    Image.fromarray(signed, "I").save(tmp_path / "l32.tif")
    assert np.array_equal(read_labels(tmp_path / "l32.tif"), signed)
