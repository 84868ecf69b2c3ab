#!/usr/bin/env python
"""Grain separation against known grains: the issue's three bars on many synthetic textures.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_grains                  # every texture, seeds 1-5
    .venv/bin/python -m benchmarks.bench_grains --seeds 1,2 --no-full
    .venv/bin/python -m benchmarks.bench_grains --textures phenocrysts --no-full

For every texture and phase, on the TRUE phase mask (so only the separation is measured),
four methods:

* ``phaselib``  ``morphology.separate_grains(mask, min_area=10, phase_map=labels)`` (inclusions and bays
  filled, concavity cuts, fragment merging; the texture's phase map given, as ``grain_map`` gives it);
* ``holes cut`` the same with ``inclusions=False``: holes over 30 px are cut from (phaselib
  before inclusions were told from pockets);
* ``classic``   the same watershed without the cuts and the merging
  (``split_concave=False, merge_convex=False``);
* ``notebook``  the seed practical's cell: ``distance_transform_edt`` -> ``peak_local_max``
  with a 3 x 3 footprint -> ``watershed(-distance, markers, mask=mask)``.

The phenocryst textures (``datasets.make_phenocrysts``) have a groundmass, three phenocryst
phases with inclusions, bays and hopper crystals; their grains are compared without their
inclusions on both sides (a host's true id does not cover its inclusions, and grain labels
leave inclusion pixels out). ``impinged crystals`` come from a generator written apart from
``phaselib.datasets`` (``benchmarks/_impinged.py``): each crystal moulded on the earlier ones, so
bitten by their corners. ``glomerocrysts`` from a third (``benchmarks/_glomero.py``): hexagons, octagonal
prisms and laths in a glass, a third of them clustered with crystals of their own phase, laths holding
elongated melt inclusions.

Scores (``morphology.score_grains``, grains under 10 px left out on both sides): share of the
true grains matched one-to-one (IoU >= 0.5; bar 0.90), median relative error of the
equivalent diameter of the matched grains (bar 0.05), relative error of the grain count (bar
+-0.10). ``touching`` is the share of the true grains that touch another grain of the same
phase. Medians over seeds, with the worst seed. ``merged pieces (convex)``: phaselib's pieces
that hold two or more true grains (all seeds), and the share of them that look as convex as
one grain (at most 1 % of the convex hull outside them): no rule on the mask's shape can
split those.

Then the time of ``grain_map`` (every phase) and of the grain table on a full-size
1295 x 1820 phase map (a default synthetic rock), medians of ``--repeat`` runs, with the
notebook's watershed on the same phases. Results: markdown on stdout, JSON in
``benchmarks/results/grains-<date>[-N].json`` (a free name; ``--json`` to choose).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

from benchmarks._glomero import make_glomerocrysts
from benchmarks._impinged import make_impinged
from benchmarks._report import write_results
from phaselib.datasets import make_discs, make_phenocrysts, make_texture
from phaselib.morphology import grain_map, score_grains, separate_grains
from phaselib.morphology._split import _defect, _hull

MIN_AREA = 10
BARS = dict(matched=0.90, diameter_error=0.05, count_error=0.10)


def notebook_watershed(mask):
    """The seed practical's watershed (``peak_local_max(..., footprint=np.ones((3, 3)))``)."""
    distance = ndi.distance_transform_edt(mask)
    peaks = np.zeros(mask.shape, bool)
    peaks[tuple(peak_local_max(distance, footprint=np.ones((3, 3)), labels=mask.astype(int)).T)] = True
    return watershed(-distance, ndi.label(peaks)[0], mask=mask)


METHODS = {
    "phaselib": lambda m, lab=None: separate_grains(m, min_area=MIN_AREA, phase_map=lab),
    "holes cut": lambda m, lab=None: separate_grains(m, min_area=MIN_AREA, inclusions=False),
    "classic": lambda m, lab=None: separate_grains(m, min_area=MIN_AREA, split_concave=False, merge_convex=False),
    "notebook": lambda m, lab=None: notebook_watershed(m),
}


def textures():
    """(name, phase or None, make(seed) -> (labels or mask, grain ids))."""
    def voronoi(size, shape):
        return lambda s: make_texture(shape, seed=s, matrix_fraction=0.0, grain_size=size)
    out = [(f"Voronoi 12 px, phase {p}", p, voronoi(12, (400, 500))) for p in range(6)]
    out += [(f"Voronoi 20 px, phase {p}", p, voronoi(20, (400, 500))) for p in range(3)]
    out += [(f"Voronoi 40 px, phase {p}", p, voronoi(40, (800, 1000))) for p in range(3)]
    out += [(f"default rock, phase {p}", p, lambda s: make_texture((400, 500), seed=s)) for p in range(6)]
    out += [(f"discs, overlap {o}", None, lambda s, o=o: make_discs((300, 400), overlap=o, seed=s))
            for o in (0.2, 0.4)]
    phenocrysts = {
        "phenocrysts 40 px": dict(shape=(500, 700)),
        "phenocrysts 80 px, 5-30 % inclusions": dict(shape=(800, 1000), crystal_size=80, inclusion_load=(0.05, 0.3)),
        "phenocrysts 40 px, no bays": dict(shape=(500, 700), embayed=0.0, skeletal=0.0),
    }
    for name, kw in phenocrysts.items():
        out += [(f"{name}, phase {p}", p, lambda s, kw=kw: make_phenocrysts(seed=s, **kw)) for p in (1, 2, 3)]
    out += [(f"impinged crystals (another generator), phase {p}", p, make_impinged) for p in (1, 2, 3)]
    out += [(f"glomerocrysts (a third generator), phase {p}", p, make_glomerocrysts) for p in (1, 2, 3)]
    return out


def touching(ids):
    """Share of the grains (>= MIN_AREA px) touching another grain of the mask."""
    n = int(ids.max()) + 1
    hit = np.zeros(n, bool)
    for a, b in ((ids[1:], ids[:-1]), (ids[:, 1:], ids[:, :-1])):
        s = (a > 0) & (b > 0) & (a != b)
        hit[a[s]] = hit[b[s]] = True
    big = np.bincount(ids.ravel(), minlength=n) >= MIN_AREA
    big[0] = False
    return float(hit[big].mean())


def convex_merges(found, truth, tol=0.01):
    """Found pieces holding two or more true grains, and the share of them that look convex.

    A piece holds a true grain when it has at least 10 px and 20 % of it; it looks convex
    when at most ``tol`` of its area is missing from its convex hull (pixel centres).
    """
    found = np.where(np.bincount(found.ravel())[found] >= MIN_AREA, found, 0)
    t_area = np.bincount(truth.ravel())
    n_multi = n_convex = 0
    for i, box in enumerate(ndi.find_objects(found), 1):
        if box is None:
            continue
        inside = found[box] == i
        cnt = np.bincount(truth[box][inside], minlength=t_area.size)
        cnt[0] = 0
        if np.count_nonzero((cnt >= MIN_AREA) & (cnt >= 0.2 * t_area)) < 2:
            continue
        n_multi += 1
        pts = np.argwhere(inside)
        n_convex += _defect(_hull(pts), len(pts)) <= tol * len(pts)
    return n_multi, n_convex


def accuracy(seeds, only=None):
    rows = []
    for name, phase, make in textures():
        if only and not any(k in name for k in only):
            continue
        per = {k: [] for k in METHODS}
        touch, multi = [], [0, 0]
        for seed in seeds:
            x, ids = make(seed)
            mask = x == phase if phase is not None else x
            truth = np.where(mask, ids, 0)
            touch.append(touching(truth))
            for k, f in METHODS.items():
                found = f(mask, x if phase is not None else None)
                per[k].append(score_grains(found, truth, min_area=MIN_AREA))
                if k == "phaselib":
                    multi = [a + b for a, b in zip(multi, convex_merges(found, truth))]
        row = dict(texture=name, touching=statistics.median(touch),
                   n_true=statistics.median(s["n_true"] for s in per["phaselib"]),
                   merged_pieces=int(multi[0]), merged_convex=float(multi[1] / max(multi[0], 1)))
        for k, scores in per.items():
            m = [s["matched"] for s in scores]
            c = [s["count_error"] for s in scores]
            row[k] = dict(matched=statistics.median(m), matched_min=min(m),
                          diameter_error=statistics.median(s["diameter_error"] for s in scores),
                          count_error=statistics.median(c), count_error_worst=max(c, key=abs))
        row["bars_met"] = bool(row["phaselib"]["matched_min"] >= BARS["matched"]
                           and row["phaselib"]["diameter_error"] <= BARS["diameter_error"]
                           and abs(row["phaselib"]["count_error_worst"]) <= BARS["count_error"])
        rows.append(row)
        print_row(row)
    return rows


def print_header():
    print("| texture (true phase mask) | touching | true grains | phaselib matched (worst) | "
          "diam. err | count err (worst) | holes cut: matched, count err | classic matched | notebook matched | "
          "notebook count err | bars met | merged pieces (convex) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")


def print_row(r):
    p, c, n, hc = r["phaselib"], r["classic"], r["notebook"], r["holes cut"]
    print(f"| {r['texture']} | {r['touching']:.2f} | {r['n_true']:.0f} | {p['matched']:.3f} "
          f"({p['matched_min']:.3f}) | {p['diameter_error']:.3f} | {p['count_error']:+.3f} "
          f"({p['count_error_worst']:+.3f}) | {hc['matched']:.3f}, {hc['count_error']:+.3f} | "
          f"{c['matched']:.3f} | {n['matched']:.3f} | "
          f"{n['count_error']:+.3f} | {'yes' if r['bars_met'] else 'no'} | "
          f"{r['merged_pieces']} ({r['merged_convex']:.0%}) |", flush=True)


def full_map(repeat):
    labels, _ = make_texture((1295, 1820), seed=0)
    times = {"grain_map": [], "holes_cut": [], "table": [], "notebook": []}
    for _ in range(repeat):
        t = time.perf_counter()
        grain_map(labels, pixel_size=0.5, inclusions=False)
        times["holes_cut"].append(time.perf_counter() - t)
        t = time.perf_counter()
        g = grain_map(labels, pixel_size=0.5)
        times["grain_map"].append(time.perf_counter() - t)
        t = time.perf_counter()
        g.table()
        times["table"].append(time.perf_counter() - t)
        t = time.perf_counter()
        for p in np.unique(labels):
            notebook_watershed(labels == p)
        times["notebook"].append(time.perf_counter() - t)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["n_grains"] = int(g.n_grains)
    print(f"\nFull-size phase map 1295 x 1820 (6 phases, {g.n_grains} grains), medians of {repeat}: "
          f"grain_map {out['grain_map']:.1f} s (with inclusions=False {out['holes_cut']:.1f} s), "
          f"grain table {out['table']:.1f} s; "
          f"the notebook's watershed on the same phases {out['notebook']:.1f} s "
          f"(ratio {out['notebook'] / out['grain_map']:.2f}).")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds (default 1-5)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the full-map timing")
    ap.add_argument("--no-full", action="store_true", help="skip the full-size timing")
    ap.add_argument("--textures", help="comma-separated parts of texture names to run (default: all), "
                    "e.g. 'phenocrysts,Voronoi 12'")
    ap.add_argument("--json", type=Path, help="output (default results/grains-<date>[-N].json)")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    only = [t.strip() for t in args.textures.split(",")] if args.textures else None
    print_header()
    rows = accuracy(seeds, only)
    full = None if args.no_full else full_map(args.repeat)
    print()
    payload = dict(date=str(_dt.datetime.now()), python=platform.python_version(), machine=platform.machine(),
                   seeds=seeds, textures=only, min_area=MIN_AREA, bars=BARS, rows=rows, full_map=full)
    write_results(payload, args.json, prefix="grains-")


if __name__ == "__main__":
    main()
