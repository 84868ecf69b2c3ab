"""Grains beside pixels that hold no counts (an empty edge of a drift-corrected map, a montage's gaps) are cut
there as at the map's border; the section's area for crystal size distributions leaves those pixels out.

Before: the map's result folder did not say which unassigned pixels were empty, so a grain cut by an empty edge
was a whole grain in ``grains.csv`` (``touches_border`` False, kept by ``--exclude-border``) and the CSD's
population densities were divided by the empty area too.
"""

import json

import numpy as np
import pytest

from phaselib.__main__ import main
from phaselib.datasets import make_rock
from phaselib.morphology import grain_map
from phaselib.pipeline import map_phases


def test_grains_beside_the_outside_touch_a_border():
    lab = np.full((40, 60), -1)
    lab[5:15, 5:15] = 1          # inside
    lab[20:30, 40:50] = 1        # inside, beside a lone dead pixel at (25, 50): whole
    lab[20:30, 51:57] = 1        # beside the empty edge
    lab[2:8, 30:38] = 0          # around a dead pixel (an inclusion of the unknown): whole
    outside = np.zeros(lab.shape, bool)
    outside[:, 57:] = True
    outside[25, 50] = outside[4, 33] = True
    lab[outside] = -1
    plain = grain_map(lab).table()
    assert not plain["touches_border"].any()
    assert plain["n_inclusions"].tolist() == [1, 0, 0, 0]  # the dead pixel read as an inclusion
    g = grain_map(lab, outside=outside)
    t = g.table()
    beside = t["touches_border"]
    assert beside.sum() == 1 and t["centroid_col"][beside][0] == pytest.approx(53.5)
    assert not t["n_inclusions"].any() and not t["inclusion_area_px"].any()  # a dead pixel is no inclusion
    assert g.section_area_um2 == lab.size - outside.sum()
    kept = grain_map(lab, outside=outside, exclude_border=True)
    assert kept.n_grains == g.n_grains - 1 and not kept.table()["touches_border"].any()
    assert np.array_equal(np.unique(kept.labels), np.arange(kept.n_grains + 1))  # renumbered 1..n
    with pytest.raises(ValueError, match="shape"):
        grain_map(lab, outside=outside[:, :10])


def _edge_map(tmp_path):
    rock = make_rock((90, 120), counts_per_pixel=200, seed=3)
    data = np.array(rock.image.data)
    empty = np.zeros(data.shape[:2], bool)
    empty[:, 100:] = True  # an empty strip of 20 columns, as a drift correction leaves
    data[empty] = 0
    return rock.image.replace(data=data), empty


def test_map_folder_records_the_empty_pixels_and_grains_reads_them(tmp_path, capsys):
    image, empty = _edge_map(tmp_path)
    result = map_phases(image, name_minerals=False)
    assert np.array_equal(result.blank, empty)
    result.save(tmp_path / "map")
    assert np.array_equal(np.load(tmp_path / "map" / "blank.npy"), empty)
    assert main(["grains", str(tmp_path / "map"), "--out", str(tmp_path / "g"), "--pixel-size", "2"]) == 0
    assert "1800 pixels hold no counts" in capsys.readouterr().err
    stats = json.loads((tmp_path / "g" / "size_stats.json").read_text())
    assert stats["section_area_um2"] == pytest.approx((empty.size - empty.sum()) * 4)
    assert stats["blank_pixels"] == empty.sum()
    grains = np.load(tmp_path / "g" / "grain_labels.npy")
    rows = (tmp_path / "g" / "grains.csv").read_text().splitlines()
    head = rows[0].split(",")
    at_edge = {int(r.split(",")[head.index("grain_id")]) for r in rows[1:]
               if r.split(",")[head.index("touches_border")] == "True"}
    by_the_strip = set(np.unique(grains[:, 99])) - {0}
    assert by_the_strip and by_the_strip <= at_edge
    # the same labels without blank.npy: those grains were "whole"
    np.save(tmp_path / "labels.npy", result.labels)
    assert main(["grains", str(tmp_path / "labels.npy"), "--out", str(tmp_path / "g0"), "--pixel-size", "2"]) == 0
    rows0 = (tmp_path / "g0" / "grains.csv").read_text().splitlines()
    at_edge0 = {int(r.split(",")[head.index("grain_id")]) for r in rows0[1:]
                if r.split(",")[head.index("touches_border")] == "True"}
    assert not by_the_strip <= at_edge0


def test_a_new_map_replaces_blank_npy_and_a_damaged_one_is_refused(tmp_path, capsys):
    image, empty = _edge_map(tmp_path)
    map_phases(image, name_minerals=False).save(tmp_path / "map")
    full = make_rock((90, 120), counts_per_pixel=200, seed=3).image
    map_phases(full, name_minerals=False).save(tmp_path / "map")  # the folder of a result is replaced whole
    assert not (tmp_path / "map" / "blank.npy").exists()
    np.save(tmp_path / "map" / "blank.npy", np.ones((3, 3), bool))
    assert main(["grains", str(tmp_path / "map"), "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert "blank.npy' must be a boolean mask of the map's 90 x 120 pixels" in err and "Traceback" not in err
    assert not (tmp_path / "g").exists()


def test_the_page_cuts_grains_at_the_empty_edge(tmp_path, monkeypatch):
    from phasedash import App

    from phaselib import save

    for name in ("PHASEDASH_DATA_DIR", "PHASEDASH_EXPORT_DIR", "PHASEDASH_CACHE_DIR"):
        monkeypatch.setenv(name, str(tmp_path))
    image, empty = _edge_map(tmp_path)
    save(image, tmp_path / "edge.hspy")
    app = App("edge.hspy", background=False)
    g = app.session.run_grains()
    assert np.array_equal(g.outside, empty)
    assert g.section_area_um2 == pytest.approx((empty.size - empty.sum()) * (image.pixel_size or 1.0) ** 2)
    t = g.table()
    assert t["touches_border"][np.isin(t["grain_id"], np.unique(g.labels[:, 99]))].all()
