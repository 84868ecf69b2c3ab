#!/usr/bin/env python
"""Deep segmentation on rocks the recipe was not made on: the independent generator's textures as thin sections.

Usage (from the repository root; training needs ``pip install -e '.[deep]'``)::

    .venv/bin/python -m benchmarks.bench_deep_other                       # basalt, granite, marble, schist
    .venv/bin/python -m benchmarks.bench_deep_other --kinds schist --train-seeds 1,2

``bench_deep`` trains and scores on ``make_thin_section``'s presets, on which the recipe (the CLI's defaults) was
chosen. Here each rock is one of ``benchmarks/_othergen.py``'s textures, written without looking at
``phaselib.datasets``: basalt (plagioclase laths, olivine phenocrysts with magnetite inclusions, glass, ilmenite
laths, apatite needles), granite (coarse irregular grains, biotite flakes, zircon in biotite), marble (granoblastic
calcite and dolomite, diopside, quartz, pyrite) and schist (foliated quartz and plagioclase, muscovite and biotite
flakes, almandine porphyroblasts with inclusion trails). ``render_thin_section`` renders them (its optics; the
generator's oligoclase as ``andesine``, its glass as ``basaltic glass``; dolomite, which the optics table lacks, with
its composition for the BSE and the table's neutral optics). One model per rock, trained through the CLI with its
defaults on ``--train-seeds`` sections (EDS-like labels: 3 px label pixels, 1.5 px misregistration), scored against
the TRUE phase maps of held-out sections (other seeds; brighter, darker, a colour shift, blurrier), beside the random
forest trained on the same registered, refined labels. Accuracy is also reported with the opaque minerals merged
(black in PP and XP alike). Results: markdown on stdout, JSON in ``benchmarks/results/deep-other-<date>.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._othergen import _TEXTURES
from benchmarks._othergen_spectra import MINERALS as OTHER_COMPOSITIONS
from benchmarks._report import write_results
from benchmarks.bench_deep import OPAQUES, _x
from phaselib.datasets import render_thin_section, write_training_folder
from phaselib.deep import load_model, predict, score
from phaselib.deep._evaluate import predict_forest, train_forest

KINDS = ("basalt", "granite", "marble", "schist")
#: the generator's names that phaselib's optics table spells otherwise
NAMES = {"oligoclase": "andesine", "glass": "basaltic glass"}
#: quartz and a sodic plagioclase: alike in PP, XP (first-order greys) and BSE (3 % apart, under the channelling
#: contrast) but for the plagioclase's twins, which a crystal of a few pixels does not show (the schist's)
FELSIC = {"opaques": OPAQUES["opaques"], "quartz + plagioclase": ["quartz", "andesine", "albite", "labradorite"]}
CASES = {"other seed": {}, "another seed": {}, "brighter": {"brightness": 1.15}, "darker": {"brightness": 0.85},
         "colour shift": {"colour": (1.1, 1.0, 0.88)}, "blurrier": {"blur": 0.9}}


def section(kind, seed, size=256, **render):
    """A thin section of one of the independent generator's textures."""
    labels, names, grains = _TEXTURES[kind]((size, size), np.random.default_rng(seed))
    minerals = [NAMES.get(n, n) for n in names]
    extra = {NAMES.get(n, n): OTHER_COMPOSITIONS[n] for n in names if n == "dolomite"}
    return render_thin_section(labels, grains, minerals, seed=seed, compositions=extra or None, **render)


def one_rock(kind, train_seeds, tmp, views=4, seed=0):
    folder = tmp / kind
    write_training_folder(folder, [section(kind, s) for s in train_seeds])
    model_path = tmp / f"{kind}.pt"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "phaselib", "segment", "train", "--images", str(folder), "--out",
                    str(model_path), "--pp-pattern", "_pp", "--xp-pattern", "_xp", "--bse-pattern", "_bse",
                    "--seed", str(seed)], check=True, capture_output=True)
    seconds = time.perf_counter() - t
    model = load_model(model_path)
    from phaselib.deep._compare import labelled_sets
    from phaselib.deep._runner import load_set

    sets = labelled_sets(folder, {r: model.meta["patterns"][r] for r in model.meta["inputs"]})
    rf = train_forest([load_set(p, model.meta) for _, p, _ in sets], [lab for _, _, lab in sets])
    rows = []
    for i, (case, kw) in enumerate(CASES.items()):
        s = section(kind, 500 + 10 * KINDS.index(kind) + i, **kw)
        truth = np.array([model.classes.index(n) for n in s.phase_names])[s.truth]
        x = _x(s, model.meta["inputs"])
        net = score(truth, predict(model, x, views=views), model.classes)
        forest = score(truth, predict_forest(rf, x), model.classes)
        worst = int(np.nanargmin(net.recall))
        rows.append(dict(rock=kind, case=case, unet=net.accuracy, unet_opaques=net.merged(OPAQUES).accuracy,
                         unet_felsic=net.merged(FELSIC).accuracy if "quartz" in model.classes else net.accuracy,
                         forest=forest.accuracy, modal_error=100 * net.max_fraction_error,
                         worst_recall=f"{model.classes[worst]} {net.recall[worst]:.2f}"))
    return dict(rock=kind, train_seconds=seconds, classes=list(model.classes), rows=rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--train-seeds", default="1,2,3")
    p.add_argument("--seed", type=int, default=0, help="the training's seed (segment train --seed)")
    p.add_argument("--keep", help="a folder to keep the training folders and models in (default: a temporary one)")
    p.add_argument("--json")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.train_seeds.split(",")]
    out = []
    print("| rock | case | U-Net | U-Net (opaques merged) | (and quartz + plagioclase) | forest | "
          "modal error, points | lowest recall |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        for kind in args.kinds.split(","):
            res = one_rock(kind, seeds, work, seed=args.seed)
            out.append(res)
            for r in res["rows"]:
                print(f"| {kind} | {r['case']} | {r['unet']:.3f} | {r['unet_opaques']:.3f} | {r['unet_felsic']:.3f} | "
                      f"{r['forest']:.3f} | "
                      f"{r['modal_error']:.1f} | {r['worst_recall']} |", flush=True)
            print(f"| {kind} | training {res['train_seconds']:.0f} s | | | | | | |", flush=True)
    rows = [r for res in out for r in res["rows"]]
    acc = [r["unet_opaques"] for r in rows]
    fel = [r["unet_felsic"] for r in rows]
    print(f"\n{len(rows)} sections: U-Net (opaques merged) mean {np.mean(acc):.3f}, worst {np.min(acc):.3f}, "
          f"{sum(a < 0.9 for a in acc)} under 0.90; quartz + plagioclase merged too: mean "
          f"{np.mean(fel):.3f}, worst {np.min(fel):.3f}, {sum(a < 0.9 for a in fel)} under 0.90; "
          f"modal error over 3 points on "
          f"{sum(r['modal_error'] > 3 for r in rows)}; forest above the U-Net on "
          f"{sum(r['forest'] > r['unet'] for r in rows)}")
    write_results(dict(seeds=seeds, rocks=out), args.json, prefix="deep-other-")


if __name__ == "__main__":
    main()
