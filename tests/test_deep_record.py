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
