"""What a trained model records of how it was made (torch, CPU; a few epochs on small images)."""

import numpy as np

from phaselib._cli import main
from phaselib.datasets import make_thin_section, write_training_folder
from phaselib.deep import load_model


def test_a_model_records_its_training_options_and_threads(tmp_path):
    """The model's metadata held the epochs and seed but not the other options (batch, rate, zooms, label shift and
    refinement, gains, calibration, time budget) nor the threads, which a run within its budget needs to be made
    again step for step: a user could not tell how a model was made."""
    d = tmp_path / "train"
    write_training_folder(d, [make_thin_section((64, 64), rock="granite", seed=s, grain_size=16) for s in (1, 2)])
    out = tmp_path / "m.pt"
    assert main(["segment", "train", "--images", str(d), "--out", str(out), "--pp-pattern", "_pp", "--xp-pattern",
                 "_xp", "--epochs", "3", "--tile", "32", "--threads", "1", "--max-shift", "2", "--no-refine",
                 "--no-calibrate", "--max-minutes", "5", "--seed", "7"]) == 0
    for backend in ("torch", "onnxruntime"):
        meta = load_model(out, backend=backend).meta
        rec = meta["training"]
        assert rec["threads"] == 1 and rec["max_shift"] == 2 and rec["refine_labels"] is False
        assert rec["calibrate"] is False and rec["equalise_gains"] is True and rec["max_seconds"] == 300
        assert rec["batch"] == 8 and np.isclose(rec["lr"], 3e-3) and np.isclose(rec["zoom_range"], 0.5)
        assert rec["budget_reached"] is False and rec["steps_planned"] == meta["steps"] > 0
        assert rec["seconds"] > 0 and rec["torch"].startswith("2.") and isinstance(rec["phaselib"], str)
        assert meta["epochs"] == 3 and meta["seed"] == 7 and meta["tile"] == 32
        # the classes' levels its predictions fit each image's gains to (session 59): K rows of C channels
        levels = meta["class_levels"]
        assert np.shape(levels["mean"]) == np.shape(levels["std"]) == (len(meta["classes"]), 6)
        assert np.isclose(sum(levels["weight"]), 1, atol=1e-3) and min(map(min, levels["std"])) > 0


def test_sparse_strokes_and_a_blank_label_map_train_without_nan(tmp_path, capsys):
    """A label map painted as a few strokes leaves most tiles unlabelled: a batch of only such tiles has a
    cross-entropy of nothing, NaN, and the epoch's loss was printed "loss nan" (the run looked diverged; the weights
    were spared). A set whose label map holds no labelled pixel at all was trained on and listed among the sets
    trained on; it is now skipped with a note."""
    import math

    import torch

    from phaselib.deep._train import _loss

    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    loss = _loss(logits, torch.full((2, 8, 8), -1), 3)
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.isfinite(logits.grad).all()
    d = tmp_path / "strokes"
    write_training_folder(d, [make_thin_section((128, 128), rock="granite", seed=s) for s in (1, 2)], ["a", "blank"])
    lab = np.load(d / "a_labels.npy")
    keep = np.zeros(lab.shape, bool)
    keep[40:70, 40:70] = True  # one painted patch
    np.save(d / "a_labels.npy", np.where(keep, lab, -1).astype(np.int16))
    np.save(d / "blank_labels.npy", np.full(lab.shape, -1, np.int16))
    capsys.readouterr()
    assert main(["segment", "train", "--images", str(d), "--out", str(tmp_path / "m.pt"), "--epochs", "20", "--tile",
                 "32", "--threads", "1", "--no-calibrate"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out and "note: blank: its label map blank_labels.npy has no labelled pixel; skipped" in out
    assert load_model(tmp_path / "m.pt").meta["trained_on"] == ["a"]
    assert all(math.isfinite(float(line.split("loss ")[1].split()[0])) for line in out.splitlines()
               if line.startswith("epoch"))
