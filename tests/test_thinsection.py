"""Cheap images of synthetic rocks (BSE, PP, XP), their EDS-like labels, and grains from XP."""

import numpy as np
import pytest
from scipy import ndimage

from phaselib.datasets import (
    MINERALS,
    make_texture,
    make_thin_section,
    render_thin_section,
    write_training_folder,
)
from phaselib.datasets._optics import backscatter_coefficient, interference_colours, mean_atomic_number
from phaselib.morphology import grain_map, score_grains


@pytest.fixture(scope="module")
def granite():
    return make_thin_section((128, 160), rock="granite", seed=3)


def test_backscatter_follows_mean_atomic_number():
    # quartz: Z-bar 10.8 (Si 46.7 wt%, O 53.3 wt%), eta by Reuter's fit and Castaing's rule = 0.125
    assert mean_atomic_number(MINERALS["quartz"]) == pytest.approx(10.80, abs=0.01)
    assert backscatter_coefficient(MINERALS["quartz"]) == pytest.approx(0.1254, abs=0.001)
    order = sorted(["quartz", "albite", "K-feldspar", "biotite", "magnetite", "zircon"],
                   key=lambda n: backscatter_coefficient(MINERALS[n]))
    assert order == ["albite", "quartz", "K-feldspar", "biotite", "magnetite", "zircon"]


def test_bse_brightness_orders_minerals(granite):
    s = granite
    mean = {n: s.bse[s.truth == i].mean() for i, n in enumerate(s.phase_names) if (s.truth == i).sum() > 30}
    assert mean["quartz"] < mean["K-feldspar"] < mean["biotite"] < mean["magnetite"]
    assert s.bse.dtype == np.uint8 and s.bse.shape == (128, 160)


def test_michel_levy_chart():
    lut = interference_colours()  # 2 nm steps
    assert lut[0].max() < 1e-6  # no retardation: extinction
    assert lut[40].mean() < 0.3 < lut[140].mean()  # 80 nm dark grey, 280 nm first-order white
    assert lut[75][2] > lut[75][0]  # 150 nm: the bluish (lavender) grey of the chart
    red = lut[275]  # 550 nm: first-order red / sensitive tint: green is missing
    assert red[0] > red[1] and red[2] > red[1]
    assert np.allclose(lut[-200:].mean(axis=0), 0.5, atol=0.05)  # high orders: white, half the light


def test_xp_extinction_and_crystals_of_one_mineral_differ():
    lab, gid = make_texture((128, 128), n_phases=2, fractions=[0.7, 0.3], grain_size=20, matrix_fraction=0, seed=2)
    s = render_thin_section(lab, gid, ["quartz", "magnetite"], seed=2, noise=0.0)
    core = ndimage.binary_erosion(lab == 1, iterations=2)  # away from the blurred boundaries
    assert core.sum() > 50 and s.xp[core].max() < 12  # opaque: black in XP
    assert s.pp[core].mean() < 60 and s.pp[lab == 0].mean() > 180  # and in PP; quartz clear
    # touching quartz crystals: their mean XP colours differ (own orientations)
    q = np.unique(gid[lab == 0])
    means = np.array([s.xp[gid == g].mean(axis=0) for g in q])
    pairs = {(a, b) for a, b in zip(gid[:, :-1].ravel(), gid[:, 1:].ravel()) if a != b and a in q and b in q}
    diffs = [np.abs(means[np.searchsorted(q, a)] - means[np.searchsorted(q, b)]).max() for a, b in pairs]
    assert len(diffs) > 20 and np.median(diffs) > 15


def test_glass_is_isotropic_and_plagioclase_twinned():
    s = make_thin_section((128, 128), rock="basalt", seed=1, noise=0.0)
    glass = ndimage.binary_erosion(s.truth == s.phase_names.index("basaltic glass"), iterations=2)
    assert glass.sum() > 100 and s.xp[glass].max() < 12
    plag = s.phase_names.index("labradorite")
    gid = np.bincount(s.grain_ids[s.truth == plag]).argmax()  # the largest crystal: two extinction angles
    vals = s.xp[s.grain_ids == gid].mean(axis=1)
    assert vals.std() > 5


def test_labels_are_coarse_and_misregistered():
    lab, gid = make_texture((96, 96), n_phases=3, grain_size=12, seed=1)
    exact = render_thin_section(lab, gid, ["quartz", "albite", "biotite"], label_pixel=1, misregistration=0)
    assert np.array_equal(exact.labels, lab)
    s = render_thin_section(lab, gid, ["quartz", "albite", "biotite"], label_pixel=4, misregistration=2, seed=5)
    agree = (s.labels == lab).mean()
    assert 0.45 < agree < 0.95
    inner = s.labels[8:-8, 8:-8]  # constant over the 4 x 4 blocks of a shifted grid
    runs = np.count_nonzero(np.diff(inner[0]) != 0)
    assert runs <= inner.shape[1] // 4 + 1


def test_brightness_and_colour_shifts():
    base = make_thin_section((64, 64), rock="default", seed=4, noise=0.0)
    bright = make_thin_section((64, 64), rock="default", seed=4, noise=0.0, brightness=1.2)
    red = make_thin_section((64, 64), rock="default", seed=4, noise=0.0, colour=(1.2, 1.0, 0.8))
    assert bright.bse.mean() > 1.1 * base.bse.mean()
    assert red.pp[..., 0].mean() > base.pp[..., 0].mean() and red.pp[..., 2].mean() < base.pp[..., 2].mean()


def test_write_training_folder(tmp_path):
    a = make_thin_section((48, 64), rock="granite", seed=1)
    b = make_thin_section((48, 64), rock="basalt", seed=1)
    classes = write_training_folder(tmp_path, [a, b], ["g", "b"])
    assert classes[:len(a.phase_names)] == a.phase_names and "basaltic glass" in classes
    rows = (tmp_path / "classes.csv").read_text().splitlines()
    assert rows[0] == "Name,Index,Color" and len(rows) == len(classes) + 1
    lab = np.load(tmp_path / "b_labels.npy")
    ok = b.labels >= 0
    assert np.array_equal(np.array(classes)[lab[ok]], np.array(b.phase_names)[b.labels[ok]])
    assert {p.name for p in tmp_path.iterdir()} >= {"g_pp.png", "g_xp.png", "g_bse.png", "b_labels.npy"}


def test_render_rejects_bad_input():
    lab, gid = make_texture((32, 32), n_phases=2, seed=1)
    with pytest.raises(ValueError, match="labels must be in"):
        render_thin_section(lab, gid, ["quartz"])
    with pytest.raises(ValueError, match="No composition"):
        render_thin_section(lab, gid, ["quartz", "unobtainium"])
    with pytest.raises(ValueError, match="grain_ids"):
        render_thin_section(lab, gid[:10], ["quartz", "albite"])


def test_grains_split_along_xp_edges():
    # a space-filling texture: most quartz crystals touch others; the phase map cannot part them
    lab, gid = make_texture((160, 160), n_phases=2, fractions=[0.6, 0.4], grain_size=22, matrix_fraction=0, seed=4)
    s = render_thin_section(lab, gid, ["quartz", "K-feldspar"], seed=4)
    alone = score_grains(grain_map(lab, min_area=10).labels, gid, min_area=10)["matched"]
    with_xp = score_grains(grain_map(lab, min_area=10, boundary_image=s.xp).labels, gid, min_area=10)["matched"]
    assert alone < 0.5 and with_xp >= 0.7 and with_xp > alone + 0.2
    with pytest.raises(ValueError, match="boundary_image"):
        grain_map(lab, boundary_image=s.xp[:10])


def test_grains_cli_with_xp(tmp_path, capsys):
    from PIL import Image

    from phaselib._cli import main

    lab, gid = make_texture((96, 96), n_phases=2, fractions=[0.6, 0.4], grain_size=20, matrix_fraction=0, seed=6)
    s = render_thin_section(lab, gid, ["quartz", "K-feldspar"], seed=6)
    np.save(tmp_path / "labels.npy", lab)
    Image.fromarray(s.xp).save(tmp_path / "xp.png")
    assert main(["grains", str(tmp_path / "labels.npy"), "--out", str(tmp_path / "a")]) == 0
    assert main(["grains", str(tmp_path / "labels.npy"), "--out", str(tmp_path / "b"), "--xp",
                 str(tmp_path / "xp.png")]) == 0
    n_a, n_b = (len(np.unique(np.load(tmp_path / d / "grain_labels.npy"))) for d in "ab")
    assert n_b > n_a  # the XP boundaries split crystals the phase map joins
    (tmp_path / "bad.png").write_bytes(b"secret text, not an image")
    capsys.readouterr()
    assert main(["grains", str(tmp_path / "labels.npy"), "--out", str(tmp_path / "c"), "--pixel-size", "2",
                 "--xp", str(tmp_path / "bad.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.png" in err[0] and "secret" not in err[0]
    # a BSE-like grey picture at 16 bits or in floats gives the grains of its 8-bit copy (Pillow's convert("RGB")
    # clipped them to one level: the grains of no picture at all); a uniform picture is refused
    grey = s.xp.mean(-1).round().astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "grey16.tif")
    Image.fromarray(grey.astype(np.float32) / 255).save(tmp_path / "greyf.tif")
    Image.fromarray(np.full_like(grey, 90)).save(tmp_path / "flat.png")
    found = {}
    for name in ("grey.png", "grey16.tif", "greyf.tif"):
        assert main(["grains", str(tmp_path / "labels.npy"), "--out", str(tmp_path / name[:-4]), "--xp",
                     str(tmp_path / name)]) == 0
        found[name] = np.load(tmp_path / name[:-4] / "grain_labels.npy")
    assert np.array_equal(found["grey16.tif"], found["grey.png"]) and np.array_equal(found["greyf.tif"],
                                                                                     found["grey.png"])
    assert len(np.unique(found["grey.png"])) > n_a
    capsys.readouterr()
    assert main(["grains", str(tmp_path / "labels.npy"), "--out", str(tmp_path / "f"), "--xp",
                 str(tmp_path / "flat.png")]) == 2
    assert "uniform image" in capsys.readouterr().err


def test_grains_cli_with_xp_reports_a_glass_as_its_pieces(tmp_path, capsys):
    # a basalt's glass around its crystals: black in XP and one network across the section, it is reported as its
    # connected pieces (said on stderr and in size_stats.json), where the phase map's corners cut it to ~290 pieces
    import json

    from PIL import Image

    from phaselib._cli import main
    from phaselib.datasets import make_thin_section

    s = make_thin_section((160, 160), rock="basalt", seed=2)
    glass = s.phase_names.index("basaltic glass")
    np.save(tmp_path / "labels.npy", s.truth)
    Image.fromarray(s.xp).save(tmp_path / "xp.png")
    capsys.readouterr()
    assert main(["grains", str(tmp_path / "labels.npy"), "--out", str(tmp_path / "g"), "--xp",
                 str(tmp_path / "xp.png")]) == 0
    assert f"phase {glass} is black in the --xp image" in capsys.readouterr().err
    stats = json.loads((tmp_path / "g" / "size_stats.json").read_text())
    assert stats["phases"][str(glass)]["groundmass"] is True and stats["params"]["groundmass"] == [glass]
    assert not any(e["groundmass"] for p, e in stats["phases"].items() if p != str(glass))
    g = np.load(tmp_path / "g" / "grain_labels.npy")
    m = s.truth == glass
    pieces = len(np.unique(ndimage.label(m)[0][m]))
    assert len(np.unique(g[m & (g > 0)])) <= pieces


def test_grains_cli_takes_an_eds_map_coarser_than_the_xp_image(tmp_path, capsys):
    # the EDS map at its own pixel (3 times the image's), as `map` writes it; the XP image at full size
    from PIL import Image

    from phaselib._cli import main

    lab, gid = make_texture((192, 192), n_phases=3, fractions=[0.5, 0.3, 0.2], grain_size=24, matrix_fraction=0,
                            seed=4)
    s = render_thin_section(lab, gid, ["quartz", "K-feldspar", "biotite"], seed=4)
    np.save(tmp_path / "eds.npy", lab[1::3, 1::3])
    Image.fromarray(s.xp).save(tmp_path / "xp.png")
    capsys.readouterr()
    assert main(["grains", str(tmp_path / "eds.npy"), "--out", str(tmp_path / "g"), "--pixel-size", "6",
                 "--xp", str(tmp_path / "xp.png")]) == 0
    assert "repeated 3 x 3" in capsys.readouterr().err
    g = np.load(tmp_path / "g" / "grain_labels.npy")
    assert g.shape == (192, 192) and score_grains(g, gid, min_area=10)["matched"] >= 0.6
    Image.fromarray(s.xp[:100]).save(tmp_path / "crop.png")
    assert main(["grains", str(tmp_path / "eds.npy"), "--out", str(tmp_path / "h"), "--xp",
                 str(tmp_path / "crop.png")]) == 2
    assert "whole multiple" in capsys.readouterr().err


def test_undulose_extinction_sweeps_each_crystal_in_crossed_polars():
    """``undulose``: each crystal's XP brightness varies across it (its extinction angle sweeps); 0 leaves every
    crystal one colour (no blur, no noise) and the other images as they were."""
    lab, gid = make_texture((96, 96), n_phases=1, grain_size=30, matrix_fraction=0, seed=3)
    opts = dict(seed=3, noise=0.0, blur=0.0)
    still = render_thin_section(lab, gid, ["quartz"], **opts)
    swept = render_thin_section(lab, gid, ["quartz"], undulose=25, **opts)

    def spread(img):
        grey = img.astype(float).mean(-1)
        return np.median([grey[gid == g].std() for g in np.unique(gid) if (gid == g).sum() >= 100])

    assert spread(still.xp) < 1.0 and spread(swept.xp) > 5.0
    assert np.array_equal(still.bse, swept.bse) and np.array_equal(still.labels, swept.labels)
    with pytest.raises(ValueError, match="undulose"):
        render_thin_section(lab, gid, ["quartz"], undulose=-5)


def test_cracks_are_dark_lines_in_crossed_polars_that_the_labels_ignore():
    lab, gid = make_texture((96, 96), n_phases=2, grain_size=30, matrix_fraction=0, seed=4)
    opts = dict(seed=4, noise=0.0)
    whole = render_thin_section(lab, gid, ["quartz", "K-feldspar"], **opts)
    cracked = render_thin_section(lab, gid, ["quartz", "K-feldspar"], cracks=5, **opts)
    darker = whole.xp.astype(int).sum(-1) - cracked.xp.astype(int).sum(-1)
    assert (darker >= 0).all() and 100 < np.count_nonzero(darker > 30) < 0.2 * darker.size
    assert (cracked.bse <= whole.bse).all() and np.array_equal(cracked.labels, whole.labels)
    assert np.array_equal(render_thin_section(lab, gid, ["quartz", "K-feldspar"], cracks=0, **opts).xp, whole.xp)
    with pytest.raises(ValueError, match="cracks"):
        render_thin_section(lab, gid, ["quartz", "K-feldspar"], cracks=-1)
