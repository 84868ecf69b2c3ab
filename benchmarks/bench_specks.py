#!/usr/bin/env python
"""Accessory specks under a wide beam: four rocks whose fifth phase is specks of a few pixels inside three
hosts, mapped with the true number of phases and with ``auto``.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_specks                     # 4 rocks x seeds 11, 12 x 2 x 2, ~8 min
    .venv/bin/python -m benchmarks.bench_specks --rocks schist --seeds 11 --spread 2

Each rock (150 x 200 px) holds 9 discs (7-13 px radius) of each of three minerals in a fourth, and 12 specks
(1-2.3 px radius, 3-17 px) of a fifth mineral in each of three hosts; rendered by ``make_rock`` at each count
level with the electron beam spreading over ``--spread`` px. A speck under a 1-2 px beam has no pure pixel:
its pixels are mixtures with its host, a different one in each host. Columns: ARI against the generator's
map and the number of phases found, with K = 5 and ``auto``. Results: markdown on stdout, JSON in
``benchmarks/results/specks-<date>.json``.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import adjusted_rand_score

from benchmarks._report import write_results
from phaselib.datasets import make_rock
from phaselib.pipeline import map_phases

#: minerals 0-3 (0 the matrix), the speck mineral, and the three hosts of the specks
ROCKS = {
    "basalt": (["basaltic glass", "olivine", "augite", "labradorite", "titanomagnetite"], (0, 1, 2)),
    "granite": (["quartz", "K-feldspar", "albite", "biotite", "zircon"], (1, 2, 3)),
    "peridotite": (["olivine", "augite", "anorthite", "diopside", "magnetite"], (0, 1, 3)),
    "schist": (["quartz", "almandine", "biotite", "muscovite", "ilmenite"], (0, 1, 2)),
}


def specks(shape, seed, hosts):
    """(labels, grain ids): 9 discs of each of phases 1-3 in phase 0, then 12 specks of phase 4 in each host."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    labels, ids, n = np.zeros(shape, np.int64), np.zeros(shape, np.int64), 1
    for phase in (1, 2, 3):
        for _ in range(9):
            disc = (yy - rng.uniform(0, h)) ** 2 + (xx - rng.uniform(0, w)) ** 2 <= rng.uniform(7, 13) ** 2
            labels[disc], ids[disc], n = phase, n, n + 1
    for host in hosts:
        ys, xs = np.nonzero(labels == host)
        for i in rng.choice(ys.size, 12, replace=False):
            disc = (yy - ys[i]) ** 2 + (xx - xs[i]) ** 2 <= rng.uniform(1.0, 2.3) ** 2
            labels[disc], ids[disc], n = 4, n, n + 1
    ids[ids == 0] = n
    return labels, ids


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rocks", default=",".join(ROCKS))
    p.add_argument("--seeds", default="11,12")
    p.add_argument("--counts", default="100,500")
    p.add_argument("--spread", default="1,2", help="beam spread (px), comma-separated")
    p.add_argument("--json")
    args = p.parse_args(argv)
    rows = []
    print("| rock | seed | counts/px | beam spread (px) | K = 5: ARI (phases) | auto: ARI (phases) |")
    print("|---|---|---|---|---|---|")
    for name in args.rocks.split(","):
        minerals, hosts = ROCKS[name]
        for seed in (int(s) for s in args.seeds.split(",")):
            labels, ids = specks((150, 200), seed, hosts)
            for counts in (float(c) for c in args.counts.split(",")):
                for spread in (float(s) for s in args.spread.split(",")):
                    rock = make_rock(labels.shape, counts_per_pixel=counts, minerals=minerals, texture=(labels, ids),
                                     beam_spread=spread, seed=seed)
                    row = dict(rock=name, seed=seed, counts=counts, spread=spread)
                    for key, k in (("given", 5), ("auto", "auto")):
                        res = map_phases(rock.image, n_phases=k)
                        row[key] = dict(ari=float(adjusted_rand_score(labels.ravel(), res.labels.ravel())),
                                        n_phases=int(res.labels.max() + 1))
                    rows.append(row)
                    print(f"| {name} | {seed} | {counts:g} | {spread:g} | {row['given']['ari']:.3f} "
                          f"({row['given']['n_phases']}) | {row['auto']['ari']:.3f} ({row['auto']['n_phases']}) |",
                          flush=True)
    write_results(dict(rows=rows), args.json, prefix="specks-")


if __name__ == "__main__":
    main()
