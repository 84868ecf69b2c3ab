#!/usr/bin/env python
"""Train the small segmentation model bundled with phaselib (``dashboards/data/deep_model.onnx``).

Usage (from the repository root; needs ``pip install -e '.[deep]'``)::

    .venv/bin/python scripts/train_bundled_model.py [--epochs 1200] [--out dashboards/data/deep_model.pt]

Six synthetic thin sections (granite, basalt and dacite presets, seeds 1 and 2, 256 x 256 px,
``phaselib.datasets.make_thin_section`` with its default EDS-like labels: 3 px label pixels,
1.5 px misregistration) are written to a temporary folder; a U-Net of width 8 (PP + XP + BSE,
7 channels, ~115 000 weights) is trained on them and written with its ONNX twin. The dashboard
and the tests use the ONNX file (ONNX Runtime, no torch); the ``.pt`` file is not kept.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from phaselib.datasets import make_thin_section, write_training_folder
from phaselib.deep import train

ROCKS = ("granite", "basalt", "dacite")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1200)
    p.add_argument("--out", default="dashboards/data/deep_model.pt")
    p.add_argument("--max-minutes", type=float, default=8.0)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        sections = [make_thin_section((256, 256), rock=r, seed=s) for r in ROCKS for s in (1, 2)]
        write_training_folder(tmp, sections, [f"{r}_{s}" for r in ROCKS for s in (1, 2)])
        res = train(tmp, args.out, patterns={"pp": "_pp", "xp": "_xp", "bse": "_bse"}, epochs=args.epochs,
                    width=8, seed=0, mm_per_pixel=0.002, max_seconds=60 * args.max_minutes,
                    log=lambda line: print(line, flush=True))
    Path(res.model_path).unlink()  # the ONNX twin is what ships
    size = Path(res.onnx_path).stat().st_size
    print(f"{res.onnx_path}: {size / 1e3:.0f} kB, trained in {res.seconds:.0f} s "
          f"(total {time.perf_counter() - t0:.0f} s), loss {res.losses[0]:.3f} -> {res.losses[-1]:.3f}")


if __name__ == "__main__":
    main()
