"""Phases found against the truth: rich synthetic presets at several count levels, and the real P45
map thinned binomially against its own full-count map (issue 11's checks on the number of phases).

For each preset, count level and seed: ``map_phases`` with ``auto`` and with the true number of
phases; the number found and the adjusted Rand index against the generator's phase map. For P45
(122 counts/px): its ``n_phases=5`` map is the reference; binomial thinnings (statistically the same
area measured for a shorter time) are mapped with ``auto`` and ``n_phases=5``. From the repository
root::

    python -m benchmarks.bench_phases [--counts 20,60,120,200] [--kinds dacite,basalt,granite,default]
                                      [--seeds 1,2,3] [--p45 22,60] [--thinnings 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from sklearn.metrics import adjusted_rand_score as ari


def _ints(text):
    return [int(v) for v in text.split(",") if v]


def preset_rows(kinds, counts, seeds):
    from phaselib import datasets
    from phaselib.pipeline import map_phases

    for kind in kinds:
        for c in counts:
            for s in seeds:
                rock = (datasets.make_rock((200, 300), counts_per_pixel=c, seed=s) if kind == "default" else
                        datasets.make_rich_rock((200, 300), kind=kind, counts_per_pixel=c, seed=s))
                truth = rock.labels.ravel()
                k_true = len(np.unique(truth))
                t = time.perf_counter()
                auto = map_phases(rock.image)
                given = map_phases(rock.image, n_phases=k_true)
                yield dict(map=f"{kind} seed {s}", counts=c, true=k_true, auto_n=auto.n_phases,
                           auto_ari=round(ari(truth, auto.labels.ravel()), 3), k_n=given.n_phases,
                           k_ari=round(ari(truth, given.labels.ravel()), 3), seconds=round(time.perf_counter() - t, 1))


def p45_rows(targets, thinnings):
    from phaselib import datasets, io
    from phaselib.pipeline import map_phases

    p45 = io.load(datasets.sample_path("P45"))
    ref = map_phases(p45, n_phases=5).labels.ravel()
    mean = float(p45.data.sum(-1).mean())
    for target in targets:
        for s in range(thinnings):
            low = p45.replace(data=np.random.default_rng(s).binomial(p45.data.astype(np.int64), min(1.0, target / mean))
                              .astype(np.uint16))
            t = time.perf_counter()
            auto = map_phases(low)
            given = map_phases(low, n_phases=5)
            yield dict(map=f"P45 thinned (draw {s}) vs its 122 c/px K=5 map", counts=target, true=5,
                       auto_n=auto.n_phases, auto_ari=round(ari(ref, auto.labels.ravel()), 3), k_n=given.n_phases,
                       k_ari=round(ari(ref, given.labels.ravel()), 3), seconds=round(time.perf_counter() - t, 1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--counts", type=_ints, default=[20, 60, 120, 200], help="counts per pixel of the presets")
    p.add_argument("--kinds", default="dacite,basalt,granite,default", help="presets ('default': make_rock)")
    p.add_argument("--seeds", type=_ints, default=[1, 2, 3])
    p.add_argument("--p45", type=_ints, default=[22, 60], help="counts per pixel P45 is thinned to ('' for none)")
    p.add_argument("--thinnings", type=int, default=5, help="binomial draws per P45 count level")
    p.add_argument("--json", help="write the rows here too")
    args = p.parse_args(argv)
    rows = []
    print("| map | counts/px | true K | auto: K found | auto: ARI | K given: found | K given: ARI | s |")
    print("|---|---|---|---|---|---|---|---|")
    kinds = [k for k in args.kinds.split(",") if k]
    for part in (preset_rows(kinds, args.counts, args.seeds), p45_rows(args.p45, args.thinnings)):
        for row in part:
            rows.append(row)
            print("| " + " | ".join(str(v) for v in row.values()) + " |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
