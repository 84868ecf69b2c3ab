"""Supervised phases (:func:`phaselib.classify.classify`): accuracy and time of knn / rf / poisson.

    .venv/bin/python -m benchmarks.bench_classify [--repeat 3] [--maps plain20,plain100,...] [--json PATH]

Maps (200 x 300 px x 2048 ch): ``plain20`` / ``plain100`` (:func:`~phaselib.datasets.make_rock`,
6 phases, 20 / 100 counts/px), ``basalt20`` / ``dacite20`` / ``granite20`` (the presets of
:func:`~phaselib.datasets.make_rich_rock`: glass, zoning, mixed pixels along boundaries,
accessories down to 0.25 %, detector artefacts) and ``p45`` (the bundled real P45 map, 75 x 100 px,
thinned binomially to ~20 counts/px; truth = the full-count map's ``map_phases`` labels).
Labels: 20 random pixels per class of the truth (:func:`~phaselib.classify.sample_labels`).
``--spots SEEDS`` (e.g. ``4-11``) also runs ``python -m phaselib spots`` (in process) with ``--method
median`` and ``rf`` on :func:`~phaselib.datasets.make_spotty_radiograph` images (192 x 256), the left
half labelled from the truth, and prints each one's F1 on the unlabelled right half.
``--spots-options open_beam=800,...`` passes options to the generator (brightness, clustering,
density of the spots). ``--spots-brush square|cross`` takes as the truth (to train and to score)
the spots as a hand would paint them, each pixel grown by a 3 x 3 square or a cross, as the
lecture's annotated PNG is.
Columns: balanced accuracy over all pixels against the truth, the cross-validated balanced
accuracy on the labelled pixels, median seconds of features + fit + predict (``fit+predict``)
and of the cross-validation (``cv``) over ``--repeat`` runs. Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import statistics
import time

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from phaselib import datasets
from phaselib.classify import CLASSIFIERS, classify, sample_labels

MAPS = ("plain20", "plain100", "basalt20", "dacite20", "granite20", "p45")


def make_map(name, seed=3):
    """(SpectrumImage, truth labels, description) of a benchmark map."""
    if name.startswith("plain"):
        cpp = float(name[5:])
        rock = datasets.make_rock((200, 300), counts_per_pixel=cpp, seed=seed)
        return rock.image, rock.labels, f"make_rock 200x300 @{cpp:g}"
    if name == "p45":
        return _p45()
    kind, cpp = name[:-2], float(name[-2:])
    rock = datasets.make_rich_rock((200, 300), kind=kind, counts_per_pixel=cpp, seed=seed)
    return rock.image, rock.labels, f"rich {kind} 200x300 @{cpp:g}"


def _p45(target=20.0, seed=0):
    from phaselib import io
    from phaselib.pipeline import map_phases

    full = io.load(datasets.sample_path("P45"))
    truth = map_phases(full, name_minerals=False).labels
    data = np.asarray(full.data)
    mean = data.sum(-1).mean()
    thin = np.random.default_rng(seed).binomial(data, min(1.0, target / mean)).astype(np.uint16)
    labels = truth.copy()
    return full.replace(data=thin), labels, f"P45 75x100 thinned {mean:.0f}->{target:g} counts/px"


def run_one(image, truth, classifier, repeat, seed=1):
    labels = sample_labels(truth, 20, random_state=seed)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = classify(image, labels, classifier=classifier)
        total = time.perf_counter() - t0
        runs.append((r.timings["features"] + r.timings["fit_predict"], r.timings["cv"], total))
    valid = truth >= 0
    ba = balanced_accuracy_score(truth[valid], r.labels[valid])
    return dict(classifier=classifier, balanced_accuracy=round(float(ba), 4),
                cv_balanced_accuracy=None if r.balanced_accuracy is None else round(r.balanced_accuracy, 4),
                fit_predict_s=round(statistics.median(x[0] for x in runs), 3),
                cv_s=round(statistics.median(x[1] for x in runs), 3),
                total_s=round(statistics.median(x[2] for x in runs), 3), n_classes=r.n_classes)


BRUSHES = dict(none=None, cross=np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool), square=np.ones((3, 3), bool))


def spots_rows(seeds, methods=("median", "rf", "knn"), brush="none", options=None):
    """F1 on the unlabelled half of spotty radiographs, each method run through the CLI; with a
    ``brush`` the truth is the spots grown by it (painted by hand); ``options`` go to the generator."""
    import tempfile
    from pathlib import Path

    from scipy import ndimage

    from phaselib._cli import main as cli
    from phaselib.spots import confusion

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for seed in seeds:
            s = datasets.make_spotty_radiograph((192, 256), seed=seed, **(options or {}))
            truth = s.spots if BRUSHES[brush] is None else ndimage.binary_dilation(s.spots, BRUSHES[brush])
            mask = truth.astype(np.int8)
            mask[:, 128:] = -1
            np.save(tmp / "image.npy", s.image)
            np.save(tmp / "mask.npy", mask)
            row = dict(seed=seed)
            for method in methods:
                t0 = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):  # the command's own summary line
                    code = cli(["spots", str(tmp / "image.npy"), "--train", str(tmp / "mask.npy"), "--out",
                                str(tmp / method), "--method", method])
                if code:
                    raise RuntimeError(f"spots --method {method} exited with {code}")
                found = np.load(tmp / method / "spots.npy")
                row[method] = round(confusion(truth, found, mask < 0)[3], 4)
                row[f"{method}_s"] = round(time.perf_counter() - t0, 2)
            rows.append(row)
            print(f"| {seed} | " + " | ".join(f"{row[m]:.3f}" for m in methods)
                  + f" | {row['rf'] - row['median']:+.3f} |", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--maps", default=",".join(MAPS), help=f"comma-separated, of {', '.join(MAPS)}")
    p.add_argument("--classifiers", default=",".join(CLASSIFIERS))
    p.add_argument("--spots", metavar="A-B", help="also the spots CLI on spotty radiographs of seeds A..B")
    p.add_argument("--spots-brush", choices=sorted(BRUSHES), default="none",
                   help="spots painted by hand: each grown by a 3 x 3 square or a cross (truth and training)")
    p.add_argument("--spots-options", default="", metavar="K=V,...",
                   help="options of make_spotty_radiograph, e.g. open_beam=800,cluster_share=0.7")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    rows = []
    spot_rows = []
    if args.spots:
        a, b = (int(v) for v in args.spots.split("-"))
        print("| seed | median F1 | rf F1 | knn F1 | rf - median |\n|---|---|---|---|---|")
        pairs = (kv.split("=", 1) for kv in filter(None, args.spots_options.split(",")))
        options = {k: ast.literal_eval(v) for k, v in pairs}  # numbers and True / False
        spot_rows = spots_rows(range(a, b + 1), brush=args.spots_brush, options=options)
        gaps = [r["rf"] - r["median"] for r in spot_rows]
        print(f"\nrf - median: mean {np.mean(gaps):+.3f}, min {min(gaps):+.3f}, max {max(gaps):+.3f}\n")
    if args.maps == "none":
        args.maps = ""
    print("| map | classes | classifier | balanced accuracy (all px) | CV balanced accuracy | "
          "fit+predict s | cv s |")
    print("|---|---|---|---|---|---|---|")
    for name in filter(None, args.maps.split(",")):
        image, truth, desc = make_map(name)
        for clf in args.classifiers.split(","):
            row = dict(map=name, description=desc, **run_one(image, truth, clf, args.repeat))
            rows.append(row)
            print(f"| {desc} | {row['n_classes']} | {clf} | {row['balanced_accuracy']:.3f} | "
                  f"{row['cv_balanced_accuracy'] if row['cv_balanced_accuracy'] is not None else '–'} | "
                  f"{row['fit_predict_s']:.2f} | {row['cv_s']:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(rows=rows, spots=spot_rows, repeat=args.repeat), fh, indent=2)


if __name__ == "__main__":
    main()
