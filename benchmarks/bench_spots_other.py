"""Spot detection on images the detector was not tuned on (:mod:`benchmarks._spots_other`), through the CLI.

    .venv/bin/python -m benchmarks.bench_spots_other [--kinds metal,granular,dark,faint] [--seeds 0-2]
                                                     [--shape 192x256] [--methods median,rf,knn] [--json PATH]

Each image runs ``python -m phaselib spots IMAGE --train MASK --out DIR --method M`` (in process) for each
method; its F1 is scored against the truth on the unlabelled pixels (mask -1). Markdown table on stdout: F1 per
method, rf - median, seconds of the rf run (features, fit, out-of-fold threshold, cleaning); then per kind and
over all images the median and the worst (smallest) rf - median.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._spots_other import KINDS, make_other_spotty


def run_image(o, methods, tmp):
    """F1 on the unlabelled pixels and seconds, per method, of one image through the CLI."""
    from phaselib._cli import main as cli
    from phaselib.spots import confusion

    np.save(tmp / "image.npy", o.image)
    np.save(tmp / "mask.npy", o.mask)
    row = {}
    for method in methods:
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the command's own summary line
            code = cli(["spots", str(tmp / "image.npy"), "--train", str(tmp / "mask.npy"), "--out", str(tmp / method),
                        "--method", method])
        if code:
            raise RuntimeError(f"spots --method {method} exited with {code}")
        found = np.load(tmp / method / "spots.npy")
        row[method] = round(confusion(o.spots, found, o.mask < 0)[3], 4)
        row[f"{method}_s"] = round(time.perf_counter() - t0, 2)
    return row


def _range(text):
    a, _, b = text.partition("-")
    return range(int(a), int(b or a) + 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--seeds", default="0-2", metavar="A-B")
    p.add_argument("--shape", default="192x256")
    p.add_argument("--methods", default="median,rf,knn")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    methods = args.methods.split(",")
    shape = tuple(int(v) for v in args.shape.split("x"))
    print("| kind | seed | " + " | ".join(f"{m} F1" for m in methods) + " | rf - median | rf s |")
    print("|---|---|" + "---|" * len(methods) + "---|---|")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            for seed in _range(args.seeds):
                o = make_other_spotty(kind, shape, seed)
                row = dict(kind=kind, seed=seed, description=o.description, **run_image(o, methods, Path(tmp)))
                row["gap"] = round(row.get("rf", np.nan) - row.get("median", np.nan), 4)
                rows.append(row)
                print(f"| {kind} | {seed} | " + " | ".join(f"{row[m]:.3f}" for m in methods)
                      + f" | {row['gap']:+.3f} | {row.get('rf_s', np.nan):.1f} |", flush=True)
    print("\n| kind | median rf - median | worst rf - median | mean rf F1 | mean median F1 |\n|---|---|---|---|---|")
    for kind in [*args.kinds.split(","), "all"]:
        sel = [r for r in rows if kind in ("all", r["kind"])]
        gaps = [r["gap"] for r in sel]
        rf, med = (np.mean([r.get(m, np.nan) for r in sel]) for m in ("rf", "median"))
        print(f"| {kind} | {np.median(gaps):+.3f} | {min(gaps):+.3f} | {rf:.3f} | {med:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(rows=rows, shape=shape), indent=2))


if __name__ == "__main__":
    main()
