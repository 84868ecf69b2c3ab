"""Supervised phases: phaselib.classify and `python -m phaselib classify`."""

import json

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import balanced_accuracy_score

from phaselib import datasets
from phaselib._cli import main
from phaselib.classify import classify, confusion_scores, read_labels, sample_labels
from phaselib.classify._poisson import choose_step


@pytest.fixture(scope="module")
def rock20():
    return datasets.make_rock((80, 100), counts_per_pixel=20, seed=5)


@pytest.fixture(scope="module")
def labels20(rock20):
    return sample_labels(rock20.labels, 20, random_state=2)


def test_sample_labels_draws_n_per_class(rock20, labels20):
    counts = np.bincount(labels20[labels20 >= 0], minlength=rock20.n_phases)
    assert counts.tolist() == [min(20, n) for n in np.bincount(rock20.labels.ravel())]
    assert np.all(labels20[labels20 >= 0] == rock20.labels[labels20 >= 0])


def test_poisson_with_prior_at_20_counts(rock20, labels20):
    r = classify(rock20.image, labels20)
    assert r.classifier == "poisson" and r.labels.shape == (80, 100)
    ba = balanced_accuracy_score(rock20.labels.ravel(), r.labels.ravel())
    assert ba >= 0.93, ba
    np.testing.assert_allclose(r.probabilities.sum(-1), 1, atol=1e-4)
    # the cross-validated confusion matrix holds every labelled pixel once, and agrees with the truth's verdict
    assert r.confusion.sum() == (labels20 >= 0).sum()
    assert r.balanced_accuracy >= 0.85 and r.f1.shape == (rock20.n_phases,)
    # the labelled pixels keep their class
    assert np.all(r.labels[labels20 >= 0] == labels20[labels20 >= 0])


def test_prior_and_em_are_what_make_it_work(rock20, labels20):
    """Per pixel, with the templates of the 20 labelled pixels only, 20 counts are not enough."""
    plain = classify(rock20.image, labels20, beta=0.0, n_iter=1, grow=0, n_folds=1)
    full = classify(rock20.image, labels20, n_folds=1)
    ba = [balanced_accuracy_score(rock20.labels.ravel(), r.labels.ravel()) for r in (plain, full)]
    assert ba[1] > ba[0] + 0.1, ba
    assert plain.confusion is None


def test_painted_pixels_keep_a_small_class_from_drifting_onto_a_larger_one():
    """Rich basalt at 20 counts/px: titanomagnetite (3 %) beside ilmenite (1.2 %), both Fe-Ti oxides.

    The first templates hold 400 counts each; with the confident pixels alone re-estimating them, the
    ilmenite template won most titanomagnetite grains after one step and kept them (titanomagnetite recall
    0.20, balanced accuracy 0.79); anchored to the painted pixels' spectra: 0.92.
    """
    rock = datasets.make_rich_rock((200, 300), kind="basalt", counts_per_pixel=20, seed=3)
    labels = sample_labels(rock.labels, 20, random_state=0)
    r = classify(rock.image, labels, n_folds=1)
    truth, got = rock.labels.ravel(), r.labels.ravel()
    recall = [np.mean(got[truth == c] == c) for c in range(rock.n_phases)]
    assert min(recall) >= 0.7, dict(zip(rock.phase_names, np.round(recall, 3)))
    assert balanced_accuracy_score(truth, got) >= 0.9


def test_two_zoned_plagioclases_at_20_counts_need_the_painted_pixels_neighbours():
    """A basalt whose labradorite (45 %, zoned to An30) sits beside andesine (12 %, zoned to An20), 20 counts/px.

    Twenty painted pixels hold 400 counts: templates from them alone let the EM settle on another partition
    (one class takes most plagioclase); the painted pixels' neighbours give the first templates ~10x the counts.
    Before: balanced accuracy 0.862 and 0.832 on these two label draws; after 0.902 and 0.891.
    """
    rock = datasets.make_rock((200, 300), counts_per_pixel=20, seed=1, zoning=1.0,
                              minerals=["labradorite", "andesine", "augite", "olivine", "ilmenite", "magnetite"],
                              fractions=[0.45, 0.12, 0.25, 0.10, 0.05, 0.03])
    for draw in (0, 1):
        labels = sample_labels(rock.labels, 20, random_state=draw)
        r = classify(rock.image, labels, n_folds=1)
        assert r.params["grow_px"] in (1.0, 2.0)
        assert balanced_accuracy_score(rock.labels.ravel(), r.labels.ravel()) >= 0.875
    alone = classify(rock.image, labels, grow=0, n_folds=1)
    assert alone.params["grow_px"] == 0.0
    with pytest.raises(ValueError, match="grow"):
        classify(rock.image, labels, grow="wide")


def test_the_em_step_is_chosen_on_the_painted_pixels_folds():
    """A tiny augite (0.6 %) in a rock of chlorite and calcite under a 1 px beam, 20 counts/px.

    A pixel on the chlorite / calcite boundary mixes them, and that mixture (Ca, Mg, Fe, Si) is nearer augite
    than either: the augite class took 1000 such pixels at the first step and 4200 after six (balanced accuracy
    0.75 and 0.76 on these draws). The painted pixels' folds see each step's loss: the first step is kept.
    """
    from benchmarks.bench_random_rocks import draw as random_rock

    rock = datasets.make_rock((150, 200), counts_per_pixel=20, seed=202, **random_rock(202))
    assert rock.phase_names == ("chlorite", "calcite", "basaltic glass", "augite")
    truth = rock.labels.ravel()
    for draw in (0, 1):
        labels = sample_labels(rock.labels, 20, random_state=draw)
        chosen = classify(rock.image, labels)
        last = classify(rock.image, labels, n_folds=1)  # no folds: every step
        ba = [balanced_accuracy_score(truth, r.labels.ravel()) for r in (chosen, last)]
        assert chosen.params["n_iter_used"] < 6 and "n_iter_used" not in last.params
        assert set(chosen.params["cv_balanced_accuracy_by_step"]) == set(range(1, 7))
        assert ba[0] >= 0.82 and ba[0] > ba[1] + 0.05, ba


def test_choose_step_keeps_the_last_unless_an_earlier_one_is_clearly_better():
    y = np.repeat(np.arange(4), 20)
    last = y.copy()
    last[:2] = 1  # class 0: 18 of 20 right, balanced accuracy 0.975
    early = y.copy()  # all right: 1.0, better by 0.025, not by more
    assert choose_step(y, {1: early, 6: last}, 4)[0] == 6
    early_worse_last = y.copy()
    early_worse_last[:3] = 1  # the last step: 0.9625
    assert choose_step(y, {1: early, 6: early_worse_last}, 4)[0] == 1
    step, scores = choose_step(y, {1: y, 2: y, 3: last}, 4, margin=0.0)
    assert step == 2 and scores[3] == pytest.approx(0.975)  # ties go to the later step


def test_a_map_painted_everywhere_is_not_grown(rock20):
    """A whole reference map as labels: nothing to grow into, one fit (no second sigma), every pixel kept."""
    r = classify(rock20.image, rock20.labels, n_folds=1)
    assert r.params["grow_px"] == 0.0 and np.array_equal(r.labels, rock20.labels)


@pytest.mark.parametrize("clf", ["knn", "rf"])
def test_sklearn_classifiers_on_smoothed_pca_scores(clf):
    rock = datasets.make_rock((60, 80), counts_per_pixel=100, seed=2)
    labels = sample_labels(rock.labels, 20, random_state=0)
    r = classify(rock.image, labels, classifier=clf, class_names=rock.phase_names)
    assert balanced_accuracy_score(rock.labels.ravel(), r.labels.ravel()) >= 0.85
    assert r.classes == rock.phase_names and r.params["n_features"] > r.params["n_components"]
    assert [row["name"] for row in r.scores()] == list(rock.phase_names)


def test_an_intensity_cube_is_classified_by_rf_and_refuses_poisson():
    """Transmissions are not counts: the default for a ToF cube is the random forest; poisson is refused."""
    from phaselib.datasets import make_tof

    tof = make_tof((64, 64), 661, open_beam_counts=100, seed=1)
    labels = sample_labels(tof.labels, 20, random_state=0)
    r = classify(tof.image, labels, n_folds=2)
    assert r.classifier == "rf" and balanced_accuracy_score(tof.labels.ravel(), r.labels.ravel()) >= 0.95
    with pytest.raises(ValueError, match="assumes counts"):
        classify(tof.image, labels, classifier="poisson")


def test_fit_from_a_reference_map(rock20):
    """A whole phase map as labels: trains on a subset per class, still scores by CV."""
    r = classify(rock20.image, rock20.labels.astype(np.int64), classifier="knn", max_train_per_class=50)
    assert r.params["n_train"] <= 50 * rock20.n_phases and r.confusion.sum() == r.params["n_train"]


def test_confusion_scores():
    cm, p, r, f1 = confusion_scores([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    np.testing.assert_allclose(p, [0.5, 2 / 3, 0])
    np.testing.assert_allclose(r, [0.5, 1, 0])
    np.testing.assert_allclose(f1, [0.5, 0.8, 0])


def test_bad_labels(rock20):
    with pytest.raises(ValueError, match="classes \\[1\\] have none"):
        classify(rock20.image, np.where(rock20.labels == 1, -1, rock20.labels))
    with pytest.raises(ValueError, match="shape"):
        classify(rock20.image, np.zeros((3, 3), int))
    with pytest.raises(TypeError, match="integer"):
        classify(rock20.image, np.zeros((80, 100)))
    with pytest.raises(ValueError, match="classifier"):
        classify(rock20.image, rock20.labels, classifier="svm")


def test_painted_png_with_names(tmp_path):
    rgb = np.full((6, 8, 3), 255, np.uint8)
    rgb[1, 1] = (255, 0, 0)
    rgb[2, 5] = (0, 0, 255)
    rgb[3, 3] = (0, 0, 0)  # black: unlabelled
    Image.fromarray(rgb).save(tmp_path / "paint.png")
    labels, names = read_labels(tmp_path / "paint.png")
    assert names == ("#0000ff", "#ff0000") and labels[2, 5] == 0 and labels[1, 1] == 1 and (labels >= 0).sum() == 2
    (tmp_path / "paint.json").write_text(json.dumps({"#FF0000": "quartz", "#0000ff": "biotite"}))
    labels, names = read_labels(tmp_path / "paint.png")
    assert names == ("quartz", "biotite") and labels[1, 1] == 0 and labels[2, 5] == 1


def test_cli_classify(tmp_path, rock20, labels20, capsys):
    np.save(tmp_path / "map.npy", np.asarray(rock20.image.data))
    np.save(tmp_path / "labels.npy", labels20)
    out = tmp_path / "out"

    def argv(labels, folder):
        return ["classify", str(tmp_path / "map.npy"), "--labels", str(labels), "--out", str(folder),
                "--energy-offset", str(rock20.image.energy_offset), "--energy-scale",
                str(rock20.image.energy_scale), "--quiet"]

    assert main(argv(tmp_path / "labels.npy", out)) == 0
    assert "cross-validated balanced accuracy" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {"labels.npy", "probabilities.npy", "confusion.csv", "phases.csv", "phase_spectra.npy", "summary.json",
            "phase_map.png"} <= names
    labels = np.load(out / "labels.npy")
    assert balanced_accuracy_score(rock20.labels.ravel(), labels.ravel()) >= 0.93
    assert np.load(out / "probabilities.npy").shape == (80, 100, rock20.n_phases)
    assert np.load(out / "phase_spectra.npy").shape == (rock20.n_phases, 2048)
    rows = (out / "confusion.csv").read_text().splitlines()
    assert len(rows) == rock20.n_phases + 1 and rows[0].startswith("label \\ predicted")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classifier"] == "poisson" and summary["cv_balanced_accuracy"] > 0.8
    assert summary["params"]["grow_px"] in (1.0, 2.0)
    # --grow 0: the templates of the labelled pixels alone, as before session 24; a negative sigma is refused
    assert main(argv(tmp_path / "labels.npy", tmp_path / "o0") + ["--grow", "0"]) == 0
    assert json.loads((tmp_path / "o0" / "summary.json").read_text())["params"]["grow_px"] == 0.0
    with pytest.raises(SystemExit):
        main(argv(tmp_path / "labels.npy", tmp_path / "o1") + ["--grow", "-1"])
    assert "--grow" in capsys.readouterr().err and not (tmp_path / "o1").exists()
    # labels of the wrong shape: one line, exit status 2
    np.save(tmp_path / "small.npy", labels20[:10])
    assert main(argv(tmp_path / "small.npy", tmp_path / "o2")) == 2
    assert "do not match the map" in capsys.readouterr().err


def test_cli_classify_says_how_painted_ids_are_numbered_and_why_no_scores(tmp_path, rock20, labels20, capsys):
    """Classes painted as 0, 3, 7: the note and summary.json say which output number each got; a class with one
    labelled pixel: the output says why there are no cross-validated scores (it printed "n/a" alone)."""
    np.save(tmp_path / "map.npy", np.asarray(rock20.image.data))
    cal = ["--energy-offset", str(rock20.image.energy_offset), "--energy-scale", str(rock20.image.energy_scale)]
    sparse = np.where(labels20 == 1, 3, np.where(labels20 == 2, 7, np.where(labels20 == 0, 0, -1))).astype(np.int16)
    np.save(tmp_path / "sparse.npy", sparse)
    assert main(["classify", str(tmp_path / "map.npy"), "--labels", str(tmp_path / "sparse.npy"),
                 "--out", str(tmp_path / "o"), "--quiet", *cal]) == 0
    err = capsys.readouterr().err
    assert "class 3 -> 1" in err and "class 7 -> 2" in err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["painted_class_ids"] == [0, 3, 7] and summary["classes"] == ["class 0", "class 3", "class 7"]
    out = np.load(tmp_path / "o" / "labels.npy")
    assert np.mean(out[sparse == 7] == 2) > 0.9 and np.mean(out[sparse == 3] == 1) > 0.9

    one = labels20.copy()
    one[one == 1] = -1
    one[np.argwhere(labels20 == 1)[0][0], np.argwhere(labels20 == 1)[0][1]] = 1
    np.save(tmp_path / "one.npy", one)
    assert main(["classify", str(tmp_path / "map.npy"), "--labels", str(tmp_path / "one.npy"),
                 "--out", str(tmp_path / "o1"), "--quiet", *cal]) == 0
    text = capsys.readouterr().out
    assert "balanced accuracy n/a" in text and "class 1 has 1" in text
    assert "class 1 has 1" in json.loads((tmp_path / "o1" / "summary.json").read_text())["params"]["cv_note"]


def _strokes(tmp_path, name, resample):
    """Five classes painted in strokes 6 px wide on white, drawn at 4x and resized (a smoothed brush's edges)."""
    from PIL import ImageDraw

    cols = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (128, 0, 128)]
    big = Image.new("RGB", (1200, 800), (255, 255, 255))
    draw, rng = ImageDraw.Draw(big), np.random.default_rng(1)
    for c in cols:
        for _ in range(3):
            x0, y0 = rng.integers(50, 1100), rng.integers(50, 700)
            draw.line([(x0, y0), (x0 + rng.integers(-100, 100), y0 + rng.integers(30, 100))], fill=c, width=24)
    big.resize((300, 200), resample).save(tmp_path / name)
    return ["#{:02x}{:02x}{:02x}".format(*c) for c in cols]


@pytest.mark.parametrize("resample", [Image.BOX, Image.BILINEAR])
def test_a_smoothed_brushs_edges_are_left_unlabelled(tmp_path, resample):
    """Strokes painted with a smoothed brush: their edges' mixed colours were classes of their own (hundreds, of 1-7
    pixels each); now the five painted colours are the classes, the edges unlabelled with a warning."""
    colours = _strokes(tmp_path, "paint.png", resample)
    with pytest.warns(UserWarning, match="edges of strokes"):
        labels, names = read_labels(tmp_path / "paint.png")
    assert sorted(names) == sorted(colours) and np.bincount(labels[labels >= 0]).min() > 150


def test_hard_painted_pixels_and_a_colour_between_two_others_stay_classes(tmp_path):
    import warnings

    rgb = np.full((30, 40, 3), 255, np.uint8)
    for i, c in enumerate([(255, 0, 0), (0, 0, 255), (128, 0, 128)]):  # purple lies between red and blue
        rgb[3 + 8 * i, 2:30:3] = c  # single pixels, a hard brush
    rgb[26:29, 30:39] = (255, 0, 0)  # and a stroke of red, whose inside makes red a painted colour
    rgba = np.dstack([rgb, np.full((30, 40), 255, np.uint8)])
    rgba[0, :] = (0, 0, 255, 60)  # a soft halo, mostly transparent: unlabelled
    Image.fromarray(rgba).save(tmp_path / "dots.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels, names = read_labels(tmp_path / "dots.png")
    assert names == ("#0000ff", "#800080", "#ff0000") and np.bincount(labels[labels >= 0]).tolist() == [10, 10, 37]


def test_a_legends_names_are_checked_and_one_name_is_one_class(tmp_path):
    """Two colours named alike stayed two classes of one name; an empty name, a name starting as a spreadsheet
    formula ("=cmd|...", written as it is into phases.csv) and a legend written the other way round ({"name":
    "#hex"}, refused without saying that the keys are the colours) are said."""
    rgb = np.full((12, 16, 3), 255, np.uint8)
    rgb[1:4, 1:4], rgb[6:9, 1:4], rgb[1:4, 8:12] = (255, 0, 0), (200, 0, 0), (0, 0, 255)
    Image.fromarray(rgb).save(tmp_path / "p.png")
    legend = tmp_path / "p.json"
    legend.write_text(json.dumps({"#ff0000": "garnet", "#c80000": "garnet", "#0000ff": "quartz"}))
    labels, names = read_labels(tmp_path / "p.png")
    assert names == ("garnet", "quartz") and np.bincount(labels[labels >= 0]).tolist() == [18, 12]
    for bad, words in (({"#ff0000": "", "#c80000": "a", "#0000ff": "b"}, "printable word"),
                       ({"#ff0000": "=cmd|' /C calc'!A0", "#c80000": "a", "#0000ff": "b"}, "spreadsheet"),
                       ({"garnet": "#ff0000", "quartz": "#0000ff"}, "keys must be colours")):
        legend.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=words):
            read_labels(tmp_path / "p.png")
