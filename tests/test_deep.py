"""Deep segmentation by the ONNX route: the bundled model, tiled prediction, mirror views, the
netCDF layout, the ``segment`` command line (inference, bad files, evaluate), the scores, and the
registration and refinement of coarse label maps. Training (torch) is in ``test_deep_train.py``.
"""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from phaselib._cli import main
from phaselib.datasets import make_thin_section, write_training_folder
from phaselib.deep import load_model, predict, score
from phaselib.deep._data import stack
from phaselib.deep._netcdf import parse_label_rows

MODEL = Path(__file__).resolve().parents[1] / "dashboards" / "data" / "deep_model.onnx"


@pytest.fixture(scope="module")
def model():
    return load_model(MODEL)


@pytest.fixture(scope="module")
def section():
    return make_thin_section((200, 232), rock="granite", seed=41)


def _x(s, m):
    return stack({"pp": s.pp, "xp": s.xp, "bse": s.bse[..., None]}, m.meta["inputs"])


def _truth(s, m):
    return np.array([m.classes.index(n) for n in s.phase_names])[s.truth]


def test_bundled_model_is_onnx_and_small(model):
    assert model.backend == "onnxruntime" and model.meta["inputs"] == ["pp", "xp", "bse"]
    assert MODEL.stat().st_size < 700_000
    assert {"quartz", "K-feldspar", "biotite", "magnetite"} <= set(model.classes)


def test_bundled_model_segments_a_new_section(model, section):
    pred = predict(model, _x(section, model))
    sc = score(_truth(section, model), pred, model.classes)
    assert sc.accuracy >= 0.8, sc.table()


def test_tiles_stitched_equal_one_piece(model, section):
    x = _x(section, model)
    whole, p_whole = predict(model, x, tile=256, probabilities=True)  # one window
    tiled, p_tiled = predict(model, x, tile=144, margin=64, probabilities=True)  # 2 x 2 windows of 144
    assert np.array_equal(whole, tiled)
    assert np.abs(p_whole - p_tiled).max() < 1e-4


def test_scores_by_hand():
    truth = np.array([[0, 0, 1, 1], [2, 2, -1, 1]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 0, 1]])
    sc = score(truth, pred, ["a", "b", "c"])
    assert sc.confusion.tolist() == [[1, 1, 0], [0, 3, 0], [1, 0, 1]]
    assert sc.accuracy == pytest.approx(5 / 7)
    assert sc.precision[1] == pytest.approx(3 / 4) and sc.recall[2] == pytest.approx(1 / 2)
    assert sc.iou[0] == pytest.approx(1 / 3) and sc.dice[0] == pytest.approx(0.5)
    assert sc.merged({"ab": ["a", "b"]}).accuracy == pytest.approx(6 / 7)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, section):
    folder = tmp_path_factory.mktemp("pair")
    write_training_folder(folder, [section], ["ABC_3200.5"], true_labels=True)
    return folder


def test_cli_image_to_netcdf_in_geoslicer_layout(pair, tmp_path, model, capsys):
    out = tmp_path / "one.nc"
    args = ["segment", "--input_model", str(MODEL), "--input_path", str(pair / "ABC_3200.5_xp.png"),
            "--output_path", str(out), "--mm_per_pixel", "0.004"]
    assert main(args) == 0
    ds = xr.open_dataset(out, engine="h5netcdf")
    seg = ds["ABC_3200.5_segmentation"]
    assert seg.dims == ("y", "x") and seg.shape == (200, 232)
    assert seg.attrs["type"] == "segmentation" and seg.attrs["reference"] == "ABC_3200.5_pp"
    names, colours = parse_label_rows(seg.attrs["labels"])
    assert names == model.classes and colours[0].startswith("#")
    assert list(seg.attrs["labels"])[0] == "Name,Index,Color"
    assert np.allclose(np.diff(ds["x"].values), 0.004) and ds["x"].attrs["units"] == "mm"
    assert ds["ABC_3200.5_pp"].dims == ("y", "x", "c") and ds["ABC_3200.5_bse"].dims == ("y", "x")
    assert np.array_equal(ds["ABC_3200.5_pp"].values, np.asarray(__import__("PIL.Image").Image.open(
        pair / "ABC_3200.5_pp.png")))
    ds.close()
    before = out.stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 2  # never overwrite without --overwrite
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--overwrite" in err[0] and out.stat().st_mtime_ns == before
    assert main(args + ["--overwrite"]) == 0


def test_cli_netcdf_input_keeps_its_scale_and_variables(pair, tmp_path):
    first = tmp_path / "first.nc"
    assert main(["segment", "--input_model", str(MODEL), "--input_path", str(pair / "ABC_3200.5_pp.png"),
                 "--output_path", str(first), "--mm_per_pixel", "0.01"]) == 0
    second = tmp_path / "again.nc"
    assert main(["segment", "--input_model", str(MODEL), "--input_path", str(first),
                 "--output_path", str(second), "--mm_per_pixel", "0.5"]) == 0
    ds = xr.open_dataset(second, engine="h5netcdf")
    assert np.allclose(np.diff(ds["y"].values), 0.01)  # the file's own scale, not --mm_per_pixel
    assert set(ds.data_vars) == {"ABC_3200.5_segmentation", "first_segmentation", "ABC_3200.5_pp", "ABC_3200.5_xp",
                                 "ABC_3200.5_bse"}  # the input's variables copied, the new segmentation added
    assert ds["first_segmentation"].attrs["reference"] == "ABC_3200.5_pp"
    assert np.array_equal(ds["ABC_3200.5_segmentation"].values, ds["first_segmentation"].values)
    ds.close()



def test_a_netcdf_input_in_micrometres_falling_y_float_levels_or_netcdf3(pair, tmp_path):
    """Another tool's netCDF: coordinates in um were read as mm (a 1000 times coarser scale, written back "mm"), a
    falling y axis lost its origin, one outlier stretched float levels (0.994 -> 0.679 of the pixels right), and a
    netCDF-3 file could not be read. Each now gives the labels of the picture files."""
    from PIL import Image

    imgs = {r: np.asarray(Image.open(pair / f"ABC_3200.5_{r}.png")) for r in ("pp", "xp", "bse")}
    h, w = imgs["pp"].shape[:2]
    ref = tmp_path / "ref.nc"
    assert main(["segment", "--input_model", str(MODEL), "--input_path", str(pair / "ABC_3200.5_pp.png"),
                 "--output_path", str(ref), "--mm_per_pixel", "0.004"]) == 0
    with xr.open_dataset(ref, engine="h5netcdf") as ds:
        truth = ds["ABC_3200.5_segmentation"].values

    def write(name, y, x, units="mm", scale=lambda a: a, engine="h5netcdf"):
        v = {f"S_{r}": (("y", "x", "c") if a.ndim == 3 else ("y", "x"), scale(a)) for r, a in imgs.items()}
        xr.Dataset(v, coords={"y": ("y", y, {"units": units}), "x": ("x", x, {"units": units})}).to_netcdf(
            tmp_path / f"{name}.nc", engine=engine)

    def outlier(a):
        a = a / 255.0
        a[(0, 0) if a.ndim == 2 else (0, 0, 0)] = -5.0
        return a
    write("um", np.arange(h) * 4.0, np.arange(w) * 4.0, units="um")
    write("falling", 11.0 - np.arange(h) * 0.004, 20 + np.arange(w) * 0.004)
    write("outlier", np.arange(h) * 0.004, np.arange(w) * 0.004, scale=outlier)
    write("nc3", np.arange(h) * 0.004, np.arange(w) * 0.004, scale=lambda a: a.astype(np.int16), engine="scipy")
    for name in ("um", "falling", "outlier", "nc3"):
        out = tmp_path / f"out_{name}.nc"
        assert main(["segment", "--input_model", str(MODEL), "--input_path", str(tmp_path / f"{name}.nc"),
                     "--output_path", str(out)]) == 0, name
        with xr.open_dataset(out, engine="h5netcdf") as ds:
            assert ds.attrs["mm_per_pixel"] == pytest.approx(0.004), name
            assert np.mean(ds[f"{name}_segmentation"].values == truth) > 0.99, name
            if name == "falling":
                assert ds["y"].values[0] == pytest.approx(11.0) and ds["x"].values[0] == pytest.approx(20.0)

def test_cli_folder_with_a_bad_file(pair, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for role in ("pp", "xp", "bse"):
        (folder / f"good_{role}.png").write_bytes((pair / f"ABC_3200.5_{role}.png").read_bytes())
        (folder / f"bad_{role}.png").write_bytes(b"not a png at all")
    (folder / "lonely_pp.png").write_bytes((pair / "ABC_3200.5_pp.png").read_bytes())  # no XP, no BSE
    (folder / "notes.png").write_bytes(b"matches no pattern: skipped")
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["segment", "--input_model", str(MODEL), "--input_path", str(folder),
                 "--output_path", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("phaselib: error: bad:") and "lonely" in err[1]
    assert "not a png" not in " ".join(err) and str(tmp_path) not in " ".join(err)
    assert sorted(p.name for p in out.iterdir()) == ["good.nc"]


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"garbage")
    for args in (["--input_model", str(tmp_path / "none.pt"), "--input_path", str(tmp_path)],
                 ["--input_model", str(bad), "--input_path", str(tmp_path)],
                 ["--input_model", str(MODEL), "--input_path", str(tmp_path / "x_pp.png")],
                 ["--input_model", str(MODEL), "--input_path", str(tmp_path), "--mm_per_pixel", "-1"]):
        capsys.readouterr()
        assert main(["segment", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("phaselib: error:") and str(tmp_path) not in err[0]


def test_cli_evaluate_with_the_baseline(tmp_path, capsys):
    train_dir, test_dir = tmp_path / "train", tmp_path / "test"
    write_training_folder(train_dir, [make_thin_section((64, 64), rock="granite", seed=s) for s in (1, 2)])
    write_training_folder(test_dir, [make_thin_section((64, 80), rock="granite", seed=7)], true_labels=True)
    out = tmp_path / "eval"
    assert main(["segment", "evaluate", "--input_model", str(MODEL), "--input_model", str(MODEL),
                 "--input_path", str(test_dir), "--baseline_images", str(train_dir), "--output_path", str(out),
                 "--merge", "plagioclase=andesine,labradorite"]) == 0
    text = capsys.readouterr().out
    assert "random forest: accuracy" in text and "deep_model: accuracy" in text and "IoU" in text
    scores = __import__("json").loads((out / "scores.json").read_text())
    assert {"deep_model", "deep_model'", "random forest", "merged random forest"} <= set(scores)
    assert 0.5 < scores["random forest"]["accuracy"] <= 1 and (out / "section_000_comparison.png").exists()
    assert main(["segment", "evaluate", "--input_model", str(MODEL), "--input_path", str(test_dir)]) == 2


def test_dashboard_page(model):
    from phasedash.deep_view import DeepApp

    app = DeepApp(MODEL, size=128)
    assert app.accuracy >= 0.75 and "pixels right" in app.metrics.value
    assert all(img.value[:4] == b"\x89PNG" for img in app.images)
    app.rock.value = "basalt"  # a new section, segmented again
    assert "basaltic glass" in app.metrics.value
    assert "nan" not in app.metrics.value and "<td>–</td>" in app.metrics.value  # a class no pixel is predicted
    assert "overexposed" not in app.metrics.value
    app.brightness.value = 1.2  # the colourless minerals clip at 255 in PP: said on the page
    assert "PP overexposed" in app.metrics.value and "pixels right" in app.metrics.value


def test_dashboard_page_with_a_model_of_other_minerals():
    """A model whose classes are not this section's minerals showed "pixels right: 0.0 %" (nothing was scored);
    one that knows some of them scored the rest without a word."""
    from phasedash.deep_view import DeepApp

    app = DeepApp(MODEL, size=96)
    known = list(app.model.meta["classes"])
    app.model.meta["classes"] = [f"mineral {i}" for i in range(len(known))]  # another rock's model, same network
    app.seed.value = 102
    assert "No pixel to score" in app.metrics.value and "pixels right" not in app.metrics.value
    assert app.accuracy is None and "quartz" in app.metrics.value
    app.model.meta["classes"] = [n if n != "quartz" else "tridymite" for n in known]
    app.seed.value = 103
    assert "pixels right" in app.metrics.value and "quartz not among the model's classes" in app.metrics.value


def test_label_maps_are_registered_to_their_images():
    from phaselib.deep._data import register_labels, shift_labels

    s = make_thin_section((160, 192), rock="basalt", seed=3, misregistration=0.0, label_pixel=1)
    x = stack({"pp": s.pp, "xp": s.xp, "bse": s.bse[..., None]}, ["pp", "xp", "bse"])
    moved = shift_labels(s.truth, 2, -3)  # an EDS map laid 2 px low and 3 px left of the images
    fixed, shift = register_labels(x, moved)
    assert shift == (-2, 3)
    ok = fixed >= 0
    assert (fixed[ok] == s.truth[ok]).all() and ok.mean() > 0.95
    # coarse (3 px) labels misregistered as the generator's: registration brings them closer to the truth
    gains = []
    for seed in (1, 2, 3):
        c = make_thin_section((160, 192), rock="dacite", seed=seed, misregistration=2.5)
        xc = stack({"pp": c.pp, "xp": c.xp, "bse": c.bse[..., None]}, ["pp", "xp", "bse"])
        reg, _ = register_labels(xc, c.labels)
        before = (c.labels == c.truth)[c.labels >= 0].mean()
        after = (reg == c.truth)[reg >= 0].mean()
        assert after >= 0.88, (seed, before, after)
        gains.append(after - before)
    assert max(gains) > 0.03 and min(gains) > -0.005
    # unlabelled pixels stay unlabelled, and max_shift=0 keeps the map as given
    assert register_labels(x, moved, max_shift=0) == (moved, (0, 0))


def test_boundary_labels_of_a_coarse_map_are_refined_from_the_images():
    from phaselib.deep._data import refine_labels, register_labels

    for rock, seed in (("granite", 5), ("basalt", 6), ("dacite", 7)):
        s = make_thin_section((160, 192), rock=rock, seed=seed)  # 3 px labels, misregistered
        x = stack({"pp": s.pp, "xp": s.xp, "bse": s.bse[..., None]}, ["pp", "xp", "bse"])
        reg, _ = register_labels(x, s.labels)
        ref = refine_labels(x, reg)
        ok = reg >= 0
        assert np.array_equal(ref >= 0, ok)  # unlabelled pixels stay so
        before, after = (reg == s.truth)[ok].mean(), (ref == s.truth)[ok].mean()
        assert 1 - after <= 0.67 * (1 - before) and after >= 0.93, (rock, before, after)  # a third of errors gone
        if rock == "basalt":  # channels in units of their noise: olivine's BSE step counts (0.9745 in raw units)
            assert after >= 0.978, after


def test_mirror_views_average_the_probabilities(model, section):
    x = _x(section, model)
    one = predict(model, x)
    four, p = predict(model, x, views=4, probabilities=True)
    assert np.allclose(p.sum(-1), 1, atol=1e-4) and np.array_equal(p.argmax(-1), four)
    assert (four != one).mean() < 0.1  # the same segmentation, changed where the network hesitates
    # the four views are closed under mirroring: the segmentation of a mirrored image is the mirror
    for axis in (0, 1):
        m_labels, m_p = predict(model, np.ascontiguousarray(np.flip(x, axis)), views=4, probabilities=True)
        assert np.abs(np.flip(m_p, axis) - p).max() < 1e-4
    one_m = predict(model, np.ascontiguousarray(np.flip(x, 1)))
    assert not np.array_equal(np.flip(one_m, 1), one)  # one view alone is not mirror-symmetric
    with pytest.raises(ValueError, match="views"):
        predict(model, x, views=5)


def test_evaluate_matches_a_folders_classes_to_the_models_by_name(model, tmp_path, capsys):
    test_dir = tmp_path / "dacite"
    # a dacite-only folder numbers its classes its own way (quartz 0, andesine 1, ...), not as the model
    names = write_training_folder(test_dir, [make_thin_section((96, 112), rock="dacite", seed=8)], true_labels=True)
    assert [model.classes.index(n) for n in names] != list(range(len(names)))
    out = tmp_path / "eval"
    assert main(["segment", "evaluate", "--input_model", str(MODEL), "--input_path", str(test_dir), "--no_baseline",
                 "--output_path", str(out), "--views", "1"]) == 0
    scores = __import__("json").loads((out / "scores.json").read_text())
    assert scores["deep_model"]["accuracy"] >= 0.7  # ids matched by name; unmatched they score near 0
    csv = (test_dir / "classes.csv").read_text().replace("quartz", "unobtainium")
    (test_dir / "classes.csv").write_text(csv)
    capsys.readouterr()
    assert main(["segment", "evaluate", "--input_model", str(MODEL), "--input_path", str(test_dir), "--no_baseline",
                 "--output_path", str(out)]) == 2
    assert "classes the model does not have: unobtainium" in capsys.readouterr().err


def test_a_real_maps_labels_are_registered_to_its_images():
    """On the real P45 map (not our generator): its bundled phase map, made coarse (3 px) and laid
    2 px low and 3 px left on images of the map itself (counts per pixel, three PCA loadings)."""
    from phaselib.deep._data import refine_labels, register_labels, shift_labels

    z = np.load(Path(__file__).resolve().parents[1] / "dashboards" / "data" / "full_map_results.npz")
    lab = z["pca-kmeans/labels"][::2, ::2][:647, :910].astype(np.int16)
    b, load = z["pixel_sums"].astype(np.float32), z["loadings"][..., :3].astype(np.float32)
    x = np.concatenate([(b / np.percentile(b, 99.5))[..., None],
                        (load - load.min((0, 1))) / np.ptp(load, (0, 1))], -1)
    centre = np.minimum((np.arange(max(lab.shape)) // 3) * 3 + 1, max(lab.shape) - 1)
    coarse = lab[np.minimum(centre[:lab.shape[0]], lab.shape[0] - 1)[:, None],
                 np.minimum(centre[:lab.shape[1]], lab.shape[1] - 1)[None, :]]
    moved = shift_labels(coarse, 2, -3)
    reg, shift = register_labels(x, moved)
    assert shift == (-2, 3)
    ok = reg >= 0
    ref = refine_labels(x, reg)
    assert (reg == lab)[ok].mean() >= (coarse == lab).mean() - 0.005  # as good as the unshifted coarse map
    assert (ref == lab)[ok].mean() > (reg == lab)[ok].mean()  # 0.765 -> 0.812 measured (0.777 in raw units)


def test_cli_notes_an_overexposed_image(tmp_path, capsys):
    """A lamp so bright that the colourless minerals clip at 255 in PP: the levels there are lost. The CLI still
    segments the set and says so on stderr, for that set only. (The PP means, which also set the XP image's gains,
    are then only 0-6 % low, sRGB's curve flattening the top: session 49 measured no effect of that on accuracy.)"""
    folder = tmp_path / "in"
    sections = [make_thin_section((96, 96), rock="dacite", seed=4),
                make_thin_section((96, 96), rock="dacite", seed=5, brightness=1.25)]
    write_training_folder(folder, sections, ["nominal", "bright"])
    capsys.readouterr()
    assert main(["segment", "--input_model", str(MODEL), "--input_path", str(folder), "--output_path",
                 str(tmp_path / "out"), "--views", "1"]) == 0
    err = capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bright.nc", "nominal.nc"]
    lines = [line for line in err.splitlines() if "overexposed" in line]
    assert len(lines) == 1 and lines[0].startswith("phaselib: note: bright: ")
    assert "of the PP image's pixels are at full scale" in lines[0] and "may be confused" in lines[0]
    share = int(lines[0].split("bright: ")[1].split(" %")[0])
    assert 50 <= share <= 100


def test_a_picture_of_the_wrong_kind_for_the_model_is_refused(pair, tmp_path, capsys):
    """A model trained on colour PP given a grey PP repeated the grey into R, G, B and segmented it (0.41 of the pixels
    right where the colour picture gave 0.995; training refuses such a mix); a grey BSE saved in RGB is still read."""
    from PIL import Image

    for role in ("xp", "bse"):
        (tmp_path / f"S_{role}.png").write_bytes((pair / f"ABC_3200.5_{role}.png").read_bytes())
    Image.open(pair / "ABC_3200.5_pp.png").convert("L").save(tmp_path / "S_pp.png")
    args = ["segment", "--input_model", str(MODEL), "--input_path", str(tmp_path / "S_pp.png"),
            "--output_path", str(tmp_path / "s.nc")]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "trained on colour PP images; S_pp.png is a grey picture" in err and not (tmp_path / "s.nc").exists()
    Image.open(pair / "ABC_3200.5_pp.png").save(tmp_path / "S_pp.png")
    Image.open(pair / "ABC_3200.5_bse.png").convert("RGB").save(tmp_path / "S_bse.png")
    assert main(args) == 0


def test_evaluate_takes_coarse_labels_and_a_classes_file_of_sparse_ids(model, tmp_path, capsys):
    """``train`` takes a label map coarser than its images, ``evaluate`` refused it ("truth and prediction must share
    a shape"); a classes.csv numbering its classes 10, 20, 30... was read as classes class_0... the model lacks."""
    import json

    coarse, sparse = tmp_path / "coarse", tmp_path / "sparse"
    section = make_thin_section((96, 120), rock="granite", seed=7)
    write_training_folder(coarse, [section])  # QEMSCAN-like labels: coarser, misregistered
    write_training_folder(sparse, [section], true_labels=True)
    lab = np.load(sparse / "section_000_labels.npy")
    np.save(sparse / "section_000_labels.npy", np.where(lab >= 0, 10 * lab + 10, -1))
    (sparse / "classes.csv").write_text("Name,Index,Color\n" + "".join(
        f"{n},{10 * i + 10},#112233\n" for i, n in enumerate(model.classes)))
    accuracy = {}
    for folder in (coarse, sparse):
        out = tmp_path / f"eval_{folder.name}"
        assert main(["segment", "evaluate", "--input_model", str(MODEL), "--input_path", str(folder),
                     "--output_path", str(out), "--no_baseline"]) == 0, capsys.readouterr().err
        accuracy[folder.name] = json.loads((out / "scores.json").read_text())["deep_model"]["accuracy"]
    assert accuracy["sparse"] > 0.85 and accuracy["coarse"] > 0.75, accuracy


def test_grains_of_a_segmentation_netcdf(pair, tmp_path):
    """The deep segmentation's grains: `grains` took only a labels.npy or a `map` folder ("not a .npy file"), so the
    segmentation had to be taken out of the netCDF, and its scale, by hand."""
    import json

    nc = tmp_path / "s.nc"
    assert main(["segment", "--input_model", str(MODEL), "--input_path", str(pair / "ABC_3200.5_pp.png"),
                 "--output_path", str(nc), "--mm_per_pixel", "0.002"]) == 0
    with xr.open_dataset(nc, engine="h5netcdf") as ds:
        seg = ds["ABC_3200.5_segmentation"].values
    np.save(tmp_path / "seg.npy", seg.astype(np.int16))
    for name, extra in (("from_nc", []), ("from_npy", ["--pixel-size", "2"])):
        src = nc if name == "from_nc" else tmp_path / "seg.npy"
        assert main(["grains", str(src), "--out", str(tmp_path / name), *extra]) == 0
    stats = {n: json.loads((tmp_path / n / "size_stats.json").read_text()) for n in ("from_nc", "from_npy")}
    assert stats["from_nc"]["pixel_size_um"] == 2.0 and "netCDF" in stats["from_nc"]["pixel_size_source"]
    assert np.array_equal(np.load(tmp_path / "from_nc" / "grain_labels.npy"),
                          np.load(tmp_path / "from_npy" / "grain_labels.npy"))
