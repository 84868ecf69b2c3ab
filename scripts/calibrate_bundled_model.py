#!/usr/bin/env python
"""Add the class offsets (``phaselib/deep/_calibrate.py``) to the bundled model, fitted on its own training images.

Usage (from the repository root)::

    .venv/bin/python scripts/calibrate_bundled_model.py [--model dashboards/data/deep_model.onnx]

The six sections of ``scripts/train_bundled_model.py`` are made again (same presets and seeds), their labels
registered and refined as ``segment train`` does, and the offsets fitted on the model's predictions of them
(4 mirror views) are written into the ONNX file's metadata. Models trained since session 42 get them in training.
"""

from __future__ import annotations

import argparse
import json
import tempfile

from phaselib.datasets import make_thin_section, write_training_folder
from phaselib.deep import load_model
from phaselib.deep._calibrate import training_offsets
from phaselib.deep._train import load_folder

ROCKS = ("granite", "basalt", "dacite")


def main(argv=None):
    import onnx

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="dashboards/data/deep_model.onnx")
    args = p.parse_args(argv)
    model = load_model(args.model)
    model.meta.pop("class_offsets", None)  # fitted on the network's own outputs
    with tempfile.TemporaryDirectory() as tmp:
        sections = [make_thin_section((256, 256), rock=r, seed=s) for r in ROCKS for s in (1, 2)]
        write_training_folder(tmp, sections, [f"{r}_{s}" for r in ROCKS for s in (1, 2)])
        stacks, labels, *_ = load_folder(tmp, model.meta["patterns"])
    offsets = training_offsets(model, stacks, labels)
    proto = onnx.load(args.model)
    for entry in proto.metadata_props:
        if entry.key == "phaselib":
            meta = json.loads(entry.value)
            meta["class_offsets"] = offsets
            entry.value = json.dumps(meta)
    onnx.save(proto, args.model)
    print(dict(zip(model.meta["classes"], offsets)))


if __name__ == "__main__":
    main()
