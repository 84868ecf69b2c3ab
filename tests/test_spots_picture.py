"""The lecture's spot mask: the radiograph as a grey picture with its spots painted over it in a colour (read there
as ``annotated[:, :, 1] == 0``). `spots --train` took only pictures of two levels and refused it ("got 257")."""

import numpy as np
from PIL import Image

from phaselib._cli import main
from phaselib.datasets import make_spotty_radiograph


def _grey(image):
    g = np.clip(image / np.percentile(image, 99.5) * 255, 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, -1)


def test_a_grey_picture_with_its_spots_painted_red_is_a_spot_mask(tmp_path, capsys):
    rad = make_spotty_radiograph((64, 96), seed=4)
    rgb = _grey(rad.image)
    rgb[rad.spots] = (255, 0, 0)  # painted in red over the radiograph
    edge = np.argwhere(~rad.spots)[0]
    rgb[tuple(edge)] = (200, 180, 180)  # a brush's blended edge: neither grey nor the colour
    Image.fromarray(rgb).save(tmp_path / "annotated.png")
    mask = rad.spots.astype(np.int8)
    mask[tuple(edge)] = -1
    np.save(tmp_path / "mask.npy", mask)
    np.save(tmp_path / "img.npy", rad.image)
    capsys.readouterr()
    assert main(["spots", str(tmp_path / "img.npy"), "--train", str(tmp_path / "annotated.png"), "--out",
                 str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert f"a grey picture with {int(rad.spots.sum())} pixels painted in colour, read as the spots" in out
    assert "1 blended ones unlabelled" in out
    assert main(["spots", str(tmp_path / "img.npy"), "--train", str(tmp_path / "mask.npy"), "--out",
                 str(tmp_path / "n")]) == 0
    assert np.array_equal(np.load(tmp_path / "a" / "spots.npy"), np.load(tmp_path / "n" / "spots.npy"))


def test_a_colour_picture_is_refused_saying_what_a_mask_may_be(tmp_path, capsys):
    rad = make_spotty_radiograph((32, 40), seed=1)
    np.save(tmp_path / "img.npy", rad.image)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    capsys.readouterr()
    assert main(["spots", str(tmp_path / "img.npy"), "--train", str(tmp_path / "photo.png"), "--out",
                 str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "two levels (spots and the rest), or be a grey picture with its spots painted in a colour" in err
    assert not (tmp_path / "p").exists()
