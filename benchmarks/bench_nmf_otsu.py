#!/usr/bin/env python
"""NMF + Otsu (``map_phases(method="nmf-otsu")``) on rocks with glass: ARI against the truth, K given and ``auto``.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_nmf_otsu                 # ~4 min
    .venv/bin/python -m benchmarks.bench_nmf_otsu --maps specks

Maps: the rich presets (:func:`~phaselib.datasets.make_rich_rock`: basalt and dacite with a glass, granite; zoning,
accessories, a 0.7 px beam, detector artefacts) at 60 and 200 counts/px, seed 1 (``presets``); ``bench_specks``'
basalt (77 % basaltic glass holding olivine, augite and labradorite discs and titanomagnetite specks of 3-17 px),
150 x 200 px, 100 counts/px under a 1 px beam, seeds 11-14 (``specks``); the real P45 map against its own
``pca-kmeans`` map with K = 5 (``p45``, no truth). Columns: ARI (number of phases) with the true number of phases
given and with ``auto``, and the seconds of each run. Results: markdown on stdout, JSON in
``benchmarks/results/nmf-otsu-<date>.json``.
"""

from __future__ import annotations

import argparse
import time

from sklearn.metrics import adjusted_rand_score

from benchmarks._report import write_results
from benchmarks.bench_specks import ROCKS, specks
from phaselib import load
from phaselib.datasets import make_rich_rock, make_rock, sample_path
from phaselib.pipeline import map_phases


def maps(which):
    """(name, image, truth labels, true number of phases) of each map asked for."""
    if "presets" in which:
        for kind in ("basalt", "dacite", "granite"):
            for counts in (60, 200):
                rock = make_rich_rock((200, 300), kind=kind, counts_per_pixel=counts, seed=1)
                yield f"rich {kind}, {counts} counts/px", rock.image, rock.labels, rock.n_phases
    if "specks" in which:
        minerals, hosts = ROCKS["basalt"]
        for seed in (11, 12, 13, 14):
            labels, ids = specks((150, 200), seed, hosts)
            rock = make_rock(labels.shape, counts_per_pixel=100, minerals=minerals, texture=(labels, ids),
                             beam_spread=1.0, seed=seed)
            yield f"glass with specks, seed {seed}, 100 counts/px, 1 px beam", rock.image, labels, 5
    if "p45" in which:
        image = load(sample_path("P45"))
        yield "P45 against its pca-kmeans K = 5 map", image, map_phases(image, n_phases=5).labels, 5


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--maps", default="presets,specks,p45", help="comma-separated: presets, specks, p45")
    p.add_argument("--json")
    args = p.parse_args(argv)
    rows = []
    print("| map | K given: ARI (phases) | auto: ARI (phases) | seconds (K, auto) |")
    print("|---|---|---|---|")
    for name, image, truth, k in maps(args.maps.split(",")):
        row = dict(map=name, true=k)
        for key, n in (("given", k), ("auto", "auto")):
            t = time.perf_counter()
            res = map_phases(image, method="nmf-otsu", n_phases=n)
            row[key] = dict(ari=round(float(adjusted_rand_score(truth.ravel(), res.labels.ravel())), 4),
                            n_phases=res.n_phases, seconds=round(time.perf_counter() - t, 2))
        rows.append(row)
        g, a = row["given"], row["auto"]
        print(f"| {name} | {g['ari']:.3f} ({g['n_phases']}) | {a['ari']:.3f} ({a['n_phases']}) | "
              f"{g['seconds']:.1f}, {a['seconds']:.1f} |", flush=True)
    write_results(dict(rows=rows), args.json, prefix="nmf-otsu-")


if __name__ == "__main__":
    main()
