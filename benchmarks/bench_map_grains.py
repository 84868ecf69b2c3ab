#!/usr/bin/env python
"""Grains through the whole pipeline: a phenocryst texture rendered as an EDS map, its phases
found by ``map_phases``, its grains separated, against the known crystals.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_map_grains                  # seeds 1-3, 200 and 50 counts/px
    .venv/bin/python -m benchmarks.bench_map_grains --seeds 1 --counts 200 --spread 0,0.7

``bench_grains`` separates the TRUE phase masks; a user separates the phase map that
``map`` found. Here ``make_phenocrysts`` (300 x 400 px, 40 px crystals with inclusions, no
bays) is rendered by ``make_rock`` (albite groundmass; olivine, augite and anorthite
phenocrysts; magnetite inclusions) at each count level, with the electron beam mixing each
pixel with its neighbours (``beam_spread``, px: mixed pixels along every boundary) or not.
``map_phases`` is given the true number of phases; each true phase is compared with the
found phase holding most of its pixels. Columns: ARI of the phase map (pixels' own phase as
the truth), then per phenocryst phase the share of true crystals matched one-to-one (IoU >=
0.5), the median diameter error and the count error (found / true - 1), from the found
phase map and, for reference, from the true phase mask; medians over seeds (worst seed in
brackets). Results: markdown on stdout, JSON in ``benchmarks/results/map-grains-<date>.json``.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from sklearn.metrics import adjusted_rand_score

from benchmarks._report import write_results
from phaselib.datasets import make_phenocrysts, make_rock
from phaselib.morphology import score_grains, separate_grains
from phaselib.pipeline import map_phases

MINERALS = ["albite", "olivine", "augite", "anorthite", "magnetite"]
PHASES = {1: "olivine", 2: "augite", 3: "anorthite"}
#: ``--texture glomero``: benchmarks/_glomero.py's glass, olivine, pyroxene, plagioclase laths and spinel
GLOMERO = (["basaltic glass", "olivine", "augite", "labradorite", "titanomagnetite"],
           {1: "olivine", 2: "augite", 3: "labradorite"})
MIN_AREA = 10


def majority(labels):
    """The label held by most of each pixel's 3 x 3 neighbourhood (a cleaning a user may apply)."""
    from scipy import ndimage as ndi

    ids = np.unique(labels)
    votes = np.stack([ndi.uniform_filter((labels == i).astype(np.float32), 3, mode="nearest") for i in ids])
    return ids[votes.argmax(0)]


def one_map(seed, counts, spread, vote=False, outline_tol=1.0, texture="phenocrysts"):
    """ARI and, per phenocryst phase, the scores from the found phase map and from the truth."""
    minerals, phases = (MINERALS, PHASES) if texture == "phenocrysts" else GLOMERO
    if texture == "phenocrysts":
        labels, ids = make_phenocrysts((300, 400), seed=seed, embayed=0.0, skeletal=0.0, unassigned=0.0)
        ids = np.where(ids > 0, ids, ids.max() + 1)  # the groundmass: one more id
    else:
        from benchmarks._glomero import make_glomerocrysts

        labels, ids = make_glomerocrysts(seed)
    rock = make_rock(labels.shape, counts_per_pixel=counts, minerals=minerals, texture=(labels, ids),
                     beam_spread=spread, seed=seed)
    found = map_phases(rock.image, n_phases=len(minerals)).labels
    if vote:
        found = majority(found)
    out = dict(ari=float(adjusted_rand_score(labels.ravel(), found.ravel())))
    for p, name in phases.items():
        truth = np.where(labels == p, ids, 0)
        q = np.bincount(found[labels == p][found[labels == p] >= 0]).argmax()
        # the phase map given, as `grains` (grain_map) gives it
        grains = separate_grains(found == q, min_area=MIN_AREA, outline_tol=outline_tol, phase_map=found)
        out[name] = dict(map=score_grains(grains, truth, min_area=MIN_AREA),
                         truth=score_grains(separate_grains(labels == p, min_area=MIN_AREA, phase_map=labels), truth,
                                            min_area=MIN_AREA))
    return out


def _fmt(scores, key, sign=False):
    vals = [float(s[key]) for s in scores]
    worst = max(vals, key=abs) if key == "count_error" else (min(vals) if key == "matched" else max(vals))
    f = "{:+.2f}" if sign else "{:.2f}"
    return f"{f.format(statistics.median(vals))} ({f.format(worst)})"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--counts", default="200,50", help="counts per pixel, comma-separated")
    p.add_argument("--spread", default="0.7", help="beam spread (px), comma-separated")
    p.add_argument("--majority", action="store_true",
                   help="a 3 x 3 majority vote on the found phase map before separating (not a phaselib default)")
    p.add_argument("--outline-tol", type=float, default=1.0, help="separate_grains(outline_tol=...) on the found map")
    p.add_argument("--texture", choices=("phenocrysts", "glomero"), default="phenocrysts",
                   help="phenocrysts: phaselib.datasets.make_phenocrysts; glomero: benchmarks/_glomero.py's "
                        "glomerocrysts and sieve-textured laths in a glass (another generator)")
    p.add_argument("--json")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    print("| counts/px | beam spread (px) | ARI | mineral | matched: map (truth) | diameter error: map | "
          "count error: map (truth) |")
    print("|---|---|---|---|---|---|---|")
    for counts in (float(c) for c in args.counts.split(",")):
        for spread in (float(s) for s in args.spread.split(",")):
            runs = [one_map(s, counts, spread, args.majority, args.outline_tol, args.texture) for s in seeds]
            ari = statistics.median(r["ari"] for r in runs)
            for name in (PHASES if args.texture == "phenocrysts" else GLOMERO[1]).values():
                m = [r[name]["map"] for r in runs]
                t = [r[name]["truth"] for r in runs]
                rows.append(dict(counts=counts, spread=spread, mineral=name, ari=ari, seeds=seeds, texture=args.texture,
                                 majority=args.majority,
                                 outline_tol=args.outline_tol,
                                 map=[{k: float(v) for k, v in s.items()} for s in m],
                                 truth=[{k: float(v) for k, v in s.items()} for s in t]))
                print(f"| {counts:g} | {spread:g} | {ari:.3f} | {name} | {_fmt(m, 'matched')} ({_fmt(t, 'matched')}) "
                      f"| {_fmt(m, 'diameter_error')} | {_fmt(m, 'count_error', True)} "
                      f"({_fmt(t, 'count_error', True)}) |", flush=True)
    write_results(dict(rows=rows), args.json, prefix="map-grains-")


if __name__ == "__main__":
    main()
