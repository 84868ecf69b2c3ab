"""``segment evaluate`` on folders a user brings: sets whose label map cannot be scored are said, the others scored.
No torch: the bundled model runs on ONNX Runtime."""

import json
from pathlib import Path

import numpy as np

from phaselib._cli import main
from phaselib.datasets import make_thin_section, write_training_folder

MODEL = Path(__file__).resolve().parents[1] / "dashboards" / "data" / "deep_model.onnx"


def test_evaluate_goes_on_past_a_set_without_a_labelled_pixel(tmp_path, capsys):
    """A folder of three sets, one of whose label maps is all unlabelled (-1): ``evaluate`` stopped there ("the label
    map of blank has no labelled pixel", exit 2, no scores at all). It now says so for that set on stderr and scores
    the other two, as ``segment`` does for a folder."""
    folder = tmp_path / "test"
    sections = [make_thin_section((64, 72), rock="granite", seed=s) for s in (7, 8, 9)]
    write_training_folder(folder, sections, ["a", "blank", "c"], true_labels=True)
    np.save(folder / "blank_labels.npy", np.full((64, 72), -1, np.int16))
    out = tmp_path / "eval"
    capsys.readouterr()
    code = main(["segment", "evaluate", "--input_model", str(MODEL), "--input_path", str(folder), "--no_baseline",
                 "--output_path", str(out), "--views", "1"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "phaselib: note: blank: its label map has no labelled pixel" in err
    scores = json.loads((out / "scores.json").read_text())
    assert scores["deep_model"]["accuracy"] > 0.8  # the two labelled sets, pooled
    assert np.sum(scores["deep_model"]["confusion"]) == 2 * 64 * 72
    assert sorted(p.name for p in out.glob("*.png")) == ["a_comparison.png", "c_comparison.png"]
    # every set unlabelled: refused with one line, nothing written
    for stem in ("a", "c"):
        np.save(folder / f"{stem}_labels.npy", np.full((64, 72), -1, np.int16))
    capsys.readouterr()
    assert main(["segment", "evaluate", "--input_model", str(MODEL), "--input_path", str(folder), "--no_baseline",
                 "--output_path", str(tmp_path / "eval2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("phaselib: error:") and "labelled pixel" in err[-1]


def test_evaluate_scores_the_good_sets_when_one_label_map_is_the_wrong_size(tmp_path, capsys):
    """A label map of another size than its images (a crop saved by mistake) stopped the evaluation of the whole
    folder; now that set gets an error line, the others are scored, and the exit status is 2."""
    folder = tmp_path / "test"
    sections = [make_thin_section((64, 72), rock="granite", seed=s) for s in (7, 8)]
    write_training_folder(folder, sections, ["a", "b"], true_labels=True)
    np.save(folder / "b_labels.npy", np.load(folder / "b_labels.npy")[:50, :])
    out = tmp_path / "eval"
    capsys.readouterr()
    code = main(["segment", "evaluate", "--input_model", str(MODEL), "--input_path", str(folder), "--no_baseline",
                 "--output_path", str(out), "--views", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "phaselib: error: b: the label map of b is 50 x 72 for images of 64 x 72" in err, err
    scores = json.loads((out / "scores.json").read_text())
    assert np.sum(scores["deep_model"]["confusion"]) == 64 * 72 and scores["deep_model"]["accuracy"] > 0.8


def test_a_pair_of_two_sizes_is_named_file_by_file(tmp_path, capsys):
    """A researcher's folder where one set's XP picture was cropped: the error gave a bare list of shapes ("got
    [(150, 160), (160, 160)]"); it now names each picture and its size. The other set is still segmented."""
    from PIL import Image

    folder = tmp_path / "in"
    write_training_folder(folder, [make_thin_section((96, 96), rock="granite", seed=s) for s in (3, 4)], ["ok", "S3"])
    Image.open(folder / "S3_xp.png").crop((0, 0, 96, 80)).save(folder / "S3_xp.png")
    capsys.readouterr()
    assert main(["segment", "--input_model", str(MODEL), "--input_path", str(folder), "--output_path",
                 str(tmp_path / "out"), "--views", "1"]) == 2
    err = capsys.readouterr().err
    assert "S3: the images of one set must share their size: S3_pp.png is 96 x 96, S3_xp.png is 80 x 96, S3_bse.png " \
           "is 96 x 96 pixels." in err, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ok.nc"]


def test_hidden_files_beside_the_pictures_are_left_out(tmp_path, capsys):
    """A folder copied from a Mac holds ``._NAME_pp.png`` beside each picture (AppleDouble metadata, no image): its
    set name ``._a`` stripped to ``a`` clashed with the real set, and the whole run stopped ("belong to two sets whose
    name is a: rename one of them"), nothing segmented. Hidden files are now left out, as a shell's ``*`` does."""
    from phaselib.deep._data import find_sets

    folder = tmp_path / "in"
    write_training_folder(folder, [make_thin_section((96, 96), rock="granite", seed=3)], ["a"])
    for name in ("._a_pp.png", "._a_xp.png", "._a_bse.png", "._a.nc"):
        (folder / name).write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64))
    assert list(find_sets(folder, {"pp": "_pp", "xp": "_xp", "bse": "_bse"})) == ["a"]
    capsys.readouterr()
    assert main(["segment", "--input_model", str(MODEL), "--input_path", str(folder), "--output_path",
                 str(tmp_path / "out"), "--views", "1"]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.nc"]
