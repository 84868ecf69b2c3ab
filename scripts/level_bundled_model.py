#!/usr/bin/env python
"""Add the class levels (``phaselib/deep/_gains.py``, ``class_levels``) to the bundled model, from its training images.

Usage (from the repository root)::

    .venv/bin/python scripts/level_bundled_model.py [--model dashboards/data/deep_model.onnx]

The six sections of ``scripts/train_bundled_model.py`` are made again (same presets and seeds), their labels
registered and refined and each image equalised as ``segment train`` does (``training_gains``), and each class's
level and spread are written into the ONNX file's metadata, as ``segment train`` has recorded them since session 59.
With them a prediction fits an image's gains on the classes where its modal composition moves its means by over
7 % (session 59), and ``segment`` notes pixels that look like none of the classes they were labelled
(``phaselib/deep/_unknown.py``, session 60). Measured before writing them (session 60): the same accuracy and modal
errors on the 63 sections of ``bench_deep --fresh --third`` (within 0.001 and 0.02 points).
"""

from __future__ import annotations

import argparse
import json
import tempfile

from phaselib.datasets import make_thin_section, write_training_folder
from phaselib.deep import load_model
from phaselib.deep._gains import class_levels, training_gains
from phaselib.deep._train import load_folder

ROCKS = ("granite", "basalt", "dacite")


def main(argv=None):
    import onnx

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="dashboards/data/deep_model.onnx")
    args = p.parse_args(argv)
    meta = load_model(args.model).meta
    with tempfile.TemporaryDirectory() as tmp:
        sections = [make_thin_section((256, 256), rock=r, seed=s) for r in ROCKS for s in (1, 2)]
        write_training_folder(tmp, sections, [f"{r}_{s}" for r in ROCKS for s in (1, 2)])
        stacks, labels, _, roles, channels, _ = load_folder(tmp, meta["patterns"])
    k = len(meta["classes"])
    factors = training_gains(stacks, labels, roles, channels, meta["gains"], k)
    levels = class_levels([x * f for x, f in zip(stacks, factors)], labels, k)
    proto = onnx.load(args.model)
    for entry in proto.metadata_props:
        if entry.key == "phaselib":
            stored = json.loads(entry.value)
            stored["class_levels"] = levels
            entry.value = json.dumps(stored)
    onnx.save(proto, args.model)
    print({n: m for n, m in zip(meta["classes"], levels["mean"])})


if __name__ == "__main__":
    main()
