"""Phases found against the truth: rich synthetic presets at several count levels, and the real P45
map thinned binomially against its own full-count map (issue 11's checks on the number of phases).

For each preset, count level and seed: ``map_phases`` with ``auto`` and with the true number of
phases; the number found and the adjusted Rand index against the generator's phase map. For P45
(122 counts/px): its ``n_phases=5`` map is the reference; binomial thinnings (statistically the same
area measured for a shorter time) are mapped with ``auto`` and ``n_phases=5``. From the repository
root::

    python -m benchmarks.bench_phases [--counts 20,60,120,200] [--kinds dacite,basalt,granite,default]
                                      [--seeds 1,2,3] [--p45 22,60] [--thinnings 5]
                                      [--chevkinite 2000,500,120,40] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

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


def real_rows(path, name, targets, thinnings, k=None):
    """A real map thinned binomially to each count level, against its own full-count map (with ``k``
    phases, or ``auto``)."""
    from phaselib import io
    from phaselib.pipeline import map_phases

    img = io.load(path)
    full = map_phases(img, n_phases=k or "auto")
    ref, k = full.labels.ravel(), full.n_phases
    mean = float(np.asarray(img.data).sum(-1).mean())
    for target in targets:
        for s in range(thinnings):
            low = img.replace(data=np.random.default_rng(s).binomial(np.asarray(img.data).astype(np.int64),
                                                                      min(1.0, target / mean)).astype(np.uint16))
            t = time.perf_counter()
            auto = map_phases(low)
            given = map_phases(low, n_phases=k)
            yield dict(map=f"{name} thinned (draw {s}) vs its {mean:.0f} c/px K={k} map", counts=target, true=k,
                       auto_n=auto.n_phases, auto_ari=round(ari(ref, auto.labels.ravel()), 3), k_n=given.n_phases,
                       k_ari=round(ari(ref, given.labels.ravel()), 3), seconds=round(time.perf_counter() - t, 1))


def _shared_data():
    """``../shared/data`` above the repository (or $PHASELIB_SHARED_DATA)."""
    if os.environ.get("PHASELIB_SHARED_DATA"):
        return Path(os.environ["PHASELIB_SHARED_DATA"])
    return next((p / "shared" / "data" for p in Path(__file__).resolve().parents if (p / "shared" / "data").is_dir()),
                Path("shared/data"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--counts", type=_ints, default=[20, 60, 120, 200], help="counts per pixel of the presets")
    p.add_argument("--kinds", default="dacite,basalt,granite,default", help="presets ('default': make_rock)")
    p.add_argument("--seeds", type=_ints, default=[1, 2, 3])
    p.add_argument("--p45", type=_ints, default=[22, 60], help="counts per pixel P45 is thinned to ('' for none)")
    p.add_argument("--thinnings", type=int, default=5, help="binomial draws per count level of a real map")
    p.add_argument("--chevkinite", type=_ints, default=[],
                   help="counts per pixel the real chevkinite map (30 x 30, ~20 700 c/px) is thinned to")
    p.add_argument("--json", help="write the rows here too")
    args = p.parse_args(argv)
    rows = []
    print("| map | counts/px | true K | auto: K found | auto: ARI | K given: found | K given: ARI | s |")
    print("|---|---|---|---|---|---|---|---|")
    kinds = [k for k in args.kinds.split(",") if k]
    from phaselib import datasets

    parts = [preset_rows(kinds, args.counts, args.seeds),
             real_rows(datasets.sample_path("P45"), "P45", args.p45, args.thinnings, k=5)]
    if args.chevkinite:
        parts.append(real_rows(_shared_data() / "chevkinite_30x30.bcf", "chevkinite", args.chevkinite,
                               args.thinnings))
    for part in parts:
        for row in part:
            rows.append(row)
            print("| " + " | ".join(str(v) for v in row.values()) + " |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
